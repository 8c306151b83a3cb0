/**
 * Runtime information (PROTOCOL.md, "Runtime information"): the GET that
 * Microsoft's .NET client sends to ask whether listeners are online,
 *
 *     GET {scheme}://{host}/{path}?api-version=2016-07
 *     Authorization: {SAS token or raw JWT}
 *     X-PROCESS-AT: ServiceBus
 *
 * answered as the service answers it: an Atom entry whose content is a
 * `HybridConnectionDescription` in the service's XML namespace, with its
 * elements in the order the .NET client's data contract reads them
 * (CreatedAt, UpdatedAt, RequiresClientAuthorization, UserMetadata,
 * ListenerCount); an Atom feed, not an entry, for a path that is no hybrid
 * connection; `<Error>` documents for 401, 403 and 400. Any right on the
 * entity (Listen, Send or Manage, or any Azure Relay role) may read it.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccessRight } from 'hyco-websocket/protocol';
import type { RelayContext } from './context';
import { relayCredential } from './headers';
import type { HybridConnection } from './hybrid-connection';
import type { RequestTarget } from './request-target';
import { safeDebug, statusText } from './tracking';

const debug = safeDebug('hyco-relay-emulator:runtime');

/** The XML namespace of the service's entity descriptions. */
export const SERVICEBUS_CONNECT_NAMESPACE = 'http://schemas.microsoft.com/netservices/2010/10/servicebus/connect';
const ATOM_NAMESPACE = 'http://www.w3.org/2005/Atom';
/** The API version the .NET client asks for. */
const API_VERSION = '2016-07';

/** Whether `req` asks the service itself rather than a listener (`X-PROCESS-AT: ServiceBus`). */
export function isRuntimeInformationRequest(req: IncomingMessage): boolean {
  const at = req.headers['x-process-at'];
  return typeof at === 'string' && at.trim().toLowerCase() === 'servicebus';
}

/**
 * Characters XML 1.0 cannot carry at all, not even as a character
 * reference (its `Char` production): C0 controls but tab, LF and CR; lone
 * surrogates; U+FFFE and U+FFFF. (With the `u` flag a lone surrogate is one
 * code point of its own, so the class matches it.)
 */
const NOT_XML_CHAR = /[^\t\n\r\x20-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/gu;

/**
 * `text` as XML character data, safe in element content and in quoted
 * attribute values: markup characters escaped, tab, LF and CR as character
 * references (so no parser normalises them away), and what XML 1.0 cannot
 * carry dropped, since no document could hold it and a reader must never
 * get a malformed one (a `userMetadata` with U+FFFF loses that character).
 */
function xml(text: string): string {
  return text.replace(NOT_XML_CHAR, '').replace(/[<>&'"\t\n\r]/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function send(res: ServerResponse, status: number, reason: string | undefined, body: string, type = 'application/xml; charset=utf-8'): void {
  const headers = { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) };
  if (reason === undefined) res.writeHead(status, headers);
  else res.writeHead(status, reason, headers);
  res.end(body);
}

export function errorDocument(res: ServerResponse, status: number, what: string, trackingId: string, host: string, path: string): void {
  const detail = statusText(what, trackingId, host, path);
  send(res, status, detail, `<Error><Code>${status}</Code><Detail>${xml(detail)}</Detail></Error>`);
}

export async function handleRuntimeInformation(ctx: RelayContext, req: IncomingMessage, res: ServerResponse, target: RequestTarget): Promise<void> {
  req.resume();
  const { hostname, trackingId } = target;
  const rawPath = target.rawPath.replace(/\/+$/, '');
  if (req.method !== 'GET') {
    const what = 'MethodNotAllowed: runtime information is read with GET (hybrid connections are created with PUT and deleted with DELETE)';
    ctx.noteRefusal(405, what, trackingId, rawPath);
    errorDocument(res, 405, what, trackingId, hostname, rawPath);
    return;
  }
  if (target.query.get('api-version') === null) {
    ctx.noteRefusal(400, 'BadRequest: the api-version query parameter is missing', trackingId, rawPath);
    errorDocument(res, 400, 'BadRequest: the api-version query parameter is missing', trackingId, hostname, rawPath);
    return;
  }
  const resolved = rawPath ? ctx.namespace.resolve(rawPath) : undefined;
  const entity = resolved && resolved.suffix === '' ? resolved.entity : undefined;
  // Any right on the entity (or, for a path that is none, on the namespace) may read.
  const credential = relayCredential(req, target.query);
  let refusal: { status: number; reason: string } | undefined;
  for (const right of ['Listen', 'Send', 'Manage'] as AccessRight[]) {
    const result = await ctx.checkToken(credential.token, hostname, entity?.path ?? rawPath, entity?.rules ?? [], right);
    if (result.ok) {
      refusal = undefined;
      break;
    }
    if (!refusal || result.status === 403) refusal = { status: result.status, reason: result.reason };
  }
  if (res.destroyed) return;
  if (refusal) {
    ctx.noteRefusal(refusal.status, refusal.reason, trackingId, rawPath);
    errorDocument(res, refusal.status, refusal.reason, trackingId, hostname, rawPath);
    return;
  }
  const now = new Date().toISOString();
  if (!entity || !ctx.namespace.has(entity)) {
    // As the service does: a feed (of nothing) rather than an entry.
    debug('runtime information for "%s": no such hybrid connection', rawPath);
    send(
      res,
      200,
      undefined,
      `<feed xmlns="${ATOM_NAMESPACE}"><title type="text">Publicly Listed Services</title>` +
        '<subtitle type="text">This is the list of publicly-listed services currently available.</subtitle>' +
        `<id>uuid:${randomUUID()};id=1</id><updated>${now}</updated><generator>hyco-relay-emulator</generator></feed>`,
      'application/atom+xml;type=feed;charset=utf-8',
    );
    return;
  }
  debug('runtime information for "%s": %d listeners', entity.path, entity.listenerCount);
  send(res, 200, undefined, entityEntry(ctx, target, entity), ENTRY_TYPE);
}

/** The content type of an Atom entry. */
export const ENTRY_TYPE = 'application/atom+xml;type=entry;charset=utf-8';

/** The Atom entry that describes `entity`, as the service gives it. */
export function entityEntry(ctx: RelayContext, target: RequestTarget, entity: HybridConnection): string {
  const scheme = ctx.scheme === 'wss' ? 'https' : 'http';
  const self = `${scheme}://${target.host}/${entity.path}?api-version=${API_VERSION}`;
  const description =
    `<HybridConnectionDescription xmlns="${SERVICEBUS_CONNECT_NAMESPACE}" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">` +
    `<CreatedAt>${entity.createdAt.toISOString()}</CreatedAt>` +
    `<UpdatedAt>${entity.updatedAt.toISOString()}</UpdatedAt>` +
    `<RequiresClientAuthorization>${entity.requiresClientAuthorization}</RequiresClientAuthorization>` +
    (entity.userMetadata !== undefined ? `<UserMetadata>${xml(entity.userMetadata)}</UserMetadata>` : '') +
    `<ListenerCount>${entity.listenerCount}</ListenerCount>` +
    '</HybridConnectionDescription>';
  return (
    `<entry xmlns="${ATOM_NAMESPACE}"><id>${xml(self)}</id><title type="text">${xml(entity.path)}</title>` +
    `<published>${entity.createdAt.toISOString()}</published><updated>${entity.updatedAt.toISOString()}</updated>` +
    `<author><name>${xml(target.hostname)}</name></author><link rel="self" href="${xml(self)}"/>` +
    `<content type="application/xml">${description}</content></entry>`
  );
}

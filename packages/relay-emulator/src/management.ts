/**
 * Creating and deleting hybrid connections while the emulator runs, over
 * HTTP, addressed to the service itself as runtime information is
 * (`X-PROCESS-AT: ServiceBus`, so that nothing meant for a listener is ever
 * taken for it), with a token conferring **Manage** on the path (a SAS token
 * of a Manage rule, or a JWT of an Azure Relay Owner):
 *
 *     PUT    /{path}?api-version=2016-07   create; 201 and the Atom entry runtime information gives
 *     DELETE /{path}?api-version=2016-07   delete; 200 (its listeners and connections end with 1001)
 *
 * A PUT may carry the settings as JSON (`{"requiresClientAuthorization":
 * false, "userMetadata": "..."}`) or as the Atom entry a GET returns (its
 * `RequiresClientAuthorization` and `UserMetadata`); no body: the defaults.
 * 409 when the path is taken, 404 when a deleted one is not there, 400 for a
 * bad path or body, 401/403 as for any token.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RelayContext } from './context';
import { relayCredential } from './headers';
import type { HybridConnection } from './hybrid-connection';
import type { HybridConnectionOptions } from './options';
import type { RequestTarget } from './request-target';
import { ENTRY_TYPE, entityEntry, errorDocument, send } from './runtime-info';
import { safeDebug } from './tracking';

const debug = safeDebug('hyco-relay-emulator:management');

/** The largest settings body taken, bytes. */
const MAX_BODY = 64 * 1024;

/** What management does to the namespace (the emulator's own methods, which close what a deletion ends). */
export interface EntityOperations {
  /** Creates a hybrid connection (reported as activity under `trackingId`). */
  create(path: string, settings: Omit<HybridConnectionOptions, 'path'>, trackingId: string): HybridConnection;
  /** Deletes one; whether it existed. */
  remove(path: string, trackingId: string): boolean;
}

/** Whether `method` is a management operation. */
export function isManagementMethod(method: string | undefined): boolean {
  return method === 'PUT' || method === 'DELETE';
}

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        req.removeAllListeners('data');
        req.resume();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

/** The XML text of `text` with its five predefined entities and character references decoded. */
function xmlText(text: string): string {
  return text.replace(/&(lt|gt|amp|quot|apos|#x[0-9a-f]+|#\d+);/gi, (_, name: string) => {
    const named: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
    if (name[0] !== '#') return named[name.toLowerCase()];
    const code = name[1].toLowerCase() === 'x' ? parseInt(name.slice(2), 16) : Number(name.slice(1));
    return code <= 0x10ffff ? String.fromCodePoint(code) : '';
  });
}

/** The settings a PUT body gives, or why it gives none. */
export function parseSettings(body: Buffer, contentType: string | undefined): Omit<HybridConnectionOptions, 'path'> | string {
  const text = body.toString('utf8').trim();
  if (!text) return {};
  if (text.startsWith('<')) {
    const settings: Omit<HybridConnectionOptions, 'path'> = {};
    const auth = /<(?:\w+:)?RequiresClientAuthorization>\s*(true|false)\s*<\//.exec(text);
    if (auth) settings.requiresClientAuthorization = auth[1] === 'true';
    const metadata = /<(?:\w+:)?UserMetadata>([^<]*)<\//.exec(text);
    if (metadata) settings.userMetadata = xmlText(metadata[1]);
    return settings;
  }
  if (contentType !== undefined && !/json/i.test(contentType)) return `a body of type ${contentType.slice(0, 60)} is neither JSON nor an Atom entry`;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'the body is not valid JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'the body must be a JSON object';
  const settings: Omit<HybridConnectionOptions, 'path'> = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const name = key.toLowerCase();
    if (name === 'requiresclientauthorization' && typeof v === 'boolean') settings.requiresClientAuthorization = v;
    else if (name === 'usermetadata' && typeof v === 'string') settings.userMetadata = v;
    else return `unknown or mistyped setting "${key.slice(0, 60)}" (accepted: requiresClientAuthorization (boolean), userMetadata (string))`;
  }
  return settings;
}

export async function handleManagement(ctx: RelayContext, req: IncomingMessage, res: ServerResponse, target: RequestTarget, operations: EntityOperations): Promise<void> {
  const { hostname, trackingId } = target;
  const path = target.rawPath.replace(/\/+$/, '');
  const refuse = (status: number, what: string) => {
    req.resume();
    ctx.noteRefusal(status, what, trackingId, path);
    if (!res.headersSent) errorDocument(res, status, what, trackingId, hostname, path);
  };
  if (target.query.get('api-version') === null) return refuse(400, 'BadRequest: the api-version query parameter is missing');
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return refuse(400, 'BadRequest: the path is not valid percent-encoding');
  }
  const credential = relayCredential(req, target.query);
  const existing = ctx.namespace.get(decoded);
  const result = await ctx.checkToken(credential.token, hostname, existing?.path ?? decoded, existing?.rules ?? [], 'Manage');
  if (!result.ok) return refuse(result.status, result.reason);
  if (req.method === 'DELETE') {
    req.resume();
    if (!existing) return refuse(404, `EntityNotFound: no hybrid connection "${decoded.slice(0, 200)}" to delete`);
    operations.remove(existing.path, trackingId);
    debug('deleted "%s" over HTTP', existing.path);
    send(res, 200, undefined, '');
    return;
  }
  const body = await readBody(req);
  if (body === undefined) return refuse(413, `PayloadTooLarge: the settings body is over ${MAX_BODY} bytes`);
  const settings = parseSettings(body, req.headers['content-type']);
  if (typeof settings === 'string') return refuse(400, `BadRequest: ${settings}`);
  if (existing) return refuse(409, `Conflict: the hybrid connection "${existing.path}" already exists`);
  let entity: HybridConnection;
  try {
    entity = operations.create(decoded, settings, trackingId);
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code === 'ERR_HYCO_ENTITY_EXISTS') return refuse(409, `Conflict: the hybrid connection "${decoded.slice(0, 200)}" already exists`);
    if (e.code === 'ERR_HYCO_INVALID_ARGUMENT') return refuse(400, `BadRequest: ${e.message.replace(/^Invalid RelayEmulator option: /, '')}`);
    throw err;
  }
  debug('created "%s" over HTTP', entity.path);
  send(res, 201, undefined, entityEntry(ctx, target, entity), ENTRY_TYPE);
}

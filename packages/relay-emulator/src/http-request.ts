/**
 * HTTP senders: plain requests to `http(s)://{host}/{path}[/...]` (no
 * `$hc`). After the token is checked for Send, the request goes to one
 * listener as a `request` message: at most 64 KB travels over the control
 * channel with its body as one binary message; a larger or chunked one
 * goes as an address-only `request`, and it and its body stream over the
 * rendezvous the listener opens (see http-rendezvous.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ACTION_REQUEST, MAX_CONTROL_CHANNEL_BODY, PARAM_ACTION, PARAM_ID } from 'hyco-websocket/protocol';
import type { RelayContext } from './context';
import { consumesAuthorization, httpRequestHeaders, listenerChoice, viaEntry, withQuery } from './headers';
import { HttpExchange } from './http-exchange';
import { passedQuery } from './query';
import { createItHint, endpointNotFound, noAllowedListener } from './reason-phrases';
import { PARAM_RENDEZVOUS } from './rendezvous';
import type { RequestTarget } from './request-target';
import { safeDebug, statusText } from './tracking';

const debug = safeDebug('hyco-relay-emulator:http');

export async function handleHttpRequest(ctx: RelayContext, req: IncomingMessage, res: ServerResponse, target: RequestTarget): Promise<void> {
  const { hostname, rawPath, trackingId } = target;
  const fail = (status: number, what: string, path: string) => {
    ctx.noteRefusal(status, what, trackingId, path);
    ctx.inspector?.recordRefusal(req, target, path, status, what);
    res.writeHead(status, statusText(what, trackingId, hostname, path), { 'Content-Type': 'text/plain; charset=utf-8', Via: viaEntry(hostname) });
    res.end(`${what}\n`);
    req.resume();
  };
  const resolved = rawPath.replace(/\/+$/, '') ? ctx.namespace.resolve(rawPath) : undefined;
  if (!resolved) {
    fail(404, endpointNotFound('EntityNotFound', `no hybrid connection "${rawPath}"; ${createItHint(ctx.options.autoCreate)}`), rawPath);
    return;
  }
  const { entity } = resolved;
  let consumed = false;
  if (entity.requiresClientAuthorization) {
    const auth = await ctx.authorizeFor(req, target, entity, 'Send');
    if (res.destroyed) return;
    if (!auth.ok) {
      fail(auth.status, auth.reason, entity.path);
      return;
    }
    consumed = consumesAuthorization(auth.credential, true);
  }
  if (!ctx.namespace.has(entity)) {
    fail(404, endpointNotFound('EntityNotFound', `no hybrid connection "${rawPath}" (it was deleted)`), rawPath);
    return;
  }
  const choice = listenerChoice(req);
  const listener = entity.pickListener(choice);
  if (!listener && choice && entity.listenerCount > 0) {
    fail(404, noAllowedListener(entity.path), entity.path);
    return;
  }
  if (!listener) {
    fail(502, `BadGateway: there is no listener online for "${entity.path}"`, entity.path);
    return;
  }
  const exchange = new HttpExchange(
    entity,
    req,
    res,
    {
      method: req.method ?? 'GET',
      // The path and query exactly as sent, less the relay's parameters.
      requestTarget: withQuery(target.pathname, passedQuery(target.rawQuery)),
      requestHeaders: httpRequestHeaders(req, consumed, hostname),
      remoteEndpoint: { address: req.socket.remoteAddress ?? '', port: req.socket.remotePort ?? 0 },
    },
    hostname,
    (e) => ctx.http.forget(e),
  );
  ctx.http.add(exchange);
  exchange.observer = ctx.inspector?.recordExchange(exchange, target, listener.trackingId);
  // The status text is made only if the deadline passes.
  exchange.deadline(ctx.options.httpResponseTimeoutMs, () => statusText('GatewayTimeout: the listener did not answer in time', exchange.id, hostname, entity.path));
  exchange.address = `${ctx.scheme}://${listener.host}/$hc/${encodeURI(entity.path)}?${PARAM_ACTION}=${ACTION_REQUEST}&${PARAM_ID}=${exchange.id}&${PARAM_RENDEZVOUS}=${exchange.secret}`;
  debug('HTTP %s %s for %s (%s)', exchange.message.method, exchange.message.requestTarget, entity.path, exchange.id);
  if (!fitsControlChannel(req)) {
    // Too large (or of unknown length) for the control channel: the listener takes it up over a rendezvous.
    listener.sendRequest(exchange, { request: { address: exchange.address, id: exchange.id } });
    return;
  }
  let body: Buffer;
  try {
    body = await readBody(req, MAX_CONTROL_CHANNEL_BODY);
  } catch {
    exchange.fail(400, 'BadRequest: the request body did not arrive whole');
    return;
  }
  if (body.length > 0) exchange.observer?.requestBody(body);
  if (exchange.done) return;
  if (!listener.isOpen) {
    exchange.abort('the listener went away');
    return;
  }
  listener.sendRequest(exchange, { request: { address: exchange.address, id: exchange.id, ...exchange.message, body: body.length > 0 } }, body);
  exchange.delivered = true;
}

/** Whether a request's body is known to fit the control channel. */
function fitsControlChannel(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding']) return false;
  const length = Number(req.headers['content-length'] ?? 0);
  return Number.isFinite(length) && length <= MAX_CONTROL_CHANNEL_BODY;
}

/** Reads a request body of at most `limit` bytes; rejects when it is cut or too large. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.destroy();
        reject(new Error('body too large'));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
    req.on('close', () => {
      if (!req.complete) reject(new Error('body cut'));
    });
  });
}

/**
 * `sb-hc-action=accept`: a listener answers a waiting sender at its
 * rendezvous address. Accepting joins the two sockets (each gets its 101,
 * the sender's carrying the listener's subprotocol, extensions and extra
 * headers) and relays frames; rejecting (`sb-hc-statusCode`) fails the
 * sender's handshake with the listener's status and answers the listener
 * 410 Gone. The sender's 101 names a subprotocol only when the sender asked
 * for one (a client that asked for none fails a 101 that names one).
 */
import http from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { PARAM_STATUS_CODE, PARAM_STATUS_DESCRIPTION } from 'hyco-websocket/protocol';
import { peer } from './activity';
import type { RelayContext } from './context';
import { FrameRelay } from './frame-relay';
import { upgradeProblem, writeFailure, writeSwitchingProtocols } from './handshake';
import { relayParameters } from './query';
import { PARAM_RENDEZVOUS } from './rendezvous';
import type { PendingSender } from './rendezvous';
import type { RequestTarget } from './request-target';
import { safeDebug, sanitizeReason, statusText } from './tracking';

const debug = safeDebug('hyco-relay-emulator:accept');

/** Request headers of a rendezvous that are about the rendezvous itself, not for the sender. */
const RENDEZVOUS_OWN_HEADERS = new Set([
  'host', 'upgrade', 'connection', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-protocol',
  'sec-websocket-extensions', 'origin', 'authorization', 'servicebusauthorization', 'content-length',
  'transfer-encoding', 'user-agent', 'accept-encoding', 'cookie', 'keep-alive', 'te', 'trailer',
  'proxy-authorization', 'proxy-connection',
]);

const INVALID_ADDRESS = 'RendezvousFailed: the address is invalid, used or expired';

export function handleAccept(ctx: RelayContext, req: IncomingMessage, socket: Duplex, head: Buffer, target: RequestTarget): void {
  const { query, rawPath } = target;
  const secret = query.get(PARAM_RENDEZVOUS);
  const added = listenerParameters(target.rawQuery);
  const statusParam = query.get(PARAM_STATUS_CODE) ?? added.get('statusCode');
  if (statusParam !== null) {
    reject(ctx, socket, target, secret, statusParam, added);
    return;
  }
  if (!ctx.rendezvous.has(secret)) {
    ctx.refuse(socket, 403, INVALID_ADDRESS, target, rawPath);
    return;
  }
  const problem = upgradeProblem(req);
  if (problem) {
    ctx.refuse(socket, 400, `BadRequest: ${problem}`, target, rawPath);
    return;
  }
  const sender = ctx.rendezvous.take(secret);
  if (!sender) {
    ctx.refuse(socket, 403, 'RendezvousFailed: the sender has gone', target, rawPath);
    return;
  }
  join(ctx, sender, req, socket, head);
}

/**
 * The parameters the listener added to the address it was given: those
 * after the relay's own, which end with `sb-hc-rendezvous`. The sender's
 * query comes before them, so that a sender's own `statusCode=` is never
 * taken for the unprefixed rejection of older listeners. (`sb-hc-*`
 * parameters cannot come from the sender: the relay took them out.)
 */
function listenerParameters(rawQuery: string): URLSearchParams {
  const segments = rawQuery.split('&');
  let last = -1;
  for (let i = 0; i < segments.length; i++) if (segments[i].startsWith(`${PARAM_RENDEZVOUS}=`)) last = i;
  return relayParameters(segments.slice(last + 1).join('&'));
}

function reject(ctx: RelayContext, socket: Duplex, target: RequestTarget, secret: string | null, statusParam: string, added: URLSearchParams): void {
  const status = Number(statusParam);
  if (!/^\d{3}$/.test(statusParam) || status < 200 || status > 599) {
    ctx.refuse(socket, 400, 'BadRequest: sb-hc-statusCode must be an HTTP status from 200 to 599', target, target.rawPath);
    return;
  }
  const sender = ctx.rendezvous.take(secret);
  if (!sender) {
    ctx.refuse(socket, 403, INVALID_ADDRESS, target, target.rawPath);
    return;
  }
  const description = target.query.get(PARAM_STATUS_DESCRIPTION) ?? added.get('statusDescription') ?? http.STATUS_CODES[status] ?? 'Rejected';
  ctx.namespace.totals.sendersRejected++;
  debug('listener rejected sender %s with %d', sender.id, status);
  writeFailure(sender.socket, status, sanitizeReason(description));
  ctx.report({ type: 'sender-rejected', path: sender.entity.path, id: sender.id, status, ...peer(socket) });
  writeFailure(socket, 410, 'Gone: the sender was rejected');
}

function join(ctx: RelayContext, sender: PendingSender, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  // The listener's choice: the (first) subprotocol it names on its rendezvous, and its extensions.
  const protocol = firstToken(req.headers['sec-websocket-protocol']);
  const extensions = req.headers['sec-websocket-extensions'];
  const toListener: [string, string][] = [];
  const toSender: [string, string][] = [];
  if (protocol) {
    toListener.push(['Sec-WebSocket-Protocol', protocol]);
    if (firstToken(sender.req.headers['sec-websocket-protocol'])) toSender.push(['Sec-WebSocket-Protocol', protocol]);
  }
  if (typeof extensions === 'string' && extensions) {
    toListener.push(['Sec-WebSocket-Extensions', extensions]);
    toSender.push(['Sec-WebSocket-Extensions', extensions]);
  }
  socket.pause();
  sender.detach();
  writeSwitchingProtocols(socket, req, toListener);
  writeSwitchingProtocols(sender.socket, sender.req, [...toSender, ...extraResponseHeaders(req)]);
  const entity = sender.entity;
  const relay = new FrameRelay(
    sender.socket,
    socket,
    {
      onClosed: (r) => {
        entity.relays.delete(r);
        ctx.namespace.relays.delete(r);
        debug('relayed connection %s closed', sender.id);
        ctx.report({ type: 'connection-closed', path: entity.path, id: sender.id });
        ctx.inspector?.connectionClosed(r);
      },
    },
    ctx.namespace.totals,
    { id: sender.id, path: entity.path, since: Date.now(), listenerId: sender.listenerId, ...(protocol ? { subprotocol: protocol } : {}) },
  );
  ctx.inspector?.connectionOpened(relay);
  entity.relays.add(relay);
  ctx.namespace.relays.add(relay);
  ctx.namespace.totals.sendersAccepted++;
  debug('relayed connection %s joined on %s', sender.id, entity.path);
  ctx.report({ type: 'sender-accepted', path: entity.path, id: sender.id, ...peer(socket) });
  relay.start(sender.head, head);
}

/** A sender nobody accepted within the rendezvous lifetime: 504. */
export function rendezvousTimedOut(ctx: RelayContext, sender: PendingSender): void {
  ctx.namespace.totals.sendersTimedOut++;
  ctx.report({ type: 'sender-timed-out', path: sender.entity.path, id: sender.id, status: 504 });
  writeFailure(sender.socket, 504, statusText('GatewayTimeout: the listener did not accept the connection in time', sender.id, sender.hostname, sender.entity.path));
}

/** The first token of a comma-separated header (`chat, superchat` gives `chat`), or undefined. */
function firstToken(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value.join(',') : value;
  const first = text?.split(',')[0].trim();
  return first || undefined;
}

/** Headers the listener sent on its rendezvous for the sender's 101 (e.g. Set-Cookie). */
function extraResponseHeaders(req: IncomingMessage): [string, string][] {
  const out: [string, string][] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i];
    const lower = name.toLowerCase();
    if (RENDEZVOUS_OWN_HEADERS.has(lower) || lower.startsWith('sec-websocket-') || /^\d+$/.test(name)) continue;
    out.push([name, raw[i + 1]]);
  }
  return out;
}

/**
 * `sb-hc-action=connect`: a sender arrives. After its token is checked for
 * Send (unless the hybrid connection takes anonymous senders), one online
 * listener is offered it as an `accept` message carrying all its handshake
 * headers but the relay's token, its path suffix and query as sent (less
 * the relay's `sb-hc-*=` parameters, see query.ts), and its address. A
 * sender that names no action (`wss://{ns}/$hc/{path}`, as Microsoft's
 * .NET client's raw WebSocket tests connect) is a sender too.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { ACTION_ACCEPT, PARAM_ACTION, PARAM_ID } from 'hyco-websocket/protocol';
import type { AcceptMessage } from 'hyco-websocket/protocol';
import type { RelayContext } from './context';
import { upgradeProblem } from './handshake';
import { connectHeaders, consumesAuthorization, listenerChoice } from './headers';
import { passedQuery } from './query';
import { createItHint, endpointNotFound, noAllowedListener } from './reason-phrases';
import { PARAM_RENDEZVOUS } from './rendezvous';
import type { RequestTarget } from './request-target';
import { safeDebug } from './tracking';

const debug = safeDebug('hyco-relay-emulator:connect');

export async function handleConnect(ctx: RelayContext, req: IncomingMessage, socket: Duplex, head: Buffer, target: RequestTarget): Promise<void> {
  const { rawPath, trackingId } = target;
  const resolved = ctx.namespace.resolve(rawPath);
  if (!resolved) {
    ctx.refuse(socket, 404, endpointNotFound('EntityNotFound', `no hybrid connection "${rawPath}"; ${createItHint(ctx.options.autoCreate)}`), target, rawPath);
    return;
  }
  const { entity, suffix } = resolved;
  let consumed = false;
  if (entity.requiresClientAuthorization) {
    const auth = await ctx.authorizeFor(req, target, entity, 'Send');
    if (socket.destroyed) return;
    if (!auth.ok) {
      ctx.refuse(socket, auth.status, auth.reason, target, entity.path);
      return;
    }
    consumed = consumesAuthorization(auth.credential, true);
  }
  const problem = upgradeProblem(req);
  if (problem) {
    ctx.refuse(socket, 400, `BadRequest: ${problem}`, target, entity.path);
    return;
  }
  if (!ctx.namespace.has(entity)) {
    ctx.refuse(socket, 404, endpointNotFound('EntityNotFound', `no hybrid connection "${rawPath}" (it was deleted)`), target, rawPath);
    return;
  }
  const choice = listenerChoice(req);
  const listener = entity.pickListener(choice);
  if (!listener) {
    const why = choice && entity.listenerCount > 0 ? noAllowedListener(entity.path) : endpointNotFound('EndpointNotFound', `there is no listener online for "${entity.path}"`);
    ctx.refuse(socket, 404, why, target, entity.path);
    return;
  }
  const sender = ctx.rendezvous.add(entity, trackingId, target.hostname, req, socket, head);
  sender.listenerId = listener.trackingId;
  const query = passedQuery(target.rawQuery);
  const own = `${PARAM_ACTION}=${ACTION_ACCEPT}&${PARAM_ID}=${encodeURIComponent(sender.id)}&${PARAM_RENDEZVOUS}=${sender.secret}`;
  const message: AcceptMessage = {
    accept: {
      // The listener's own scheme and host; the sender's suffix and query as sent.
      address: `${ctx.scheme}://${listener.host}/$hc/${encodeURI(entity.path)}${suffix}?${query ? `${query}&` : ''}${own}`,
      id: trackingId,
      connectHeaders: connectHeaders(req, consumed),
      remoteEndpoint: { address: req.socket.remoteAddress ?? '', port: req.socket.remotePort ?? 0 },
    },
  };
  debug('sender %s for %s offered to listener %s', trackingId, entity.path, listener.trackingId);
  listener.sendAccept(message);
}

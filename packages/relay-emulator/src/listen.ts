/**
 * `sb-hc-action=listen`: a listener opens its control channel. The token is
 * checked for Listen before anything else happens, including the creation
 * of a hybrid connection under `autoCreate`.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import { peer } from './activity';
import type { RelayContext } from './context';
import { CLOSE_ENTITY_GONE, ControlChannel } from './control-channel';
import { upgradeProblem } from './handshake';
import { checkPath } from './options';
import { createItHint, endpointNotFound } from './reason-phrases';
import type { RequestTarget } from './request-target';
import { safeDebug } from './tracking';

const debug = safeDebug('hyco-relay-emulator:listen');

export async function handleListen(ctx: RelayContext, wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer, target: RequestTarget): Promise<void> {
  const { rawPath } = target;
  const resolved = ctx.namespace.resolve(rawPath);
  // A listener names the hybrid connection itself (a trailing slash aside).
  const existing = resolved && /^\/*$/.test(resolved.suffix) ? resolved.entity : undefined;
  let path: string;
  if (existing) path = existing.path;
  else if (!ctx.options.autoCreate) {
    ctx.refuse(socket, 404, endpointNotFound('EntityNotFound', `no hybrid connection "${rawPath}"; ${createItHint(false)}`), target, rawPath);
    return;
  } else {
    try {
      path = decodeURIComponent(rawPath.replace(/\/+$/, ''));
    } catch {
      ctx.refuse(socket, 404, endpointNotFound('EntityNotFound', `"${rawPath}" is not a valid hybrid connection path`), target, rawPath);
      return;
    }
  }
  // Authorize first; anything else (creating, or saying why not) after.
  const auth = await ctx.authorize(req, target, path, existing ? existing.rules : [], 'Listen');
  if (socket.destroyed) return;
  if (!auth.ok) {
    ctx.refuse(socket, auth.status, auth.reason, target, path);
    return;
  }
  if (!existing) {
    if (resolved) {
      // Creating it would take the senders of paths under it away from an existing hybrid connection.
      ctx.refuse(socket, 404, endpointNotFound('EntityNotFound', `no hybrid connection "${rawPath}" (autoCreate does not create one inside "${resolved.entity.path}")`), target, rawPath);
      return;
    }
    try {
      path = checkPath(path);
    } catch {
      ctx.refuse(socket, 404, endpointNotFound('EntityNotFound', `"${rawPath}" is not a valid hybrid connection path`), target, rawPath);
      return;
    }
  }
  const problem = upgradeProblem(req);
  if (problem) {
    ctx.refuse(socket, 400, `BadRequest: ${problem}`, target, path);
    return;
  }
  let entity = existing;
  if (!entity) {
    entity = ctx.namespace.get(path) ?? ctx.namespace.add({ path, requiresClientAuthorization: true });
    debug('auto-created hybrid connection %s', entity.path);
  } else if (!ctx.namespace.has(entity)) {
    ctx.refuse(socket, 404, endpointNotFound('EntityNotFound', `no hybrid connection "${path}" (it was deleted)`), target, path);
    return;
  }
  const max = ctx.options.maxListenersPerHybridConnection;
  if (entity.listeners.size >= max) {
    ctx.refuse(socket, 403, `QuotaExceeded: hybrid connection "${entity.path}" already has ${entity.listeners.size} listeners (the limit is ${max})`, target, entity.path);
    return;
  }
  const online = entity;
  const expiry = auth.expiry;
  wss.handleUpgrade(req, socket, head, (ws) => {
    try {
      goOnline(ws);
    } catch (err) {
      debug('opening the control channel failed: %s', (err as Error)?.message ?? String(err));
      ws.terminate();
    }
  });
  function goOnline(ws: WebSocket): void {
    const { trackingId } = target;
    const channel = new ControlChannel(ws, online, target.host, trackingId, expiry, {
      authorizeRenewal: (token) => ctx.checkToken(token, target.hostname, online.path, online.rules, 'Listen'),
      idleTimeoutMs: ctx.options.idleTimeoutMs,
      listenerPings: ctx.options.listenerPings,
      endedLately: (id) => ctx.http.endedLately(id),
      onListenerError: (_c, detail) => ctx.report({ type: 'listener-error', path: online.path, id: trackingId, detail }),
      onClose: (c) => {
        if (online.listeners.delete(c)) {
          const ending = c.ending;
          const why = ending ? `${ending.by === 'relay' ? 'closed by the relay' : ending.by === 'listener' ? 'closed by the listener' : 'network'}${ending.reason ? `: ${ending.reason}` : ''}` : undefined;
          ctx.report({ type: 'listener-offline', path: online.path, id: trackingId, ...(ending?.code !== undefined ? { status: ending.code } : {}), ...(why ? { detail: why } : {}) });
        }
      },
    });
    if (ctx.closing || !ctx.namespace.has(online)) {
      channel.close(CLOSE_ENTITY_GONE, 'The hybrid connection is gone');
      return;
    }
    online.listeners.add(channel);
    ctx.namespace.totals.listenersAccepted++;
    debug('listener %s online on %s (%d)', trackingId, online.path, online.listeners.size);
    ctx.report({ type: 'listener-online', path: online.path, id: trackingId, ...peer(socket) });
  }
}

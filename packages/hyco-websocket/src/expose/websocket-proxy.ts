/**
 * One relayed WebSocket, forwarded to the origin as a WebSocket: the proxy
 * opens its own handshake to the origin (same path and query, the sender's
 * subprotocols offered, its end-to-end headers and the forwarding ones),
 * and accepts the sender only once the origin has, with the origin's
 * choice of subprotocol. An origin that refuses the upgrade has its status
 * passed to the sender as the rejection; one that cannot be reached gives
 * 502, one too slow 504.
 *
 * Joined, frames pass one by one as they arrive (text or binary, fragments
 * and message boundaries kept, never reassembled, with backpressure both
 * ways); close codes and reasons pass both ways; a side dropped without a
 * close frame drops the other the same way. Pings and pongs stay on their
 * hop: each side answers its own.
 *
 * What the origin sends before the sender is accepted (a welcome message,
 * a close at once) is held (up to 1 MiB, beyond it the exchange fails with
 * 1011) and passed on, in order, once the sender is: an origin that closed
 * or dropped meanwhile has its close passed on right after the accept.
 * A path with a `.` or `..` segment is refused 400.
 */
import createDebug from 'debug';
import { client as WebSocketClient } from 'websocket';
import { newFrame } from '../data-path';
import type { connection as WebSocketConnection, frame as Frame, IClientConfig } from 'websocket';
import type { IncomingMessage } from 'node:http';
import { RelayError } from '../errors';
import { printable } from '../protocol/printable';
import type { HybridConnectionsWebSocketRequest } from '../request';
import { originHandshakeHeaders, toObject } from './forwarded-headers';
import type { ForwardedFor } from './forwarded-headers';
import { hasDotSegment } from './origin';
import type { Origin } from './origin';
import type { ProxyExchange } from './exchange';

const debug = createDebug('hyco-websocket:expose');

const OP_CLOSE = 0x8;
/** Close code for a close frame without one (RFC 6455 section 7.1.5): never sent on the wire. */
const NO_STATUS = 1005;
/** Close code for a connection that ended without a close frame: never sent on the wire. */
const ABNORMAL = 1006;
/** The longest close reason a close frame carries, bytes (125 less the code's 2). */
const MAX_REASON_BYTES = 123;

/** The most the origin may send before its sender is joined (held meanwhile), payload bytes: beyond it the exchange fails (1011). */
const MAX_EARLY_BYTES = 1024 * 1024;

/**
 * What the origin sends before its sender is joined, held in order until
 * join() takes over (`forward` set): its frames and its close.
 */
interface EarlyOrigin {
  frames: Frame[];
  closed?: { code: number; description: string };
  overflowed: boolean;
  forward?: { frame(frame: Frame): void; close(code: number, description: string): void };
}

/** Holds what `connection` sends from now on, until join() forwards it; `overflow` runs once past MAX_EARLY_BYTES. */
function holdEarly(connection: WebSocketConnection, overflow: () => void): EarlyOrigin {
  const early: EarlyOrigin = { frames: [], overflowed: false };
  let bytes = 0;
  connection.on('frame', (frame: Frame) => {
    if (early.forward) return early.forward.frame(frame);
    if (early.overflowed) return;
    bytes += frame.binaryPayload.length;
    if (bytes > MAX_EARLY_BYTES) {
      early.overflowed = true;
      early.frames = [];
      overflow();
      return;
    }
    early.frames.push(frame);
  });
  connection.on('close', (code: number, description: string) => {
    if (early.forward) return early.forward.close(code, description);
    early.closed = { code, description };
  });
  return early;
}

/** What a WebSocket exchange needs from its proxy. */
export interface WebSocketProxyContext {
  origin: Origin;
  forwarded: Omit<ForwardedFor, 'address'>;
  /** Give up on the origin's answer to the upgrade after this long, ms. */
  timeoutMs: number;
  /** Settings of the connection to the origin (frame size, close timeout). */
  clientConfig: IClientConfig;
  /** Reports the exchange when it has ended. */
  done(exchange: ProxyExchange): void;
  /** Tracks what is under way: `stop` ends it for close() and resolves when it has. */
  track(stop: () => Promise<void>): () => void;
}

/** Whether `code` may be sent in a close frame (RFC 6455 section 7.4). */
function sendableCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/** `reason` cut to what a close frame carries, at a character boundary. */
function closeReason(reason: string | undefined): string {
  let text = reason ?? '';
  while (Buffer.byteLength(text) > MAX_REASON_BYTES) text = text.slice(0, -1);
  return text;
}

/** Resolves once `connection` has emitted `close` (at once when it has). */
function closed(connection: WebSocketConnection): Promise<void> {
  if ((connection as unknown as { closeEventEmitted?: boolean }).closeEventEmitted) return Promise.resolve();
  return new Promise((resolve) => connection.once('close', () => resolve()));
}

/** Forwards one relayed sender to the origin. */
export function proxyWebSocket(request: HybridConnectionsWebSocketRequest, ctx: WebSocketProxyContext): void {
  const started = performance.now();
  const path = request.resource;
  const counts = { bytesIn: 0, bytesOut: 0 };
  let ended = false;
  const end = (status: number, complete: boolean, error?: RelayError, closeCode?: number) => {
    if (ended) return;
    ended = true;
    untrack();
    ctx.done({
      kind: 'websocket',
      method: 'GET',
      path,
      status,
      durationMs: performance.now() - started,
      ...counts,
      complete,
      remoteAddress: request.remoteAddress,
      ...(error ? { error } : {}),
      ...(closeCode === undefined ? {} : { closeCode }),
    });
  };
  const refuse = (status: number, reason: string, error: RelayError) => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    debug('%s refused %d: %s', printable(path), status, error.message);
    request.reject(status, reason).catch((err: RelayError) => debug('rejecting the sender failed: %s', err.message));
    end(status, false, error);
  };

  let joined: { stop: () => Promise<void> } | undefined;
  /** The accept under way once the origin has taken the upgrade. */
  let accepting: Promise<void> | undefined;
  let stopping = false;
  const client = new WebSocketClient({ ...ctx.clientConfig, ...(ctx.origin.secure ? { tlsOptions: { ...ctx.origin.tls } } : {}) });
  const untrack = ctx.track(async () => {
    stopping = true;
    if (timer) clearTimeout(timer);
    timer = undefined;
    // The listener's close() settles an accept under way (the sender gets 503); then whatever it left is closed.
    if (accepting) await accepting;
    if (joined) return joined.stop();
    if (ended) return;
    client.abort();
    await request.reject(503, 'The listener is closing').catch(() => undefined);
    end(503, false, new RelayError('ERR_HYCO_CLOSED', 'The listener closed before the origin answered'));
  });
  let timer: NodeJS.Timeout | undefined = setTimeout(() => {
    timer = undefined;
    client.abort();
    refuse(504, 'The origin did not answer in time', new RelayError('ERR_HYCO_ORIGIN_TIMEOUT', `The origin did not answer the upgrade within ${ctx.timeoutMs} ms`));
  }, ctx.timeoutMs);

  client.on('httpResponse', (response: IncomingMessage) => {
    if (ended || stopping) return;
    const status = response.statusCode ?? 502;
    // A refusal (3xx-5xx) is passed on as it is; anything else that is no upgrade is the proxy's 502.
    const passed = status >= 300 && status <= 599;
    refuse(
      passed ? status : 502,
      passed ? (response.statusMessage ?? '') : 'The origin did not upgrade the connection',
      new RelayError('ERR_HYCO_HANDSHAKE', `The origin answered the upgrade with ${status}`, { statusCode: status }),
    );
  });
  client.on('connectFailed', (err: NodeJS.ErrnoException) => {
    if (ended || stopping) return;
    const code = typeof err.code === 'string' ? err.code : undefined;
    // No code: the origin answered 101 but broke the handshake (a subprotocol it was not offered, a bad accept key).
    refuse(
      502,
      code ? 'The origin is not reachable' : 'The origin broke the WebSocket handshake',
      code
        ? new RelayError('ERR_HYCO_ORIGIN_UNREACHABLE', `The origin is not reachable (${printable(code, 40)})`, { cause: err })
        : new RelayError('ERR_HYCO_HANDSHAKE', `The origin broke the WebSocket handshake: ${printable(err.message, 120)}`),
    );
  });
  client.on('connect', (originConnection: WebSocketConnection) => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (ended || stopping) {
      originConnection.drop(1001, 'The listener is closing', true);
      return;
    }
    originConnection.on('error', (err: Error) => debug('origin connection error: %s', err.message));
    // What the origin sends before the sender is joined (a welcome message, a close at once) is held, in
    // order, from this moment: `websocket` has its data listener on the socket before it emits `connect`,
    // so a pause here does not stop the first chunk being parsed. The pause still slows the origin down.
    const early = holdEarly(originConnection, () => {
      debug('%s: the origin sent more than %d bytes before the sender was joined', printable(path), MAX_EARLY_BYTES);
      originConnection.drop(1011, 'Too much sent before the sender was joined');
    });
    originConnection.pause();
    // The accept is under way from here on (it cannot be taken back): an origin that closes or drops while it
    // is has its close passed on to the sender right after the accept, after the frames it sent before (so
    // the sender sees what the origin meant: its message, then its close code, or a drop for a reset).
    accepting = request.accept(originConnection.protocol ?? null).then(
      (relayed) => {
        if (early.overflowed) {
          // Held no more than MAX_EARLY_BYTES: the exchange fails rather than losing a part of what the origin sent.
          relayed.on('error', (err: Error) => debug('relayed connection error: %s', err.message));
          relayed.close(1011, 'The origin sent too much before the sender was joined');
          end(
            101,
            false,
            new RelayError('ERR_HYCO_CONNECTION', `The origin sent more than ${MAX_EARLY_BYTES} bytes before the sender was joined`),
            1011,
          );
          return;
        }
        joined = join(relayed, originConnection, early, counts, (closeCode) => {
          const dropped = closeCode === ABNORMAL;
          end(101, !dropped, dropped ? new RelayError('ERR_HYCO_CONNECTION', 'A side of the connection dropped without a close frame') : undefined, closeCode);
        });
        originConnection.resume();
      },
      (err: RelayError) => {
        // The sender is gone (its rendezvous expired) or the listener is closing: so is the origin's connection.
        if (stopping) originConnection.drop(1001, 'The listener is closing', true);
        else originConnection.close(1001, 'The sender is gone');
        end(0, false, err);
      },
    );
  });

  if (hasDotSegment(path)) {
    // An origin that resolves dot segments would serve what is outside the path the proxy passes.
    refuse(400, 'Bad Request', new RelayError('ERR_HYCO_BAD_REQUEST', 'The path has a "." or ".." segment'));
    return;
  }
  const protocols = request.requestedProtocols.map((p) => request.protocolFullCaseMap[p] ?? p);
  const headers = toObject(originHandshakeHeaders(request.httpRequest.headers, { ...ctx.forwarded, address: request.remoteAddress }, ctx.origin.host));
  try {
    client.connect(ctx.origin.webSocketUrl(path) as never, protocols, request.origin, headers);
  } catch (err) {
    // A subprotocol, path or header the origin's handshake cannot carry (the relay passes what senders send).
    refuse(400, 'Bad Request', new RelayError('ERR_HYCO_BAD_REQUEST', `The upgrade cannot be forwarded to the origin: ${printable((err as Error).message, 120)}`));
  }
}

/**
 * Joins two connections: frames pass both ways, closes too. `onEnd` gets
 * the close code of the side that closed first once both have closed.
 */
function join(
  relayed: WebSocketConnection,
  origin: WebSocketConnection,
  early: EarlyOrigin,
  counts: { bytesIn: number; bytesOut: number },
  onEnd: (closeCode: number) => void,
): { stop: () => Promise<void> } {
  let firstCode: number | undefined;
  const closeOther = (to: WebSocketConnection, code: number, reason: string | undefined) => {
    firstCode ??= code;
    if (!to.connected) return;
    if (sendableCloseCode(code)) to.close(code, closeReason(reason));
    // A close frame without a code is passed on as a normal close (the library cannot send one without).
    else if (code === NO_STATUS) to.close(1000, '');
    // Dropped (or a code no close frame may carry): the other side is dropped too, without a close frame.
    else to.drop(ABNORMAL, closeReason(reason), true);
  };
  /** Passes `from`'s frames and close to `to`; `held`: what `from` (the origin) sent before the join, replayed first. */
  const pass = (from: WebSocketConnection, to: WebSocketConnection, count: (n: number) => void, held?: EarlyOrigin) => {
    let waiting = false;
    const onFrame = (frame: Frame) => {
      if (frame.opcode === OP_CLOSE) {
        closeOther(to, frame.closeStatus === -1 ? NO_STATUS : frame.closeStatus, frame.binaryPayload.toString('utf8'));
        return;
      }
      // Pings and pongs belong to their hop.
      if (frame.opcode > OP_CLOSE || !to.connected) return;
      count(frame.binaryPayload.length);
      const out = newFrame(to);
      out.opcode = frame.opcode;
      out.fin = frame.fin;
      out.binaryPayload = frame.binaryPayload;
      // `websocket` returns whether the socket took the frame without queueing (its typings say void).
      const flushed = (to as unknown as { sendFrame(frame: Frame): boolean }).sendFrame(out);
      if (!flushed && !waiting) {
        // The other side is not keeping up: stop reading this one until it drains.
        waiting = true;
        from.pause();
        to.once('drain', () => {
          waiting = false;
          from.resume();
        });
      }
    };
    const onClose = (code: number, description: string) => closeOther(to, code, description);
    if (!held) {
      from.on('frame', onFrame);
      from.on('close', onClose);
      return;
    }
    const frames = held.frames;
    held.frames = [];
    for (const frame of frames) onFrame(frame);
    if (held.closed) onClose(held.closed.code, held.closed.description);
    held.forward = { frame: onFrame, close: onClose };
  };
  pass(relayed, origin, (n) => (counts.bytesIn += n));
  pass(origin, relayed, (n) => (counts.bytesOut += n), early);
  relayed.on('error', (err: Error) => debug('relayed connection error: %s', err.message));
  const both = Promise.all([closed(relayed), closed(origin)]);
  void both.then(() => onEnd(firstCode ?? ABNORMAL));
  return {
    stop: async () => {
      closeOther(relayed, 1001, 'The listener is closing');
      closeOther(origin, 1001, 'The listener is closing');
      // A peer that never answers the close is cut after the connections' close timeout (and a little more).
      const bound = (relayed.config.closeTimeout ?? 5000) + 1000;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([both, new Promise<void>((resolve) => (timer = setTimeout(resolve, bound)))]);
      clearTimeout(timer);
      for (const connection of [relayed, origin]) if (connection.state !== 'closed') connection.drop(ABNORMAL, 'The listener is closing', true);
      await both;
    },
  };
}

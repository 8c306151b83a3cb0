/**
 * One relayed HTTP request, forwarded to the origin: the method, the path
 * and query as sent, the end-to-end headers plus the forwarding ones; the
 * bodies stream both ways with backpressure (piped, never held whole); the
 * origin's status, reason and headers (repeated ones as lines of their own)
 * come back. When the origin cannot be reached the sender gets 502 with a
 * short text; when it does not answer within `timeoutMs`, 504. A sender
 * that goes away aborts the origin's request; an origin that goes away
 * mid-response cuts the sender's (never ended as if complete), a reset
 * included. A path with a `.` or `..` segment is refused 400. A body-less
 * request of an idempotent method is sent again, once, when a kept-open
 * origin connection turns out closed; others are not.
 */
import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import createDebug from 'debug';
import { RelayError } from '../errors';
import { printable } from '../protocol/printable';
import { originRequestHeaders, senderResponseHeaders, toObject, toRaw } from './forwarded-headers';
import type { ForwardedFor } from './forwarded-headers';
import { hasDotSegment } from './origin';
import type { Origin } from './origin';
import type { ProxyExchange } from './exchange';

const debug = createDebug('hyco-websocket:expose');

/** Socket errors that mean a kept-open connection to the origin had been closed by it: a request on it may be sent again. */
const STALE_CONNECTION = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/** Methods a proxy may send again on its own (RFC 9110 section 9.2.2): sent twice, they do what they do once. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** What an HTTP exchange needs from its proxy. */
export interface HttpProxyContext {
  origin: Origin;
  forwarded: Omit<ForwardedFor, 'address'>;
  /** Give up on the origin's response head after this long, ms. */
  timeoutMs: number;
  /** Reports the exchange when it has ended. */
  done(exchange: ProxyExchange): void;
  /** Tracks what is under way: `stop` releases it for close() (the relayed server ends the sender's side). */
  track(stop: () => void): () => void;
}

/** Why the origin could not answer, for the sender's 502 text and the exchange's error. */
function unreachable(err: NodeJS.ErrnoException): RelayError {
  const code = typeof err.code === 'string' ? err.code : 'error';
  return new RelayError('ERR_HYCO_ORIGIN_UNREACHABLE', `The origin is not reachable (${printable(code, 40)})`, { cause: err });
}

/** Forwards one relayed request (`req`, `res`, as the relayed server hands them over) to the origin. */
export function proxyHttp(req: IncomingMessage, res: ServerResponse, ctx: HttpProxyContext): void {
  const started = performance.now();
  const path = req.url ?? '/';
  const method = req.method ?? 'GET';
  let bytesIn = 0;
  let bytesOut = 0;
  let status = 0;
  let error: RelayError | undefined;
  let current: ClientRequest | undefined;
  let timer: NodeJS.Timeout | undefined;
  let responded = false;
  /** The proxy has answered (or cut) the sender itself: the origin's request no longer matters. */
  let gaveUp = false;
  const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
  const untrack = ctx.track(() => {
    gaveUp = true;
    if (timer) clearTimeout(timer);
    timer = undefined;
    current?.destroy();
  });

  req.on('data', (chunk: Buffer) => (bytesIn += chunk.length));
  // Ends once, however the exchange ends: res closes in every case (finished, cut, sender gone).
  res.once('close', () => {
    if (timer) clearTimeout(timer);
    untrack();
    const complete = res.writableFinished;
    if (!complete) {
      // The sender went away (or the response was cut): the origin's request goes too.
      current?.destroy();
      error ??= new RelayError('ERR_HYCO_ABORTED', 'The sender went away before the response ended');
    }
    ctx.done({
      kind: 'http',
      method,
      path,
      status,
      durationMs: performance.now() - started,
      bytesIn,
      bytesOut,
      complete,
      remoteAddress: req.socket?.remoteAddress ?? '',
      ...(error ? { error } : {}),
    });
  });

  /** Answers the sender with the proxy's own status, when nothing of the origin's answer has gone yet. */
  const answer = (code: number, reason: string, text: string) => {
    gaveUp = true;
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    status = code;
    // The rest of a body the origin will not read.
    req.unpipe();
    req.resume();
    res.writeHead(code, reason, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };

  const send = (attempt: number) => {
    const headers = toObject(originRequestHeaders(req.rawHeaders, { ...ctx.forwarded, address: req.socket?.remoteAddress ?? '' }, ctx.origin.host));
    // A body of unknown length goes chunked, whatever the method (Node chunks only some by default).
    if (hasBody && req.headers['content-length'] === undefined) headers['Transfer-Encoding'] = 'chunked';
    let proxyReq: ClientRequest;
    try {
      proxyReq = ctx.origin.request(method, path, headers);
    } catch (err) {
      // A path or header Node will not send (the relay passes what senders send).
      error = new RelayError('ERR_HYCO_BAD_REQUEST', `The request cannot be sent to the origin: ${printable((err as Error).message, 120)}`);
      answer(400, 'Bad Request', 'The request cannot be forwarded to the origin.\n');
      return;
    }
    current = proxyReq;
    proxyReq.on('error', (err: NodeJS.ErrnoException) => {
      if (gaveUp || res.destroyed) return;
      if (responded) {
        // The origin's connection failed (a reset) while its response was under way: however the body looked
        // (one delimited by the connection's end ends cleanly at a reset), the sender's response is cut.
        if (res.writableEnded) return;
        error = new RelayError('ERR_HYCO_ORIGIN_CLOSED', `The origin's connection failed before the response ended (${printable(err.code ?? 'error', 40)})`, { cause: err });
        debug('%s %s: %s', method, printable(path), error.message);
        res.destroy();
        return;
      }
      // A kept-open connection the origin had closed: a request without a body is sent again, once, on a new
      // one, when its method is idempotent (RFC 9110 section 9.2.2): the origin may have acted on it already.
      if (attempt === 0 && proxyReq.reusedSocket && !hasBody && IDEMPOTENT.has(method) && STALE_CONNECTION.has(err.code ?? '')) {
        debug('%s %s: kept-open connection to the origin was closed (%s); sending again', method, printable(path), err.code);
        send(1);
        return;
      }
      error = unreachable(err);
      debug('%s %s: %s', method, printable(path), error.message);
      answer(502, 'Bad Gateway', `${error.message}.\n`);
    });
    proxyReq.on('response', (originRes: IncomingMessage) => {
      responded = true;
      if (timer) clearTimeout(timer);
      relayResponse(originRes);
    });
    if (hasBody) req.pipe(proxyReq);
    else proxyReq.end();
  };

  const relayResponse = (originRes: IncomingMessage) => {
    if (res.destroyed) {
      originRes.destroy();
      return;
    }
    status = originRes.statusCode ?? 502;
    try {
      res.writeHead(status, originRes.statusMessage ?? '', toRaw(senderResponseHeaders(originRes.rawHeaders)));
    } catch (err) {
      originRes.destroy();
      error = new RelayError('ERR_HYCO_BAD_REQUEST', `The origin's response head cannot be passed on: ${printable((err as Error).message, 120)}`);
      status = 0;
      answer(502, 'Bad Gateway', 'The origin sent a response that cannot be passed on.\n');
      return;
    }
    originRes.on('data', (chunk: Buffer) => (bytesOut += chunk.length));
    originRes.once('close', () => {
      // Ended before its body did (the origin died, or its connection was reset): the sender's response is cut.
      if (!originRes.complete && !res.destroyed) {
        error = new RelayError('ERR_HYCO_ORIGIN_CLOSED', 'The origin closed its connection before the response ended');
        debug('%s %s: %s', method, printable(path), error.message);
        res.destroy();
      }
    });
    originRes.on('error', () => undefined);
    originRes.pipe(res);
  };

  // The sender's body failed to arrive whole (its rendezvous went): the origin must not take it as complete.
  req.once('error', () => current?.destroy());
  if (hasDotSegment(path)) {
    // An origin that resolves dot segments would serve what is outside the path the proxy passes.
    error = new RelayError('ERR_HYCO_BAD_REQUEST', 'The path has a "." or ".." segment');
    answer(400, 'Bad Request', 'A path with a "." or ".." segment is not forwarded.\n');
    return;
  }
  timer = setTimeout(() => {
    timer = undefined;
    if (responded) return;
    error = new RelayError('ERR_HYCO_ORIGIN_TIMEOUT', `The origin did not answer within ${ctx.timeoutMs} ms`);
    current?.destroy();
    answer(504, 'Gateway Timeout', 'The origin did not answer in time.\n');
  }, ctx.timeoutMs);
  send(0);
}

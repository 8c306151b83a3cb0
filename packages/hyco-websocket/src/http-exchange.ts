/**
 * One HTTP request through the relay, listener side. The request becomes
 * a genuine `http.IncomingMessage` and `http.ServerResponse` (so frameworks
 * that swap their prototypes, such as Express, work unchanged), joined to
 * an in-memory socket whose writes go to a `ResponseEncoder`.
 *
 * When the way back to the sender goes (its rendezvous or control channel
 * closes before the response ends, or the listener closes), the exchange
 * ends as Node's own server ends one whose client vanished: `close` on `req`
 * and `res`, `res.writableEnded` false, further writes ignored.
 */
import { IncomingMessage, ServerResponse } from 'node:http';
import { Duplex } from 'node:stream';
import createDebug from 'debug';
import type { connection as WebSocketConnection } from 'websocket';
import type { RelayError } from './errors';
import { pathAfterEntity } from './protocol/uri';
import { ResponseEncoder } from './http-response';
import type { RelayedRequestMessage } from './http-response';

const debug = createDebug('hyco-websocket:http');

/** What an exchange needs from its server. */
export interface ExchangeRoute {
  /** Sends on the control channel the request came on; false when it is gone. */
  sendInline(json: unknown, body?: Buffer): boolean;
  /** Opens a rendezvous at the request's address. */
  openRendezvous(): Promise<WebSocketConnection>;
  report(error: RelayError): void;
}

/** The in-memory socket a ServerResponse writes to. */
class ExchangeSocket extends Duplex {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly encrypted = false;

  constructor(
    private readonly sink: ResponseEncoder,
    remote: { address: string; port: number } | undefined,
    /** Called when the socket is destroyed (as by `res.destroy()` or `req.destroy()`). */
    private readonly onDestroy: () => void,
  ) {
    // Readable while the exchange lives (frameworks read `socket.readable` to
    // tell whether a request is still in progress); nothing is ever read from it.
    super({ allowHalfOpen: true });
    this.remoteAddress = remote?.address;
    this.remotePort = remote?.port;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.sink.write(chunk, callback);
  }

  override _read(): void {}

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.onDestroy();
    callback(error);
  }

  setTimeout(): this {
    return this;
  }

  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }
}

/** Node's `kNeedDrain` symbol on a ServerResponse (the same for every response: looked up once). */
let kNeedDrain: symbol | null | undefined;
function needDrainSymbol(res: ServerResponse): symbol | undefined {
  if (kNeedDrain === undefined) kNeedDrain = Object.getOwnPropertySymbols(res).find((sym) => sym.description === 'kNeedDrain') ?? null;
  return kNeedDrain ?? undefined;
}

/** A relayed HTTP exchange: the pair handed to `httpRequest` and its controls. */
export interface HttpExchange {
  req: IncomingMessage;
  res: ServerResponse;
  /** Feeds request body bytes (`null` ends the body); false when the reader wants no more for now. */
  push(chunk: Buffer | null): boolean;
  /** Called when the handler reads the body (to resume a paused source). */
  onRead(fn: () => void): void;
  /** Ends the exchange as for a vanished client (idempotent). */
  abort(why: string): void;
  /** The control channel the request came on closed: the exchange ends unless its response has moved to a rendezvous. */
  controlChannelClosed(): void;
  /** Resolves once the exchange has ended, answered or aborted. */
  readonly ended: Promise<void>;
}

/**
 * Creates the request/response pair for a relayed HTTP request.
 * `body` is the body's length when it came whole, 'stream' when it streams
 * in, undefined for none.
 */
export function createExchange(
  request: RelayedRequestMessage,
  hybridConnectionPath: string,
  route: ExchangeRoute,
  requestRendezvous?: WebSocketConnection,
  body?: number | 'stream',
): HttpExchange {
  let abort: (why: string) => void = () => undefined;
  let cut: () => void = () => undefined;
  const encoder = new ResponseEncoder(request, { ...route, lost: (why) => abort(why) }, requestRendezvous);
  const socket = new ExchangeSocket(encoder, request.remoteEndpoint, () => cut());
  const req = new IncomingMessage(socket as unknown as ConstructorParameters<typeof IncomingMessage>[0]);
  const target = request.requestTarget ?? '/';
  const q = target.indexOf('?');
  const rawPath = q === -1 ? target : target.slice(0, q);
  // The path after the hybrid connection (matched as the relay matches it), the query as sent.
  const path = pathAfterEntity(rawPath, hybridConnectionPath) ?? (rawPath.startsWith('/') ? rawPath : `/${rawPath}`);
  req.method = (request.method ?? 'GET').toUpperCase();
  req.url = q === -1 ? path : `${path}${target.slice(q)}`;
  req.httpVersion = '1.1';
  req.httpVersionMajor = 1;
  req.httpVersionMinor = 1;
  const headers: Record<string, string> = {};
  const rawHeaders: string[] = [];
  for (const [name, value] of Object.entries(request.requestHeaders ?? {})) {
    headers[name.toLowerCase()] = value;
    rawHeaders.push(name, value);
  }
  // The relay drops Content-Length and Transfer-Encoding; say what Node's own
  // server would, so that body parsers know there is a body.
  if (typeof body === 'number') {
    headers['content-length'] = String(body);
    rawHeaders.push('Content-Length', String(body));
  } else if (body === 'stream' && headers['content-length'] === undefined) {
    headers['transfer-encoding'] = 'chunked';
    rawHeaders.push('Transfer-Encoding', 'chunked');
  }
  req.headers = headers;
  req.rawHeaders = rawHeaders;
  let onRead: (() => void) | undefined;
  // An own property, so that it survives frameworks that swap the prototype.
  Object.defineProperty(req, '_read', { value: () => onRead?.(), writable: true, configurable: true });
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket as unknown as Parameters<ServerResponse['assignSocket']>[0]);
  let resolveEnded: () => void = () => undefined;
  const ended = new Promise<void>((resolve) => (resolveEnded = resolve));
  let finished = false;
  /** Set while the exchange ends for a cause of its own (abort), so that destroying the socket is no cut. */
  let ending = false;
  /** A cut's rendezvous, until settled: the exchange has not ended before. */
  let cutting: Promise<void> | undefined;
  res.once('finish', () => {
    finished = true;
    encoder.end();
    // Done, as a server closing the exchange: res and req see 'close'.
    setImmediate(() => {
      socket.destroy();
      resolveEnded();
    });
  });
  abort = (why: string) => {
    if (finished || socket.destroyed) {
      void (cutting ?? Promise.resolve()).then(resolveEnded);
      return;
    }
    debug('exchange %s ended: %s', request.id, why);
    ending = true;
    encoder.abort();
    // As Node's server does when a client vanishes: the request is aborted
    // (an error only for a body still coming in), the response closes.
    if (!req.complete) req.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    else req.destroy();
    socket.destroy();
    resolveEnded();
  };
  // The application destroyed the response (or the request, as Node's server takes it: the
  // connection goes) before it finished: the sender's response is cut, never ended as if complete.
  cut = () => {
    if (finished || ending) return;
    debug('exchange %s cut by the application', request.id);
    ending = true;
    cutting = encoder.cut();
    if (!req.destroyed) {
      if (!req.complete) req.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
      else req.destroy();
    }
    void cutting.then(resolveEnded);
  };
  // A request that came over a rendezvous is answered there: when it closes first, the exchange ends.
  requestRendezvous?.once('close', () => abort('the rendezvous closed before the response ended'));
  // Node's HTTP server passes its sockets' drain on to the response; so do we.
  const needDrain = needDrainSymbol(res);
  socket.on('drain', () => {
    if (res.writableFinished) return;
    if (needDrain) (res as unknown as Record<symbol, boolean>)[needDrain] = false;
    res.emit('drain');
  });
  return {
    req,
    res,
    push: (chunk) => {
      if (chunk === null) {
        req.complete = true;
        return req.push(null);
      }
      return req.push(chunk);
    },
    onRead: (fn) => (onRead = fn),
    abort: (why) => abort(why),
    controlChannelClosed: () => {
      if (!encoder.onRendezvous) abort('the control channel closed before the response ended');
    },
    ended,
  };
}

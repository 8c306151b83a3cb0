/**
 * HTTP requests through the relay, listener side. Each request becomes a
 * genuine `http.IncomingMessage` and `http.ServerResponse` (so frameworks
 * that swap their prototypes, such as Express, work unchanged), joined to
 * an in-memory socket: what the response writes to it (status line,
 * headers, body) is turned into a `response` message and body frames,
 * over the control channel when small, else over a rendezvous.
 */
import { IncomingMessage, ServerResponse } from 'node:http';
import { Duplex } from 'node:stream';
import createDebug from 'debug';
import { client as WebSocketClient, frame as WebSocketFrame } from 'websocket';
import type { connection as WebSocketConnection, IClientConfig } from 'websocket';
import { RelayError } from './errors';
import { MAX_CONTROL_CHANNEL_BODY } from './protocol/constants';
import { pathAfterEntity } from './protocol/uri';
import type { RequestMessage } from './protocol/messages';
import { holdFirstData } from './request';

const debug = createDebug('hyco-websocket:http');

const OP_CONTINUATION = 0x0;
const OP_BINARY = 0x2;

/** Where a response goes: the control channel, or a rendezvous. */
export interface ResponseChannels {
  /** Sends on the control channel; false when it is down. */
  sendControl(json: unknown, body?: Buffer): boolean;
  /** Opens a rendezvous at `address` for the response. */
  openRendezvous(address: string): Promise<WebSocketConnection>;
  report(error: RelayError): void;
}

/** The request as the listener received it. */
export type RelayedRequestMessage = RequestMessage['request'];

/** The in-memory socket a ServerResponse writes to. */
class ExchangeSocket extends Duplex {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly encrypted = false;

  constructor(
    private readonly sink: ResponseEncoder,
    remote: { address: string; port: number } | undefined,
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

/**
 * Reads the raw HTTP/1.1 response a ServerResponse writes (head, then body,
 * chunked or not) and sends it as a relay response.
 */
class ResponseEncoder {
  private head = Buffer.alloc(0);
  private headDone = false;
  private chunked = false;
  private chunkState: { size: number; phase: 'size' | 'data' | 'crlf' | 'done'; line: string } = { size: 0, phase: 'size', line: '' };
  /** `undecided`: length unknown; the body is held until the response ends (inline) or outgrows a turn or 64 KB. */
  private mode: 'inline' | 'rendezvous' | 'undecided' | undefined;
  private heldBytes = 0;
  private decision: NodeJS.Immediate | undefined;
  private inlineBody: Buffer[] = [];
  private rendezvous: Promise<WebSocketConnection> | undefined;
  private sentFrames = 0;
  private response: Record<string, unknown> | undefined;
  private ended = false;

  constructor(
    private readonly request: RelayedRequestMessage,
    private readonly channels: ResponseChannels,
    /** A rendezvous the request came over, if it did. */
    private readonly requestRendezvous: WebSocketConnection | undefined,
  ) {}

  write(chunk: Buffer, callback: (error?: Error | null) => void): void {
    if (this.headDone) {
      this.body(chunk, callback);
      return;
    }
    this.head = Buffer.concat([this.head, chunk]);
    const end = this.head.indexOf('\r\n\r\n');
    if (end === -1) {
      callback();
      return;
    }
    const rest = this.head.subarray(end + 4);
    this.parseHead(this.head.subarray(0, end).toString('latin1'));
    this.headDone = true;
    this.body(rest, callback);
  }

  private parseHead(text: string): void {
    const [statusLine, ...lines] = text.split('\r\n');
    const match = /^HTTP\/\d\.\d (\d{3})(?: (.*))?$/.exec(statusLine);
    const statusCode = match ? Number(match[1]) : 500;
    const statusDescription = match?.[2] ?? '';
    const headers: Record<string, string> = {};
    let contentLength: number | undefined;
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      const lower = name.toLowerCase();
      if (lower === 'transfer-encoding') {
        this.chunked = /chunked/i.test(value);
        continue;
      }
      if (lower === 'connection' || lower === 'keep-alive' || lower === 'date') continue;
      if (lower === 'content-length') contentLength = Number(value);
      // The response map holds one value per name; repeated headers are joined.
      const existing = Object.keys(headers).find((k) => k.toLowerCase() === lower);
      if (existing) headers[existing] += `, ${value}`;
      else headers[name] = value;
    }
    const noBody = statusCode === 204 || statusCode === 304 || (statusCode >= 100 && statusCode < 200) || this.request.method === 'HEAD';
    const hasBody = !noBody && contentLength !== 0;
    this.response = { requestId: this.request.id ?? '', statusCode, statusDescription, responseHeaders: headers, body: hasBody };
    // Small and of known size, for a request that came inline: the control channel. Unknown size:
    // decided when it ends or outgrows a turn. Else, and for a request that came over a rendezvous: a rendezvous.
    if (this.requestRendezvous) this.useRendezvous();
    else if (!hasBody || (contentLength !== undefined && contentLength <= MAX_CONTROL_CHANNEL_BODY)) this.mode = 'inline';
    else if (contentLength === undefined) {
      this.mode = 'undecided';
      this.decision = setImmediate(() => this.useRendezvous());
    } else this.useRendezvous();
  }

  /** Switches to a rendezvous: sends the response there, then whatever body was held. */
  private useRendezvous(): void {
    if (this.mode === 'rendezvous') return;
    if (this.decision) clearImmediate(this.decision);
    this.decision = undefined;
    this.mode = 'rendezvous';
    debug('response %d for %s over a rendezvous', this.response?.statusCode, this.request.id);
    this.rendezvous = this.requestRendezvous ? Promise.resolve(this.requestRendezvous) : this.channels.openRendezvous(this.request.address);
    this.rendezvous.then(
      (connection) => connection.sendUTF(JSON.stringify({ response: this.response })),
      (err: RelayError) => this.channels.report(err),
    );
    const held = Buffer.concat(this.inlineBody);
    this.inlineBody = [];
    if (held.length > 0) this.sendFrame(held, false, () => undefined);
  }

  private body(raw: Buffer, callback: (error?: Error | null) => void): void {
    const data = this.chunked ? this.dechunk(raw) : raw;
    if (data.length === 0) {
      callback();
      return;
    }
    if (this.mode === 'inline' || this.mode === 'undecided') {
      this.inlineBody.push(data);
      this.heldBytes += data.length;
      if (this.mode === 'undecided' && this.heldBytes > MAX_CONTROL_CHANNEL_BODY) this.useRendezvous();
      callback();
      return;
    }
    this.sendFrame(data, false, callback);
  }

  /** Decodes chunked transfer coding. */
  private dechunk(raw: Buffer): Buffer {
    const out: Buffer[] = [];
    let i = 0;
    const st = this.chunkState;
    while (i < raw.length && st.phase !== 'done') {
      if (st.phase === 'size') {
        const nl = raw.indexOf(0x0a, i);
        if (nl === -1) {
          st.line += raw.subarray(i).toString('latin1');
          break;
        }
        st.line += raw.subarray(i, nl).toString('latin1');
        i = nl + 1;
        st.size = parseInt(st.line.trim().split(';')[0], 16) || 0;
        st.line = '';
        st.phase = st.size === 0 ? 'done' : 'data';
      } else if (st.phase === 'data') {
        const n = Math.min(st.size, raw.length - i);
        out.push(raw.subarray(i, i + n));
        i += n;
        st.size -= n;
        if (st.size === 0) st.phase = 'crlf';
      } else {
        const nl = raw.indexOf(0x0a, i);
        if (nl === -1) break;
        i = nl + 1;
        st.phase = 'size';
      }
    }
    return Buffer.concat(out);
  }

  private sendFrame(data: Buffer, fin: boolean, callback: (error?: Error | null) => void): void {
    const rendezvous = this.rendezvous;
    if (!rendezvous) {
      callback();
      return;
    }
    rendezvous.then(
      (connection) => {
        if (!connection.connected) {
          callback();
          return;
        }
        // A frame of its own per fragment: `websocket` streams only whole messages.
        const internals = connection as unknown as { maskBytes: Buffer; frameHeader: Buffer };
        const Frame = WebSocketFrame as unknown as new (maskBytes: Buffer, frameHeader: Buffer, config: unknown) => InstanceType<typeof WebSocketFrame>;
        const frame = new Frame(internals.maskBytes, internals.frameHeader, connection.config);
        frame.opcode = this.sentFrames++ === 0 ? OP_BINARY : OP_CONTINUATION;
        frame.fin = fin;
        frame.binaryPayload = data;
        connection.sendFrame(frame, (err?: Error) => callback(err ?? null));
      },
      () => callback(),
    );
  }

  /** The response is complete. */
  end(): void {
    if (this.ended || !this.response) return;
    this.ended = true;
    if (this.mode === 'undecided') {
      if (this.decision) clearImmediate(this.decision);
      this.decision = undefined;
      this.mode = 'inline';
    }
    if (this.mode === 'inline') {
      debug('response %d for %s over the control channel', this.response.statusCode, this.request.id);
      const body = Buffer.concat(this.inlineBody);
      this.response.body = body.length > 0;
      if (!this.channels.sendControl({ response: this.response }, body.length > 0 ? body : undefined)) {
        this.channels.report(new RelayError('ERR_HYCO_CONTROL_CHANNEL_CLOSED', 'An HTTP response was lost: the control channel closed'));
      }
      return;
    }
    const finish = () => {
      void this.rendezvous?.then(
        (connection) => connection.close(),
        () => undefined,
      );
    };
    if (this.response.body) this.sendFrame(Buffer.alloc(0), true, finish);
    else finish();
  }
}

/**
 * Creates the request/response pair for a relayed HTTP request. Returns the
 * pair and a function feeding body bytes (`null` ends the body).
 */
export function createExchange(
  request: RelayedRequestMessage,
  hybridConnectionPath: string,
  channels: ResponseChannels,
  requestRendezvous?: WebSocketConnection,
  /** The body's length when known, 'stream' when it streams in; undefined for none. */
  body?: number | 'stream',
): { req: IncomingMessage; res: ServerResponse; push: (chunk: Buffer | null) => boolean; onRead: (fn: () => void) => void } {
  const encoder = new ResponseEncoder(request, channels, requestRendezvous);
  const socket = new ExchangeSocket(encoder, request.remoteEndpoint);
  const req = new IncomingMessage(socket as unknown as ConstructorParameters<typeof IncomingMessage>[0]);
  const target = request.requestTarget ?? '/';
  const q = target.indexOf('?');
  const rawPath = q === -1 ? target : target.slice(0, q);
  // The path after the hybrid connection (matched as the relay matches it), the query as sent.
  const path = pathAfterEntity(rawPath, hybridConnectionPath) ?? (rawPath.startsWith('/') ? rawPath : `/${rawPath}`);
  const url = q === -1 ? path : `${path}${target.slice(q)}`;
  req.method = (request.method ?? 'GET').toUpperCase();
  req.url = url;
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
  res.once('finish', () => {
    encoder.end();
    // Done, as a server closing the exchange: res and req see 'close'.
    setImmediate(() => socket.destroy());
  });
  // Node's HTTP server passes its sockets' drain on to the response; so do we.
  const needDrain = Object.getOwnPropertySymbols(res).find((sym) => sym.description === 'kNeedDrain');
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
  };
}

/** Opens a rendezvous WebSocket for HTTP (frames delivered one by one). */
export function openHttpRendezvous(address: string, clientConfig: IClientConfig, timeoutMs: number): Promise<WebSocketConnection> {
  return new Promise((resolve, reject) => {
    const client = new WebSocketClient({ ...clientConfig, assembleFragments: false });
    const timer = setTimeout(() => {
      client.abort();
      reject(new RelayError('ERR_HYCO_RENDEZVOUS_FAILED', `The HTTP rendezvous did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    client.on('connect', (connection: WebSocketConnection) => {
      clearTimeout(timer);
      // The request may arrive with the 101: hold it until the caller listens.
      holdFirstData(client, connection);
      resolve(connection);
    });
    client.on('connectFailed', (err: Error) => {
      clearTimeout(timer);
      reject(new RelayError('ERR_HYCO_RENDEZVOUS_FAILED', `The HTTP rendezvous failed: ${err.message.split('\n')[0]}`, { cause: err }));
    });
    client.on('httpResponse', (res: { statusCode?: number; resume(): void }) => {
      clearTimeout(timer);
      res.resume();
      reject(new RelayError('ERR_HYCO_RENDEZVOUS_FAILED', `The HTTP rendezvous failed with status ${res.statusCode ?? 0}`, { statusCode: res.statusCode ?? 0 }));
    });
    debug('opening HTTP rendezvous');
    client.connect(address);
  });
}

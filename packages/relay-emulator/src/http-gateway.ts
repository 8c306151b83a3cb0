/**
 * The HTTP gateway: plain HTTP requests to `http(s)://{host}/{path}[/...]`
 * are delivered to one listener as `request` messages (PROTOCOL.md, "HTTP
 * senders"). A request of at most 64 KB travels over the control channel
 * with its body as one binary message; a larger or chunked one goes as an
 * address-only `request`, and its body streams over the rendezvous the
 * listener opens. Responses come back the same way: over the control
 * channel, or over a rendezvous (`sb-hc-action=request`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import type { WebSocket, RawData } from 'ws';
import createDebug from 'debug';
import { MAX_CONTROL_CHANNEL_BODY, PARAM_TOKEN } from 'hyco-websocket/protocol';
import type { ResponseMessage } from 'hyco-websocket/protocol';
import { parseListenerMessage } from 'hyco-websocket/protocol';
import type { ControlChannel } from './control-channel';
import type { HybridConnection } from './hybrid-connection';
import { sanitizeReason } from './tracking';

const debug = createDebug('hyco-relay-emulator:http');

/** Headers that never cross the relay (hop by hop, or the relay's own). */
const DROPPED_REQUEST_HEADERS = new Set([
  'connection', 'content-length', 'host', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'keep-alive',
  'proxy-connection', 'proxy-authorization', 'servicebusauthorization',
]);
const DROPPED_RESPONSE_HEADERS = new Set(['connection', 'content-length', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'keep-alive', 'proxy-connection']);

/** A request on its way to a listener and back. */
export class PendingHttpRequest {
  readonly id = randomUUID();
  readonly secret = randomBytes(16).toString('hex');
  /** Whether the request message (and body) has reached the listener. */
  delivered = false;
  /** The rendezvous address handed to the listener. */
  address = '';
  /** The response head has been written to the HTTP client. */
  answered = false;
  timer: NodeJS.Timeout | undefined;
  private finished = false;

  constructor(
    readonly entity: HybridConnection,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    /** The request message, without the address (added per channel). */
    readonly message: { method: string; requestTarget: string; requestHeaders: Record<string, string> },
    private readonly onDone: (request: PendingHttpRequest) => void,
  ) {}

  /** Writes the listener's response head to the HTTP client. */
  respond(response: ResponseMessage['response']): void {
    if (this.answered || this.finished) return;
    this.answered = true;
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(response.responseHeaders ?? {})) {
      if (!DROPPED_RESPONSE_HEADERS.has(name.toLowerCase())) headers[name] = value;
    }
    const via = headers.Via ?? headers.via;
    delete headers.via;
    headers.Via = via ? `${via}, 1.1 hyco-relay-emulator` : '1.1 hyco-relay-emulator';
    this.res.writeHead(response.statusCode, sanitizeReason(response.statusDescription ?? ''), headers);
    if (!response.body) this.finish();
  }

  /** Body bytes of the response. */
  write(chunk: Buffer): boolean {
    if (this.finished || !this.answered) return true;
    return this.res.write(chunk);
  }

  /** Ends the exchange (the response, or a failure status if none was written). */
  finish(status?: number, text?: string): void {
    if (this.finished) return;
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
    if (!this.answered && status) {
      this.answered = true;
      this.res.writeHead(status, sanitizeReason(text ?? ''), { 'Content-Type': 'text/plain; charset=utf-8', Via: '1.1 hyco-relay-emulator' });
      this.res.end(`${text ?? ''}\n`);
    } else if (!this.res.writableEnded) this.res.end();
    this.req.resume();
    this.onDone(this);
  }

  get done(): boolean {
    return this.finished;
  }
}

/** The request message fields for `req`, with the relay's headers. */
export function requestMessageFor(req: IncomingMessage, url: URL, relayHost: string): PendingHttpRequest['message'] {
  const requestHeaders: Record<string, string> = {};
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i];
    const lower = name.toLowerCase();
    if (DROPPED_REQUEST_HEADERS.has(lower)) continue;
    if (lower === 'authorization' && /^SharedAccessSignature\s/i.test(raw[i + 1])) continue;
    const existing = Object.keys(requestHeaders).find((k) => k.toLowerCase() === lower);
    if (existing) requestHeaders[existing] += `, ${raw[i + 1]}`;
    else requestHeaders[name] = raw[i + 1];
  }
  const viaKey = Object.keys(requestHeaders).find((k) => k.toLowerCase() === 'via');
  const via = `1.1 ${relayHost}`;
  if (viaKey) requestHeaders[viaKey] += `, ${via}`;
  else requestHeaders.Via = via;
  const query = new URLSearchParams();
  for (const [name, value] of url.searchParams) if (name !== PARAM_TOKEN) query.append(name, value);
  const q = query.toString();
  return { method: req.method ?? 'GET', requestTarget: `${url.pathname}${q ? `?${q}` : ''}`, requestHeaders };
}

/** Whether a request's body is known to fit the control channel. */
export function fitsControlChannel(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding']) return false;
  const length = Number(req.headers['content-length'] ?? 0);
  return Number.isFinite(length) && length <= MAX_CONTROL_CHANNEL_BODY;
}

/** Reads a request body of at most `limit` bytes. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
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
  });
}

/**
 * Takes a listener's response (JSON, then optionally one binary message)
 * from a channel (control channel or rendezvous) for pending requests.
 */
export class ResponseReader {
  private bodyFor: PendingHttpRequest | undefined;
  private swallowBody = false;

  constructor(private readonly lookup: (requestId: string) => PendingHttpRequest | undefined | 'gone') {}

  /** Handles one message; returns false when the message is not a response (the caller decides). */
  take(data: RawData, isBinary: boolean): boolean | 'malformed' {
    const buffer = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    if (isBinary) {
      if (this.swallowBody) {
        this.swallowBody = false;
        return true;
      }
      const pending = this.bodyFor;
      if (!pending) return false;
      this.bodyFor = undefined;
      pending.write(buffer);
      pending.finish();
      return true;
    }
    let message;
    try {
      message = parseListenerMessage(buffer.toString('utf8'));
    } catch {
      return 'malformed';
    }
    if (!('response' in message)) return false;
    const pending = this.lookup(message.response.requestId);
    if (pending === undefined) return false;
    if (pending === 'gone') {
      // A late answer to a request that timed out or whose sender left: dropped.
      this.swallowBody = message.response.body === true;
      return true;
    }
    pending.respond(message.response);
    if (message.response.body) this.bodyFor = pending;
    return true;
  }
}

/** Sends a request's body over a rendezvous as one fragmented binary message, with backpressure. */
export function streamBody(req: IncomingMessage, ws: WebSocket): void {
  req.on('data', (chunk: Buffer) => {
    req.pause();
    ws.send(chunk, { binary: true, fin: false }, () => req.resume());
  });
  req.on('end', () => ws.send(Buffer.alloc(0), { binary: true, fin: true }));
  req.on('error', (err) => debug('request body error: %s', err.message));
}

/** Sends a request message (+ body) over the control channel. */
export function sendInline(channel: ControlChannel, address: string, pending: PendingHttpRequest, body: Buffer): void {
  channel.sendJson({ request: { address, id: pending.id, ...pending.message, body: body.length > 0 } });
  if (body.length > 0) channel.ws.send(body, { binary: true });
  pending.delivered = true;
}

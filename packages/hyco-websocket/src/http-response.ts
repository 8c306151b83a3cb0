/**
 * An HTTP response on its way to the relay, listener side: reads the raw
 * HTTP/1.1 response a `ServerResponse` writes (head, then body, chunked or
 * not) and sends it as a relay `response` message with body frames: over
 * the control channel the request came on when small, else over a
 * rendezvous. Interim heads (100 Continue, 103 Early Hints) are skipped:
 * the relay protocol cannot carry them. Small writes are coalesced into
 * larger frames (the frame count follows the bytes, not the calls), with
 * backpressure kept: a writer is held back once enough is buffered.
 */
import createDebug from 'debug';
import { newFrame } from './data-path';
import type { connection as WebSocketConnection } from 'websocket';
import { RelayError } from './errors';
import { MAX_CONTROL_CHANNEL_BODY } from './protocol/constants';
import type { RequestMessage } from './protocol/messages';

const debug = createDebug('hyco-websocket:http');

const OP_CONTINUATION = 0x0;
const OP_BINARY = 0x2;

/** A body frame is sent once this many bytes are waiting. */
const FRAME_BYTES = 64 * 1024;
/** Writers are held back while more than this is waiting to be sent. */
const HIGH_WATER_BYTES = 256 * 1024;

/** No bytes (shared: never written to). */
const EMPTY = Buffer.alloc(0);

/** The request as the listener received it. */
export type RelayedRequestMessage = RequestMessage['request'];

/** Where a response can go. */
export interface ResponseRoute {
  /** Sends on the control channel the request came on; false when that channel is gone. */
  sendInline(json: unknown, body?: Buffer): boolean;
  /** Opens a rendezvous for the response. */
  openRendezvous(): Promise<WebSocketConnection>;
  report(error: RelayError): void;
  /** The way back to the sender is gone before the response ended. */
  lost(why: string): void;
}

type Callback = (error?: Error | null) => void;

export class ResponseEncoder {
  private head: Buffer = EMPTY;
  private headDone = false;
  private chunked = false;
  private chunkState: { size: number; phase: 'size' | 'data' | 'crlf' | 'done'; line: string } = { size: 0, phase: 'size', line: '' };
  /** `undecided`: length unknown; the body is held until the response ends (inline) or outgrows a turn or 64 KB. */
  private mode: 'inline' | 'rendezvous' | 'undecided' | undefined;
  private decision: NodeJS.Immediate | undefined;
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** Callbacks of writes held back until what is buffered has gone out. */
  private waiting: Callback[] = [];
  private flushing: NodeJS.Immediate | undefined;
  private rendezvous: Promise<WebSocketConnection> | undefined;
  private connection: WebSocketConnection | undefined;
  private sentFrames = 0;
  private response: { requestId: string; statusCode: number; statusDescription: string; responseHeaders: Record<string, string>; body: boolean } | undefined;
  private ended = false;
  private aborted = false;

  constructor(
    private readonly request: RelayedRequestMessage,
    private readonly route: ResponseRoute,
    /** A rendezvous the request came over, if it did. */
    private readonly requestRendezvous: WebSocketConnection | undefined,
  ) {}

  /** Whether the response goes over a rendezvous (the control channel no longer matters to it). */
  get onRendezvous(): boolean {
    return this.mode === 'rendezvous';
  }

  /** Bytes written by the ServerResponse (head and body, as on a socket). */
  write(chunk: Buffer, callback: Callback): void {
    if (this.aborted) {
      callback();
      return;
    }
    if (this.headDone) {
      this.body(chunk, callback);
      return;
    }
    this.head = this.head.length === 0 ? chunk : Buffer.concat([this.head, chunk]);
    for (;;) {
      const end = this.head.indexOf('\r\n\r\n');
      if (end === -1) {
        callback();
        return;
      }
      const text = this.head.subarray(0, end).toString('latin1');
      this.head = this.head.subarray(end + 4);
      // An interim head (writeContinue, writeEarlyHints, a 1xx writeHead) is not the response.
      if (/^HTTP\/\d\.\d 1\d\d\b/.test(text)) continue;
      const rest = this.head;
      this.head = EMPTY;
      this.parseHead(text);
      this.headDone = true;
      this.body(rest, callback);
      return;
    }
  }

  /** The response is complete. */
  end(): void {
    if (this.ended || this.aborted || !this.response) return;
    this.ended = true;
    if (this.mode === 'undecided') {
      if (this.decision) clearImmediate(this.decision);
      this.decision = undefined;
      this.mode = 'inline';
    }
    if (this.mode === 'inline') {
      debug('response %d for %s over the control channel', this.response.statusCode, this.request.id);
      const body = this.held.length === 1 ? this.held[0] : Buffer.concat(this.held);
      this.held = [];
      this.response.body = body.length > 0;
      if (!this.route.sendInline({ response: this.response }, body.length > 0 ? body : undefined)) {
        this.route.lost('the control channel closed before the response was sent');
      }
      return;
    }
    const finish = () => {
      void this.rendezvous?.then(
        (connection) => {
          if (connection.connected) connection.close();
        },
        () => undefined,
      );
    };
    if (this.response.body) this.flush(true, finish);
    else finish();
  }

  /**
   * The response is cut before it ended (the application destroyed it): the
   * relay must abort the sender's connection, not end it as if complete, and
   * it learns so from a rendezvous that closes before the body's last frame.
   * A response not yet on a rendezvous moves to one first (its head, when
   * written, goes out there), which is then dropped; with no head the relay
   * answers 502 at once instead of waiting for its deadline. Resolves once
   * that rendezvous is settled. A response that has ended is left as it is.
   */
  cut(): Promise<void> {
    if (this.aborted || this.ended) {
      this.abort();
      return Promise.resolve();
    }
    let opening = this.rendezvous;
    if (!opening) {
      const head = this.response;
      opening = (this.requestRendezvous ? Promise.resolve(this.requestRendezvous) : this.route.openRendezvous()).then((connection) => {
        if (head && connection.connected) connection.sendUTF(JSON.stringify({ response: { ...head, body: true } }));
        return connection;
      });
      this.rendezvous = opening;
    }
    debug('response for %s cut', this.request.id);
    this.abort();
    return opening.then(
      () => undefined,
      () => undefined,
    );
  }

  /** Stops: nothing more is sent, and a rendezvous opened for this response is dropped. */
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    if (this.decision) clearImmediate(this.decision);
    if (this.flushing) clearImmediate(this.flushing);
    this.decision = this.flushing = undefined;
    this.held = [];
    for (const callback of this.waiting.splice(0)) callback();
    void this.rendezvous?.then(
      (connection) => {
        if (connection.connected) connection.drop();
      },
      () => undefined,
    );
  }

  private parseHead(text: string): void {
    const [statusLine, ...lines] = text.split('\r\n');
    const match = /^HTTP\/\d\.\d (\d{3})(?: (.*))?$/.exec(statusLine);
    const statusCode = match ? Number(match[1]) : 500;
    const statusDescription = match?.[2] ?? '';
    const headers: Record<string, string> = {};
    const names = new Map<string, string>();
    let contentLength: number | undefined;
    let setCookieLines = 0;
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
      const existing = names.get(lower);
      if (existing === undefined) {
        names.set(lower, name);
        headers[name] = value;
        continue;
      }
      // Set-Cookie cannot be joined (RFC 6265 section 3: an Expires date holds a comma): each
      // further line goes under a spelling of the first line's name that differs in letter case
      // only (the map's keys are case-sensitive, HTTP's names are not), which the relay writes
      // as a header line of its own. Past 511 lines, they are joined as other headers are.
      const apart = lower === 'set-cookie' ? caseVariant(existing, ++setCookieLines) : undefined;
      if (apart !== undefined) headers[apart] = value;
      // The response map holds one value per name; other repeated headers are joined (RFC 9110 section 5.3).
      else headers[existing] += `, ${value}`;
    }
    const noBody = statusCode === 204 || statusCode === 304 || this.request.method === 'HEAD';
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
    if (this.mode === 'rendezvous' || this.aborted) return;
    if (this.decision) clearImmediate(this.decision);
    this.decision = undefined;
    this.mode = 'rendezvous';
    debug('response %d for %s over a rendezvous', this.response?.statusCode, this.request.id);
    this.rendezvous = this.requestRendezvous ? Promise.resolve(this.requestRendezvous) : this.route.openRendezvous();
    this.rendezvous.then(
      (connection) => {
        if (this.aborted) return;
        this.connection = connection;
        connection.once('close', () => {
          if (!this.ended || this.flushing || this.held.length > 0) this.route.lost('the rendezvous closed before the response ended');
        });
        connection.sendUTF(JSON.stringify({ response: this.response }));
        if (this.heldBytes > 0) this.scheduleFlush();
      },
      (err: RelayError) => {
        this.route.report(err);
        this.route.lost('the rendezvous for the response could not be opened');
      },
    );
  }

  private body(raw: Buffer, callback: Callback): void {
    const data = this.chunked ? this.dechunk(raw) : raw;
    if (data.length > 0) {
      this.held.push(data);
      this.heldBytes += data.length;
    }
    if (this.mode === 'undecided' && this.heldBytes > MAX_CONTROL_CHANNEL_BODY) this.useRendezvous();
    if (this.mode !== 'rendezvous') {
      callback();
      return;
    }
    if (this.connection && !this.connection.connected) {
      // The way back is closing (its close frame arrived; the socket's close may not have been
      // read yet): the response is lost now, not when that I/O gets its turn. Writes that kept
      // succeeding here would let a backpressure-respecting writer spin without end.
      this.held = [];
      this.heldBytes = 0;
      this.route.lost('the rendezvous closed before the response ended');
      callback();
      return;
    }
    if (this.connection) {
      if (this.heldBytes >= FRAME_BYTES) this.flush(false);
      else this.scheduleFlush();
    }
    // Backpressure: the writer waits while too much is buffered here or in the socket.
    if (this.heldBytes + this.socketBacklog() > HIGH_WATER_BYTES) this.waiting.push(callback);
    else callback();
  }

  private socketBacklog(): number {
    const socket = this.connection?.socket as { writableLength?: number } | undefined;
    return socket?.writableLength ?? 0;
  }

  private scheduleFlush(): void {
    if (this.flushing || this.aborted) return;
    // Everything written in this turn goes out as one frame (a stream's later writes go out in turn).
    this.flushing = setImmediate(() => {
      this.flushing = undefined;
      this.flush(false);
    });
  }

  /** Sends what is held as one frame (`fin` ends the body); `done` once it is handed to the socket. */
  private flush(fin: boolean, done?: () => void): void {
    const connection = this.connection;
    if (!connection || this.aborted) {
      if (fin && !connection) void this.rendezvous?.then(() => this.flush(true, done), () => undefined);
      return;
    }
    if (this.flushing) clearImmediate(this.flushing);
    this.flushing = undefined;
    const data = this.held.length === 1 ? this.held[0] : Buffer.concat(this.held, this.heldBytes);
    this.held = [];
    this.heldBytes = 0;
    if (data.length === 0 && !fin) {
      this.release();
      return;
    }
    if (!connection.connected) {
      this.route.lost('the rendezvous closed before the response ended');
      return;
    }
    // A frame of its own per flush: `websocket` streams only whole messages.
    const frame = newFrame(connection);
    frame.opcode = this.sentFrames++ === 0 ? OP_BINARY : OP_CONTINUATION;
    frame.fin = fin;
    frame.binaryPayload = data;
    connection.sendFrame(frame, () => {
      this.release();
      done?.();
    });
  }

  /** Lets held-back writers go on once the socket has room again. */
  private release(): void {
    if (this.waiting.length === 0) return;
    if (this.heldBytes + this.socketBacklog() > HIGH_WATER_BYTES) return;
    for (const callback of this.waiting.splice(0)) callback();
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
    return out.length === 1 ? out[0] : Buffer.concat(out);
  }
}

/**
 * The `n`th spelling of `name` that differs from it only in letter case
 * (the letters whose index is a set bit of `n` flipped), or undefined when
 * `name` has fewer than that (`Set-Cookie` has 511 besides its own).
 */
export function caseVariant(name: string, n: number): string | undefined {
  const letters: number[] = [];
  for (let i = 0; i < name.length; i++) if (/[a-z]/i.test(name[i])) letters.push(i);
  if (n < 0 || n >= 2 ** letters.length) return undefined;
  const chars = name.split('');
  letters.forEach((at, bit) => {
    if (Math.floor(n / 2 ** bit) % 2 === 1) chars[at] = chars[at] === chars[at].toLowerCase() ? chars[at].toUpperCase() : chars[at].toLowerCase();
  });
  return chars.join('');
}

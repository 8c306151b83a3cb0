/**
 * One forwarded connection's relayed WebSocket, closed one direction at a
 * time (PROTOCOL.md, "Half-close"): a close frame is a FIN for the
 * direction it travels in, not the end of the connection. When our side's
 * data is done we send a close frame (1000, "Shutdown", as azbridge does)
 * and keep reading; when the peer's close frame comes, its direction is
 * done and ours may go on. The WebSocket's TCP connection ends only when
 * both close frames have crossed.
 *
 * Design: `websocket`'s WebSocketConnection answers a close frame at once
 * and hangs up, and ends its socket as soon as it sends one. Rather than a
 * second WebSocket implementation, forwarding keeps that connection for
 * all it does well (frame parsing, masking, message assembly, pings,
 * backpressure, its `close` event and the server's bookkeeping) and takes
 * over the two places where closing happens, on the connection objects it
 * was handed only: an incoming close frame is taken before `websocket`
 * sees it, and our close frame is written as a plain frame, without ending
 * the socket. Every other connection (relayedServer's, relayedClient's) is
 * left exactly as `websocket` made it.
 *
 * Codes: a close with 1000 (or no code) ends its direction cleanly, unless
 * it comes in the middle of a fragmented message (an abnormal end). Any
 * other code (the relay's 1001 when it shuts down or gives up, 1011...) is
 * an abnormal end: the data in that direction may be cut, and the owner
 * must not pass it on as a clean EOF. So is a connection that ends before
 * both close frames crossed.
 *
 * Keepalive: forwarded connections can sit idle for hours (an SSH session),
 * while intermediaries cut idle TCP connections after minutes and the relay
 * gives up on a half-closed connection whose other side stays silent. As
 * the .NET client does on its sockets, an unsolicited pong (RFC 6455
 * 5.5.3, never answered) goes out after `keepaliveInterval` without
 * anything sent. Pings are not used: a peer that has sent its close may
 * not answer them, which would make a healthy half-closed connection look
 * dead.
 */
import { EventEmitter } from 'node:events';
import createDebug from 'debug';
import { newFrame, useFastDataPath } from '../data-path';
import type { connection as WebSocketConnection, Message } from 'websocket';
import { RelayError } from '../errors';

const debug = createDebug('hyco-websocket:forward');

/** The largest binary message sent with stream data, bytes (azbridge's buffer). */
export const MAX_DATA_MESSAGE = 64 * 1024;

/** The largest message accepted from the relay, bytes (azbridge sends at most 64 KiB, plus a datagram's 2). */
export const MAX_RECEIVED_MESSAGE = 1024 * 1024;

/** The close azbridge sends when its side's data is done. */
export const SHUTDOWN_CODE = 1000;
export const SHUTDOWN_REASON = 'Shutdown';

const OP_CLOSE = 0x08;
/** "No status code was present" (RFC 6455 7.4.1): a close frame without a payload. */
const NO_STATUS = 1005;

/** The parts of `websocket`'s connection and frame this module reaches into. */
interface ConnectionInternals {
  processFrame(frame: FrameInternals): void;
  sendFrame(frame: FrameInternals): boolean;
  maskBytes: Buffer;
  frameHeader: Buffer;
  config: unknown;
  outputBufferFull: boolean;
  /** The frames of a fragmented message begun and not finished. */
  frameQueue: FrameInternals[];
  closeReasonCode: number;
  closeDescription: string | null;
}

interface FrameInternals {
  opcode: number;
  fin: boolean;
  closeStatus: number;
  binaryPayload: Buffer;
  invalidCloseFrameLength?: boolean;
}


export interface HalfCloseOptions {
  /** Send an unsolicited pong after this long without sending anything, ms; 0: never. */
  keepaliveInterval: number;
  /** After both close frames, wait this long for the relay to end the TCP connection, ms. */
  closeTimeout: number;
}

export interface HalfCloseEvents {
  /** The payload of a binary message. */
  data: [chunk: Buffer];
  /** The peer's direction is done (its close frame, 1000). */
  end: [];
  /** The socket's write buffer has room again. */
  drain: [];
  /** The connection is gone; `error` unless both directions ended cleanly. Once. */
  close: [error: RelayError | undefined];
}

/** A relayed WebSocket whose directions end one at a time. */
export class HalfCloseConnection extends EventEmitter<HalfCloseEvents> {
  /** We sent our close frame. */
  private sentClose = false;
  /** The peer's close frame came (1000 or no code). */
  private receivedClose = false;
  /** Why the connection ended abnormally, once it did. */
  private failure: RelayError | undefined;
  private closed = false;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private closeTimer: NodeJS.Timeout | undefined;
  private lastSent = Date.now();
  private readonly internals: ConnectionInternals;

  constructor(
    readonly connection: WebSocketConnection,
    private readonly options: HalfCloseOptions,
  ) {
    super();
    this.internals = connection as unknown as ConnectionInternals;
    const websocketProcessFrame = this.internals.processFrame.bind(connection);
    // Close frames are ours; everything else is websocket's, as always.
    this.internals.processFrame = (frame: FrameInternals) => {
      if (frame.opcode === OP_CLOSE) this.onCloseFrame(frame);
      else websocketProcessFrame(frame);
    };
    connection.on('message', (message: Message) => {
      // After its close frame a peer sends no data (RFC 6455 5.5.1): one that does is not to be trusted.
      if (this.receivedClose) this.fail(new RelayError('ERR_HYCO_FORWARD_PROTOCOL', 'The peer sent data after its close frame'));
      else if (message.type === 'binary') this.emit('data', message.binaryData);
      // azbridge only ever sends binary messages: text is not this protocol.
      else this.fail(new RelayError('ERR_HYCO_FORWARD_PROTOCOL', 'The peer sent a text message on a forwarded connection'));
    });
    connection.on('drain', () => this.emit('drain'));
    connection.on('error', (err: Error) => debug('relayed socket error: %s', err.message));
    // The frames, close frame included, that arrive with the peer's FIN are all handed over before the connection
    // ends: the data path (src/data-path.ts, on every connection the library opens; put on here for any other)
    // holds websocket's end handling until then.
    useFastDataPath(connection);
    connection.once('close', () => this.onSocketClosed());
    if (!connection.connected) {
      // Already gone (the relay ended it as the handshake completed): reported once the caller has listened.
      process.nextTick(() => this.onSocketClosed());
      return;
    }
    this.armKeepalive();
  }

  /** Our direction is done (we sent our close frame). */
  get ended(): boolean {
    return this.sentClose;
  }

  /** The peer's direction is done (its close frame came). */
  get peerEnded(): boolean {
    return this.receivedClose;
  }

  /** Both close frames have crossed: the connection is ending cleanly (within `closeTimeout`). */
  get finishing(): boolean {
    return this.sentClose && this.receivedClose;
  }

  /** Bytes waiting in the socket's write buffer. */
  get writableLength(): number {
    return this.connection.socket.writableLength;
  }

  /**
   * Sends stream data: binary messages of at most 64 KiB, none empty.
   * Returns false when the socket's buffer is full (wait for `drain`).
   */
  write(data: Buffer): boolean {
    if (!this.writable()) return false;
    for (let offset = 0; offset < data.length; offset += MAX_DATA_MESSAGE) {
      this.connection.sendBytes(offset === 0 && data.length <= MAX_DATA_MESSAGE ? data : data.subarray(offset, offset + MAX_DATA_MESSAGE));
    }
    this.lastSent = Date.now();
    return !this.internals.outputBufferFull;
  }

  /** Sends `data` as exactly one binary message (a datagram). Returns false when the buffer is full. */
  sendMessage(data: Buffer): boolean {
    if (!this.writable() || data.length === 0) return false;
    this.connection.sendBytes(data);
    this.lastSent = Date.now();
    return !this.internals.outputBufferFull;
  }

  /** Ends our direction: a close frame (1000, "Shutdown"); the peer's direction goes on. */
  end(): void {
    if (this.sentClose || this.closed) return;
    this.sentClose = true;
    this.sendClose(SHUTDOWN_CODE, SHUTDOWN_REASON);
    if (this.receivedClose) this.finish();
  }

  /**
   * Ends our direction and gives the peer `timeoutMs` to end its own (as
   * after a refusal); then the connection is dropped.
   */
  shutdown(timeoutMs: number): void {
    this.end();
    if (this.closed) return;
    const timer = setTimeout(() => this.reset(new RelayError('ERR_HYCO_CONNECTION', `The peer did not end its direction within ${timeoutMs} ms`)), timeoutMs);
    this.once('close', () => clearTimeout(timer));
  }

  /**
   * Ends the connection abnormally: the socket is destroyed without a close
   * frame, so that the peer sees an abnormal end (and resets its side)
   * rather than a clean one. `close` carries `reason`.
   */
  reset(reason: RelayError): void {
    this.fail(reason);
  }

  pause(): void {
    if (!this.closed) this.connection.pause();
  }

  resume(): void {
    if (!this.closed) this.connection.resume();
  }

  private writable(): boolean {
    if (this.closed || this.sentClose) {
      debug('write after the end of our direction ignored');
      return false;
    }
    return true;
  }

  private onCloseFrame(frame: FrameInternals): void {
    if (this.receivedClose || this.closed) return;
    const code = frame.invalidCloseFrameLength ? -2 : frame.closeStatus === -1 ? NO_STATUS : frame.closeStatus;
    const reason = frame.binaryPayload.toString('utf8');
    this.internals.closeReasonCode = code;
    this.internals.closeDescription = reason;
    if (this.internals.frameQueue.length > 0) {
      // A message begun (FIN=0) and never finished: its bytes are cut, which no clean end may hide.
      this.fail(new RelayError('ERR_HYCO_FORWARD_PROTOCOL', 'The peer closed its direction in the middle of a fragmented message'));
      return;
    }
    if (code !== SHUTDOWN_CODE && code !== NO_STATUS) {
      this.fail(new RelayError('ERR_HYCO_CONNECTION', `The relayed connection was closed with ${code === -2 ? 'a malformed close frame' : `code ${code}`}`));
      return;
    }
    this.receivedClose = true;
    debug('the peer ended its direction (%d)', code);
    this.emit('end');
    if (this.sentClose) this.finish();
  }

  private sendClose(code: number, reason: string): void {
    const frame: FrameInternals = newFrame(this.connection);
    frame.fin = true;
    frame.opcode = OP_CLOSE;
    frame.closeStatus = code;
    frame.binaryPayload = Buffer.from(reason, 'utf8');
    // websocket's sendCloseFrame would also end the socket, and with it the peer's direction.
    this.internals.sendFrame(frame);
    this.lastSent = Date.now();
  }

  /** Both close frames crossed: the TCP connection ends (the relay ends it too); cut if it lingers. */
  private finish(): void {
    this.clearKeepalive();
    // websocket's own close() (a relayedServer closing its connections) must not send a third close frame.
    (this.connection as unknown as { connected: boolean }).connected = false;
    this.connection.socket.end();
    this.closeTimer ??= setTimeout(() => this.connection.socket.destroy(), this.options.closeTimeout);
  }

  private fail(error: RelayError): void {
    if (this.closed) return;
    this.failure ??= error;
    debug('relayed connection dropped: %s', error.message);
    // No close frame: to the peer, an abnormal end.
    this.connection.drop(1006, error.message, true);
  }

  private onSocketClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearKeepalive();
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.closeTimer = undefined;
    if (!this.failure && !(this.sentClose && this.receivedClose)) {
      this.failure = new RelayError('ERR_HYCO_CONNECTION', 'The relayed connection ended before both sides had finished (no closing handshake)');
    }
    this.emit('close', this.failure);
  }

  private armKeepalive(): void {
    const interval = this.options.keepaliveInterval;
    if (interval <= 0) return;
    const check = () => {
      this.keepaliveTimer = undefined;
      if (this.closed || (this.sentClose && this.receivedClose)) return;
      const idle = Date.now() - this.lastSent;
      if (idle >= interval) {
        this.connection.pong(Buffer.alloc(0));
        this.lastSent = Date.now();
      }
      this.keepaliveTimer = setTimeout(check, idle >= interval ? interval : interval - idle);
    };
    this.keepaliveTimer = setTimeout(check, interval);
  }

  private clearKeepalive(): void {
    if (this.keepaliveTimer) clearTimeout(this.keepaliveTimer);
    this.keepaliveTimer = undefined;
  }
}

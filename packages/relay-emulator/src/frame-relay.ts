/**
 * Joins a sender and a listener's rendezvous: frames flow end to end as
 * they arrive (RFC 6455 section 5). Both peers are clients of the relay, so
 * their frames arrive masked; each frame header is checked, rewritten
 * without a mask, and its payload unmasked and passed on chunk by chunk.
 * Messages are never reassembled: fragments, RSV bits, pings, pongs, close
 * codes and reasons reach the other side untouched. Writes respect
 * backpressure: a peer that reads slowly pauses the one that sends.
 */
import type { Duplex } from 'node:stream';
import createDebug from 'debug';

const debug = createDebug('hyco-relay-emulator:relay');

const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

/** Close codes the relay itself sends. */
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_PROTOCOL_ERROR = 1002;
export const CLOSE_TOO_BIG = 1009;

/** Frames up to this many payload bytes are written header and payload together. */
const SMALL_FRAME = 1024;

/** How long a peer has to finish closing before its socket is destroyed, ms. */
const CLOSE_GRACE_MS = 5000;

/** A close frame as a server sends it (unmasked). */
export function closeFrame(code: number, reason = ''): Buffer {
  const text = Buffer.from(reason, 'utf8').subarray(0, 123);
  const frame = Buffer.alloc(4 + text.length);
  frame[0] = 0x80 | OP_CLOSE;
  frame[1] = 2 + text.length;
  frame.writeUInt16BE(code, 2);
  text.copy(frame, 4);
  return frame;
}

/** XORs `data` in place with `mask`, starting at mask position `offset`. */
export function unmask(data: Buffer, mask: Buffer, offset: number): void {
  const len = data.length;
  let i = 0;
  // Align to the mask, then go four bytes at a time.
  for (; i < len && (offset + i) & 3; i++) data[i] ^= mask[(offset + i) & 3];
  if (len - i >= 8) {
    const m = mask.readInt32LE(0);
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    for (; i + 4 <= len; i += 4) view.setInt32(i, view.getInt32(i, true) ^ m, true);
  }
  for (; i < len; i++) data[i] ^= mask[(offset + i) & 3];
}

type Side = 'sender' | 'listener';

class ProtocolViolation extends Error {
  constructor(
    readonly closeCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** One direction of the relay: parses `from`'s frames and writes them to `to`. */
class Direction {
  private header = Buffer.alloc(14);
  private headerLength = 0;
  private remaining = 0;
  private inPayload = false;
  private mask = Buffer.alloc(4);
  private maskOffset = 0;
  private fragmented = false;
  /** The rewritten header of the current frame, not yet written. */
  private pendingHeader: Buffer | undefined;
  /** A close frame has passed in this direction. */
  closed = false;
  bytes = 0;

  constructor(
    readonly name: Side,
    private readonly to: Duplex,
  ) {}

  /** Processes one chunk; throws ProtocolViolation on a frame that breaks RFC 6455. */
  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (!this.inPayload) {
        offset = this.readHeader(chunk, offset);
        continue;
      }
      const n = Math.min(this.remaining, chunk.length - offset);
      const slice = chunk.subarray(offset, offset + n);
      unmask(slice, this.mask, this.maskOffset);
      this.maskOffset = (this.maskOffset + n) & 3;
      this.remaining -= n;
      offset += n;
      this.bytes += n;
      this.writePayload(slice);
      if (this.remaining === 0) this.inPayload = false;
    }
    this.flushHeader();
  }

  /** Writes payload bytes, behind the frame's header when it is still pending. */
  private writePayload(slice: Buffer): void {
    const header = this.pendingHeader;
    if (!header) {
      this.to.write(slice);
      return;
    }
    this.pendingHeader = undefined;
    // A small frame goes out as one buffer: one write, one segment.
    if (slice.length <= SMALL_FRAME) this.to.write(Buffer.concat([header, slice], header.length + slice.length));
    else {
      this.to.write(header);
      this.to.write(slice);
    }
  }

  /** Writes a header whose payload has not arrived yet (or is empty). */
  private flushHeader(): void {
    if (!this.pendingHeader) return;
    this.to.write(this.pendingHeader);
    this.pendingHeader = undefined;
  }

  private readHeader(chunk: Buffer, offset: number): number {
    // Collect the fixed two bytes, then however many the length and mask need.
    while (this.headerLength < 2 && offset < chunk.length) this.header[this.headerLength++] = chunk[offset++];
    if (this.headerLength < 2) return offset;
    const lengthCode = this.header[1] & 0x7f;
    const masked = (this.header[1] & 0x80) !== 0;
    const needed = 2 + (lengthCode === 126 ? 2 : lengthCode === 127 ? 8 : 0) + (masked ? 4 : 0);
    const take = Math.min(needed - this.headerLength, chunk.length - offset);
    chunk.copy(this.header, this.headerLength, offset, offset + take);
    this.headerLength += take;
    offset += take;
    if (this.headerLength < needed) return offset;
    this.headerLength = 0;
    this.flushHeader();
    this.startFrame(masked, lengthCode);
    return offset;
  }

  private startFrame(masked: boolean, lengthCode: number): void {
    const h = this.header;
    const fin = (h[0] & 0x80) !== 0;
    const opcode = h[0] & 0x0f;
    let length = lengthCode;
    let pos = 2;
    if (lengthCode === 126) {
      length = h.readUInt16BE(2);
      pos = 4;
    } else if (lengthCode === 127) {
      const big = h.readBigUInt64BE(2);
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new ProtocolViolation(CLOSE_TOO_BIG, 'frame length out of range');
      length = Number(big);
      pos = 10;
    }
    if (!masked) throw new ProtocolViolation(CLOSE_PROTOCOL_ERROR, 'client frames must be masked');
    if (this.closed) throw new ProtocolViolation(CLOSE_PROTOCOL_ERROR, 'frame after close');
    switch (opcode) {
      case OP_CONTINUATION:
        if (!this.fragmented) throw new ProtocolViolation(CLOSE_PROTOCOL_ERROR, 'continuation frame without a message');
        if (fin) this.fragmented = false;
        break;
      case OP_TEXT:
      case OP_BINARY:
        if (this.fragmented) throw new ProtocolViolation(CLOSE_PROTOCOL_ERROR, 'new message before the last one ended');
        if (!fin) this.fragmented = true;
        break;
      case OP_CLOSE:
      case OP_PING:
      case OP_PONG:
        if (!fin) throw new ProtocolViolation(CLOSE_PROTOCOL_ERROR, 'fragmented control frame');
        if (length > 125) throw new ProtocolViolation(CLOSE_PROTOCOL_ERROR, 'control frame over 125 bytes');
        if (opcode === OP_CLOSE) {
          if (length === 1) throw new ProtocolViolation(CLOSE_PROTOCOL_ERROR, 'close frame with a one-byte payload');
          this.closed = true;
        }
        break;
      default:
        throw new ProtocolViolation(CLOSE_PROTOCOL_ERROR, `reserved opcode ${opcode}`);
    }
    h.copy(this.mask, 0, pos, pos + 4);
    this.maskOffset = 0;
    this.remaining = length;
    this.inPayload = length > 0;
    // Same FIN, RSV bits and opcode; the length without the mask bit.
    let out: Buffer;
    if (length < 126) {
      out = Buffer.from([h[0], length]);
    } else if (length < 0x10000) {
      out = Buffer.alloc(4);
      out[0] = h[0];
      out[1] = 126;
      out.writeUInt16BE(length, 2);
    } else {
      out = Buffer.alloc(10);
      out[0] = h[0];
      out[1] = 127;
      out.writeBigUInt64BE(BigInt(length), 2);
    }
    this.pendingHeader = out;
  }
}

export interface FrameRelayEvents {
  /** Both sockets are closed; called once. */
  onClosed: (relay: FrameRelay) => void;
}

/** A joined pair of sockets relaying frames both ways. */
export class FrameRelay {
  private readonly toListener: Direction;
  private readonly toSender: Direction;
  private open = 2;
  private graceTimer: NodeJS.Timeout | undefined;
  private ended = false;

  constructor(
    private readonly sender: Duplex,
    private readonly listener: Duplex,
    private readonly events: FrameRelayEvents,
  ) {
    this.toListener = new Direction('sender', listener);
    this.toSender = new Direction('listener', sender);
    this.wire(sender, listener, this.toListener);
    this.wire(listener, sender, this.toSender);
  }

  /** Bytes of payload relayed: sender to listener, listener to sender. */
  get bytes(): { toListener: number; toSender: number } {
    return { toListener: this.toListener.bytes, toSender: this.toSender.bytes };
  }

  /** Feeds bytes that arrived with a handshake before the relay took over. */
  start(senderHead: Buffer, listenerHead: Buffer): void {
    if (senderHead.length) this.onData(this.sender, this.toListener, senderHead);
    if (listenerHead.length) this.onData(this.listener, this.toSender, listenerHead);
    this.sender.resume();
    this.listener.resume();
  }

  /** Ends both sides with a close frame (1001 by default) as the service. */
  shutdown(code = CLOSE_GOING_AWAY, reason = 'The relay is shutting down'): void {
    this.closeSide(this.sender, this.toSender, code, reason);
    this.closeSide(this.listener, this.toListener, code, reason);
  }

  private wire(from: Duplex, to: Duplex, direction: Direction): void {
    from.on('data', (chunk: Buffer) => this.onData(from, direction, chunk));
    from.on('error', (err) => debug('%s socket error: %s', direction.name, err.message));
    from.on('end', () => this.onPeerGone(from));
    from.on('close', () => {
      this.onPeerGone(from);
      if (--this.open === 0) this.finish();
    });
    to.on('drain', () => {
      if (!from.destroyed) from.resume();
    });
  }

  private onData(from: Duplex, direction: Direction, chunk: Buffer): void {
    const to = from === this.sender ? this.listener : this.sender;
    if (to.destroyed || !to.writable) return;
    try {
      to.cork();
      try {
        direction.push(chunk);
      } finally {
        to.uncork();
      }
    } catch (err) {
      if (!(err instanceof ProtocolViolation)) throw err;
      debug('%s broke the protocol: %s', direction.name, err.message);
      // The offender learns why; the other side hears that its peer is gone.
      this.closeSide(from, direction === this.toListener ? this.toSender : this.toListener, err.closeCode, err.message);
      this.closeSide(to, direction, CLOSE_GOING_AWAY, 'The peer violated the protocol');
      from.pause();
      return;
    }
    if (to.writableNeedDrain) from.pause();
    // Both directions have carried a close frame: the handshake is complete.
    if (this.toListener.closed && this.toSender.closed) this.endBoth();
  }

  /** Sends `socket` a close frame unless one already went its way, then ends it. */
  private closeSide(socket: Duplex, towards: Direction, code: number, reason: string): void {
    if (socket.destroyed) return;
    if (!towards.closed && socket.writable) {
      towards.closed = true;
      socket.write(closeFrame(code, reason));
    }
    socket.end();
    this.armGrace();
  }

  private onPeerGone(from: Duplex): void {
    if (this.ended) return;
    const other = from === this.sender ? this.listener : this.sender;
    const towardsOther = from === this.sender ? this.toListener : this.toSender;
    this.closeSide(other, towardsOther, CLOSE_GOING_AWAY, 'The peer disconnected');
    if (!from.destroyed) from.end();
  }

  private endBoth(): void {
    if (this.ended) return;
    this.ended = true;
    this.sender.end();
    this.listener.end();
    this.armGrace();
  }

  private armGrace(): void {
    if (this.graceTimer) return;
    this.graceTimer = setTimeout(() => {
      this.sender.destroy();
      this.listener.destroy();
    }, CLOSE_GRACE_MS);
  }

  private finish(): void {
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    this.events.onClosed(this);
  }
}

/**
 * WebSocket frames (RFC 6455 section 5) as the relay sees them: an
 * incremental parser for the masked frames clients send, which hands over
 * each frame's header and then its payload, unmasked, chunk by chunk as it
 * arrives (never a whole message), and the unmasked frames a server sends.
 */
import { createRequire } from 'node:module';
import { endianness } from 'node:os';
import { closeReason } from './tracking';

export const OP_CONTINUATION = 0x0;
export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
export const OP_CLOSE = 0x8;
export const OP_PING = 0x9;
export const OP_PONG = 0xa;

/** Close codes the relay itself sends. */
export const CLOSE_NORMAL = 1000;
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_PROTOCOL_ERROR = 1002;
export const CLOSE_POLICY_VIOLATION = 1008;
export const CLOSE_TOO_BIG = 1009;
export const CLOSE_INTERNAL_ERROR = 1011;

/** A frame's header, as parsed. */
export interface FrameHeader {
  fin: boolean;
  /** The three RSV bits, as a number 0-7. */
  rsv: number;
  opcode: number;
  /** Payload length, bytes. */
  length: number;
  /** The first header byte as received (FIN, RSV, opcode). */
  firstByte: number;
}

/** A frame that breaks RFC 6455; `closeCode` is what its sender is told. */
export class ProtocolViolation extends Error {
  constructor(
    readonly closeCode: number,
    message: string,
  ) {
    super(message);
  }
}

const LITTLE_ENDIAN = endianness() === 'LE';

/**
 * `bufferutil`'s native unmask (the add-on `websocket` and `ws` use), when
 * its prebuilt binary loads here: about four times the JavaScript loop
 * below on 16 KB and larger slices. Its JavaScript fallback is a byte loop,
 * slower than ours, so only the native one is taken.
 */
const nativeUnmask = loadNativeUnmask();

function loadNativeUnmask(): ((data: Buffer, mask: Buffer) => void) | undefined {
  try {
    const util = createRequire(__filename)('bufferutil') as { unmask?: unknown };
    const fn = util.unmask;
    return typeof fn === 'function' && /\[native code\]/.test(Function.prototype.toString.call(fn)) ? (fn as (data: Buffer, mask: Buffer) => void) : undefined;
  } catch {
    return undefined;
  }
}

/** Which unmask the frame relay uses: `'native'` (bufferutil) or `'javascript'`. */
export const unmaskImplementation: 'native' | 'javascript' = nativeUnmask ? 'native' : 'javascript';

/** Below this many bytes the call into native code costs more than it saves. */
const NATIVE_MIN_BYTES = 64;

/** The mask rotated to start at `offset`, in a scratch buffer (used at once, synchronously). */
const scratchMask = Buffer.alloc(4);

function rotated(mask: Buffer, offset: number): Buffer {
  for (let j = 0; j < 4; j++) scratchMask[j] = mask[(offset + j) & 3];
  return scratchMask;
}

/**
 * XORs `data` in place with `mask`, starting at mask position `offset`:
 * natively when bufferutil's add-on is there and the slice is worth it,
 * else in JavaScript (`unmaskJs`).
 */
export function unmask(data: Buffer, mask: Buffer, offset: number): void {
  if (nativeUnmask && data.length >= NATIVE_MIN_BYTES) nativeUnmask(data, (offset & 3) === 0 ? mask : rotated(mask, offset));
  else unmaskJs(data, mask, offset);
}

/**
 * The JavaScript unmask. The bulk goes four bytes at a time through an
 * Int32Array over the 4-aligned middle of `data` (the mask word rotated to
 * match), eight words per loop turn: about twice as fast as a DataView,
 * eight times a byte loop.
 */
export function unmaskJs(data: Buffer, mask: Buffer, offset: number): void {
  const len = data.length;
  let i = 0;
  // Bytes until the data's address is 4-aligned.
  const lead = Math.min(len, (4 - (data.byteOffset & 3)) & 3);
  for (; i < lead; i++) data[i] ^= mask[(offset + i) & 3];
  const words = (len - i) >>> 2;
  if (words > 0) {
    const s = offset + i;
    const [b0, b1, b2, b3] = [mask[s & 3], mask[(s + 1) & 3], mask[(s + 2) & 3], mask[(s + 3) & 3]];
    const m = LITTLE_ENDIAN ? b0 | (b1 << 8) | (b2 << 16) | (b3 << 24) : (b0 << 24) | (b1 << 16) | (b2 << 8) | b3;
    const view = new Int32Array(data.buffer, data.byteOffset + i, words);
    let w = 0;
    for (const end = words - 7; w < end; w += 8) {
      view[w] ^= m;
      view[w + 1] ^= m;
      view[w + 2] ^= m;
      view[w + 3] ^= m;
      view[w + 4] ^= m;
      view[w + 5] ^= m;
      view[w + 6] ^= m;
      view[w + 7] ^= m;
    }
    for (; w < words; w++) view[w] ^= m;
    i += words << 2;
  }
  for (; i < len; i++) data[i] ^= mask[(offset + i) & 3];
}

/**
 * Parses a client's frames incrementally. Subclasses receive `onFrame` for
 * each header, `onPayload` for each unmasked slice of its payload, and
 * `onFrameEnd` when the frame is complete. Each frame is checked as it
 * starts: masked, a known opcode, control frames whole and short,
 * continuations only inside a fragmented message, nothing after a close.
 * `push` throws `ProtocolViolation` on a frame that breaks these rules.
 */
export abstract class FrameParser {
  private readonly header = Buffer.alloc(14);
  private headerLength = 0;
  private readonly mask = Buffer.alloc(4);
  private maskOffset = 0;
  private remaining = 0;
  private inPayload = false;
  private fragmented = false;
  private closeSeen = false;
  private current: FrameHeader | undefined;

  /** A frame has started and its payload has not all arrived. */
  get midFrame(): boolean {
    return this.inPayload;
  }

  /** Processes one chunk of the client's bytes. */
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
      this.onPayload(slice);
      if (this.remaining === 0) this.endFrame();
    }
    this.onChunkEnd();
  }

  protected abstract onFrame(header: FrameHeader): void;
  protected abstract onPayload(slice: Buffer): void;
  protected abstract onFrameEnd(header: FrameHeader): void;
  /** Called after each pushed chunk has been processed. */
  protected onChunkEnd(): void {}

  private endFrame(): void {
    this.inPayload = false;
    const frame = this.current as FrameHeader;
    this.current = undefined;
    this.onFrameEnd(frame);
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
    if (this.closeSeen) throw new ProtocolViolation(CLOSE_PROTOCOL_ERROR, 'frame after close');
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
          this.closeSeen = true;
        }
        break;
      default:
        throw new ProtocolViolation(CLOSE_PROTOCOL_ERROR, `reserved opcode ${opcode}`);
    }
    h.copy(this.mask, 0, pos, pos + 4);
    this.maskOffset = 0;
    this.remaining = length;
    const frame: FrameHeader = { fin, rsv: (h[0] >> 4) & 7, opcode, length, firstByte: h[0] };
    this.current = frame;
    this.inPayload = length > 0;
    this.onFrame(frame);
    if (length === 0) this.endFrame();
  }
}

/** The header of an unmasked (server) frame with `length` payload bytes. */
export function serverFrameHeader(firstByte: number, length: number): Buffer {
  if (length < 126) return Buffer.from([firstByte, length]);
  if (length < 0x10000) {
    const out = Buffer.allocUnsafe(4);
    out[0] = firstByte;
    out[1] = 126;
    out.writeUInt16BE(length, 2);
    return out;
  }
  const out = Buffer.allocUnsafe(10);
  out[0] = firstByte;
  out[1] = 127;
  out.writeBigUInt64BE(BigInt(length), 2);
  return out;
}

/** A whole unmasked frame. */
export function serverFrame(opcode: number, payload: Buffer, fin = true): Buffer {
  const header = serverFrameHeader((fin ? 0x80 : 0) | opcode, payload.length);
  return Buffer.concat([header, payload], header.length + payload.length);
}

/** A close frame as a server sends it (unmasked); the reason is cut on a UTF-8 character boundary. */
export function closeFrame(code: number, reason = ''): Buffer {
  const text = Buffer.from(closeReason(reason), 'utf8');
  const payload = Buffer.alloc(2 + text.length);
  payload.writeUInt16BE(code, 0);
  text.copy(payload, 2);
  return serverFrame(OP_CLOSE, payload);
}

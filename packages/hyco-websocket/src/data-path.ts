/**
 * A faster data path for the relayed connections `websocket` makes, with
 * its WebSocketConnection contract unchanged (the same object and class,
 * events, methods, options, limits and close handling).
 *
 * What `websocket` 1.0.35 does per received frame, and what this does:
 * - It copies every payload out of its list of socket chunks (`take`, even
 *   when the payload lies inside one chunk), then copies the fragments of
 *   a message once more into the message. Here a payload inside one chunk
 *   is a view of that chunk (copied only when it is small beside the chunk,
 *   so that a kept message never holds much more memory than its own), one
 *   spread over several chunks is copied once, and fragments are assembled
 *   once, as before.
 * - It parses one frame per turn of the event loop (the next on
 *   `setImmediate`) and hands each to `processFrame` on `nextTick`: three
 *   scheduled callbacks per frame, and a chunk that ends with the peer's FIN
 *   loses its last frames (the socket closes before they are parsed). Here
 *   the fragments of a message are parsed and assembled at once; what the
 *   user sees (a message, a frame event, a ping or pong) still comes a turn
 *   of the event loop after the one before, as with `websocket`, so code
 *   that awaits between two messages is ready for the next. When the
 *   peer's FIN comes with whole frames still queued, `websocket`'s end
 *   handling waits until they have been handed over, at the user's pace
 *   and pause, for at most `closeTimeout` (see holdEndForQueuedFrames).
 *   `pause()`
 *   stops at the next frame (the socket's own state counts: Node's `resume`
 *   event comes a tick late), and a closed or dropped connection parses
 *   nothing more. A handler that throws is the application's uncaught
 *   exception, as when `websocket` emits on `nextTick`, and parsing goes on.
 * - Every limit and protocol check stays, with `websocket`'s reasons and
 *   close codes: control frames over 125 bytes or fragmented, frames over
 *   `maxReceivedFrameSize` (refused as soon as the length is read, before
 *   any payload), 64-bit lengths, RSV bits; `processFrame` (which assembles
 *   messages, checks `maxReceivedMessageSize` and UTF-8, and answers pings
 *   and close frames) is `websocket`'s own.
 *
 * Sending: the fragments of one message are masked into one buffer and
 * written at once (`websocket` allocates and writes each 16 KiB fragment on
 * its own); frames, their sizes and order are unchanged.
 *
 * Upstream, the same would be: a BufferList `take` that returns a view when
 * it can, a parse loop over all buffered frames in `processReceivedData`
 * with the `inputPaused`/`connected` checks between frames, and
 * `fragmentAndSend` building one buffer.
 */
import type { Socket } from 'node:net';
import { frame as WebSocketFrame } from 'websocket';
import type { connection as WebSocketConnection } from 'websocket';
import * as bufferUtil from 'bufferutil';

/** websocket's frame class (its types declare no constructor arguments). */
const Frame = WebSocketFrame as unknown as new (maskBytes: Buffer, frameHeader: Buffer, config: unknown) => FrameFields;

/** A new frame of `websocket`'s own class for `connection` (to fill in and hand to its `sendFrame`). */
export function newFrame(connection: WebSocketConnection): WebSocketFrame {
  const internals = connection as unknown as { maskBytes: Buffer; frameHeader: Buffer; config: unknown };
  return new Frame(internals.maskBytes, internals.frameHeader, internals.config) as unknown as WebSocketFrame;
}

/** websocket's parse state for a finished frame. */
const COMPLETE = 6;
/** Close codes websocket drops with. */
const PROTOCOL_ERROR = 1002;
const MESSAGE_TOO_BIG = 1009;

interface FrameFields {
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  mask: boolean;
  opcode: number;
  length: number;
  binaryPayload: Buffer;
  parseState: number;
  closeStatus: number;
  invalidCloseFrameLength: boolean;
}

interface ConnectionConfig {
  maxReceivedFrameSize: number;
  fragmentOutgoingMessages: boolean;
  fragmentationThreshold: number;
}

interface Internals {
  socket: Socket;
  connected: boolean;
  inputPaused: boolean;
  assembleFragments: boolean;
  maskOutgoingPackets: boolean;
  maskBytes: Buffer;
  frameHeader: Buffer;
  config: ConnectionConfig;
  outputBufferFull: boolean;
  bufferList: ChunkQueue;
  processReceivedData(): void;
  processFrame(frame: FrameFields): void;
  fragmentAndSend: (this: Internals, frame: FrameFields, cb?: (err?: Error | null) => void) => void;
  sendFrame(frame: FrameFields, cb?: (err?: Error | null) => void): boolean;
  drop(code: number, reason: string): void;
  emit(event: string, ...args: unknown[]): boolean;
}

/** Chunks shorter than this are copied into a shared slab rather than queued one by one. */
const SMALL_CHUNK = 1024;
/** The slab small chunks are gathered in, bytes. */
const SLAB_BYTES = 64 * 1024;

/**
 * The bytes read and not yet parsed: the socket's chunks, in order, read
 * from an offset into the first. `write` and `length` are what
 * `websocket`'s connection uses of its own list.
 *
 * Every operation is linear in the bytes it touches, however the peer cuts
 * its bytes: consumed chunks are dropped by moving an index (the array is
 * compacted now and then, not shifted per chunk), and small chunks (a peer
 * that sends a large frame a few bytes at a time) are gathered into 64 KiB
 * slabs, so the queue holds a few entries, not one per write.
 */
export class ChunkQueue {
  private chunks: Buffer[] = [];
  /** The index of the first chunk still holding unread bytes. */
  private head = 0;
  private offset = 0;
  private total = 0;
  /** The slab small chunks are copied into, and how much of it is used. */
  private slab: Buffer | undefined;
  private slabUsed = 0;

  get length(): number {
    return this.total;
  }

  /** How many chunks are queued (for tests: small chunks do not each take an entry). */
  get chunkCount(): number {
    return this.chunks.length - this.head;
  }

  write(chunk: Buffer): boolean {
    const n = chunk.length;
    if (n === 0) return true;
    this.total += n;
    if (n >= SMALL_CHUNK) {
      this.chunks.push(chunk);
      return true;
    }
    // Small chunks share a slab until it is full (across large chunks and drained queues alike), so that the
    // memory held stays close to the bytes held; the part of a slab already used is never written again.
    let slab = this.slab;
    if (!slab || this.slabUsed + n > slab.length) {
      slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.slab = slab;
      this.slabUsed = 0;
    }
    const start = this.slabUsed;
    chunk.copy(slab, start);
    this.slabUsed += n;
    const lastIndex = this.chunks.length - 1;
    const last = lastIndex >= this.head ? this.chunks[lastIndex] : undefined;
    // The last queued chunk is the slab's tail: it grows; else the bytes are queued as a view of their own.
    if (last !== undefined && last.buffer === slab.buffer && last.byteOffset + last.length === slab.byteOffset + start) {
      this.chunks[lastIndex] = slab.subarray(last.byteOffset - slab.byteOffset, this.slabUsed);
    } else this.chunks.push(slab.subarray(start, this.slabUsed));
    return true;
  }

  /** The byte `at` bytes from the front (at < length). */
  byteAt(at: number): number {
    let i = this.head;
    let position = at + this.offset;
    while (position >= this.chunks[i].length) {
      position -= this.chunks[i].length;
      i++;
    }
    return this.chunks[i][position];
  }

  /** Drops `n` bytes from the front (n ≤ length). */
  advance(n: number): void {
    this.total -= n;
    let left = n + this.offset;
    const chunks = this.chunks;
    while (this.head < chunks.length && left >= chunks[this.head].length) {
      left -= chunks[this.head].length;
      this.head++;
    }
    this.offset = left;
    if (this.head === chunks.length) {
      this.chunks = [];
      this.head = 0;
    } else if (this.head >= 64 && this.head * 2 >= chunks.length) {
      this.chunks = chunks.slice(this.head);
      this.head = 0;
    }
  }

  /** The next `n` bytes (n ≤ length), taken off the front: a view of one chunk when they lie in it, else a copy. */
  take(n: number): Buffer {
    const first = this.chunks[this.head];
    const inFirst = first.length - this.offset;
    let out: Buffer;
    if (n <= inFirst) {
      const view = first.subarray(this.offset, this.offset + n);
      // A payload small beside the memory behind its chunk is copied: a view would keep all of that memory
      // alive as long as the message is kept.
      out = n * 4 >= first.buffer.byteLength ? view : Buffer.from(view);
    } else {
      out = Buffer.allocUnsafe(n);
      let copied = 0;
      let offset = this.offset;
      for (let i = this.head; copied < n; i++) {
        const chunk = this.chunks[i];
        const part = Math.min(chunk.length - offset, n - copied);
        chunk.copy(out, copied, offset, offset + part);
        copied += part;
        offset = 0;
      }
    }
    this.advance(n);
    return out;
  }
}

/** A parsed frame header: everything but the payload. */
interface Header {
  first: number;
  masked: boolean;
  length: number;
  /** Header bytes, mask key included. */
  size: number;
}

/**
 * Reads the header at the front of `queue` without taking it: undefined
 * while it is incomplete; a string (the reason to drop the connection)
 * when it breaks the protocol.
 */
function readHeader(queue: ChunkQueue, maskBytes: Buffer): Header | { error: string; code: number } | undefined {
  if (queue.length < 2) return undefined;
  const first = queue.byteAt(0);
  const second = queue.byteAt(1);
  const opcode = first & 0x0f;
  const masked = (second & 0x80) !== 0;
  let length = second & 0x7f;
  if (opcode >= 0x08) {
    if (length > 125) return { error: 'Illegal control frame longer than 125 bytes.', code: PROTOCOL_ERROR };
    if (!(first & 0x80)) return { error: 'Control frames must not be fragmented.', code: PROTOCOL_ERROR };
  }
  let size = 2;
  if (length === 126) {
    if (queue.length < 4) return undefined;
    length = (queue.byteAt(2) << 8) | queue.byteAt(3);
    size = 4;
  } else if (length === 127) {
    if (queue.length < 10) return undefined;
    if (queue.byteAt(2) | queue.byteAt(3) | queue.byteAt(4) | queue.byteAt(5)) {
      return { error: 'Unsupported 64-bit length frame received', code: PROTOCOL_ERROR };
    }
    length = ((queue.byteAt(6) << 24) >>> 0) + (queue.byteAt(7) << 16) + (queue.byteAt(8) << 8) + queue.byteAt(9);
    size = 10;
  }
  if (masked) {
    if (queue.length < size + 4) return undefined;
    for (let i = 0; i < 4; i++) maskBytes[i] = queue.byteAt(size + i);
    size += 4;
  }
  return { first, masked, length, size };
}

/**
 * Parses every whole frame buffered on `connection` and processes each as
 * `websocket` would, stopping when the connection is paused, closed or
 * dropped.
 */
type ParserState = Internals & {
  parsing?: boolean;
  again?: boolean;
  failed?: boolean;
  next?: NodeJS.Immediate;
  /** The loop stopped at a frame whose bytes have not all come. */
  partial?: boolean;
  /** The peer's FIN came while whole frames were still queued: websocket's end handling waits for them (see useFastDataPath). */
  endHeld?: () => void;
  endTimer?: NodeJS.Timeout;
};

function parseFrames(this: ParserState): void {
  // A message handler that resumes the connection comes back here: the running loop carries on instead.
  if (this.parsing) {
    this.again = true;
    return;
  }
  this.parsing = true;
  try {
    do {
      this.again = false;
      parseLoop(this);
    } while (this.again);
  } finally {
    this.parsing = false;
  }
  if (this.endHeld && (this.bufferList.length === 0 || this.partial || this.failed || !this.connected)) releaseEnd(this);
}

/** Lets websocket handle the peer's FIN it was kept from (everything read has been handed over, or the wait is over). */
function releaseEnd(state: ParserState): void {
  const end = state.endHeld;
  if (!end) return;
  state.endHeld = undefined;
  clearTimeout(state.endTimer);
  end();
}

/**
 * Whether frames may be handed to the user now: not while the connection is
 * paused. Besides websocket's `inputPaused` (kept by the socket's `pause`
 * and `resume` events), the socket's own state counts: Node emits `resume`
 * a tick after `resume()`, even when `pause()` came in between, which would
 * clear `inputPaused` for a connection its user has just paused.
 */
function mayDeliver(connection: ParserState): boolean {
  return !connection.inputPaused && (connection.socket as { readableFlowing?: boolean | null }).readableFlowing !== false;
}

/** Runs the user's code for a frame; a throw is rethrown on its own tick, as when websocket emits on nextTick, and parsing goes on. */
function isolated(run: () => void): void {
  try {
    run();
  } catch (err) {
    process.nextTick(() => {
      throw err;
    });
  }
}

function parseLoop(connection: ParserState): void {
  const queue = connection.bufferList;
  const maxFrame = connection.config.maxReceivedFrameSize;
  while (connection.connected && !connection.failed && queue.length > 0 && mayDeliver(connection)) {
    connection.partial = false;
    const header = readHeader(queue, connection.maskBytes);
    if (header === undefined) {
      connection.partial = true;
      return;
    }
    if ('error' in header) {
      fail(connection, header.code, header.error);
      return;
    }
    if (header.length > maxFrame) {
      fail(connection, MESSAGE_TOO_BIG, `Frame size of ${header.length.toString(10)} bytes exceeds maximum accepted frame size`);
      return;
    }
    if (queue.length < header.size + header.length) {
      connection.partial = true;
      return;
    }
    const first = header.first;
    if (first & 0x70) {
      fail(connection, PROTOCOL_ERROR, 'Unsupported usage of rsv bits without negotiated extension.');
      return;
    }
    queue.advance(header.size);
    const frame = new Frame(connection.maskBytes, connection.frameHeader, connection.config);
    frame.fin = (first & 0x80) !== 0;
    frame.rsv1 = false;
    frame.rsv2 = false;
    frame.rsv3 = false;
    frame.mask = header.masked;
    frame.opcode = first & 0x0f;
    frame.length = header.length;
    let payload = header.length === 0 ? Buffer.alloc(0) : queue.take(header.length);
    if (header.masked && payload.length) bufferUtil.unmask(payload, connection.maskBytes);
    if (frame.opcode === 0x08) {
      if (payload.length === 1) {
        payload = Buffer.alloc(0);
        frame.invalidCloseFrameLength = true;
      } else if (payload.length >= 2) {
        frame.closeStatus = payload.readUInt16BE(0);
        payload = payload.subarray(2);
      }
    }
    frame.binaryPayload = payload;
    frame.parseState = COMPLETE;
    if (!connection.assembleFragments) isolated(() => connection.emit('frame', frame));
    isolated(() => connection.processFrame(frame));
    // As websocket: whatever the user sees (a message, a frame, a ping or pong) comes a turn of the event loop after
    // the one before, so code that awaits between two messages (a promise settled by the first, say) is ready for
    // the next. Only the fragments of a message being assembled, which the user does not see, are parsed on at once.
    const unseen = connection.assembleFragments && !frame.fin && frame.opcode < 0x08;
    if (!unseen && queue.length > 0) {
      connection.next ??= setImmediate(() => {
        connection.next = undefined;
        parseFrames.call(connection);
      });
      return;
    }
  }
}

/** A protocol error or a frame too large: dropped as `websocket` drops it (on the next tick), and nothing more is parsed. */
function fail(connection: Internals & { failed?: boolean }, code: number, reason: string): void {
  connection.failed = true;
  process.nextTick(() => connection.drop(code, reason));
}

/**
 * Masks the fragments of one message into one buffer and writes it; `cb`
 * once, with the first error, as `websocket` calls it. A message sent in
 * one frame, or unmasked, goes `websocket`'s own way (`fallback`).
 */
function sendFragments(
  connection: Internals,
  frame: FrameFields,
  cb: ((err?: Error | null) => void) | undefined,
  fallback: (frame: FrameFields, cb?: (err?: Error | null) => void) => void,
): void {
  const payload = frame.binaryPayload;
  const threshold = connection.config.fragmentationThreshold;
  const length = payload?.length ?? 0;
  if (
    frame.opcode > 0x07 ||
    !connection.config.fragmentOutgoingMessages ||
    length <= threshold ||
    !connection.maskOutgoingPackets ||
    // A threshold that is not a whole number of bytes: websocket's own slicing, as it always did.
    !Number.isInteger(threshold) ||
    threshold < 1
  ) {
    // websocket's own way; a message it fragments still leaves in one write (the socket corked meanwhile).
    const socket = connection.socket;
    socket.cork();
    try {
      fallback.call(connection, frame, cb);
    } finally {
      socket.uncork();
    }
    return;
  }
  const count = Math.ceil(length / threshold);
  const headerOf = (size: number) => (size <= 125 ? 2 : size <= 0xffff ? 4 : 10) + 4;
  const last = length - threshold * (count - 1);
  const out = Buffer.allocUnsafe(headerOf(threshold) * (count - 1) + headerOf(last) + length);
  const mask = connection.maskBytes;
  let at = 0;
  for (let i = 0; i < count; i++) {
    const start = i * threshold;
    const size = i === count - 1 ? last : threshold;
    out[at] = (i === count - 1 ? 0x80 : 0) | (i === 0 ? frame.opcode & 0x0f : 0);
    if (size <= 125) {
      out[at + 1] = 0x80 | size;
      at += 2;
    } else if (size <= 0xffff) {
      out[at + 1] = 0x80 | 126;
      out.writeUInt16BE(size, at + 2);
      at += 4;
    } else {
      out[at + 1] = 0x80 | 127;
      out.writeUInt32BE(0, at + 2);
      out.writeUInt32BE(size, at + 6);
      at += 10;
    }
    mask.writeUInt32BE((Math.random() * 0xffffffff) >>> 0, 0);
    mask.copy(out, at);
    at += 4;
    bufferUtil.mask(payload.subarray(start, start + size), mask, out, at, size);
    at += size;
  }
  // As websocket calls it: with the error, or with no argument at all.
  const flushed = connection.socket.write(out, cb && ((err?: Error | null) => (err ? cb(err) : cb())));
  connection.outputBufferFull = !flushed;
}

/**
 * The peer's FIN can come while whole frames are still queued (the last
 * chunk's, handed over one message per turn, or held by a pause). `websocket`
 * would end the connection at once and lose them (its `close` then says 1006,
 * or worse, the data is simply missing). Its `end` handling waits instead
 * until they have been handed over, at the user's pace (pause included), for
 * at most `closeTimeout`; the socket is kept half-open meanwhile so that a
 * close frame among them is still answered. Nothing waits when nothing is
 * queued.
 */
function holdEndForQueuedFrames(state: ParserState): void {
  const socket = state.socket as Socket & { allowHalfOpen: boolean };
  const end = socket.end.bind(socket) as (...args: unknown[]) => Socket;
  // websocket ends its side itself (after its close frame, or at once for a peer that left without one).
  socket.allowHalfOpen = true;
  // Set while the peer's 'end' is dispatched, when whole frames are queued: the socket.end() that websocket's own
  // 'end' handler makes then is held (the user's own close() or drop() at any other time never is).
  let armed = false;
  let held = false;
  socket.end = function (this: Socket, ...args: unknown[]): Socket {
    if (armed) {
      armed = false;
      held = true;
      return this;
    }
    return end(...args);
  };
  socket.prependListener('end', () => {
    state.processReceivedData();
    if (state.bufferList.length === 0 || state.partial || state.failed || !state.connected) return;
    armed = true;
    state.endHeld = () => {
      if (held) end();
      held = false;
    };
    const wait = (state.config as { closeTimeout?: number }).closeTimeout;
    state.endTimer = setTimeout(() => releaseEnd(state), typeof wait === 'number' && wait > 0 ? wait : 5000);
  });
  // After websocket's handler: nothing else is held.
  socket.on('end', () => {
    armed = false;
  });
  socket.once('close', () => releaseEnd(state));
}

/** The connections the data path is on (putting it on twice is a no-op). */
const installed = new WeakSet<WebSocketConnection>();

/**
 * Puts the faster data path on `connection` (a WebSocketConnection
 * `websocket` made, once its socket listeners are in place). Bytes already
 * buffered move over; nothing is lost or reordered.
 */
export function useFastDataPath(connection: WebSocketConnection): void {
  if (installed.has(connection)) return;
  const target = connection as unknown as Internals & { currentFrame?: { parseState: number } };
  // Only before websocket has begun a frame (as `dial` calls it: before any byte was parsed).
  if (target.currentFrame && target.currentFrame.parseState !== 1) return;
  const queue = new ChunkQueue();
  const old = target.bufferList as unknown as { length: number; take(n: number): Buffer };
  if (old && old.length > 0) queue.write(old.take(old.length));
  target.bufferList = queue;
  installed.add(connection);
  target.processReceivedData = parseFrames;
  holdEndForQueuedFrames(target);
  const fallback = target.fragmentAndSend;
  target.fragmentAndSend = function (this: Internals, frame: FrameFields, cb?: (err?: Error | null) => void): void {
    sendFragments(this, frame, cb, fallback);
  };
}

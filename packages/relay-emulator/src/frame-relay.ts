/**
 * Joins a sender and a listener's rendezvous: frames flow end to end as
 * they arrive (RFC 6455 section 5). Both peers are clients of the relay, so
 * their frames arrive masked; each frame header is checked, rewritten
 * without a mask, and its payload unmasked and passed on chunk by chunk.
 * Messages are never reassembled and fragments are never counted:
 * fragments, RSV bits, pings, pongs, close codes and reasons reach the other
 * side untouched. Writes respect backpressure: a peer that reads slowly
 * pauses the one that sends.
 *
 * The relay never writes a frame of its own into a direction that is
 * partway through a frame (that would complete the frame with the relay's
 * bytes and forge a message): such a socket is cut instead, and its peer
 * sees an abnormal closure.
 *
 * Closing, as the service does it (PROTOCOL.md, "What the .NET client
 * relies on"): a close frame is passed on like any frame and is a FIN for
 * its direction only, the other direction stays open until its own close
 * comes back (a half-close, which azbridge relies on). A peer whose TCP
 * connection ends without a close frame has vanished: the other peer's
 * connection is ended without one too (it sees an abnormal end, never a
 * clean close the relay made up). A peer that is sent a close and then
 * neither answers nor sends anything for `CLOSE_ANSWER_MS` is given up on:
 * the side that closed gets the relay's 1001 and both are ended.
 */
import type { Duplex } from 'node:stream';
import { CLOSE_GOING_AWAY, FrameParser, OP_CLOSE, ProtocolViolation, closeFrame, serverFrameHeader } from './frames';
import type { FrameHeader } from './frames';
import { safeDebug } from './tracking';

const debug = safeDebug('hyco-relay-emulator:relay');

/** Frames up to this many payload bytes are written header and payload together. */
const SMALL_FRAME = 1024;

/** How long a peer has to finish closing before its socket is destroyed, ms. */
const CLOSE_GRACE_MS = 5000;

/**
 * How long the peer a close frame was passed to may stay silent without
 * answering it, ms. Every byte it sends starts the wait again, so a
 * half-closed connection that still carries data lives on.
 */
export const CLOSE_ANSWER_MS = 30_000;

type Side = 'sender' | 'listener';

/** The largest close frame payload (RFC 6455 section 5.5). */
const MAX_CLOSE_PAYLOAD = 125;

/** A close frame that went one way: its code (1005 when it had none) and reason. */
export interface CloseNote {
  code: number;
  reason: string;
}

/** A data message kept for the inspector (its first bytes only). */
export interface CapturedMessage {
  /** When its first frame arrived, ms since the epoch. */
  time: number;
  binary: boolean;
  /** Its bytes up to the capture's bound. */
  data: Buffer;
  /** Whether it was longer than `data`. */
  truncated: boolean;
}

/** What one direction carried, for the inspector. */
export interface DirectionReport {
  bytes: number;
  messages: number;
  /** The close frame that came from this direction's peer, when one did. */
  close: CloseNote | undefined;
  /** The close frame the relay wrote in this direction, when it wrote one. */
  relayClose: CloseNote | undefined;
  /** The first messages (with capture on). */
  captured: CapturedMessage[];
}

/** What the inspector is given when a relay is joined: how many messages each way to keep, and how many bytes of each. */
export interface MessageCapture {
  messages: number;
  bytesPerMessage: number;
}

/** One direction of the relay: parses `from`'s frames and writes them to `to`. */
class Direction extends FrameParser {
  /** The rewritten header of the current frame, not yet written. */
  private pendingHeader: Buffer | undefined;
  /** A whole close frame has gone out in this direction (forwarded, or the relay's own). */
  closed = false;
  /** The relay wrote its own close frame this way: nothing more is forwarded. */
  sealed = false;
  bytes = 0;
  messages = 0;
  /** The current frame's opcode. */
  private opcode = 0;
  /** The payload of a close frame from the peer (at most 125 bytes; close frames only). */
  private closePayload: Buffer | undefined;
  relayClose: CloseNote | undefined;
  /** Messages still to capture (0: capture is off or done), and each one's bound in bytes. */
  private captureLeft = 0;
  private captureBytes = 0;
  private capturing: CapturedMessage | undefined;
  readonly captured: CapturedMessage[] = [];

  constructor(
    readonly name: Side,
    private readonly to: Duplex,
    private readonly counters: TrafficCounters,
  ) {
    super();
  }

  /** Keeps the first `messages` data messages, `bytesPerMessage` of each. */
  capture(messages: number, bytesPerMessage: number): void {
    this.captureLeft = messages;
    this.captureBytes = bytesPerMessage;
  }

  /** The close frame that came through, decoded (1005 when it carried no code). */
  get close(): CloseNote | undefined {
    const p = this.closePayload;
    if (!p) return undefined;
    if (p.length < 2) return { code: 1005, reason: '' };
    return { code: p.readUInt16BE(0), reason: p.subarray(2).toString('utf8') };
  }

  protected onFrame(header: FrameHeader): void {
    this.flushHeader();
    this.opcode = header.opcode;
    if (header.opcode === OP_CLOSE && !this.closePayload) this.closePayload = Buffer.alloc(0);
    else if (this.captureLeft > 0 && header.opcode > 0 && header.opcode < OP_CLOSE) {
      this.capturing = { time: Date.now(), binary: header.opcode === 2, data: Buffer.alloc(0), truncated: false };
      this.captured.push(this.capturing);
    }
    // Same FIN, RSV bits and opcode; the length without the mask bit.
    this.pendingHeader = serverFrameHeader(header.firstByte, header.length);
  }

  protected onPayload(slice: Buffer): void {
    this.bytes += slice.length;
    this.counters.bytesRelayed += slice.length;
    if (this.opcode === OP_CLOSE) this.noteClose(slice);
    else if (this.capturing && this.opcode < OP_CLOSE) this.keep(this.capturing, slice);
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

  protected onFrameEnd(header: FrameHeader): void {
    this.flushHeader();
    // Closed only once the whole close frame has been passed on.
    if (header.opcode === OP_CLOSE) this.closed = true;
    else if (header.fin && header.opcode < OP_CLOSE) {
      // The last frame of a data message: one message relayed.
      this.messages++;
      this.counters.messagesRelayed++;
      if (this.capturing) {
        this.capturing = undefined;
        this.captureLeft--;
      }
    }
  }

  private noteClose(slice: Buffer): void {
    const had = this.closePayload ?? Buffer.alloc(0);
    if (had.length >= MAX_CLOSE_PAYLOAD) return;
    this.closePayload = Buffer.concat([had, slice.subarray(0, MAX_CLOSE_PAYLOAD - had.length)]);
  }

  private keep(message: CapturedMessage, slice: Buffer): void {
    const room = this.captureBytes - message.data.length;
    if (slice.length > room) message.truncated = true;
    if (room <= 0) return;
    // A copy: the slice belongs to a socket chunk that must not be held.
    message.data = Buffer.concat([message.data, slice.subarray(0, room)]);
  }

  report(): DirectionReport {
    return { bytes: this.bytes, messages: this.messages, close: this.close, relayClose: this.relayClose, captured: this.captured };
  }

  protected override onChunkEnd(): void {
    // A header whose payload has not arrived yet goes out now.
    this.flushHeader();
  }

  private flushHeader(): void {
    if (!this.pendingHeader) return;
    this.to.write(this.pendingHeader);
    this.pendingHeader = undefined;
  }
}

/** Ends `socket`'s writable side unless it already was (a second end() only builds an error to drop). */
function endOnce(socket: Duplex): void {
  if (!socket.writableEnded) socket.end();
}

/** Totals every relay adds to as it goes. */
export interface TrafficCounters {
  messagesRelayed: number;
  bytesRelayed: number;
}

/** What a relayed connection is, for reports. */
export interface RelayInfo {
  /** The connection's tracking id. */
  id: string;
  /** Its hybrid connection. */
  path: string;
  /** When it was joined, ms since the epoch. */
  since: number;
  /** The tracking id of the listener that accepted it. */
  listenerId?: string;
  /** The subprotocol agreed, when one was. */
  subprotocol?: string;
  /** When both sockets closed, ms since the epoch. */
  closedAt?: number;
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
  /** Runs while a close went one way and its answer has not come back. */
  private answerTimer: NodeJS.Timeout | undefined;
  private ended = false;

  constructor(
    private readonly sender: Duplex,
    private readonly listener: Duplex,
    private readonly events: FrameRelayEvents,
    counters: TrafficCounters = { messagesRelayed: 0, bytesRelayed: 0 },
    readonly info: RelayInfo = { id: '', path: '', since: Date.now() },
  ) {
    this.toListener = new Direction('sender', listener, counters);
    this.toSender = new Direction('listener', sender, counters);
    this.wire(sender, listener, this.toListener);
    this.wire(listener, sender, this.toSender);
  }

  /** Bytes of payload relayed: sender to listener, listener to sender. */
  get bytes(): { toListener: number; toSender: number } {
    return { toListener: this.toListener.bytes, toSender: this.toSender.bytes };
  }

  /** Whole data messages relayed, both ways. */
  get messages(): number {
    return this.toListener.messages + this.toSender.messages;
  }

  /** What each direction carried: from the sender (to the listener), from the listener (to the sender). */
  report(): { fromSender: DirectionReport; fromListener: DirectionReport } {
    return { fromSender: this.toListener.report(), fromListener: this.toSender.report() };
  }

  /** Keeps the first messages each way (call before start). */
  capture(capture: MessageCapture): void {
    this.toListener.capture(capture.messages, capture.bytesPerMessage);
    this.toSender.capture(capture.messages, capture.bytesPerMessage);
  }

  /** Feeds bytes that arrived with a handshake before the relay took over. */
  start(senderHead: Buffer, listenerHead: Buffer): void {
    if (senderHead.length) this.onData(this.sender, this.toListener, senderHead);
    if (listenerHead.length) this.onData(this.listener, this.toSender, listenerHead);
    this.sender.resume();
    this.listener.resume();
  }

  /**
   * Ends both sides with a close frame (1001 by default) as the service;
   * a side partway through a frame is cut instead.
   */
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
    // The peer a close was passed to is not silent: its answer may take as long as its data does.
    this.answerTimer?.refresh();
    if (to.destroyed || !to.writable || direction.sealed) return;
    try {
      to.cork();
      try {
        direction.push(chunk);
      } finally {
        to.uncork();
      }
    } catch (err) {
      if (!(err instanceof ProtocolViolation)) {
        // Unexpected: this one connection ends, nothing else does.
        debug('relay failed: %s', (err as Error)?.message ?? String(err));
        this.sender.destroy();
        this.listener.destroy();
        return;
      }
      debug('%s broke the protocol: %s', direction.name, err.message);
      // The offender learns why; the other side hears that its peer is gone.
      this.closeSide(from, direction === this.toListener ? this.toSender : this.toListener, err.closeCode, err.message);
      this.closeSide(to, direction, CLOSE_GOING_AWAY, 'The peer violated the protocol');
      from.pause();
      return;
    }
    if (to.writableNeedDrain) from.pause();
    // Both directions have carried a whole close frame: the closing handshake is complete.
    if (this.toListener.closed && this.toSender.closed) this.endBoth();
    else if (direction.closed) this.awaitAnswer(from);
  }

  /** A close went from `closer` to its peer: the peer has CLOSE_ANSWER_MS of silence to answer it. */
  private awaitAnswer(closer: Duplex): void {
    if (this.answerTimer || this.ended) return;
    this.answerTimer = setTimeout(() => {
      debug('relayed connection %s: no answer to a close in %d ms', this.info.id, CLOSE_ANSWER_MS);
      const towardsCloser = closer === this.sender ? this.toSender : this.toListener;
      const peer = closer === this.sender ? this.listener : this.sender;
      this.closeSide(closer, towardsCloser, CLOSE_GOING_AWAY, 'The peer did not answer the close');
      this.closeSide(peer, closer === this.sender ? this.toListener : this.toSender, CLOSE_GOING_AWAY, 'The peer did not answer the close');
    }, CLOSE_ANSWER_MS);
  }

  /**
   * Sends `socket` a close frame unless one already went its way, then ends
   * it. When the direction towards `socket` is partway through a frame, a
   * close frame would be taken as that frame's payload: the socket is cut.
   */
  private closeSide(socket: Duplex, towards: Direction, code: number, reason: string): void {
    if (socket.destroyed) return;
    if (towards.midFrame) {
      towards.sealed = true;
      socket.destroy();
      return;
    }
    if (!towards.closed && socket.writable) {
      towards.closed = true;
      towards.sealed = true;
      towards.relayClose = { code, reason };
      socket.write(closeFrame(code, reason));
    }
    endOnce(socket);
    this.armGrace();
  }

  private onPeerGone(from: Duplex): void {
    if (this.ended) return;
    const other = from === this.sender ? this.listener : this.sender;
    const towardsOther = from === this.sender ? this.toListener : this.toSender;
    if (!other.destroyed) {
      // After its close frame, the end of `from`'s TCP connection is the end of a closed direction: `other`
      // has its close. Without one, `from` vanished: so does `other`'s connection, with no close frame from
      // the relay (what was relayed before goes out first, then the TCP end).
      towardsOther.sealed = true;
      endOnce(other);
      this.armGrace();
    }
    if (!from.destroyed) endOnce(from);
  }

  private endBoth(): void {
    if (this.ended) return;
    this.ended = true;
    // The close was answered.
    if (this.answerTimer) clearTimeout(this.answerTimer);
    this.answerTimer = undefined;
    endOnce(this.sender);
    endOnce(this.listener);
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
    if (this.answerTimer) clearTimeout(this.answerTimer);
    this.graceTimer = this.answerTimer = undefined;
    this.info.closedAt = Date.now();
    this.events.onClosed(this);
  }
}

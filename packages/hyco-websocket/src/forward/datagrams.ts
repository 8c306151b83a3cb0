/**
 * Datagram mode (UDP; PROTOCOL.md, "Datagram mode"): one relayed
 * connection per route (one source address), each datagram exactly one
 * binary message holding a 2-byte big-endian length and the payload. A
 * route ends after `idleTimeout` without a datagram either way (4 minutes,
 * as azbridge), on both ends.
 *
 * Writing: one datagram, one message, never split or coalesced (azbridge's
 * reader takes one datagram per read). When the relayed connection cannot
 * keep up (its write buffer holds more than `MAX_QUEUED_BYTES`), datagrams
 * are dropped and counted, as a congested network drops them, rather than
 * queued without bound.
 *
 * Reading: the messages are read as a stream of length-prefixed records,
 * which is what azbridge's reader does too (it reads the length, then
 * loops until it has the payload); well-formed peers send one per message
 * anyway. At most one record (64 KiB + 2 bytes) is ever buffered.
 */
import createDebug from 'debug';
import { RelayError } from '../errors';
import type { HalfCloseConnection } from './half-close';

const debug = createDebug('hyco-websocket:forward');

/** The largest payload a 2-byte length can announce, bytes. */
export const MAX_DATAGRAM = 0xffff;
/** Drop datagrams while this much is waiting to go out on a route, bytes. */
export const MAX_QUEUED_BYTES = 1024 * 1024;
/** A route ends after this long without a datagram either way, ms (azbridge's 4 minutes). */
export const DEFAULT_UDP_IDLE_TIMEOUT = 4 * 60 * 1000;

/** One datagram as one message: the 2-byte big-endian length, then the payload. */
export function encodeDatagram(payload: Buffer): Buffer {
  if (payload.length > MAX_DATAGRAM) throw new RelayError('ERR_HYCO_FORWARD_PROTOCOL', `A datagram of ${payload.length} bytes does not fit a 2-byte length`);
  const message = Buffer.allocUnsafe(2 + payload.length);
  message.writeUInt16BE(payload.length, 0);
  payload.copy(message, 2);
  return message;
}

/** Reads length-prefixed datagrams from the bytes of a relayed connection, however they are split. */
export class DatagramReader {
  private pending: Buffer = Buffer.alloc(0);

  /** The datagrams completed by `chunk`, in order. */
  push(chunk: Buffer): Buffer[] {
    const datagrams: Buffer[] = [];
    let data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (data.length >= 2) {
      const length = data.readUInt16BE(0);
      if (data.length < 2 + length) break;
      datagrams.push(data.subarray(2, 2 + length));
      data = data.subarray(2 + length);
    }
    // What is left is less than one record (at most 64 KiB + 1): copied, so that the chunk is not held.
    this.pending = data.length ? Buffer.from(data) : Buffer.alloc(0);
    return datagrams;
  }

  /** Bytes of a datagram begun and not finished. */
  get buffered(): number {
    return this.pending.length;
  }
}

export interface DatagramRouteOptions {
  /** End the route after this long without a datagram either way, ms. */
  idleTimeout: number;
  /** After our close frame, wait this long for the peer's before giving up, ms. */
  closeTimeout: number;
  /** Delivers a datagram that came through the relay. May throw: the datagram is then dropped and the route reset. */
  deliver(payload: Buffer): void;
  count(event: 'datagramToRelay' | 'datagramFromRelay' | 'datagramDropped', bytes: number): void;
  /** Called once when the route has ended: `error` unless it ended cleanly (idle, or closed by either side). */
  done(error: RelayError | undefined): void;
}

/** One route: datagrams both ways over one relayed connection, until it idles out or either side ends it. */
export class DatagramRoute {
  private readonly reader = new DatagramReader();
  private idleTimer: NodeJS.Timeout | undefined;
  private closeTimer: NodeJS.Timeout | undefined;
  private ending = false;
  private finished = false;
  /** Delivering failed: what else the chunk held is dropped. */
  private finishedByDeliver = false;

  constructor(
    private readonly channel: HalfCloseConnection,
    private readonly options: DatagramRouteOptions,
    initial?: Buffer,
  ) {
    channel.on('data', (chunk) => this.receive(chunk));
    // The peer ended the route: so do we (our close frame answers its own).
    channel.on('end', () => this.end('the peer ended the route'));
    channel.on('close', (error) => this.onClosed(error));
    this.idleTimer = setTimeout(() => this.end('idle'), options.idleTimeout);
    if (initial && initial.length) this.receive(initial);
  }

  /** Whether the route is ending or has ended: new datagrams need a new route. */
  get isEnding(): boolean {
    return this.ending || this.finished;
  }

  /** Sends one datagram through the relay; dropped when the route is ending or congested. */
  send(payload: Buffer): void {
    if (this.isEnding || payload.length > MAX_DATAGRAM || this.channel.writableLength > MAX_QUEUED_BYTES) {
      this.options.count('datagramDropped', payload.length);
      return;
    }
    this.idleTimer?.refresh();
    this.channel.sendMessage(encodeDatagram(payload));
    this.options.count('datagramToRelay', payload.length);
  }

  /** Ends the route cleanly (a close frame), as when it idles out. */
  end(why: string): void {
    if (this.ending || this.finished) return;
    this.ending = true;
    debug('route ends: %s', why);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.channel.end();
    this.closeTimer = setTimeout(() => this.channel.reset(new RelayError('ERR_HYCO_CONNECTION', 'The peer did not answer the end of the route')), this.options.closeTimeout);
  }

  /** Ends the route at once, without a close frame (the forwarder is closing, or the local socket failed). */
  reset(reason: RelayError): void {
    this.channel.reset(reason);
  }

  private receive(chunk: Buffer): void {
    if (this.finished || this.finishedByDeliver) return;
    this.idleTimer?.refresh();
    for (const payload of this.reader.push(chunk)) {
      try {
        this.options.deliver(payload);
      } catch (err) {
        // This runs in a WebSocket message handler: a throw would be uncaught (and end the process).
        this.options.count('datagramDropped', payload.length);
        const reason = new RelayError('ERR_HYCO_CONNECTION', `A datagram could not be delivered: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
        debug('%s', reason.message);
        this.finishedByDeliver = true;
        this.channel.reset(reason);
        return;
      }
      this.options.count('datagramFromRelay', payload.length);
    }
  }

  private onClosed(error: RelayError | undefined): void {
    if (this.finished) return;
    this.finished = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.idleTimer = this.closeTimer = undefined;
    this.options.done(error);
  }
}

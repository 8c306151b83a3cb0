/**
 * Rendezvous: a sender waiting for a listener to accept or reject it. Each
 * gets a single-use, unguessable address (128 random bits) that lives for
 * the rendezvous timeout; a sender nobody answers gets 504.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { HybridConnection } from './hybrid-connection';

/** The query parameter carrying a rendezvous' secret. */
export const PARAM_RENDEZVOUS = 'sb-hc-rendezvous';

/** Bytes a waiting sender may send before it is accepted (it should send none). */
const MAX_EARLY_BYTES = 64 * 1024;

export interface PendingSender {
  readonly secret: string;
  /** The tracking id (`sb-hc-id`) of this connection. */
  readonly id: string;
  readonly entity: HybridConnection;
  readonly req: IncomingMessage;
  readonly socket: Duplex;
  /** The host name the sender reached the relay as (checked). */
  readonly hostname: string;
  /** The tracking id of the listener it was offered to. */
  listenerId?: string;
  /** Bytes that arrived with or after the handshake, before the join. */
  head: Buffer;
  timer: NodeJS.Timeout | undefined;
  /** Stops collecting early bytes and pauses the socket for the relay to take over. */
  detach(): void;
}

export class RendezvousTable {
  private readonly pending = new Map<string, PendingSender>();

  constructor(
    private readonly timeoutMs: number,
    private readonly onTimeout: (sender: PendingSender) => void,
  ) {}

  get size(): number {
    return this.pending.size;
  }

  /** Registers a waiting sender and returns its rendezvous. */
  add(entity: HybridConnection, id: string, hostname: string, req: IncomingMessage, socket: Duplex, head: Buffer): PendingSender {
    const secret = randomBytes(16).toString('hex');
    // Keep reading while the sender waits, so that a sender that hangs up is
    // noticed at once; anything it sends early is kept for the listener.
    const onData = (chunk: Buffer) => {
      sender.head = Buffer.concat([sender.head, chunk]);
      if (sender.head.length > MAX_EARLY_BYTES) socket.destroy();
    };
    const sender: PendingSender = {
      secret,
      id,
      entity,
      req,
      socket,
      hostname,
      head,
      timer: undefined,
      detach: () => {
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.pause();
      },
    };
    // The HTTP server allows half-open sockets: a sender that sends FIN while
    // waiting has hung up.
    const onEnd = () => socket.destroy();
    socket.on('data', onData);
    socket.once('end', onEnd);
    sender.timer = setTimeout(() => {
      if (this.remove(sender)) this.onTimeout(sender);
    }, this.timeoutMs);
    this.pending.set(secret, sender);
    entity.pendingSenders++;
    // A sender that gives up while waiting frees its rendezvous at once.
    socket.once('close', () => this.remove(sender));
    return sender;
  }

  /** Takes a rendezvous for use: after this, its address is spent. */
  take(secret: string | null): PendingSender | undefined {
    if (!secret) return undefined;
    const sender = this.pending.get(secret);
    if (!sender) return undefined;
    this.remove(sender);
    return sender.socket.destroyed ? undefined : sender;
  }

  /** Whether a rendezvous secret is live (not used, not expired). */
  has(secret: string | null): boolean {
    return secret !== null && this.pending.has(secret);
  }

  /** Every waiting sender (of `entity`, when given), removed from the table. */
  drain(entity?: HybridConnection): PendingSender[] {
    const all = [...this.pending.values()].filter((s) => entity === undefined || s.entity === entity);
    for (const sender of all) this.remove(sender);
    return all;
  }

  private remove(sender: PendingSender): boolean {
    if (this.pending.get(sender.secret) !== sender) return false;
    this.pending.delete(sender.secret);
    if (sender.timer) clearTimeout(sender.timer);
    sender.timer = undefined;
    sender.entity.pendingSenders--;
    return true;
  }
}

/**
 * The connection log: each relayed WebSocket connection with its sender
 * and listener, subprotocol, open and close times, the close each side
 * sent (and any the relay sent), messages and bytes each way, and with
 * capture on its first messages each way. Open connections are read live
 * from their relays; closed ones are kept in a ring.
 */
import type { CapturedMessage, CloseNote, DirectionReport, FrameRelay } from '../frame-relay';
import type { ResolvedInspectorOptions } from './options';
import { Ring } from './ring';

/** A captured message as served: text when it was a text message, else base64. */
export interface MessageView {
  time: string;
  type: 'text' | 'binary';
  /** A text message's text (its first bytes). */
  text?: string;
  /** A binary message's first bytes, base64. */
  base64?: string;
  truncated?: boolean;
}

/** One direction of a connection as served. */
export interface DirectionView {
  messages: number;
  bytes: number;
  /** The close frame this side sent, when it sent one. */
  close?: CloseNote;
  /** The close frame the relay sent this side's peer in its stead, when it did. */
  relayClose?: CloseNote;
  /** The first messages (with capture on). */
  captured?: MessageView[];
}

/** A relayed connection as `GET /$connections` serves it. */
export interface ConnectionRecord {
  /** The connection's tracking id (the sender's). */
  id: string;
  senderId: string;
  listenerId?: string;
  hybridConnection: string;
  subprotocol?: string;
  openedAt: string;
  closedAt?: string;
  open: boolean;
  fromSender: DirectionView;
  fromListener: DirectionView;
}

export class ConnectionLog {
  private readonly open = new Set<FrameRelay>();
  private readonly closed: Ring<ConnectionRecord>;
  /** Bytes of connections that have closed, each way. */
  private closedBytes = { toListener: 0, toSender: 0 };

  constructor(private readonly options: ResolvedInspectorOptions) {
    this.closed = new Ring(options.ringSize);
  }

  /** A relay was joined (before it starts): with capture on, its first messages are kept. */
  opened(relay: FrameRelay): void {
    if (this.options.captureBodies && this.options.capturedMessages > 0) relay.capture({ messages: this.options.capturedMessages, bytesPerMessage: this.options.messageBytes });
    this.open.add(relay);
  }

  closedRelay(relay: FrameRelay): void {
    this.open.delete(relay);
    const bytes = relay.bytes;
    this.closedBytes.toListener += bytes.toListener;
    this.closedBytes.toSender += bytes.toSender;
    if (this.options.record) this.closed.push(view(relay));
  }

  /** Bytes relayed each way by every connection, open or closed. */
  bytes(): { toListener: number; toSender: number } {
    let { toListener, toSender } = this.closedBytes;
    for (const relay of this.open) {
      const b = relay.bytes;
      toListener += b.toListener;
      toSender += b.toSender;
    }
    return { toListener, toSender };
  }

  /** Open ones first (newest first), then closed ones (newest first). */
  list(hybridConnection?: string): ConnectionRecord[] {
    const hc = hybridConnection?.toLowerCase();
    const open = [...this.open].sort((a, b) => b.info.since - a.info.since).map(view);
    return [...open, ...this.closed.newestFirst()].filter((c) => !hc || c.hybridConnection.toLowerCase() === hc);
  }

  get size(): number {
    return this.closed.size;
  }

  /** Connections open now. */
  get openCount(): number {
    return this.open.size;
  }
}

function view(relay: FrameRelay): ConnectionRecord {
  const { info } = relay;
  const report = relay.report();
  const record: ConnectionRecord = {
    id: info.id,
    senderId: info.id,
    hybridConnection: info.path,
    openedAt: new Date(info.since).toISOString(),
    open: info.closedAt === undefined,
    fromSender: direction(report.fromSender),
    fromListener: direction(report.fromListener),
  };
  if (info.listenerId) record.listenerId = info.listenerId;
  if (info.subprotocol) record.subprotocol = info.subprotocol;
  if (info.closedAt !== undefined) record.closedAt = new Date(info.closedAt).toISOString();
  return record;
}

function direction(d: DirectionReport): DirectionView {
  const out: DirectionView = { messages: d.messages, bytes: d.bytes };
  if (d.close) out.close = d.close;
  if (d.relayClose) out.relayClose = d.relayClose;
  if (d.captured.length) out.captured = d.captured.map(message);
  return out;
}

function message(m: CapturedMessage): MessageView {
  const out: MessageView = { time: new Date(m.time).toISOString(), type: m.binary ? 'binary' : 'text' };
  if (m.binary) out.base64 = m.data.toString('base64');
  else out.text = m.data.toString('utf8');
  if (m.truncated) out.truncated = true;
  return out;
}

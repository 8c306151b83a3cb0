/** What the emulator reports about what comes and goes (its `activity` event). */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** What the emulator reports through its `activity` event (no secrets, no payloads; client strings made printable). */
export interface RelayActivity {
  type:
    | 'listener-online'
    | 'listener-offline'
    | 'listener-error'
    | 'sender-accepted'
    | 'sender-rejected'
    | 'sender-timed-out'
    | 'connection-closed'
    | 'refused'
    | 'hybrid-connection-created'
    | 'hybrid-connection-deleted';
  /** The hybrid connection, when known. */
  path: string;
  /** Tracking id of the listener or connection. */
  id: string;
  /** HTTP status or close code, where one applies. */
  status?: number;
  /** Why, for refusals and listener errors. */
  detail?: string;
  /**
   * The address the listener's connection came from: its control channel
   * (`listener-online`) or its rendezvous (`sender-accepted`,
   * `sender-rejected`). Through a proxy, the proxy's.
   */
  listenerAddress?: string;
}

/** The address a listener's connection came from, for activity events. */
export function peer(socket: Duplex): Pick<RelayActivity, 'listenerAddress'> {
  const address = (socket as Partial<Socket>).remoteAddress;
  return address ? { listenerAddress: address } : {};
}

/**
 * Listener history: each listener's online and offline transitions, per
 * hybrid connection, with why it went (the close code and reason, who
 * closed, token expiry, a network cut). A ring of the last N.
 */
import type { RelayActivity } from '../activity';
import { Ring } from './ring';

/** One transition as `GET /$listeners` serves it. */
export interface ListenerEvent {
  time: string;
  hybridConnection: string;
  listenerId: string;
  event: 'online' | 'offline';
  /** The close code, when it went with one. */
  code?: number;
  /** Why it went (who closed, the reason), or where it came from. */
  detail?: string;
  /** The address its control channel came from (online). */
  address?: string;
}

export class ListenerHistory {
  private readonly ring: Ring<ListenerEvent>;

  constructor(size: number) {
    this.ring = new Ring(size);
  }

  /** Takes the emulator's activity: listener-online and listener-offline are kept. */
  note(activity: RelayActivity): void {
    if (activity.type !== 'listener-online' && activity.type !== 'listener-offline') return;
    const event: ListenerEvent = {
      time: new Date().toISOString(),
      hybridConnection: activity.path,
      listenerId: activity.id,
      event: activity.type === 'listener-online' ? 'online' : 'offline',
    };
    if (activity.status !== undefined) event.code = activity.status;
    if (activity.detail) event.detail = activity.detail;
    if (activity.listenerAddress) event.address = activity.listenerAddress;
    this.ring.push(event);
  }

  list(hybridConnection?: string): ListenerEvent[] {
    const hc = hybridConnection?.toLowerCase();
    return this.ring.newestFirst().filter((e) => !hc || e.hybridConnection.toLowerCase() === hc);
  }
}

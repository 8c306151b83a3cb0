/**
 * The namespace: its hybrid connections by path, the relayed connections
 * running in it (tracked on their own, so that none is orphaned when its
 * entity goes), and its running totals.
 */
import type { FrameRelay } from './frame-relay';
import { HybridConnection } from './hybrid-connection';
import { printable } from './tracking';
import type { HybridConnectionOptions } from './options';
import type { HybridConnectionStats, RelayEmulatorStats, RelayEmulatorTotals } from './stats';

export type { HybridConnectionStats, RelayEmulatorStats, RelayEmulatorTotals } from './stats';

export class Namespace {
  private readonly entities = new Map<string, HybridConnection>();
  /** Every relayed connection that is open. */
  readonly relays = new Set<FrameRelay>();
  readonly totals: RelayEmulatorTotals = {
    listenersAccepted: 0,
    sendersAccepted: 0,
    sendersRejected: 0,
    sendersTimedOut: 0,
    handshakesRefused: 0,
    messagesRelayed: 0,
    bytesRelayed: 0,
    tlsHandshakes: 0,
    tlsSessionsResumed: 0,
  };

  /** Adds a hybrid connection; throws `ERR_HYCO_ENTITY_EXISTS` when the path is taken. */
  add(options: HybridConnectionOptions): HybridConnection {
    const key = options.path.toLowerCase();
    if (this.entities.has(key)) {
      const err = new Error(`Hybrid connection "${options.path}" already exists`) as Error & { code: string };
      err.code = 'ERR_HYCO_ENTITY_EXISTS';
      throw err;
    }
    const entity = new HybridConnection(options.path, options.requiresClientAuthorization !== false, options.rules ?? [], options.userMetadata);
    this.entities.set(key, entity);
    return entity;
  }

  /** The hybrid connection at exactly `path` (case-insensitive). */
  get(path: string): HybridConnection | undefined {
    return this.entities.get(path.toLowerCase());
  }

  /** Whether `entity` is (still) part of the namespace. */
  has(entity: HybridConnection): boolean {
    return this.entities.get(entity.path.toLowerCase()) === entity;
  }

  /** Removes the hybrid connection at `path`; returns it, or undefined when there is none. */
  remove(path: string): HybridConnection | undefined {
    const key = path.toLowerCase();
    const entity = this.entities.get(key);
    if (entity) this.entities.delete(key);
    return entity;
  }

  all(): HybridConnection[] {
    return [...this.entities.values()];
  }

  /**
   * The entity whose path is the longest segment-boundary prefix of
   * `rawPath` (compared percent-decoded and case-insensitively), and the rest
   * of `rawPath` as sent (`/rooms/7`, or `''`).
   */
  resolve(rawPath: string): { entity: HybridConnection; suffix: string } | undefined {
    const segments = rawPath.split('/');
    for (let n = segments.length; n > 0; n--) {
      let candidate: string;
      try {
        candidate = decodeURIComponent(segments.slice(0, n).join('/'));
      } catch {
        // A suffix segment that is not valid percent-encoding: a shorter prefix may still be an entity.
        continue;
      }
      const entity = this.get(candidate);
      if (entity) return { entity, suffix: n < segments.length ? `/${segments.slice(n).join('/')}` : '' };
    }
    return undefined;
  }

  entityStats(entity: HybridConnection): HybridConnectionStats {
    return {
      path: entity.path,
      requiresClientAuthorization: entity.requiresClientAuthorization,
      listeners: entity.listeners.size,
      listenerIds: [...entity.listeners].map((l) => printable(l.trackingId)),
      pendingSenders: entity.pendingSenders,
      relayedConnections: entity.relays.size,
    };
  }

  stats(): RelayEmulatorStats {
    return {
      hybridConnections: this.all().map((e) => this.entityStats(e)),
      relayedConnections: this.relays.size,
      totals: { ...this.totals },
    };
  }
}

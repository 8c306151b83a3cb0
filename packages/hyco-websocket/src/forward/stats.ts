/**
 * What a forwarder counts: its connections (a TCP or Unix connection, or a
 * UDP route: one relayed connection each) and the bytes and datagrams they
 * carry, in total and per connection, and the events that report them.
 */
import type { RelayError } from '../errors';

/** A forwarder's totals since it started. */
export interface ForwardStats {
  /** Forwarded connections (and UDP routes) open now. */
  connectionsOpen: number;
  /** Forwarded connections (and UDP routes) opened in all. */
  connectionsTotal: number;
  /** Of those, the ones that ended with an error (refused, reset, cut). */
  connectionsFailed: number;
  /** Payload bytes sent into the relay (stream data and datagram payloads). */
  bytesToRelay: number;
  /** Payload bytes received from the relay. */
  bytesFromRelay: number;
  datagramsToRelay: number;
  datagramsFromRelay: number;
  /** Datagrams dropped: their route was congested, ending, or could not be opened. */
  datagramsDropped: number;
}

export type ForwardProtocol = 'tcp' | 'udp' | 'unix';

/** One forwarded connection (or UDP route), as the events report it. */
export class ForwardedConnection {
  bytesToRelay = 0;
  bytesFromRelay = 0;
  datagramsToRelay = 0;
  datagramsFromRelay = 0;
  datagramsDropped = 0;
  /** When it started, ms since the epoch. */
  readonly startedAt = Date.now();
  /** When it ended, ms since the epoch; 0 while open. */
  endedAt = 0;
  /** Why it failed, once it has. */
  error: RelayError | undefined;

  constructor(
    /** The relayed connection's tracking id (`sb-hc-id`). */
    readonly id: string,
    /** The port name asked for. */
    readonly portName: string,
    readonly protocol: ForwardProtocol,
    /** Who connected: the local client (`127.0.0.1:50312`, a socket path), or the relay's sender address (remote side). */
    readonly peer: string,
    /** Where it goes: the relay name (local side), or the target (`localhost:22`, a socket path; remote side). */
    readonly target: string,
  ) {}

  /** How long it lasted (or has lasted), ms. */
  get durationMs(): number {
    return (this.endedAt || Date.now()) - this.startedAt;
  }
}

/** The events both forwarders emit about their connections. */
export interface ForwardConnectionEvents {
  /** A connection (or UDP route) was accepted and is being forwarded. */
  connection: [connection: ForwardedConnection];
  /** It ended; `error` when it failed. */
  connectionClosed: [connection: ForwardedConnection, error: RelayError | undefined];
}

/** Keeps the totals, the per-connection counts and the open connections (with how to end each) together. */
export class ForwardCounters {
  /** Open connections and routes, and how to end each at once. */
  private readonly open = new Map<ForwardedConnection, (reason: RelayError) => void>();
  /** Waiting for the last open connection to end. */
  private readonly drained = new Set<() => void>();

  /** The connections and routes open now. */
  get connections(): ForwardedConnection[] {
    return [...this.open.keys()];
  }

  /**
   * Counts `record` open until the returned function is called (once; later
   * calls do nothing), which counts it closed and then calls `closed`;
   * `end` cuts it at once (see endAll).
   */
  track(record: ForwardedConnection, end: (reason: RelayError) => void, closed: (error: RelayError | undefined) => void): (error: RelayError | undefined) => void {
    this.opened();
    this.open.set(record, end);
    let done = false;
    return (error) => {
      if (done) return;
      done = true;
      this.open.delete(record);
      this.closed(record, error);
      closed(error);
      if (this.open.size === 0) for (const resolve of [...this.drained]) resolve();
    };
  }

  /** Ends every open connection with `reason`; resolves once none is open. */
  endAll(reason: RelayError): Promise<void> {
    for (const end of [...this.open.values()]) end(reason);
    return new Promise<void>((resolve) => {
      if (this.open.size === 0) return resolve();
      this.drained.add(resolve);
    });
  }

  readonly stats: ForwardStats = {
    connectionsOpen: 0,
    connectionsTotal: 0,
    connectionsFailed: 0,
    bytesToRelay: 0,
    bytesFromRelay: 0,
    datagramsToRelay: 0,
    datagramsFromRelay: 0,
    datagramsDropped: 0,
  };

  opened(): void {
    this.stats.connectionsOpen++;
    this.stats.connectionsTotal++;
  }

  closed(connection: ForwardedConnection, error: RelayError | undefined): void {
    this.stats.connectionsOpen--;
    if (error) this.stats.connectionsFailed++;
    connection.endedAt = Date.now();
    connection.error = error;
  }

  bytes(connection: ForwardedConnection, direction: 'toRelay' | 'fromRelay', n: number): void {
    if (direction === 'toRelay') {
      connection.bytesToRelay += n;
      this.stats.bytesToRelay += n;
    } else {
      connection.bytesFromRelay += n;
      this.stats.bytesFromRelay += n;
    }
  }

  datagram(connection: ForwardedConnection | undefined, event: 'datagramToRelay' | 'datagramFromRelay' | 'datagramDropped', n: number): void {
    if (event === 'datagramDropped') {
      this.stats.datagramsDropped++;
      if (connection) connection.datagramsDropped++;
      return;
    }
    if (event === 'datagramToRelay') {
      this.stats.datagramsToRelay++;
      if (connection) connection.datagramsToRelay++;
    } else {
      this.stats.datagramsFromRelay++;
      if (connection) connection.datagramsFromRelay++;
    }
    if (connection) this.bytes(connection, event === 'datagramToRelay' ? 'toRelay' : 'fromRelay', n);
  }
}

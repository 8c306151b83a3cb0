/**
 * The local side of forwarding (azbridge's `-L`, `LocalForward`): local
 * TCP, UDP and Unix-socket listeners whose connections go through the relay
 * as senders, each asking the remote forwarder for its binding's port name.
 *
 * - TCP and Unix sockets: one relayed connection per accepted connection.
 *   The socket is not read until the remote forwarder has accepted (its
 *   bytes wait in the kernel), then the two are pumped (stream.ts).
 * - UDP: one relayed connection per source address (a route), opened by
 *   its first datagram; datagrams that come while it opens wait (a few per
 *   route, and at most `maxHeldDatagramBytes` in all; more are dropped, as
 *   UDP may), and the route ends after `udpIdleTimeout`. Datagrams from
 *   port 0 (which cannot be answered) are dropped.
 *
 * Each relayed connection opens as azbridge's sender does (sender.ts); a
 * refusal resets the local socket (or drops the route's datagrams).
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import dgram from 'node:dgram';
import type { RemoteInfo } from 'node:dgram';
import net from 'node:net';
import createDebug from 'debug';
import { RelayError } from '../errors';
import { printable } from '../protocol/printable';
import { checkUniquePortNames, modeOf, resolveLocalBinding } from './bindings';
import type { ResolvedBinding } from './bindings';
import { DatagramRoute } from './datagrams';
import type { HalfCloseConnection } from './half-close';
import type { ModeByte } from './preamble';
import { checkOptionsObject, resolveMaxHeldDatagramBytes, resolveTarget, resolveTimings } from './options';
import type { ForwardTimings, LocalForwardOptions, RelayTarget } from './options';
import { ForwardCounters, ForwardedConnection } from './stats';
import type { ForwardConnectionEvents, ForwardStats } from './stats';
import { lingerThenReset, pumpStream, resetSocket } from './stream';
import { openSender, senderSettings } from './sender';
import type { SenderAttempt, SenderSettings } from './sender';

const debug = createDebug('hyco-websocket:forward');

/** Datagrams held while a route opens; more are dropped. */
const MAX_HELD_DATAGRAMS = 64;
/** One route holds at most this share of `maxHeldDatagramBytes` (beyond its first datagram): a flood from one source leaves room for others. */
const HELD_SHARE = 16;
/** Routes (UDP source addresses) per binding at once; datagrams from more are dropped. */
const MAX_ROUTES = 1024;

/** Where a local binding listens, once it does. */
export type LocalAddress = { portName: string; protocol: 'tcp' | 'udp'; address: string; port: number } | { portName: string; protocol: 'unix'; path: string };

export interface LocalForwardEvents extends ForwardConnectionEvents {
  /** Every binding is listening (see `addresses`). */
  listening: [];
  /** A binding could not listen (`ERR_HYCO_FORWARD_BIND`), or a listener failed. Never crashes the process when nobody listens. */
  error: [error: RelayError];
  /** The forwarder has closed. */
  close: [];
}

/** Local listeners whose connections go through the relay (create with `createLocalForward`). */
export class LocalForward extends EventEmitter<LocalForwardEvents> {
  /** The hybrid connection (relay name) connections go to. */
  readonly path: string;
  /** The bindings, checked, with their port names. */
  readonly bindings: readonly ResolvedBinding[];
  private readonly target: RelayTarget;
  private readonly timings: ForwardTimings;
  private readonly sender: SenderSettings;
  private readonly maxHeldBytes: number;
  /** Bytes of datagrams held, across all routes, while their relayed connections open. */
  private heldBytes = 0;
  private readonly counters = new ForwardCounters();
  private readonly sockets: (net.Server | dgram.Socket | undefined)[] = [];
  private readonly bound: (LocalAddress | undefined)[] = [];
  /** Relayed connections being opened, and how to give each up. */
  private readonly attempts = new Set<() => void>();
  private pendingBinds: number;
  private closing: Promise<void> | undefined;

  constructor(options: LocalForwardOptions) {
    super();
    checkOptionsObject(options, 'createLocalForward');
    this.target = resolveTarget(options, false);
    this.path = this.target.path;
    this.timings = resolveTimings(options);
    this.maxHeldBytes = resolveMaxHeldDatagramBytes(options);
    const bindings = options.bindings.map((b, i) => resolveLocalBinding(b, `bindings[${i}]`));
    checkUniquePortNames(bindings, 'createLocalForward');
    this.bindings = bindings;
    this.sender = senderSettings(options, this.target, this.timings);
    this.pendingBinds = bindings.length;
    bindings.forEach((binding, i) => this.listen(binding, i));
  }

  /** Whether every binding is listening (and the forwarder is not closed). */
  get isListening(): boolean {
    return !this.closing && this.allBound();
  }

  private allBound(): boolean {
    return this.bindings.every((_, i) => this.bound[i] !== undefined);
  }

  /** The same as `isListening`: the local side is online when its listeners are. */
  get isOnline(): boolean {
    return this.isListening;
  }

  /** Where each binding listens (a port of 0 becomes the one the system chose); undefined for one not (yet) listening. */
  get addresses(): (LocalAddress | undefined)[] {
    return this.bindings.map((_, i) => this.bound[i]);
  }

  /** Totals since the start (a copy). */
  get stats(): ForwardStats {
    return { ...this.counters.stats };
  }

  /** The connections and routes open now. */
  get connections(): ForwardedConnection[] {
    return this.counters.connections;
  }

  /**
   * Stops listening and ends every forwarded connection at once (local
   * sockets reset, relayed connections dropped: their far ends reset too),
   * and every relayed connection being opened. A connection already ending
   * cleanly both ways is given `closeTimeout` to finish, then its local
   * socket is reset. Resolves when all is closed.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const stopped = this.sockets.map(
      (listener) =>
        new Promise<void>((resolve) => {
          if (!listener) return resolve();
          if (listener instanceof net.Server) {
            if (!listener.listening) return resolve();
            listener.close(() => resolve());
          } else {
            try {
              listener.close(() => resolve());
            } catch {
              resolve(); // Never bound, or closed already.
            }
          }
        }),
    );
    for (const giveUp of [...this.attempts]) giveUp();
    const reason = new RelayError('ERR_HYCO_CLOSED', 'The forwarder is closing');
    const allEnded = this.counters.endAll(reason);
    await Promise.all([...stopped, allEnded]);
    this.emit('close');
  }

  private report(error: RelayError): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else debug('error (no listener): %s', error.message);
  }

  private listen(binding: ResolvedBinding, index: number): void {
    const where = binding.protocol === 'unix' ? binding.path : `${binding.protocol} ${binding.host}:${binding.port}`;
    const failed = (err: NodeJS.ErrnoException) => {
      this.pendingBinds--;
      this.report(new RelayError('ERR_HYCO_FORWARD_BIND', `Cannot listen on ${where} (port name "${binding.portName}"): ${err.code ?? err.message}`, { cause: err }));
    };
    const listening = (address: LocalAddress) => {
      this.bound[index] = address;
      this.pendingBinds--;
      debug('listening on %s for port name %s of %s', where, printable(binding.portName), printable(this.path));
      if (this.pendingBinds === 0 && this.allBound() && !this.closing) this.emit('listening');
    };
    if (binding.protocol === 'udp') {
      const socket = dgram.createSocket({ type: net.isIPv6(binding.host) ? 'udp6' : 'udp4' });
      this.sockets[index] = socket;
      const routes = new Map<string, LocalRoute>();
      socket.on('message', (payload: Buffer, from: RemoteInfo) => this.onDatagram(socket, binding, routes, payload, from));
      socket.once('listening', () => {
        socket.off('error', failed);
        socket.on('error', (err: NodeJS.ErrnoException) => debug('UDP socket %s: %s', where, err.code ?? err.message));
        const info = socket.address();
        listening({ portName: binding.portName, protocol: 'udp', address: info.address, port: info.port });
      });
      socket.once('error', failed);
      socket.bind(binding.port, binding.host);
      return;
    }
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
    this.sockets[index] = server;
    server.on('connection', (socket) => this.onStream(socket, binding));
    server.once('error', failed);
    server.once('listening', () => {
      server.off('error', failed);
      server.on('error', (err: NodeJS.ErrnoException) => this.report(new RelayError('ERR_HYCO_FORWARD_BIND', `The listener on ${where} failed: ${err.code ?? err.message}`, { cause: err })));
      const info = server.address();
      if (binding.protocol === 'unix') listening({ portName: binding.portName, protocol: 'unix', path: binding.path });
      else if (info && typeof info === 'object') listening({ portName: binding.portName, protocol: 'tcp', address: info.address, port: info.port });
    });
    if (binding.protocol === 'unix') server.listen(binding.path);
    else server.listen(binding.port, binding.host);
  }

  /** Tracks a connection or route until `finished`; `end` cuts it at once. */
  private track(record: ForwardedConnection, end: (reason: RelayError) => void): (error: RelayError | undefined) => void {
    const finished = this.counters.track(record, end, (error) => {
      if (error) debug('connection %s (port name %s) failed: %s', record.id, printable(record.portName), error.message);
      this.emit('connectionClosed', record, error);
    });
    this.emit('connection', record);
    return finished;
  }

  private onStream(socket: net.Socket, binding: ResolvedBinding): void {
    if (this.closing) {
      resetSocket(socket);
      return;
    }
    const peer = binding.protocol === 'unix' ? binding.path : `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    const record = new ForwardedConnection(randomUUID(), binding.portName, binding.protocol, peer, this.path);
    let channel: HalfCloseConnection | undefined;
    let giveUp: (() => void) | undefined;
    /** Why close() cut a connection that was finishing cleanly. */
    let cut: RelayError | undefined;
    const tracked = this.track(record, (reason) => {
      if (channel?.finishing) {
        // Both directions have ended: it may finish cleanly, but not wait on a client that stopped reading.
        lingerThenReset(socket, this.timings.closeTimeout, () => {
          cut = new RelayError('ERR_HYCO_CLOSED', `The forwarder closed: the local client had not read the end of the data within ${this.timings.closeTimeout} ms`, { cause: reason });
        });
        return;
      }
      giveUp?.();
      if (channel) channel.reset(reason);
      resetSocket(socket);
    });
    const finished = (error: RelayError | undefined) => tracked(error ?? cut);
    if (binding.protocol === 'tcp') socket.setNoDelay(true);
    // A local client that goes away while the relayed connection opens gives it up.
    const onEarlyError = (err: NodeJS.ErrnoException) => debug('local client %s: %s', peer, err.code ?? err.message);
    const onEarlyClose = () => {
      giveUp?.();
      finished(new RelayError('ERR_HYCO_CONNECTION', 'The local client left before the connection was forwarded'));
    };
    socket.on('error', onEarlyError);
    socket.once('close', onEarlyClose);
    const attempt = this.openRelayed(record, modeOf(binding));
    giveUp = attempt.giveUp;
    attempt.accepted.then(
      ({ channel: accepted, rest }) => {
        giveUp = undefined;
        socket.off('error', onEarlyError);
        socket.off('close', onEarlyClose);
        channel = accepted;
        pumpStream(accepted, socket, {
          socketName: 'the local client',
          initial: rest,
          count: (direction, n) => this.counters.bytes(record, direction, n),
          done: finished,
        });
      },
      (err: RelayError) => {
        giveUp = undefined;
        socket.off('close', onEarlyClose);
        resetSocket(socket);
        finished(err);
      },
    );
  }

  private onDatagram(socket: dgram.Socket, binding: ResolvedBinding, routes: Map<string, LocalRoute>, payload: Buffer, from: RemoteInfo): void {
    if (this.closing) return;
    // Port 0 cannot be answered (sending to it throws): such a datagram (a spoofed one) opens nothing.
    if (from.port === 0) {
      this.counters.datagram(undefined, 'datagramDropped', payload.length);
      return;
    }
    const key = `${from.address}|${from.port}`;
    let route = routes.get(key);
    if (route?.route?.isEnding) route = undefined;
    if (route) {
      if (route.route) route.route.send(payload);
      else if (!this.hold(route, payload)) this.counters.datagram(route.record, 'datagramDropped', payload.length);
      return;
    }
    if (routes.size >= MAX_ROUTES || this.heldBytes + payload.length > this.maxHeldBytes) {
      this.counters.datagram(undefined, 'datagramDropped', payload.length);
      return;
    }
    const record = new ForwardedConnection(randomUUID(), binding.portName, 'udp', `${from.address}:${from.port}`, this.path);
    const fresh: LocalRoute = { record, held: [], heldBytes: 0 };
    this.hold(fresh, payload);
    routes.set(key, fresh);
    let giveUp: (() => void) | undefined;
    const finished = this.track(record, (reason) => {
      giveUp?.();
      fresh.route?.reset(reason);
    });
    const ended = (error: RelayError | undefined) => {
      if (routes.get(key) === fresh) routes.delete(key);
      for (const held of this.release(fresh)) this.counters.datagram(record, 'datagramDropped', held.length);
      finished(error);
    };
    const attempt = this.openRelayed(record, modeOf(binding));
    giveUp = attempt.giveUp;
    attempt.accepted.then(
      ({ channel, rest }) => {
        giveUp = undefined;
        fresh.route = new DatagramRoute(
          channel,
          {
            idleTimeout: this.timings.udpIdleTimeout,
            closeTimeout: this.timings.closeTimeout,
            deliver: (data) => socket.send(data, from.port, from.address, (err) => err && debug('UDP send to %s failed: %s', record.peer, err.message)),
            count: (event, n) => this.counters.datagram(record, event, n),
            done: ended,
          },
          rest,
        );
        for (const datagram of this.release(fresh)) fresh.route.send(datagram);
      },
      (err: RelayError) => {
        giveUp = undefined;
        ended(err);
      },
    );
  }

  /** Holds a copy of `payload` for a route that opens, within the limits; false: it must be dropped. */
  private hold(route: LocalRoute, payload: Buffer): boolean {
    if (route.held.length >= MAX_HELD_DATAGRAMS || this.heldBytes + payload.length > this.maxHeldBytes) return false;
    if (route.held.length > 0 && route.heldBytes + payload.length > this.maxHeldBytes / HELD_SHARE) return false;
    route.held.push(Buffer.from(payload));
    route.heldBytes += payload.length;
    this.heldBytes += payload.length;
    return true;
  }

  /** Takes a route's held datagrams (they no longer count toward the limit). */
  private release(route: LocalRoute): Buffer[] {
    const held = route.held;
    route.held = [];
    this.heldBytes -= route.heldBytes;
    route.heldBytes = 0;
    return held;
  }

  /** Opens a relayed connection for `record` (sender.ts), given up by close() while it opens. */
  private openRelayed(record: ForwardedConnection, mode: ModeByte): SenderAttempt {
    const attempt = openSender(this.sender, record.id, record.portName, mode);
    this.attempts.add(attempt.giveUp);
    const done = () => this.attempts.delete(attempt.giveUp);
    attempt.accepted.then(done, done);
    return attempt;
  }
}

/** One UDP source address: its relayed connection once open, and the datagrams that wait for it. */
interface LocalRoute {
  record: ForwardedConnection;
  route?: DatagramRoute;
  held: Buffer[];
  /** Their bytes. */
  heldBytes: number;
}

/** Starts local listeners that forward their connections through the relay (see `LocalForward`). */
export function createLocalForward(options: LocalForwardOptions): LocalForward {
  return new LocalForward(options);
}

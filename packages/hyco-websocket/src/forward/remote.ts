/**
 * The remote side of forwarding (azbridge's `-T`, `RemoteForward`): a
 * relayed listener that accepts every sender, reads its preamble, chooses
 * the binding its port name names and connects it to that binding's
 * target: a host and port (TCP or UDP) or a Unix socket.
 *
 * The listener is a `relayedServer` (HybridConnectionsWebSocketServer): the
 * control channel reconnects, renews its token, keeps itself alive, goes
 * through the proxy, takes Entra ID credentials, and has a `listenerId`,
 * all as for any relayed server. Its accepted connections are handed to
 * forwarding's half-close connection (half-close.ts).
 *
 * The listener's handshake, as azbridge's: read `[1, 0, mode]` (else reply
 * `[0, 0, 0]` and close), the name; choose the binding (bindings.ts); on a
 * mismatch reply `[0, 0, 1]` or `[0, 0, 255]` and close; for an unknown name
 * close without a reply; else reply `[1, 0, mode]` and connect the target.
 * The reply goes out before the target is connected (as azbridge does):
 * the sender's first bytes travel while the connection is made, and wait
 * in the socket until it is. A target that refuses (or cannot be reached)
 * drops the relayed connection at once, so that the sender resets its
 * client; it is logged (`hyco-websocket:forward`) and reported in
 * `connectionClosed` with the port name (`ERR_HYCO_FORWARD_TARGET`).
 */
import { EventEmitter } from 'node:events';
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import createDebug from 'debug';
import type { connection as WebSocketConnection } from 'websocket';
import { RelayError } from '../errors';
import { printable } from '../protocol/printable';
import { createRelayListenUri } from '../protocol/uri';
import { HybridConnectionsWebSocketServer } from '../server';
import type { HybridConnectionsWebSocketServerOptions } from '../server';
import type { HybridConnectionsWebSocketRequest } from '../request';
import { checkUniquePortNames, chooseBinding, modeOf, resolveRemoteBinding } from './bindings';
import type { ResolvedBinding } from './bindings';
import { DatagramRoute } from './datagrams';
import { HalfCloseConnection, MAX_RECEIVED_MESSAGE } from './half-close';
import { PreambleReader, REPLY_VERSION_NOT_UNDERSTOOD, acceptedReply } from './preamble';
import { checkOptionsObject, resolveTarget, resolveTimings } from './options';
import type { ForwardTimings, RemoteForwardOptions } from './options';
import { ForwardCounters, ForwardedConnection } from './stats';
import type { ForwardConnectionEvents, ForwardStats } from './stats';
import { lingerThenReset, pumpStream, resetSocket } from './stream';

const debug = createDebug('hyco-websocket:forward');

/** Bytes a connection may carry in while its UDP target is being set up; more is a protocol error. */
const MAX_HELD_BYTES = 256 * 1024;

export interface RemoteForwardEvents extends ForwardConnectionEvents {
  /** The control channel is open: senders can connect. */
  online: [];
  /** The control channel is being reopened (attempt, delay in ms). */
  connecting: [attempt: number, delayMs: number];
  /** The listener went offline (it gave up, or was closed). */
  offline: [lastError: RelayError | undefined];
  /** A listener error (the relay refused the token, the hybrid connection does not exist...). Never crashes the process when nobody listens. */
  error: [error: RelayError];
  warning: [warning: RelayError];
  /** The forwarder has closed. */
  close: [];
}

function describeTarget(binding: ResolvedBinding): string {
  return binding.protocol === 'unix' ? binding.path : `${binding.host.includes(':') ? `[${binding.host}]` : binding.host}:${binding.port}`;
}

/** A relayed listener that forwards its senders to local targets (create with `createRemoteForward`). */
export class RemoteForward extends EventEmitter<RemoteForwardEvents> {
  /** The hybrid connection (relay name) listened on. */
  readonly path: string;
  /** The bindings, checked, with their port names. */
  readonly bindings: readonly ResolvedBinding[];
  /** The relayed listener underneath. */
  readonly server: HybridConnectionsWebSocketServer;
  private readonly timings: ForwardTimings;
  private readonly counters = new ForwardCounters();
  /** Connections still in their handshake. */
  private readonly handshakes = new Set<HalfCloseConnection>();
  private closing: Promise<void> | undefined;

  constructor(options: RemoteForwardOptions) {
    super();
    checkOptionsObject(options, 'createRemoteForward');
    const target = resolveTarget(options, true);
    this.path = target.path;
    this.timings = resolveTimings(options);
    const bindings = options.bindings.map((b, i) => resolveRemoteBinding(b, `bindings[${i}]`));
    checkUniquePortNames(bindings, 'createRemoteForward');
    this.bindings = bindings;
    const serverOptions: HybridConnectionsWebSocketServerOptions = {
      server: createRelayListenUri(target.namespace, target.path),
      token: target.token,
      // Our own keepalive (unsolicited pongs, half-close.ts); one datagram is one unfragmented message.
      keepalive: false,
      fragmentOutgoingMessages: false,
      maxReceivedFrameSize: MAX_RECEIVED_MESSAGE,
      maxReceivedMessageSize: MAX_RECEIVED_MESSAGE,
      closeTimeout: this.timings.closeTimeout,
      connectTimeout: this.timings.connectTimeout,
      rendezvousTimeout: this.timings.connectTimeout,
    };
    if (options.proxy !== undefined) serverOptions.proxy = options.proxy;
    if (options.tlsOptions) serverOptions.tlsOptions = options.tlsOptions;
    if (options.id !== undefined) serverOptions.id = options.id;
    if (options.reconnectBackoff !== undefined) serverOptions.reconnectBackoff = options.reconnectBackoff;
    if (options.controlChannelKeepalive !== undefined) serverOptions.controlChannelKeepalive = options.controlChannelKeepalive;
    if (options.controlChannelKeepaliveInterval !== undefined) serverOptions.controlChannelKeepaliveInterval = options.controlChannelKeepaliveInterval;
    this.server = new HybridConnectionsWebSocketServer(serverOptions);
    this.server.on('online', () => this.emit('online'));
    this.server.on('connecting', (attempt, delay) => this.emit('connecting', attempt, delay));
    this.server.on('offline', (error) => this.emit('offline', error));
    this.server.on('error', (error) => this.report('error', error));
    this.server.on('warning', (warning) => this.report('warning', warning));
    this.server.on('request', (request) => this.onRequest(request));
  }

  /** Whether the control channel is open. */
  get isOnline(): boolean {
    return this.server.isOnline;
  }

  /** The listener's tracking id (`sb-hc-id`): senders can be routed to it. */
  get listenerId(): string {
    return this.server.listenerId;
  }

  /** The last error the control channel met, if any. */
  get lastError(): RelayError | undefined {
    return this.server.lastError;
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
   * Ends every forwarded connection at once (targets reset, relayed
   * connections dropped: their senders reset too), then closes the
   * listener (senders waiting for it are answered 503). A connection
   * already ending cleanly both ways is given `closeTimeout` to finish, then
   * its target socket is reset. Resolves when all is closed.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const reason = new RelayError('ERR_HYCO_CLOSED', 'The forwarder is closing');
    for (const channel of [...this.handshakes]) channel.reset(reason);
    const allEnded = this.counters.endAll(reason);
    await Promise.all([this.server.close(), allEnded]);
    this.emit('close');
  }

  private report(event: 'error' | 'warning', error: RelayError): void {
    if (this.listenerCount(event) > 0) this.emit(event, error);
    else debug('%s (no listener): %s', event, error.message);
  }

  private onRequest(request: HybridConnectionsWebSocketRequest): void {
    if (this.closing) {
      request.reject(503, 'The forwarder is closing').catch(() => undefined);
      return;
    }
    // No subprotocol: azbridge's sender asks for none.
    request.accept(null, null).then(
      (connection) => this.onAccepted(connection, request),
      (err: RelayError) => debug('accepting %s failed: %s', request.id, err.message),
    );
  }

  private onAccepted(connection: WebSocketConnection, request: HybridConnectionsWebSocketRequest): void {
    const channel = new HalfCloseConnection(connection, { keepaliveInterval: this.timings.keepaliveInterval, closeTimeout: this.timings.closeTimeout });
    if (this.closing) {
      channel.reset(new RelayError('ERR_HYCO_CLOSED', 'The forwarder is closing'));
      return;
    }
    const id = printable(request.id);
    this.handshakes.add(channel);
    const reader = new PreambleReader();
    const stop = () => {
      clearTimeout(timer);
      this.handshakes.delete(channel);
      channel.off('data', onData);
      channel.off('end', onEnd);
    };
    /** Refuses the sender: an optional reply, then our close (a half-close, as azbridge's ShutdownAsync). */
    const refuse = (why: string, reply?: Buffer) => {
      stop();
      debug('connection %s refused: %s', id, why);
      if (reply) channel.sendMessage(reply);
      channel.shutdown(this.timings.closeTimeout);
    };
    const onData = (chunk: Buffer) => {
      const result = reader.push(chunk);
      if (result.kind === 'more') return;
      if (result.kind === 'unsupported') {
        refuse(`preamble version [${[...result.version].join(', ')}] not understood`, REPLY_VERSION_NOT_UNDERSTOOD);
        return;
      }
      if (result.kind === 'invalidName') {
        refuse(`the port name (${result.name.length} bytes) is not valid UTF-8`);
        return;
      }
      const choice = chooseBinding(this.bindings, result.portName, result.mode);
      const name = printable(result.portName);
      if (choice.kind === 'unknown') refuse(`no port name "${name}"`);
      else if (choice.kind === 'mismatch') refuse(`port name "${name}" is a ${choice.reply[2] === 1 ? 'UDP' : 'stream'} binding`, choice.reply);
      else {
        stop();
        channel.sendMessage(acceptedReply(modeOf(choice.binding)));
        this.forward(channel, choice.binding, request, result.rest);
      }
    };
    const onEnd = () => refuse('the sender ended before its preamble');
    channel.on('data', onData);
    channel.once('end', onEnd);
    channel.once('close', () => stop());
    const timer = setTimeout(() => {
      stop();
      channel.reset(new RelayError('ERR_HYCO_FORWARD_PROTOCOL', `No preamble within ${this.timings.handshakeTimeout} ms`));
    }, this.timings.handshakeTimeout);
  }

  /** Tracks a forwarded connection until `finished`; `end` cuts it at once. */
  private track(record: ForwardedConnection, end: (reason: RelayError) => void): (error: RelayError | undefined) => void {
    const finished = this.counters.track(record, end, (error) => this.emit('connectionClosed', record, error));
    this.emit('connection', record);
    return finished;
  }

  private forward(channel: HalfCloseConnection, binding: ResolvedBinding, request: HybridConnectionsWebSocketRequest, rest: Buffer): void {
    const record = new ForwardedConnection(request.id, binding.portName, binding.protocol, `${request.remoteAddress}:${request.remotePort}`, describeTarget(binding));
    const name = printable(binding.portName);
    const targetError = (err: NodeJS.ErrnoException) => {
      const error = new RelayError('ERR_HYCO_FORWARD_TARGET', `Port name "${name}": connecting to ${printable(record.target)} failed: ${err.code ?? err.message}`, { cause: err });
      debug('%s', error.message);
      return error;
    };
    if (binding.protocol === 'udp') {
      this.forwardDatagrams(channel, binding, record, rest, targetError);
      return;
    }
    const socket = binding.protocol === 'unix' ? net.connect({ path: binding.path, allowHalfOpen: true }) : net.connect({ host: binding.host, port: binding.port, allowHalfOpen: true, noDelay: true });
    let connected = false;
    let refused: RelayError | undefined;
    socket.once('connect', () => {
      connected = true;
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (!connected) refused = targetError(err);
    });
    /** Why close() cut a connection that was finishing cleanly. */
    let cut: RelayError | undefined;
    const finished = this.track(record, (reason) => {
      if (channel.finishing) {
        // Both directions have ended: it may finish cleanly, but not wait on a target that stopped reading.
        lingerThenReset(socket, this.timings.closeTimeout, () => {
          cut = new RelayError('ERR_HYCO_CLOSED', `The forwarder closed: the target had not read the end of the data within ${this.timings.closeTimeout} ms`, { cause: reason });
        });
        return;
      }
      channel.reset(reason);
      resetSocket(socket);
    });
    pumpStream(channel, socket, {
      socketName: `the target ${describeTarget(binding)}`,
      initial: rest,
      count: (direction, n) => this.counters.bytes(record, direction, n),
      done: (error) => finished(refused ?? error ?? cut),
    });
  }

  private forwardDatagrams(
    channel: HalfCloseConnection,
    binding: { host: string; port: number },
    record: ForwardedConnection,
    rest: Buffer,
    targetError: (err: NodeJS.ErrnoException) => RelayError,
  ): void {
    // Until the UDP socket is connected, what arrives is held (bounded) and handed to the route after.
    const held: Buffer[] = rest.length ? [rest] : [];
    let heldBytes = rest.length;
    const hold = (chunk: Buffer) => {
      heldBytes += chunk.length;
      if (heldBytes > MAX_HELD_BYTES) channel.reset(new RelayError('ERR_HYCO_FORWARD_PROTOCOL', 'Too many datagrams before the route was ready'));
      else held.push(chunk);
    };
    let socket: dgram.Socket | undefined;
    let route: DatagramRoute | undefined;
    let failure: RelayError | undefined;
    let gone = false;
    const finished = this.track(record, (reason) => {
      if (route) route.reset(reason);
      else channel.reset(reason);
    });
    const done = (error: RelayError | undefined) => {
      try {
        socket?.close();
      } catch {
        // Closed already.
      }
      finished(failure ?? error);
    };
    // Before the route exists, the sender may end it (answered with our close) or the connection may go.
    const earlyEnd = () => channel.shutdown(this.timings.closeTimeout);
    const earlyClose = (error: RelayError | undefined) => {
      gone = true;
      done(error);
    };
    channel.on('data', hold);
    channel.once('end', earlyEnd);
    channel.once('close', earlyClose);
    const fail = (err: NodeJS.ErrnoException) => {
      failure ??= targetError(err);
      channel.reset(failure);
    };
    lookup(binding.host).then(({ address, family }) => {
      if (gone) return;
      const udp = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
      socket = udp;
      udp.on('error', fail);
      udp.connect(binding.port, address, () => {
        if (gone) return;
        channel.off('data', hold);
        channel.off('end', earlyEnd);
        channel.off('close', earlyClose);
        route = new DatagramRoute(
          channel,
          {
            idleTimeout: this.timings.udpIdleTimeout,
            closeTimeout: this.timings.closeTimeout,
            deliver: (payload) => udp.send(payload, (err) => err && debug('UDP send to %s failed: %s', record.target, err.message)),
            count: (event, n) => this.counters.datagram(record, event, n),
            done,
          },
          held.length ? Buffer.concat(held) : undefined,
        );
        udp.on('message', (payload: Buffer) => route?.send(payload));
        if (channel.peerEnded) route.end('the sender ended the route');
      });
    }, fail);
  }
}

/** Starts a relayed listener that forwards its senders to local targets (see `RemoteForward`). */
export function createRemoteForward(options: RemoteForwardOptions): RemoteForward {
  return new RemoteForward(options);
}

/**
 * The byte pump of stream mode (TCP, Unix sockets): joins a local socket
 * and a relayed connection, both ways, with backpressure and half-close.
 *
 * - Bytes the socket reads go out as binary messages of at most 64 KiB
 *   (never empty); messages from the relay are written to the socket. A
 *   side that cannot keep up pauses the other.
 * - The socket's peer ends its writing (FIN): our direction of the relayed
 *   connection ends (a close frame, 1000 "Shutdown") and the other
 *   direction goes on. The relay's close frame ends the socket's writing
 *   (`socket.end()`, a FIN), and the socket goes on reading. The joint ends
 *   when both directions have.
 * - Errors reset: a socket error (or a socket gone before both directions
 *   ended) drops the relayed connection without a close frame, so the far
 *   side resets too; a relayed connection that ends abnormally resets the
 *   socket (an RST, not a FIN: the data may be cut, and the socket's peer
 *   must not take it as complete).
 *
 * Sockets are opened with `allowHalfOpen: true` by the caller, or Node
 * would end the writing side as soon as the reading side ends.
 */
import type { Socket } from 'node:net';
import createDebug from 'debug';
import { RelayError } from '../errors';
import type { HalfCloseConnection } from './half-close';

const debug = createDebug('hyco-websocket:forward');

export interface StreamPumpOptions {
  /** Who the socket is connected to, for messages ("the local client", "the target"). */
  socketName: string;
  /** Bytes that came with the preamble or the reply: written to the socket first. */
  initial?: Buffer;
  /** Counts bytes as they pass. */
  count(direction: 'toRelay' | 'fromRelay', bytes: number): void;
  /** Called once, when both the socket and the relayed connection are closed: `error` unless all ended cleanly. */
  done(error: RelayError | undefined): void;
}

/** Resets a socket: an RST for TCP; a pipe (a Unix socket), which has none, is destroyed. */
export function resetSocket(socket: Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

/**
 * Gives a socket whose data is done `ms` to close by itself (its last bytes
 * to reach a peer that reads them), then resets it, calling `onCut` first.
 */
export function lingerThenReset(socket: Socket, ms: number, onCut: () => void): void {
  if (socket.destroyed) return;
  const timer = setTimeout(() => {
    if (socket.destroyed) return;
    onCut();
    resetSocket(socket);
  }, ms);
  socket.once('close', () => clearTimeout(timer));
}

/** Joins `socket` and `channel` until both directions have ended, or one fails. */
export function pumpStream(channel: HalfCloseConnection, socket: Socket, options: StreamPumpOptions): void {
  let failure: RelayError | undefined;
  let socketClosed = socket.destroyed;
  let channelClosed = false;
  let reported = false;
  const report = () => {
    if (reported || !socketClosed || !channelClosed) return;
    reported = true;
    options.done(failure);
  };

  // Relay to socket.
  const toSocket = (chunk: Buffer) => {
    options.count('fromRelay', chunk.length);
    if (!socket.write(chunk)) channel.pause();
  };
  if (options.initial && options.initial.length > 0) toSocket(options.initial);
  channel.on('data', toSocket);
  socket.on('drain', () => channel.resume());
  channel.on('end', () => {
    if (!socket.destroyed) socket.end();
  });

  // Socket to relay.
  socket.on('data', (chunk: Buffer) => {
    options.count('toRelay', chunk.length);
    if (!channel.write(chunk)) socket.pause();
  });
  channel.on('drain', () => socket.resume());
  socket.on('end', () => channel.end());

  // Failures, either side.
  socket.on('error', (err: NodeJS.ErrnoException) => {
    failure ??= new RelayError('ERR_HYCO_CONNECTION', `${options.socketName}: ${err.code ?? err.message}`, { cause: err });
    debug('%s', failure.message);
    channel.reset(failure);
  });
  socket.on('close', () => {
    socketClosed = true;
    if (!(channel.ended && channel.peerEnded)) {
      failure ??= new RelayError('ERR_HYCO_CONNECTION', `${options.socketName} closed before both directions had ended`);
      channel.reset(failure);
    }
    report();
  });
  channel.on('close', (error) => {
    channelClosed = true;
    if (error) {
      failure ??= error;
      resetSocket(socket);
    }
    report();
  });
  if (socketClosed) channel.reset(new RelayError('ERR_HYCO_CONNECTION', `${options.socketName} closed before the connection was forwarded`));
  socket.resume();
}

/**
 * Opening a forwarded connection as a sender, as azbridge's sender does:
 * a relayed connection (a `relayedClient`, HybridConnectionsWebSocketClient,
 * of its own: tokens, proxy, TLS and the connect timeout are the sender's),
 * the preamble in two messages, then the 3-byte reply. Exactly `[1, 0,
 * mode]` lets the data through; anything else, or a close before it (an
 * unknown port name), refuses the connection (`ERR_HYCO_FORWARD_REFUSED`).
 */
import type { connection as WebSocketConnection } from 'websocket';
import { HybridConnectionsWebSocketClient } from '../client';
import type { HybridConnectionsWebSocketClientOptions } from '../client';
import { RelayArgumentError, RelayError } from '../errors';
import { printable } from '../protocol/printable';
import { createRelaySendUri } from '../protocol/uri';
import { HalfCloseConnection, MAX_RECEIVED_MESSAGE } from './half-close';
import type { ForwardOptions, ForwardTimings, RelayTarget } from './options';
import { ReplyReader, describeReply, encodePreamble } from './preamble';
import type { ModeByte } from './preamble';

/** What every forwarded connection of one local forwarder opens with. */
export interface SenderSettings {
  target: RelayTarget;
  timings: ForwardTimings;
  /** The relayed client's options. */
  client: HybridConnectionsWebSocketClientOptions;
}

/** The sender side of a relayed connection, once the remote forwarder accepted it. */
export interface Accepted {
  channel: HalfCloseConnection;
  /** Bytes that came after the reply: the start of the data. */
  rest: Buffer;
}

/** A connection being opened: `giveUp` abandons it (`accepted` then rejects with `ERR_HYCO_ABORTED`). */
export interface SenderAttempt {
  accepted: Promise<Accepted>;
  giveUp: () => void;
}

/** The settings of a local forwarder's senders. */
export function senderSettings(options: ForwardOptions, target: RelayTarget, timings: ForwardTimings): SenderSettings {
  const client = {
    // Our own keepalive (unsolicited pongs, half-close.ts); one datagram is one unfragmented message.
    keepalive: false,
    fragmentOutgoingMessages: false,
    maxReceivedFrameSize: MAX_RECEIVED_MESSAGE,
    maxReceivedMessageSize: MAX_RECEIVED_MESSAGE,
    closeTimeout: timings.closeTimeout,
    disableNagleAlgorithm: true,
    connectTimeout: timings.connectTimeout,
  } as HybridConnectionsWebSocketClientOptions;
  if (target.token !== undefined) client.token = target.token;
  if (options.proxy !== undefined) client.proxy = options.proxy;
  if (options.tlsOptions) client.tlsOptions = options.tlsOptions;
  return { target, timings, client };
}

/** Opens a relayed connection with tracking id `id` and asks the remote forwarder for `portName` in `mode`. */
export function openSender(settings: SenderSettings, id: string, portName: string, mode: ModeByte): SenderAttempt {
  let giveUp: () => void = () => undefined;
  const accepted = new Promise<Accepted>((resolve, reject) => {
    let settled = false;
    let channel: HalfCloseConnection | undefined;
    let timer: NodeJS.Timeout | undefined;
    const client = new HybridConnectionsWebSocketClient(settings.client, settings.target.path);
    const settle = (outcome: Accepted | RelayError) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      if (outcome instanceof RelayError) reject(outcome);
      else resolve(outcome);
    };
    giveUp = () => {
      if (settled) return;
      const reason = new RelayError('ERR_HYCO_ABORTED', 'The forwarded connection was given up before the remote forwarder accepted it');
      if (channel) channel.reset(reason);
      else client.abort();
      settle(reason);
    };
    client.once('connectFailed', (err: Error) => {
      settle(err instanceof RelayError ? err : new RelayError('ERR_HYCO_CONNECTION', `Connecting through the relay failed: ${err.message}`, { cause: err }));
    });
    // Synchronous with websocket's own 'connect': no message can come before the handshake listens.
    client.once('connect', (connection: WebSocketConnection) => {
      const opened = new HalfCloseConnection(connection, { keepaliveInterval: settings.timings.keepaliveInterval, closeTimeout: settings.timings.closeTimeout });
      channel = opened;
      if (settled) {
        opened.reset(new RelayError('ERR_HYCO_ABORTED', 'Given up'));
        return;
      }
      timer = handshake(opened, settings.timings, portName, mode, settle);
    });
    try {
      client.connect(createRelaySendUri(settings.target.namespace, settings.target.path, null, id));
    } catch (err) {
      settle(err instanceof RelayError ? err : new RelayArgumentError((err as Error).message));
    }
  });
  return { accepted, giveUp: () => giveUp() };
}

/** Sends the preamble and waits for the reply; returns the timer that bounds the wait. */
function handshake(channel: HalfCloseConnection, timings: ForwardTimings, portName: string, mode: ModeByte, settle: (outcome: Accepted | RelayError) => void): NodeJS.Timeout {
  const reader = new ReplyReader(mode);
  const name = printable(portName);
  const refuse = (error: RelayError, graceful: boolean) => {
    stop();
    if (graceful) channel.shutdown(timings.closeTimeout);
    else channel.reset(error);
    settle(error);
  };
  const onData = (chunk: Buffer) => {
    const result = reader.push(chunk);
    if (result.kind === 'more') return;
    if (!result.accepted) {
      refuse(new RelayError('ERR_HYCO_FORWARD_REFUSED', `The remote forwarder refused port name "${name}": ${describeReply(result.reply)}`), true);
      return;
    }
    stop();
    settle({ channel, rest: result.rest });
  };
  const onEnd = () => refuse(new RelayError('ERR_HYCO_FORWARD_REFUSED', `The remote forwarder closed the connection without a reply: it has no port name "${name}"`), true);
  const onClose = (error: RelayError | undefined) =>
    refuse(new RelayError('ERR_HYCO_FORWARD_REFUSED', `The relayed connection ended before the remote forwarder replied${error ? `: ${error.message}` : ''}`, { cause: error }), false);
  const stop = () => {
    channel.off('data', onData);
    channel.off('end', onEnd);
    channel.off('close', onClose);
  };
  channel.on('data', onData);
  channel.once('end', onEnd);
  channel.once('close', onClose);
  const timer = setTimeout(() => refuse(new RelayError('ERR_HYCO_FORWARD_REFUSED', `The remote forwarder did not reply within ${timings.handshakeTimeout} ms`), false), timings.handshakeTimeout);
  const [header, nameBytes] = encodePreamble(mode, portName);
  // As azbridge: the header and the name, two messages.
  channel.sendMessage(header);
  channel.sendMessage(nameBytes);
  return timer;
}

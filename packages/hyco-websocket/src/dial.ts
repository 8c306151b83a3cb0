/**
 * Opening a WebSocket to the relay (the control channel, an accept or
 * reject rendezvous, an HTTP rendezvous), through a proxy when one
 * applies, bounded by a timeout, with one outcome reported once:
 * connected, answered with a status, failed (the proxy's failure told
 * apart), timed out or aborted. Nothing of a given-up attempt lingers: its
 * request is aborted and its socket to the proxy destroyed.
 */
import createDebug from 'debug';
import { client as WebSocketClient } from 'websocket';
import type { connection as WebSocketConnection, IClientConfig } from 'websocket';
import { RelayError } from './errors';
import { ProxyTunnel, proxyFor } from './proxy';
import type { ProxyOption } from './proxy';

const debug = createDebug('hyco-websocket:dial');

export interface DialOptions {
  clientConfig: IClientConfig;
  proxy: ProxyOption;
  protocols?: string[];
  headers?: Record<string, string | string[]>;
  timeoutMs: number;
}

export type DialResult =
  | { kind: 'connect'; connection: WebSocketConnection }
  | { kind: 'status'; status: number; statusText: string | undefined }
  /** The proxy failed or refused (`ERR_HYCO_PROXY`, `ERR_HYCO_PROXY_AUTH`). */
  | { kind: 'proxy'; error: RelayError }
  /** The connection failed beyond the proxy, or without one. */
  | { kind: 'failed'; error: Error }
  | { kind: 'timeout' }
  | { kind: 'aborted' };

export interface Dial {
  readonly result: Promise<DialResult>;
  /** Gives the attempt up (it settles as `aborted` unless it already settled). */
  abort(): void;
}

/**
 * The peer may speak first: a sender's first frames can arrive with the
 * rendezvous' 101 (and the relay's first control message with the control
 * channel's), and `websocket`'s client hands them to the connection right
 * after its `connect` event, before whoever awaits the outcome has attached
 * handlers. Those bytes, and the socket, are held until the next turn of
 * the event loop, so that nothing is lost.
 */
function holdFirstData(client: InstanceType<typeof WebSocketClient>, connection: WebSocketConnection): void {
  const internals = client as unknown as { firstDataChunk?: Buffer | null };
  const early = internals.firstDataChunk;
  internals.firstDataChunk = Buffer.alloc(0);
  connection.socket.pause();
  setImmediate(() => {
    if (early && early.length > 0 && connection.connected) {
      (connection as unknown as { handleSocketData(data: Buffer): void }).handleSocketData(early);
    }
    connection.socket.resume();
  });
}

/** Opens a WebSocket to `uri` on the relay. */
export function dial(uri: string, options: DialOptions): Dial {
  let settle: (result: DialResult) => boolean = () => false;
  const result = new Promise<DialResult>((resolve) => {
    let settled = false;
    settle = (outcome) => {
      if (settled) return false;
      settled = true;
      resolve(outcome);
      return true;
    };
  });
  let proxy;
  try {
    proxy = proxyFor(uri, options.proxy);
  } catch (err) {
    settle({ kind: 'proxy', error: err as RelayError });
    return { result, abort: () => undefined };
  }
  // websocket's client takes `tlsOptions` out of the config object it is given: each client gets a copy.
  const client = new WebSocketClient({ ...options.clientConfig });
  // Destroys the socket to the proxy when the attempt is given up (a proxy may never answer CONNECT).
  const controller = new AbortController();
  const tunnel = proxy ? new ProxyTunnel(proxy, controller.signal) : undefined;
  const finish = (outcome: DialResult): boolean => {
    if (!settle(outcome)) return false;
    clearTimeout(timer);
    if (outcome.kind !== 'connect') {
      client.abort();
      controller.abort();
    }
    return true;
  };
  const timer = setTimeout(() => {
    // A proxy that took the connection and never answered CONNECT is the proxy's failure.
    if (tunnel && !tunnel.answer && !tunnel.failure) {
      finish({ kind: 'proxy', error: new RelayError('ERR_HYCO_PROXY', `The proxy ${tunnel.setting.display} did not answer within ${options.timeoutMs} ms`) });
    } else finish({ kind: 'timeout' });
  }, options.timeoutMs);
  client.on('connect', (connection: WebSocketConnection) => {
    holdFirstData(client, connection);
    if (!finish({ kind: 'connect', connection })) connection.drop();
  });
  client.on('httpResponse', (response: { statusCode?: number; statusMessage?: string; resume(): void }) => {
    response.resume();
    const problem = tunnel?.problem(uri);
    finish(problem ? { kind: 'proxy', error: problem } : { kind: 'status', status: response.statusCode ?? 0, statusText: response.statusMessage });
  });
  client.on('connectFailed', (err: Error) => {
    const problem = tunnel?.problem(uri);
    finish(problem ? { kind: 'proxy', error: problem } : { kind: 'failed', error: err });
  });
  if (tunnel) debug('connecting through the proxy %s (from %s)', tunnel.setting.display, tunnel.setting.source);
  client.connect(uri, options.protocols, undefined, options.headers, tunnel ? { agent: tunnel } : undefined);
  return { result, abort: () => void finish({ kind: 'aborted' }) };
}

/**
 * The sender side: `HybridConnectionsWebSocketClient` (exported as
 * `relayedClient`), `websocket`'s client that connects through the relay
 * with a token source of its own (every one the listener takes), a proxy,
 * and a choice of listeners; its `connectFailed` gets a `RelayError` saying
 * what the relay (or the listener, or the proxy) answered. And
 * `relayedConnect`, the same as a Promise of the connection.
 */
import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders, RequestOptions } from 'node:http';
import createDebug from 'debug';
import { client as WebSocketClient } from 'websocket';
import type { connection as WebSocketConnection, IClientConfig } from 'websocket';
import { statusError } from './control-channel';
import { holdFirstData } from './dial';
import { useFastDataPath } from './data-path';
import { RelayArgumentError, RelayError, optionalAbortSignal, readOptions } from './errors';
import { connectionStringTarget } from './identity';
import { AUTH_HEADER } from './protocol/constants';
import { createRelaySendUri, decodeComponent } from './protocol/uri';
import { ProxyTunnel, checkProxyOption, proxyFor } from './proxy';
import type { ProxyOption } from './proxy';
import { TokenProvider } from './token-provider';
import { MAX_TIMER_MS } from './timers';
import type { TokenSource } from './token-provider';

const debug = createDebug('hyco-websocket:client');

/** The headers a sender chooses its listeners with (PROTOCOL.md, "Choosing a listener"). */
export const ALLOWED_LISTENERS_HEADER = 'Microsoft-Relay-AllowedListeners';
export const DISALLOWED_LISTENERS_HEADER = 'Microsoft-Relay-DisallowedListeners';

/** What a relayed client takes besides `websocket`'s client configuration. */
export interface RelayedClientSettings {
  /**
   * Where tokens come from: a SAS token or Entra ID JWT, a function
   * returning one, or a credential (`TokenCredential`,
   * `AzureNamedKeyCredential`, `AzureSASCredential`). None: anonymous
   * (for a hybrid connection that does not require client authorization).
   */
  token?: TokenSource;
  /** The Azure SDK's name for the same option. */
  credential?: TokenSource;
  /** An HTTP proxy (`http://[user:password@]host:port`), or false for none. Default: the environment's (see README). */
  proxy?: string | false;
  /** Only these listeners (tracking ids, `server.listenerId`) may take the connection. */
  allowedListeners?: string[];
  /** These listeners may not. */
  disallowedListeners?: string[];
  /** Give up on getting a token after this long, ms. Default 30000. */
  tokenTimeout?: number;
  /**
   * Give up on the handshake (relay, listener and proxy included) after
   * this long, ms: `connectFailed` with `ERR_HYCO_CONNECTION`. Default 70000
   * (the .NET client's operation timeout; the relay itself answers 504
   * when no listener decides within its own deadline).
   */
  connectTimeout?: number;
}

export type HybridConnectionsWebSocketClientOptions = IClientConfig & RelayedClientSettings;

const SETTINGS = ['token', 'credential', 'proxy', 'allowedListeners', 'disallowedListeners', 'tokenTimeout', 'connectTimeout'] as const;

/** Listener ids for the routing headers, checked. */
export function checkIds(value: unknown, name: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((id) => typeof id === 'string' && id.trim() !== '' && !id.includes(','))) {
    throw new RelayArgumentError(`The "${name}" option must be an array of listener ids (non-empty strings without commas)`);
  }
  return value.map((id: string) => id.trim());
}

/**
 * The address a sender's tokens are minted for (an `AzureNamedKeyCredential`):
 * the first segment of the path, so that a token covers the hybrid
 * connection whatever suffix the sender adds (`hyco/rooms/7`).
 */
function tokenResource(address: URL, entityPath: string | undefined): string {
  const path = address.pathname.replace(/^\/\$hc\//i, '/');
  const entity = entityPath ?? decodeComponent(path.split('/').filter(Boolean)[0] ?? '');
  return `http://${address.hostname}/${entity}`;
}

/** A `RelayError` for a sender the relay (or the listener) answered with `status`. */
export function senderStatusError(status: number, statusText: string | undefined): RelayError {
  if (status === 404 && /EndpointNotFound|no listener|listeners? (is |are )?(connected|online)|None of the connected listeners meet/i.test(statusText ?? '')) {
    return statusError(status, statusText, 'Connecting through the relay (no listener online)', 'ERR_HYCO_NO_LISTENER');
  }
  return statusError(status, statusText, 'Connecting through the relay');
}

/**
 * `websocket`'s client, connecting through Azure Relay: `connect(address,
 * protocols?, origin?, headers?, extraRequestOptions?)` with a send URI
 * (`createRelaySendUri`) adds the token and the listener choice itself.
 * Same events; `connectFailed` gets a `RelayError` (`code`, `statusCode`,
 * `trackingId`).
 */
export class HybridConnectionsWebSocketClient extends WebSocketClient {
  private readonly tokenSource: TokenSource | undefined;
  private readonly proxyOption: ProxyOption;
  private readonly allowedListeners: string[] | undefined;
  private readonly disallowedListeners: string[] | undefined;
  private readonly tokenTimeout: number;
  private readonly connectTimeout: number;
  private readonly entityPath: string | undefined;
  /** The attempt under way, until it connects, fails or is aborted. */
  private attempt: Attempt | undefined;

  constructor(raw: HybridConnectionsWebSocketClientOptions = {}, entityPath?: string) {
    if (typeof raw !== 'object' || raw === null) throw new RelayArgumentError('The options argument must be an object');
    const options = readOptions(raw);
    const config: Record<string, unknown> = { ...options };
    for (const name of SETTINGS) delete config[name];
    super(config);
    const given = (v: unknown) => v !== undefined && v !== null;
    if (given(options.token) && given(options.credential)) throw new RelayArgumentError('Give either the "token" option or the "credential" option, not both');
    this.tokenSource = given(options.token) ? options.token : given(options.credential) ? options.credential : undefined;
    this.entityPath = entityPath;
    // Checked now (a bad source is a TypeError here, not a failed connect later).
    if (this.tokenSource !== undefined) TokenProvider.check(this.tokenSource);
    this.proxyOption = checkProxyOption(options.proxy);
    this.allowedListeners = checkIds(options.allowedListeners, 'allowedListeners');
    this.disallowedListeners = checkIds(options.disallowedListeners, 'disallowedListeners');
    const timeout = options.tokenTimeout ?? 30_000;
    if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0) throw new RelayArgumentError('The "tokenTimeout" option must be a positive number');
    this.tokenTimeout = timeout;
    const connectTimeout = options.connectTimeout ?? 70_000;
    if (typeof connectTimeout !== 'number' || !Number.isFinite(connectTimeout) || connectTimeout <= 0 || connectTimeout > MAX_TIMER_MS) {
      throw new RelayArgumentError(`The "connectTimeout" option must be a positive number of milliseconds, at most ${MAX_TIMER_MS}`);
    }
    this.connectTimeout = connectTimeout;
  }

  /**
   * A client for the hybrid connection a connection string names
   * (`EntityPath`, or `options.path`), with its key (SAS tokens minted and
   * renewed per connection), its `SharedAccessSignature`, or its managed
   * identity. `client.address` is the send URI to connect to.
   */
  static fromConnectionString(connectionString: string, options: HybridConnectionsWebSocketClientOptions & { path?: string } = {}): HybridConnectionsWebSocketClient & { address: string } {
    const read = readOptions(options);
    const target = connectionStringTarget(connectionString, read);
    const rest = { ...read };
    delete rest.path;
    const client = new HybridConnectionsWebSocketClient({ ...rest, ...(target.token === undefined ? {} : { token: target.token }) }, target.path);
    return Object.assign(client, { address: createRelaySendUri(target.address, target.path) });
  }

  override connect(address: string, protocols?: string | string[], origin?: string, headers?: OutgoingHttpHeaders, extraRequestOptions?: RequestOptions): void {
    const url = sendAddress(address);
    const attempt: Attempt = { controller: new AbortController(), address: url.href };
    clearTimeout(this.attempt?.timer);
    this.attempt = attempt;
    // The whole attempt is bounded: a relay (or proxy) that takes the connection and never answers cannot hold it.
    attempt.timer = setTimeout(() => {
      if (this.attempt !== attempt) return;
      this.emit('connectFailed', new RelayError('ERR_HYCO_CONNECTION', `Connecting through the relay did not complete within ${this.connectTimeout} ms`));
      WebSocketClient.prototype.abort.call(this);
    }, this.connectTimeout);
    this.start(attempt, url, protocols, origin, headers, extraRequestOptions).catch((err: unknown) => {
      // Anything thrown on the way (a header Node refuses, say) fails this attempt; it never escapes as an unhandled rejection.
      if (this.attempt === attempt) this.emit('connectFailed', err instanceof Error ? err : new Error(String(err)));
    });
  }

  private async start(
    attempt: Attempt,
    url: URL,
    protocols: string | string[] | undefined,
    origin: string | undefined,
    headers: OutgoingHttpHeaders | undefined,
    extraRequestOptions: RequestOptions | undefined,
  ): Promise<void> {
    const current = () => this.attempt === attempt;
    const all: OutgoingHttpHeaders = { ...(headers ?? {}) };
    const has = (name: string) => Object.keys(all).some((k) => k.toLowerCase() === name.toLowerCase());
    if (this.tokenSource !== undefined && !has(AUTH_HEADER)) {
      try {
        const provider = new TokenProvider(this.tokenSource, tokenResource(url, this.entityPath));
        all[AUTH_HEADER] = (await provider.get(this.tokenTimeout, attempt.controller.signal)).token;
      } catch (err) {
        if (current()) this.emit('connectFailed', err);
        return;
      }
    }
    if (!current()) return;
    if (this.allowedListeners && !has(ALLOWED_LISTENERS_HEADER)) all[ALLOWED_LISTENERS_HEADER] = this.allowedListeners.join(',');
    if (this.disallowedListeners && !has(DISALLOWED_LISTENERS_HEADER)) all[DISALLOWED_LISTENERS_HEADER] = this.disallowedListeners.join(',');
    let extra = extraRequestOptions;
    try {
      const proxy = extraRequestOptions?.agent === undefined ? proxyFor(url.href, this.proxyOption) : undefined;
      if (proxy) {
        attempt.tunnel = new ProxyTunnel(proxy, attempt.controller.signal);
        extra = { ...(extraRequestOptions ?? {}), agent: attempt.tunnel };
        debug('connecting through the proxy %s', proxy.display);
      }
    } catch (err) {
      this.emit('connectFailed', err);
      return;
    }
    super.connect(url.href, protocols, origin, all, extra);
    // Keep the answer that refuses the handshake (it is consumed before `connectFailed`): its status and text make the error.
    const req = (this as unknown as { _req?: ClientRequest | null })._req;
    req?.prependListener('response', (response: IncomingMessage) => {
      attempt.response = response;
    });
  }

  /** Cancels the attempt under way (its token fetch, proxy tunnel and handshake): neither `connect` nor `connectFailed` follows. */
  override abort(): void {
    const attempt = this.attempt;
    this.attempt = undefined;
    clearTimeout(attempt?.timer);
    attempt?.controller.abort();
    super.abort();
  }

  // `connectFailed` always carries a RelayError saying who refused and how; an aborted attempt reports nothing.
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event !== 'connectFailed' && event !== 'connect') return super.emit(event, ...args);
    const attempt = this.attempt;
    if (!attempt) {
      // Aborted (or already settled): whatever arrives now is not reported, and a late connection is closed.
      if (event === 'connect') (args[0] as WebSocketConnection | undefined)?.drop();
      return false;
    }
    this.attempt = undefined;
    clearTimeout(attempt.timer);
    if (event === 'connect' && args[0]) {
      const connection = args[0] as WebSocketConnection;
      // The listener's first messages can come with the 101: held for a turn, so that whoever awaits
      // relayedConnect has attached its handlers; then the faster data path (src/data-path.ts).
      holdFirstData(this, connection);
      useFastDataPath(connection);
    }
    if (event === 'connectFailed') {
      if (args[0] instanceof Error && !(args[0] instanceof RelayError) && !(args[0] instanceof RelayArgumentError)) args[0] = explain(args[0], attempt);
      attempt.controller.abort();
    }
    return super.emit(event, ...args);
  }
}

/** One connect call: its cancellation, proxy tunnel, and the answer that refused it. */
interface Attempt {
  controller: AbortController;
  address: string;
  tunnel?: ProxyTunnel;
  /** Ends the attempt after connectTimeout. */
  timer?: NodeJS.Timeout;
  response?: IncomingMessage;
}

function explain(err: Error, attempt: Attempt): RelayError {
  const fromProxy = attempt.tunnel?.problem(attempt.address);
  if (fromProxy) return fromProxy;
  const response = attempt.response;
  if (response && response.statusCode !== undefined && response.statusCode !== 101) return senderStatusError(response.statusCode, response.statusMessage);
  if (/^(Server did not|Expected|Sec-WebSocket-Accept)/.test(err.message)) {
    return new RelayError('ERR_HYCO_HANDSHAKE', `The relay's handshake answer was not valid: ${err.message}`, { cause: err });
  }
  return new RelayError('ERR_HYCO_CONNECTION', `Connecting through the relay failed: ${err.message.split('\n')[0]}`, { cause: err });
}

/** A send URI, checked, with `sb-hc-action=connect` added when missing. */
function sendAddress(address: unknown): URL {
  if (typeof address !== 'string' || address === '') throw new RelayArgumentError('The "address" argument must be a send URI (createRelaySendUri)');
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new RelayArgumentError('The "address" argument is not a valid URI (use createRelaySendUri)');
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new RelayArgumentError('The "address" argument must be a ws:// or wss:// send URI (createRelaySendUri)');
  if (!/^\/\$hc\/./i.test(url.pathname)) throw new RelayArgumentError('The "address" argument must be a relay address (/$hc/{path}); use createRelaySendUri');
  const action = url.searchParams.get('sb-hc-action');
  if (action === null) return new URL(`${address}${url.search ? '&' : '?'}sb-hc-action=connect`);
  if (action !== 'connect') throw new RelayArgumentError('The "address" argument must be a send URI (sb-hc-action=connect), not a listen or accept address');
  return url;
}

/** What `relayedConnect` takes: the client's options, and the connect call's. */
export interface RelayedConnectOptions extends HybridConnectionsWebSocketClientOptions {
  protocols?: string | string[];
  origin?: string;
  headers?: OutgoingHttpHeaders;
  extraRequestOptions?: RequestOptions;
  /** Cancels the attempt; the Promise rejects with `ERR_HYCO_ABORTED`, and nothing is left open. */
  abortSignal?: AbortSignal;
}

/** Connects through the relay; resolves with the connection, or rejects with a `RelayError`. */
export function relayedConnect(address: string, given: RelayedConnectOptions = {}): Promise<WebSocketConnection> {
  let options: RelayedConnectOptions;
  try {
    options = readOptions(given);
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
  const { protocols, origin, headers, extraRequestOptions, abortSignal: signalOption, ...clientOptions } = options;
  let abortSignal: AbortSignal | undefined;
  try {
    abortSignal = optionalAbortSignal(signalOption, 'abortSignal');
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
  const aborted = () => new RelayError('ERR_HYCO_ABORTED', 'The connection attempt was aborted', { cause: abortSignal?.reason });
  if (abortSignal?.aborted) return Promise.reject(aborted());
  let client: HybridConnectionsWebSocketClient;
  try {
    client = new HybridConnectionsWebSocketClient(clientOptions);
  } catch (err) {
    // A Promise-returning function rejects; it does not throw.
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
  return new Promise((resolve, reject) => {
    let settled = false;
    const onAbort = () => {
      if (settled) return;
      settled = true;
      client.abort();
      reject(aborted());
    };
    abortSignal?.addEventListener('abort', onAbort, { once: true });
    client.once('connect', (connection: WebSocketConnection) => {
      abortSignal?.removeEventListener('abort', onAbort);
      if (settled) {
        // Aborted while the handshake completed: nothing is left open.
        connection.drop();
        return;
      }
      settled = true;
      resolve(connection);
    });
    client.once('connectFailed', (err: Error) => {
      abortSignal?.removeEventListener('abort', onAbort);
      if (settled) return;
      settled = true;
      reject(err);
    });
    try {
      client.connect(address, protocols, origin, headers, extraRequestOptions);
    } catch (err) {
      settled = true;
      abortSignal?.removeEventListener('abort', onAbort);
      reject(err instanceof Error ? err : new Error(String(err)));
    }
  });
}

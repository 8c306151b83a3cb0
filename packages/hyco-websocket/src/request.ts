/**
 * HybridConnectionsWebSocketRequest: a sender waiting at the relay, with
 * the information `websocket`'s WebSocketRequest carries, and asynchronous
 * accept / reject over a rendezvous WebSocket.
 */
import { EventEmitter } from 'node:events';
import { STATUS_CODES } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import { parse as parseUrl } from 'node:url';
import type { UrlWithParsedQuery } from 'node:url';
import createDebug from 'debug';
import type { connection as WebSocketConnection, IClientConfig } from 'websocket';
import { dial } from './dial';
import type { ConnectionCache, Dial } from './dial';
import { RelayError } from './errors';
import type { ProxyOption } from './proxy';
import { PARAM_STATUS_CODE, PARAM_STATUS_DESCRIPTION } from './protocol/constants';
import { pathAfterEntity, stripRelayQuery } from './protocol/uri';
import type { AcceptMessage } from './protocol/messages';
import { parseCookieHeader, serializeSetCookies } from './cookies';
import type { RequestCookie, SetCookie } from './cookies';
import { statusError } from './control-channel';

const debug = createDebug('hyco-websocket:request');

/** Settings a request needs from its server. */
export interface RequestConfig {
  /** Options for the rendezvous WebSocket (and so the accepted connection). */
  clientConfig: IClientConfig;
  /** Trust `X-Forwarded-For` unless true. */
  ignoreXForwardedFor: boolean;
  /** Give up opening a rendezvous after this long, ms. */
  rendezvousTimeout: number;
  /** The proxy to reach the relay through (the `proxy` option). */
  proxy: ProxyOption;
  /** Name lookups, TLS context and sessions, shared with the control channel. */
  cache: ConnectionCache;
}

export interface RequestedExtension {
  name: string;
  params: { name: string; value: string | undefined }[];
}

type AcceptCallback = (result: WebSocketConnection | Error) => void;
type RejectCallback = (error?: Error) => void;

function parseExtensions(header: string | undefined): RequestedExtension[] {
  if (!header) return [];
  return header
    .toLowerCase()
    .split(/,\s*/)
    .filter(Boolean)
    .map((extension) => {
      const [name, ...params] = extension.split(/;\s*/);
      return {
        name,
        params: params.map((p) => {
          const eq = p.indexOf('=');
          return eq === -1 ? { name: p, value: undefined } : { name: p.slice(0, eq), value: p.slice(eq + 1) };
        }),
      };
    });
}

/** The sender's path after the hybrid connection, and its query without `sb-hc-*`, as sent. */
export function senderResource(address: string, entityPath: string): string {
  const afterScheme = address.indexOf('://');
  const pathStart = address.indexOf('/', afterScheme === -1 ? 0 : afterScheme + 3);
  const target = pathStart === -1 ? '/' : address.slice(pathStart);
  const q = target.indexOf('?');
  const rawPath = (q === -1 ? target : target.slice(0, q)).replace(/^\/\$hc(?=\/|$)/i, '');
  const query = stripRelayQuery(q === -1 ? '' : target.slice(q + 1));
  const path = pathAfterEntity(rawPath, entityPath) ?? (rawPath.startsWith('/') ? rawPath : `/${rawPath}`);
  return query ? `${path}?${query}` : path;
}

/**
 * `resource` parsed as `websocket`'s WebSocketRequest parses it
 * (`url.parse(resource, true)`), except that it never throws: the legacy
 * parser throws on some hostile paths (`//%80@a`), and a sender must not be
 * able to crash a listener. Those get the same fields, split by hand.
 */
export function resourceUrl(resource: string): UrlWithParsedQuery {
  try {
    return parseUrl(resource, true);
  } catch {
    const parsed = parseUrl('/', true);
    const q = resource.indexOf('?');
    parsed.pathname = q === -1 ? resource : resource.slice(0, q);
    parsed.search = q === -1 ? null : resource.slice(q);
    parsed.query = parseQuery(q === -1 ? '' : resource.slice(q + 1));
    parsed.path = resource;
    parsed.href = resource;
    return parsed;
  }
}

/** The request's events, as WebSocketRequest's (a failed accept adds its error). */
export interface HybridConnectionsWebSocketRequestEvents {
  requestAccepted: [connection: WebSocketConnection];
  requestRejected: [request: HybridConnectionsWebSocketRequest, error?: RelayError];
  requestResolved: [request: HybridConnectionsWebSocketRequest];
}

/** The longest rejection reason passed on, characters. */
const MAX_REASON_LENGTH = 512;

function alreadyResolved(): RelayError {
  return new RelayError('ERR_HYCO_ALREADY_RESOLVED', 'HybridConnectionsWebSocketRequest may only be accepted or rejected one time.');
}

/** A rejection's status and reason, checked, or the error saying what is wrong. */
function checkRejection(status: unknown, reason: unknown): { status: number; reason: string | undefined } | RelayError {
  let code = status === undefined || status === null ? 403 : status;
  if (typeof code === 'string' && /^\s*\d{3}\s*$/.test(code)) code = Number(code);
  if (typeof code !== 'number' || !Number.isInteger(code) || code < 200 || code > 599) {
    return new RelayError('ERR_HYCO_INVALID_ARGUMENT', 'The reject status must be an HTTP status from 200 to 599');
  }
  if (reason !== undefined && reason !== null && typeof reason !== 'string') {
    return new RelayError('ERR_HYCO_INVALID_ARGUMENT', 'The reject reason must be a string');
  }
  // Cut at a character, never inside a surrogate pair, and with lone surrogates replaced: the reason is
  // percent-encoded into the rejection address, and encodeURIComponent throws on a lone surrogate.
  const text = typeof reason === 'string' ? wellFormed(Array.from(reason).slice(0, MAX_REASON_LENGTH).join('')) : undefined;
  return { status: code, reason: text };
}

/** `text` with every lone surrogate replaced by U+FFFD. */
function wellFormed(text: string): string {
  return text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

export class HybridConnectionsWebSocketRequest extends EventEmitter<HybridConnectionsWebSocketRequestEvents> {
  /** The sender's handshake, as `websocket` exposes it: lower-cased headers, url, method. */
  readonly httpRequest: { headers: Record<string, string>; url: string; method: string };
  /** The sender's path after the hybrid connection, with its query (no `sb-hc-*`); `/` when none. */
  readonly resource: string;
  readonly resourceURL: UrlWithParsedQuery;
  /** The tracking id (`sb-hc-id`) of this connection. */
  readonly id: string;
  /** The hybrid connection this sender came through. */
  readonly hybridConnectionPath: string;
  host = '';
  key = '';
  webSocketVersion = 0;
  origin: string | undefined;
  requestedProtocols: string[] = [];
  protocolFullCaseMap: Record<string, string> = {};
  requestedExtensions: RequestedExtension[] = [];
  cookies: RequestCookie[] = [];
  /** The sender's address (from the relay's remoteEndpoint, or X-Forwarded-For). */
  remoteAddress: string;
  remoteAddresses: string[];
  /** The sender's port, as the relay reports it. */
  readonly remotePort: number;
  private readonly address: string;
  private resolved = false;
  /** The listener is closing: an accept that completes now is closed at once. */
  private closing = false;
  /** The accept's rendezvous while it opens. */
  private rendezvousAttempt: Dial | undefined;
  /** Settles when the accept or reject under way has finished. */
  private settling: Promise<void> = Promise.resolve();

  constructor(
    accept: AcceptMessage['accept'],
    entityPath: string,
    private readonly config: RequestConfig,
  ) {
    super();
    this.address = accept.address;
    this.id = accept.id;
    this.hybridConnectionPath = entityPath;
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(accept.connectHeaders)) headers[name.toLowerCase()] = value;
    this.resource = senderResource(accept.address, entityPath);
    this.httpRequest = { headers, url: this.resource, method: 'GET' };
    this.resourceURL = resourceUrl(this.resource);
    this.remoteAddress = accept.remoteEndpoint?.address ?? '';
    this.remotePort = accept.remoteEndpoint?.port ?? 0;
    this.remoteAddresses = [this.remoteAddress];
  }

  /** Reads the sender's handshake headers; throws naming what is missing (the server then rejects with 400). */
  readHandshake(): void {
    const headers = this.httpRequest.headers;
    this.host = headers.host ?? '';
    if (!this.host) throw new RelayError('ERR_HYCO_BAD_REQUEST', 'The sender did not provide a Host header');
    this.key = headers['sec-websocket-key'] ?? '';
    if (!this.key) throw new RelayError('ERR_HYCO_BAD_REQUEST', 'The sender did not provide Sec-WebSocket-Key');
    this.webSocketVersion = parseInt(headers['sec-websocket-version'] ?? '', 10);
    if (!this.webSocketVersion) throw new RelayError('ERR_HYCO_BAD_REQUEST', 'The sender did not provide Sec-WebSocket-Version');
    this.origin = this.webSocketVersion === 13 ? headers.origin : headers['sec-websocket-origin'];
    for (const protocol of (headers['sec-websocket-protocol'] ?? '').split(/,\s*/)) {
      if (!protocol) continue;
      const lower = protocol.toLowerCase();
      this.requestedProtocols.push(lower);
      this.protocolFullCaseMap[lower] = protocol;
    }
    if (!this.config.ignoreXForwardedFor && headers['x-forwarded-for']) {
      this.remoteAddresses = [...headers['x-forwarded-for'].split(/,\s*/), this.remoteAddress];
      this.remoteAddress = this.remoteAddresses[0];
    }
    this.requestedExtensions = parseExtensions(headers['sec-websocket-extensions']);
    this.cookies = parseCookieHeader(headers.cookie);
  }

  /**
   * Accepts the sender: opens the rendezvous and resolves with the
   * established connection. `callback` gets the connection, or the Error on
   * failure. A second accept (after an accept or reject) throws
   * (`ERR_HYCO_ALREADY_RESOLVED`), as `websocket`'s does; one that comes
   * after the server closed (which answered the sender 503) rejects with
   * `ERR_HYCO_CLOSED` instead.
   */
  accept(acceptedProtocol?: string | null, allowedOrigin?: string | null, cookies?: SetCookie[] | null, callback?: AcceptCallback): Promise<WebSocketConnection> {
    if (this.resolved && !this.closing) throw alreadyResolved();
    let promise: Promise<WebSocketConnection>;
    if (this.resolved) promise = Promise.reject(new RelayError('ERR_HYCO_CLOSED', 'The listener closed before the request was accepted; the sender was answered 503'));
    else {
      this.markResolved();
      promise = this.openRendezvous(acceptedProtocol, cookies);
    }
    this.settling = promise.then(
      () => undefined,
      () => undefined,
    );
    promise.then(
      (connection) => {
        this.emit('requestAccepted', connection);
        callback?.(connection);
      },
      (err: RelayError) => {
        debug('accept %s failed: %s', this.id, err.message);
        this.emit('requestRejected', this, err);
        callback?.(err);
      },
    );
    void allowedOrigin; // Accepted for compatibility: a relayed 101 does not carry it.
    // Callback users may ignore the promise; it must never be an unhandled rejection.
    promise.catch(() => {});
    return promise;
  }

  /**
   * Rejects the sender: its handshake fails with `status` (default 403; a
   * numeric string is taken as its number) and `reason` (at most 512
   * characters). `callback` is called with no arguments when done, or with
   * the Error. Never throws: an invalid status still answers the sender (500)
   * and the Promise rejects with `ERR_HYCO_INVALID_ARGUMENT`; a request
   * already accepted or rejected rejects with `ERR_HYCO_ALREADY_RESOLVED`.
   */
  reject(status?: number | string, reason?: string, extraHeadersOrCallback?: Record<string, string> | RejectCallback, callback?: RejectCallback): Promise<void> {
    const cb = typeof extraHeadersOrCallback === 'function' ? extraHeadersOrCallback : callback;
    let promise: Promise<void>;
    if (this.resolved) promise = Promise.reject(alreadyResolved());
    else {
      this.markResolved();
      const checked = checkRejection(status, reason);
      if (checked instanceof RelayError) {
        // The sender must not be left waiting for an answer that never comes.
        const error = checked;
        promise = this.sendRejection(500, 'Internal Server Error').then(
          () => Promise.reject(error),
          () => Promise.reject(error),
        );
      } else promise = this.sendRejection(checked.status, checked.reason);
      this.settling = promise.then(
        () => undefined,
        () => undefined,
      );
      promise.then(
        () => this.emit('requestRejected', this),
        (err: RelayError) => this.emit('requestRejected', this, err),
      );
    }
    promise.then(
      () => cb?.(),
      (err: RelayError) => cb?.(err),
    );
    promise.catch(() => {});
    return promise;
  }

  /**
   * For the server's close(): a request nobody answered yet is rejected
   * (503); an accept under way is abandoned, its sender answered 503 if the
   * relay still lets us. Resolves once the sender has had its answer.
   */
  settleForClose(): Promise<void> {
    if (!this.resolved) {
      this.closing = true;
      return this.reject(503, 'The listener is closing').catch(() => undefined);
    }
    this.closing = true;
    if (this.rendezvousAttempt) {
      this.rendezvousAttempt.abort();
      this.rendezvousAttempt = undefined;
      return this.sendRejection(503, 'The listener is closing').catch(() => undefined);
    }
    return this.settling;
  }

  private markResolved(): void {
    this.resolved = true;
    this.emit('requestResolved', this);
  }

  private async openRendezvous(acceptedProtocol: string | null | undefined, cookies: SetCookie[] | null | undefined): Promise<WebSocketConnection> {
    let protocol: string | undefined;
    let setCookies: string[];
    try {
      if (acceptedProtocol !== undefined && acceptedProtocol !== null) {
        if (typeof acceptedProtocol !== 'string') throw new RelayError('ERR_HYCO_INVALID_ARGUMENT', 'acceptedProtocol must be a string or null');
        const lower = acceptedProtocol.toLowerCase();
        if (!this.requestedProtocols.includes(lower)) {
          throw new RelayError('ERR_HYCO_PROTOCOL_NOT_REQUESTED', `Specified protocol "${acceptedProtocol}" was not requested by the client.`);
        }
        protocol = this.protocolFullCaseMap[lower];
      }
      setCookies = serializeSetCookies(cookies);
    } catch (err) {
      // The sender must not be left waiting for an answer that never comes.
      await this.sendRejection(500, 'Internal Server Error').catch(() => {});
      throw err;
    }
    const headers: Record<string, string | string[]> = {};
    if (setCookies.length) headers['Set-Cookie'] = setCookies;
    const response = await this.rendezvous(this.address, protocol ? [protocol] : undefined, headers, true);
    if (response.kind !== 'connect') {
      throw response.kind === 'status'
        ? statusError(response.status, response.statusText, 'Opening the rendezvous', 'ERR_HYCO_RENDEZVOUS_FAILED')
        : response.error;
    }
    const connection = response.connection;
    if (this.closing) {
      // The listener closed while the rendezvous opened: the sender is told it is going away.
      connection.close(1001, 'The listener is closing');
      throw new RelayError('ERR_HYCO_CLOSED', 'The listener closed before the accept completed');
    }
    connection.remoteAddress = this.remoteAddress;
    (connection as WebSocketConnection & { remoteAddresses?: string[] }).remoteAddresses = this.remoteAddresses;
    return connection;
  }

  private async sendRejection(status: number, reason: string | undefined): Promise<void> {
    const text = (reason ?? STATUS_CODES[status] ?? 'Rejected').replace(/[\r\n]/g, ' ');
    const uri = `${this.address}&${PARAM_STATUS_CODE}=${status}&${PARAM_STATUS_DESCRIPTION}=${encodeURIComponent(text)}`;
    const response = await this.rendezvous(uri, undefined, {}, false);
    if (response.kind === 'status' && response.status === 410) return;
    if (response.kind === 'connect') {
      response.connection.drop();
      throw new RelayError('ERR_HYCO_RENDEZVOUS_FAILED', 'The relay accepted a rejection as a connection');
    }
    if (response.kind === 'status') {
      throw statusError(response.status, response.statusText, 'Rejecting the sender', 'ERR_HYCO_RENDEZVOUS_FAILED');
    }
    throw response.error;
  }

  /** Opens a WebSocket to a rendezvous address and reports how it went. */
  private async rendezvous(
    uri: string,
    protocols: string[] | undefined,
    headers: Record<string, string | string[]>,
    isAccept: boolean,
  ): Promise<
    | { kind: 'connect'; connection: WebSocketConnection }
    | { kind: 'status'; status: number; statusText: string | undefined }
    | { kind: 'error'; error: RelayError }
  > {
    const attempt = dial(uri, {
      clientConfig: this.config.clientConfig,
      proxy: this.config.proxy,
      cache: this.config.cache,
      protocols,
      headers,
      timeoutMs: this.config.rendezvousTimeout,
    });
    if (isAccept) this.rendezvousAttempt = attempt;
    const outcome = await attempt.result;
    if (this.rendezvousAttempt === attempt) this.rendezvousAttempt = undefined;
    switch (outcome.kind) {
      case 'connect':
      case 'status':
        return outcome;
      case 'proxy':
        return { kind: 'error', error: outcome.error };
      case 'failed':
        return { kind: 'error', error: new RelayError('ERR_HYCO_RENDEZVOUS_FAILED', `The rendezvous failed: ${outcome.error.message}`, { cause: outcome.error }) };
      case 'timeout':
        return { kind: 'error', error: new RelayError('ERR_HYCO_RENDEZVOUS_FAILED', `The rendezvous did not answer within ${this.config.rendezvousTimeout} ms`) };
      case 'aborted':
        // close() abandoning an accept.
        return { kind: 'error', error: new RelayError('ERR_HYCO_CLOSED', 'The rendezvous was abandoned: the listener is closing') };
    }
  }
}

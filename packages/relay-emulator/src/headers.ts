/**
 * What the relay passes on, and what it keeps (PROTOCOL.md, "What the
 * service passes on unchanged"): the sender's query minus `sb-hc-*`, byte
 * for byte; its headers minus the relay's token; the listener's response
 * headers, checked before they reach an HTTP client. Every function here is
 * linear in the number of headers.
 */
import type { IncomingMessage } from 'node:http';
import { validateHeaderName, validateHeaderValue } from 'node:http';
import { PARAM_TOKEN } from 'hyco-websocket/protocol';
import { printable } from './tracking';

/** Where the relay found the sender's token. */
export type CredentialSource = 'servicebusauthorization' | 'query' | 'authorization';

export interface RelayCredential {
  token: string | undefined;
  source: CredentialSource | undefined;
}

/**
 * The relay's token in a request: `ServiceBusAuthorization`, else
 * `sb-hc-token`, else `Authorization` (PROTOCOL.md). `Authorization` is the
 * relay's only when neither of the others is present.
 */
export function relayCredential(req: IncomingMessage, query: URLSearchParams): RelayCredential {
  const header = req.headers['servicebusauthorization'];
  if (typeof header === 'string' && header.trim()) return { token: header.trim(), source: 'servicebusauthorization' };
  const fromQuery = query.get(PARAM_TOKEN);
  if (fromQuery) return { token: fromQuery, source: 'query' };
  const authorization = req.headers.authorization;
  if (typeof authorization === 'string' && authorization.trim()) return { token: authorization.trim(), source: 'authorization' };
  return { token: undefined, source: undefined };
}

/**
 * The sender's headers in the order sent, repeated ones joined (`Cookie`
 * with `; ` as one header, others with `, `), less `drop` (lower-case names).
 */
export function joinHeaders(rawHeaders: string[], drop: (lowerName: string) => boolean): Record<string, string> {
  const out: Record<string, string> = {};
  const seen = new Map<string, string>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    const lower = name.toLowerCase();
    if (drop(lower)) continue;
    const existing = seen.get(lower);
    if (existing === undefined) {
      seen.set(lower, name);
      out[name] = rawHeaders[i + 1];
    } else out[existing] += `${lower === 'cookie' ? '; ' : ', '}${rawHeaders[i + 1]}`;
  }
  return out;
}

/** Whether a sender's `Authorization` header was the relay's token (and so is not passed on). */
export function consumesAuthorization(credential: RelayCredential, entityRequiresToken: boolean): boolean {
  return entityRequiresToken && credential.source === 'authorization';
}

/** The sender's handshake headers for the listener: all of them but the relay's token. */
export function connectHeaders(req: IncomingMessage, consumedAuthorization: boolean): Record<string, string> {
  return joinHeaders(req.rawHeaders, (lower) => RELAY_HEADERS.has(lower) || (consumedAuthorization && lower === 'authorization'));
}

/**
 * A sender's choice among listeners (PROTOCOL.md, "Choosing a listener"):
 * the tracking ids in its `Microsoft-Relay-AllowedListeners` and
 * `Microsoft-Relay-DisallowedListeners` headers, lower-cased.
 */
export interface ListenerChoice {
  allowed: Set<string> | undefined;
  disallowed: Set<string>;
}

/** The relay's own request headers: its token and a sender's choice of listeners. They never reach a listener. */
const RELAY_HEADERS = new Set(['servicebusauthorization', 'microsoft-relay-allowedlisteners', 'microsoft-relay-disallowedlisteners']);

/** The listeners a sender allowed and disallowed (`Microsoft-Relay-AllowedListeners` / `-DisallowedListeners`), or undefined when it did not choose. */
export function listenerChoice(req: IncomingMessage): ListenerChoice | undefined {
  const ids = (name: string): Set<string> | undefined => {
    const value = req.headers[name];
    if (value === undefined) return undefined;
    const list = (Array.isArray(value) ? value.join(',') : value).split(',').map((id) => id.trim().toLowerCase()).filter(Boolean);
    // An empty header restricts nothing.
    return list.length ? new Set(list) : undefined;
  };
  const allowed = ids('microsoft-relay-allowedlisteners');
  const disallowed = ids('microsoft-relay-disallowedlisteners');
  if (allowed === undefined && disallowed === undefined) return undefined;
  return { allowed, disallowed: disallowed ?? new Set() };
}

/** Headers that never cross the relay on HTTP (hop by hop, or the relay's own). */
const DROPPED_REQUEST_HEADERS = new Set([
  'connection', 'content-length', 'host', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'keep-alive',
  'proxy-connection', 'proxy-authorization', 'servicebusauthorization',
  'microsoft-relay-allowedlisteners', 'microsoft-relay-disallowedlisteners',
]);

/**
 * The relay's `Via` entry (RFC 9110 section 7.6.3): the host name the
 * sender addressed (the namespace's), as the service names itself there.
 */
export function viaEntry(relayHost: string): string {
  return `1.1 ${relayHost}`;
}

/** `headers` with the relay added to `Via` (after any entries already there). */
function addVia(headers: Record<string, string>, relayHost: string): Record<string, string> {
  const viaKey = Object.keys(headers).find((k) => k.toLowerCase() === 'via');
  if (viaKey) headers[viaKey] += `, ${viaEntry(relayHost)}`;
  else headers.Via = viaEntry(relayHost);
  return headers;
}

const NO_NAMES: ReadonlySet<string> = new Set();
const KEEP_ALIVE: ReadonlySet<string> = new Set(['keep-alive']);
const CLOSE: ReadonlySet<string> = new Set(['close']);

/** The header names a `Connection` header lists (hop by hop for this one connection, RFC 9110 7.6.1), lower-cased. */
function connectionOptions(req: IncomingMessage): ReadonlySet<string> {
  const value = req.headers.connection;
  // The common cases (none, keep-alive, close): shared sets, none made per request.
  if (value === undefined) return NO_NAMES;
  if (value === 'keep-alive') return KEEP_ALIVE;
  if (value === 'close') return CLOSE;
  const listed = Array.isArray(value) ? value.join(',') : (value ?? '');
  return new Set(listed.split(',').map((name) => name.trim().toLowerCase()).filter(Boolean));
}

/** An HTTP sender's headers for the listener, with the relay (as `relayHost`) added to `Via`; what `Connection` names stays behind, as a proxy must. */
export function httpRequestHeaders(req: IncomingMessage, consumedAuthorization: boolean, relayHost: string): Record<string, string> {
  const hopByHop = connectionOptions(req);
  return addVia(
    joinHeaders(req.rawHeaders, (lower) => DROPPED_REQUEST_HEADERS.has(lower) || hopByHop.has(lower) || (consumedAuthorization && lower === 'authorization')),
    relayHost,
  );
}

/** Response headers the relay does not pass on (hop by hop). */
const DROPPED_RESPONSE_HEADERS = new Set(['connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'keep-alive', 'proxy-connection']);

export interface CheckedResponseHeaders {
  headers: Record<string, string>;
  /** The listener's Content-Length, when it gave one. */
  contentLength: number | undefined;
}

/**
 * A listener's response headers, checked as Node's HTTP server checks them
 * (`validateHeaderName` / `validateHeaderValue`), less hop-by-hop ones, with
 * the relay (as `relayHost`) added to `Via`. Returns a description of the
 * first header that cannot be sent (printable, never the whole value)
 * instead.
 */
export function checkResponseHeaders(responseHeaders: Record<string, string> | undefined, relayHost: string): CheckedResponseHeaders | string {
  const headers: Record<string, string> = {};
  let contentLength: number | undefined;
  for (const [name, value] of Object.entries(responseHeaders ?? {})) {
    try {
      validateHeaderName(name);
      validateHeaderValue(name, value);
    } catch {
      return `the response header "${printable(name, 64)}" has a name or value HTTP cannot carry`;
    }
    const lower = name.toLowerCase();
    if (DROPPED_RESPONSE_HEADERS.has(lower)) continue;
    if (lower === 'content-length') {
      if (!/^\d{1,15}$/.test(value.trim())) return 'the response header "Content-Length" is not a length';
      const length = Number(value.trim());
      // Names differing only in case are one header: two lengths would let the listener smuggle a second
      // response into a kept-alive connection (whichever length the client believes).
      if (contentLength !== undefined && contentLength !== length) return 'the response has two different Content-Length headers';
      if (contentLength !== undefined) continue;
      contentLength = length;
    }
    headers[name] = value;
  }
  return { headers: addVia(headers, relayHost), contentLength };
}

/** `path` and `query` joined with `?` when there is a query. */
export function withQuery(path: string, query: string): string {
  return query ? `${path}?${query}` : path;
}

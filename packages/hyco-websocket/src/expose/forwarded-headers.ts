/**
 * Headers across the proxy, as a reverse proxy passes them: hop-by-hop
 * headers dropped both ways (RFC 9110 section 7.6.1: `Connection` and the
 * headers it names, `Keep-Alive`, `Proxy-*`, `TE`, `Trailer`,
 * `Transfer-Encoding`, `Upgrade`), and the sender named to the origin with
 * `X-Forwarded-For`, `X-Forwarded-Proto`, `X-Forwarded-Host`,
 * `X-Forwarded-Prefix` and `Forwarded` (RFC 7239).
 */
import { validateHeaderName, validateHeaderValue } from 'node:http';
import { isIP } from 'node:net';
import createDebug from 'debug';
import { printable } from '../protocol/printable';

const debug = createDebug('hyco-websocket:expose');

/** Hop-by-hop headers (RFC 9110 section 7.6.1, and `Keep-Alive` and `Proxy-Connection` as proxies treat them). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** Headers of a WebSocket handshake that belong to one hop: the proxy makes its own to the origin. */
const HANDSHAKE = new Set(['sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'sec-websocket-protocol', 'sec-websocket-accept']);

/** What the origin is told about the sender and how it reached the relay. */
export interface ForwardedFor {
  /** The sender's address as the relay reports it (`''` when unknown). */
  address: string;
  /** `https` (Azure, `wss://` namespaces) or `http` (an emulator without TLS). */
  proto: 'http' | 'https';
  /** The relay's host as the sender addressed it (`contoso.servicebus.windows.net`, `127.0.0.1:9030`). */
  host: string;
  /** The path prefix the relay's address has and the origin's does not: `/{hybrid connection}`. */
  prefix: string;
}

/** A header list as Node takes it: one entry per name (lower-cased key), repeated values as an array. */
export type HeaderList = Map<string, { name: string; values: string[] }>;

/** The headers named by `Connection` (it lists hop-by-hop headers of its own). */
function connectionNamed(values: string[]): Set<string> {
  const named = new Set<string>();
  for (const value of values) for (const token of value.split(',')) if (token.trim()) named.add(token.trim().toLowerCase());
  return named;
}

/** Whether Node can send this header line (a hostile value must not throw later, at send time). */
function sendable(name: string, value: string): boolean {
  try {
    validateHeaderName(name);
    validateHeaderValue(name, value);
    return true;
  } catch {
    debug('header %s dropped: it cannot be sent', printable(name, 64));
    return false;
  }
}

/**
 * `rawHeaders` (name, value, name, value...) without the hop-by-hop
 * headers, those `Connection` names, those in `drop` and those HTTP cannot
 * carry; repeated headers kept in order.
 */
export function endToEnd(rawHeaders: readonly string[], drop: ReadonlySet<string> = new Set()): HeaderList {
  const connection: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) if (rawHeaders[i].toLowerCase() === 'connection') connection.push(rawHeaders[i + 1]);
  const named = connectionNamed(connection);
  const list: HeaderList = new Map();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    const value = rawHeaders[i + 1];
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || lower.startsWith('proxy-') || named.has(lower) || drop.has(lower)) continue;
    if (!sendable(name, value)) continue;
    const entry = list.get(lower);
    if (entry) entry.values.push(value);
    else list.set(lower, { name, values: [value] });
  }
  return list;
}

/** `list` as the object Node's `http.request` takes (a repeated header as an array: one line each). */
export function toObject(list: HeaderList): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const { name, values } of list.values()) headers[name] = values.length === 1 ? values[0] : values;
  return headers;
}

/** `list` as a flat raw header array (`writeHead` takes it; repeated headers stay lines of their own). */
export function toRaw(list: HeaderList): string[] {
  const raw: string[] = [];
  for (const { name, values } of list.values()) for (const value of values) raw.push(name, value);
  return raw;
}

/** Sets `name` to `value`, replacing what was there. */
function set(list: HeaderList, name: string, value: string): void {
  list.set(name.toLowerCase(), { name, values: [value] });
}

/** Appends `value` to a list-valued header (`a, b`), or sets it. */
function append(list: HeaderList, name: string, value: string): void {
  const entry = list.get(name.toLowerCase());
  if (!entry) set(list, name, value);
  else entry.values = [`${entry.values.join(', ')}, ${value}`];
}

/** A `Forwarded` parameter value: a token as it is, anything else quoted (RFC 7239 section 4). */
function forwardedValue(value: string): string {
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(value) ? value : `"${value.replace(/["\\]/g, '\\$&')}"`;
}

/** The sender's node in `Forwarded` (`192.0.2.1`, `"[2001:db8::1]"`, `unknown`). */
function forwardedNode(address: string): string {
  if (isIP(address) === 6) return forwardedValue(`[${address}]`);
  return isIP(address) === 4 ? address : 'unknown';
}

/**
 * Adds the forwarding headers to a request for the origin, as reverse
 * proxies do: the sender's address is appended to `X-Forwarded-For` and a
 * `Forwarded` element appended after any there (so an origin that trusts
 * one proxy reads the last entry); `X-Forwarded-Proto`, `X-Forwarded-Host`
 * and `X-Forwarded-Prefix` are set, replacing what a sender sent (they hold
 * one value, and the relay is the edge: a sender's own claims are not
 * passed on as if the proxy made them). `Host` becomes the origin's.
 */
export function addForwarded(list: HeaderList, forwarded: ForwardedFor, originHost: string): HeaderList {
  list.delete('host');
  const headers: HeaderList = new Map([['host', { name: 'Host', values: [originHost] }], ...list]);
  if (forwarded.address) append(headers, 'X-Forwarded-For', forwarded.address);
  set(headers, 'X-Forwarded-Proto', forwarded.proto);
  set(headers, 'X-Forwarded-Host', forwarded.host);
  set(headers, 'X-Forwarded-Prefix', forwarded.prefix);
  append(headers, 'Forwarded', `for=${forwardedNode(forwarded.address)};host=${forwardedValue(forwarded.host)};proto=${forwarded.proto}`);
  return headers;
}

/** Request headers that go to the origin for a relayed HTTP request. */
export function originRequestHeaders(rawHeaders: readonly string[], forwarded: ForwardedFor, originHost: string): HeaderList {
  // The body's framing is the proxy's own to the origin (Content-Length kept when known); Expect is
  // answered by the relay and the body is on its way already: a 100 from the origin could not go back.
  return addForwarded(endToEnd(rawHeaders, new Set(['expect'])), forwarded, originHost);
}

/** Handshake headers that go to the origin for a relayed WebSocket (the proxy's own handshake replaces the sender's). */
export function originHandshakeHeaders(headers: Record<string, string>, forwarded: ForwardedFor, originHost: string): HeaderList {
  const raw: string[] = [];
  for (const [name, value] of Object.entries(headers)) raw.push(name, value);
  // Origin goes as the client's `origin` argument; Content-Length has no place on a GET handshake.
  return addForwarded(endToEnd(raw, new Set([...HANDSHAKE, 'origin', 'content-length'])), forwarded, originHost);
}

/** Response headers that go back to the sender. */
export function senderResponseHeaders(rawHeaders: readonly string[]): HeaderList {
  return endToEnd(rawHeaders);
}

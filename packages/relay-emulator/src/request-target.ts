/**
 * Where a request is going: the `Host` it names (checked: `hostname[:port]`
 * and nothing else, since token audiences are built from it), its path and
 * its query exactly as sent, and its tracking id.
 */
import type { IncomingMessage } from 'node:http';
import { PARAM_ID } from 'hyco-websocket/protocol';
import { relayParameters } from './query';
import { endpointNotFound } from './reason-phrases';
import { newTrackingId } from './tracking';

export interface RequestTarget {
  /** `hostname[:port]` as the client named it (checked). */
  host: string;
  /** The host name alone, lower-case (IPv6 in brackets). */
  hostname: string;
  /** The whole path as sent, with its leading `/`. */
  pathname: string;
  /** The path as sent, without the leading `/` (and, for WebSockets, without `$hc/`). */
  rawPath: string;
  /** The query as sent, without `?`. */
  rawQuery: string;
  /** The query's `name=value` parameters, parsed (for the relay's own `sb-hc-*` ones; see query.ts). */
  query: URLSearchParams;
  /** `sb-hc-id` when the client gave one, else a new id. */
  trackingId: string;
}

/** A request the relay cannot route, with its status. */
export interface TargetProblem {
  status: 400 | 404;
  /** The path as sent, without the leading `/` (for the status text). */
  rawPath: string;
  what: string;
  hostname: string;
  trackingId: string;
}

/** `hostname[:port]`: a DNS name or IPv4 address, or an IPv6 address in brackets. */
const HOST = /^(\[[0-9a-f:.]+\]|[a-z0-9_~-]+(?:\.[a-z0-9_~-]+)*\.?)(?::(\d{1,5}))?$/i;

/** Splits and checks a `Host` header; undefined when it is not `hostname[:port]`. */
export function parseHost(value: string): { host: string; hostname: string } | undefined {
  const match = HOST.exec(value);
  if (!match) return undefined;
  if (match[2] !== undefined && Number(match[2]) > 65535) return undefined;
  return { host: value, hostname: match[1].toLowerCase() };
}

/**
 * Reads `req`'s target. `prefix` is the path prefix the route requires
 * (`$hc/` for WebSockets, `` for HTTP); `fallbackHost` stands in for a
 * missing `Host` (HTTP/1.0).
 */
export function parseTarget(req: IncomingMessage, prefix: RegExp | undefined, fallbackHost: string): RequestTarget | TargetProblem {
  const rawUrl = req.url ?? '/';
  const q = rawUrl.indexOf('?');
  const rawPathname = q === -1 ? rawUrl : rawUrl.slice(0, q);
  const rawQuery = q === -1 ? '' : rawUrl.slice(q + 1);
  const query = relayParameters(rawQuery);
  const trackingId = query.get(PARAM_ID) || newTrackingId();
  const hostHeader = req.headers.host;
  const host = parseHost(hostHeader === undefined ? fallbackHost : hostHeader);
  let rawPath = rawPathname.slice(1);
  if (!host) return { status: 400, what: 'BadRequest: the Host header must be hostname[:port]', hostname: '', trackingId, rawPath };
  if (!rawPathname.startsWith('/')) return { status: 400, what: 'BadRequest: the request target must be an absolute path', hostname: host.hostname, trackingId, rawPath: rawPathname };
  if (prefix) {
    const match = prefix.exec(rawPath);
    if (!match) return { status: 404, what: endpointNotFound('NotFound', `"/${rawPath.slice(0, 200)}" is no WebSocket address (those are /$hc/{hybrid connection})`), hostname: host.hostname, trackingId, rawPath };
    rawPath = rawPath.slice(match[0].length);
  }
  return { host: host.host, hostname: host.hostname, pathname: rawPathname, rawPath, rawQuery, query, trackingId };
}

export function isProblem(target: RequestTarget | TargetProblem): target is TargetProblem {
  return 'status' in target;
}

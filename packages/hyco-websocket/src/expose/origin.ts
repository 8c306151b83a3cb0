/**
 * The origin: the local HTTP (and WebSocket) server a relayed proxy
 * forwards to, given as an `http://` or `https://` URL with an optional base
 * path (`http://127.0.0.1:3000`, `https://app.internal:8443/api`). Where each
 * relayed request goes there, and the connections (keep-alive, TLS trust)
 * it goes over.
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { ClientRequest, RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import { RelayArgumentError } from '../errors';

/** How to trust an `https://` origin's certificate. */
export interface OriginTrust {
  /** CA certificates (PEM) to trust instead of Node's bundled ones. */
  ca?: SecureContextOptions['ca'];
  /** Accept any certificate (for self-signed development servers). Default false. */
  insecure?: boolean;
}

/** The parts of a `ws:` URL that `websocket`'s client reads, with the path kept exactly as given. */
export interface RawWebSocketUrl {
  protocol: 'ws:' | 'wss:';
  host: string;
  hostname: string;
  port: string;
  pathname: string;
  path: string;
}

/**
 * Whether the path of `pathAndQuery` (the query is not looked at) has a
 * `.` or `..` segment, in any percent-encoded spelling and any case (`..`,
 * `%2e%2e`, `.%2E`). Such a request is refused, not passed on: an origin
 * that resolves dot segments would serve what is outside its base path (or
 * above the path the proxy was meant to pass). A backslash separates
 * segments too, as WHATWG URL parsers take it.
 */
export function hasDotSegment(pathAndQuery: string): boolean {
  const q = pathAndQuery.indexOf('?');
  const path = q === -1 ? pathAndQuery : pathAndQuery.slice(0, q);
  return path.split(/[/\\]/).some((segment) => {
    const dots = segment.replace(/%2e/gi, '.');
    return dots === '.' || dots === '..';
  });
}

export class Origin {
  /** The origin as given, normalised (`http://127.0.0.1:3000/api`). */
  readonly href: string;
  /** `host[:port]` as a Host header names it. */
  readonly host: string;
  readonly secure: boolean;
  /** TLS options for an `https://` origin (its CA, whether to check it); empty for `http://`. */
  readonly tls: { ca?: SecureContextOptions['ca']; rejectUnauthorized?: boolean };
  private readonly hostname: string;
  private readonly port: string;
  /** The base path, without a trailing slash (`''` for none). */
  private readonly basePath: string;
  private readonly agent: HttpAgent;

  constructor(origin: string, trust: OriginTrust = {}) {
    if (typeof origin !== 'string' || origin.length === 0) throw new RelayArgumentError('The "origin" option must be an http:// or https:// URL');
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      throw new RelayArgumentError('The "origin" option is not a valid URL (e.g. http://127.0.0.1:3000)');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RelayArgumentError('The "origin" option must be an http:// or https:// URL');
    if (url.username || url.password) throw new RelayArgumentError('The "origin" option must not hold a user name or password');
    if (url.search || url.hash) throw new RelayArgumentError('The "origin" option may have a base path, but no query or fragment');
    if (trust.insecure !== undefined && typeof trust.insecure !== 'boolean') throw new RelayArgumentError('The "insecureOrigin" option must be a boolean');
    this.secure = url.protocol === 'https:';
    if (!this.secure && (trust.ca !== undefined || trust.insecure)) {
      throw new RelayArgumentError('The "originCa" and "insecureOrigin" options are for https:// origins only');
    }
    this.hostname = url.hostname.replace(/^\[|\]$/g, '');
    this.port = url.port || (this.secure ? '443' : '80');
    this.host = url.host;
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.href = `${url.protocol}//${url.host}${this.basePath}`;
    this.tls = this.secure ? { ...(trust.ca === undefined ? {} : { ca: trust.ca }), rejectUnauthorized: trust.insecure !== true } : {};
    // Connections to the origin are kept open between requests, as any reverse proxy keeps them.
    this.agent = this.secure ? new HttpsAgent({ keepAlive: true, ...this.tls }) : new HttpAgent({ keepAlive: true });
  }

  /** The origin's path for a relayed request's `/path?query` (after the hybrid connection): the base path, then it, byte for byte. */
  target(pathAndQuery: string): string {
    const relative = pathAndQuery.startsWith('/') ? pathAndQuery : `/${pathAndQuery}`;
    return `${this.basePath}${relative}`;
  }

  /**
   * Starts an HTTP request to the origin for `pathAndQuery`. Throws (as
   * Node's `http.request` does) when the path or a header cannot be sent.
   */
  request(method: string, pathAndQuery: string, headers: Record<string, string | string[]>): ClientRequest {
    const options: RequestOptions = {
      host: this.hostname,
      port: this.port,
      method,
      path: this.target(pathAndQuery),
      headers,
      agent: this.agent,
      setHost: false,
      ...this.tls,
    };
    return this.secure ? httpsRequest(options) : httpRequest(options);
  }

  /** The WebSocket address for a relayed connection's `/path?query`, its path and query as sent. */
  webSocketUrl(pathAndQuery: string): RawWebSocketUrl {
    const path = this.target(pathAndQuery);
    const q = path.indexOf('?');
    return {
      protocol: this.secure ? 'wss:' : 'ws:',
      host: this.host,
      hostname: this.hostname,
      port: this.port,
      pathname: q === -1 ? path : path.slice(0, q),
      path,
    };
  }

  /** Closes the kept-open connections to the origin. */
  close(): void {
    this.agent.destroy();
  }
}

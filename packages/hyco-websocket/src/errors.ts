/**
 * The error family of hyco-websocket. Every error the package raises or
 * emits is a `RelayError` (or a `TypeError` for a wrongly typed argument,
 * which also carries a `code`), so callers can branch on `err.code`.
 */

/** Stable error codes. Never renamed once published. */
export type RelayErrorCode =
  | 'ERR_HYCO_INVALID_ARGUMENT'
  | 'ERR_HYCO_INVALID_CONNECTION_STRING'
  | 'ERR_HYCO_INVALID_TOKEN'
  | 'ERR_HYCO_TOKEN_PROVIDER'
  | 'ERR_HYCO_UNAUTHORIZED'
  | 'ERR_HYCO_FORBIDDEN'
  | 'ERR_HYCO_NOT_FOUND'
  | 'ERR_HYCO_BAD_REQUEST'
  | 'ERR_HYCO_SERVICE'
  | 'ERR_HYCO_HANDSHAKE'
  | 'ERR_HYCO_CONNECTION'
  | 'ERR_HYCO_CONTROL_CHANNEL_CLOSED'
  | 'ERR_HYCO_KEEPALIVE_TIMEOUT'
  | 'ERR_HYCO_PING_REFUSED'
  | 'ERR_HYCO_MISSING_PACKAGE'
  | 'ERR_HYCO_RENDEZVOUS_FAILED'
  | 'ERR_HYCO_PROTOCOL_NOT_REQUESTED'
  | 'ERR_HYCO_ALREADY_RESOLVED'
  | 'ERR_HYCO_NOT_SUPPORTED'
  | 'ERR_HYCO_CLOSED'
  | 'ERR_HYCO_MALFORMED_MESSAGE'
  | 'ERR_HYCO_PROXY'
  | 'ERR_HYCO_PROXY_AUTH'
  | 'ERR_HYCO_NO_LISTENER'
  | 'ERR_HYCO_ABORTED'
  /** A forwarder could not listen on a local port or socket. */
  | 'ERR_HYCO_FORWARD_BIND'
  /** The remote forwarder refused a forwarded connection (its reply, or no reply: an unknown port name). */
  | 'ERR_HYCO_FORWARD_REFUSED'
  /** The remote forwarder could not reach its target host, port or socket. */
  | 'ERR_HYCO_FORWARD_TARGET'
  /** A forwarded connection broke the forwarding protocol (preamble, reply, datagram framing). */
  | 'ERR_HYCO_FORWARD_PROTOCOL'
  /** A forwarding configuration (an azbridge YAML file) is not valid. */
  | 'ERR_HYCO_INVALID_CONFIG'
  /** (expose) The origin could not be reached: refused, unknown host, TLS failure. */
  | 'ERR_HYCO_ORIGIN_UNREACHABLE'
  /** (expose) The origin did not answer a request or an upgrade in time. */
  | 'ERR_HYCO_ORIGIN_TIMEOUT'
  /** (expose) The origin's connection ended before its response or WebSocket did. */
  | 'ERR_HYCO_ORIGIN_CLOSED';

export interface RelayErrorOptions {
  /** HTTP status the service answered with, when the error came from it. */
  statusCode?: number;
  /** The service's tracking id (from the status text), when there is one. */
  trackingId?: string;
  /** The underlying error. */
  cause?: unknown;
}

/** An error raised by hyco-websocket, with a stable `code`. */
export class RelayError extends Error {
  readonly code: RelayErrorCode;
  readonly statusCode?: number;
  readonly trackingId?: string;

  constructor(code: RelayErrorCode, message: string, options: RelayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RelayError';
    this.code = code;
    if (options.statusCode !== undefined) this.statusCode = options.statusCode;
    if (options.trackingId !== undefined) this.trackingId = options.trackingId;
  }
}

/** A `TypeError` with a stable `code`, thrown for missing or wrongly typed arguments. */
export class RelayArgumentError extends TypeError {
  readonly code = 'ERR_HYCO_INVALID_ARGUMENT' as const;

  constructor(message: string) {
    super(message);
    this.name = 'TypeError';
  }
}

/** Throws a `RelayArgumentError` unless `value` is a non-empty string. */
export function requireString(value: unknown, name: string): string {
  if (typeof value !== 'string') {
    throw new RelayArgumentError(`The "${name}" argument must be a string; received ${describe(value)}`);
  }
  if (value.length === 0) {
    throw new RelayArgumentError(`The "${name}" argument must not be empty`);
  }
  if (LONE_SURROGATE.test(value)) {
    // Such a string cannot be encoded into an address or a header (encodeURIComponent throws a URIError).
    throw new RelayArgumentError(`The "${name}" argument is not well-formed Unicode (it holds a lone surrogate)`);
  }
  return value;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Throws a `RelayArgumentError` unless `value` is undefined, null or a string. */
export function optionalString(value: unknown, name: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  return requireString(value, name);
}

/**
 * An options bag read once, as a shallow copy of its own enumerable
 * properties: a getter (or proxy) that throws is a `RelayArgumentError`
 * naming the option, never the value or the getter's message. Undefined
 * and null read as `{}`; anything else that is not an object is refused.
 */
export function readOptions<T extends object>(value: T | undefined | null, what = 'options'): T {
  if (value === undefined || value === null) return {} as T;
  if (typeof value !== 'object') throw new RelayArgumentError(`The ${what} argument must be an object; received ${describe(value)}`);
  let keys: string[];
  try {
    keys = Object.keys(value);
  } catch {
    throw new RelayArgumentError(`The ${what} argument could not be read (listing its properties threw)`);
  }
  const copy: Record<string, unknown> = {};
  for (const key of keys) {
    try {
      copy[key] = (value as Record<string, unknown>)[key];
    } catch {
      throw new RelayArgumentError(`Reading the "${key.slice(0, 64)}" option threw`);
    }
  }
  return copy as T;
}

/** Throws a `RelayArgumentError` unless `value` is undefined, null or an `AbortSignal`. */
export function optionalAbortSignal(value: unknown, name: string): AbortSignal | undefined {
  if (value === undefined || value === null) return undefined;
  if (!(value instanceof AbortSignal)) throw new RelayArgumentError(`The "${name}" option must be an AbortSignal; received ${describe(value)}`);
  return value;
}

/** Describes a value's type for an error message without echoing its content. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `type ${typeof value}`;
}

/** The `TrackingId:...` part of a service status text, if present. */
export function trackingIdFrom(text: string | undefined): string | undefined {
  if (!text) return undefined;
  const match = /TrackingId:\s*([^,\s]+)/i.exec(text);
  return match ? match[1] : undefined;
}

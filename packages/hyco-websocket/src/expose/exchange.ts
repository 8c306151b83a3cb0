/**
 * What a relayed proxy reports of each request or connection it carried,
 * once it has ended (its `exchange` event). It holds no header and no
 * token: what a log line may show.
 */
import type { RelayError } from '../errors';

export interface ProxyExchange {
  /** `http` for a request, `websocket` for a connection. */
  kind: 'http' | 'websocket';
  /** The request's method (`GET` for a WebSocket). */
  method: string;
  /** The path and query after the hybrid connection, as the sender sent them (no `sb-hc-*` parameter, so no token). */
  path: string;
  /**
   * The status the sender got: the origin's; 101 for a WebSocket joined to
   * the origin; or the proxy's own: 502 (origin not reachable, or a
   * WebSocket upgrade it did not take), 504 (origin too slow), 400 (a
   * request that cannot be forwarded). 0 when the sender went away before
   * any status.
   */
  status: number;
  /** From the request's arrival to the end of its response (or of the connection), ms. */
  durationMs: number;
  /** Bytes from the sender to the origin: the request body, or the WebSocket messages' payloads. */
  bytesIn: number;
  /** Bytes from the origin to the sender: the response body, or the WebSocket messages' payloads. */
  bytesOut: number;
  /**
   * Whether it ended as it should: a response sent whole, a WebSocket closed
   * with a close frame (by either side). False when it was cut, refused or
   * abandoned; `error` then says why.
   */
  complete: boolean;
  /** Why it did not complete, or what the proxy answered for (`ERR_HYCO_ORIGIN_UNREACHABLE`, `ERR_HYCO_ORIGIN_TIMEOUT`, `ERR_HYCO_ORIGIN_CLOSED`, `ERR_HYCO_ABORTED`...). */
  error?: RelayError;
  /** (WebSocket) The close code of the side that closed first (1006: a connection dropped without a close frame). */
  closeCode?: number;
  /** The sender's address as the relay reports it (`''` when it does not). */
  remoteAddress: string;
}

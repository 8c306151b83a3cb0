/**
 * Replay: a recorded request sent again, through the relay's front door,
 * to the hybrid connection's current listener. It goes as the original
 * went, less what was redacted (credential headers and query parameters
 * are left out; with a hybrid connection that needs a token, the relay
 * signs one with its own rule), with its captured body, and a marker
 * header (`X-Hyco-Replay`) by which its record is marked as a replay.
 */
import http from 'node:http';
import https from 'node:https';
import { randomBytes } from 'node:crypto';
import type { HttpRecord } from './http-record';
import { safeDebug } from '../tracking';
import { isRedactedPair, isSecretHeader, pairsOf } from './redaction';

const debug = safeDebug('hyco-relay-emulator:inspector');

/** The marker header of a replay. */
export const REPLAY_HEADER = 'x-hyco-replay';

/** Headers a replay does not copy: hop-by-hop ones, the length (recomputed), the tracking id, an older marker. */
const NOT_COPIED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade', 'te', 'trailer', 'expect', 'proxy-connection', 'sb-hc-id', REPLAY_HEADER]);

/** Where replays go: the relay itself. */
export interface ReplayRoute {
  /** `http:` or `https:`, the address to connect to, its port, and the certificate to trust with TLS (the relay's own). */
  origin(): { protocol: 'http:' | 'https:'; host: string; port: number; ca?: string };
  /** A Send token for the hybrid connection `path` reached as `hostname`, when it needs one. */
  token(hostname: string, path: string): string | undefined;
}

/** Why a request cannot be replayed: a stable code and the HTTP status it is answered with. */
export class ReplayError extends Error {
  constructor(
    readonly code: 'ERR_HYCO_REPLAY_NOT_FOUND' | 'ERR_HYCO_REPLAY_NO_BODY' | 'ERR_HYCO_REPLAY_FAILED' | 'ERR_HYCO_REPLAY_CLOSED',
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'ReplayError';
  }
}

/** How long a replay may take before it is given up, ms. */
const REPLAY_TIMEOUT_MS = 120_000;

export class Replayer {
  /** Markers of replays under way: nonce to the id of the record replayed. */
  private readonly pending = new Map<string, string>();
  private readonly inFlight = new Set<http.ClientRequest>();
  private closed = false;

  constructor(private readonly route: ReplayRoute) {}

  /** The id of the record a request with this marker replays (once per marker). */
  claim(nonce: string | string[] | undefined): { nonce: string; replayOf: string } | undefined {
    if (typeof nonce !== 'string') return undefined;
    const replayOf = this.pending.get(nonce);
    if (replayOf === undefined) return undefined;
    this.pending.delete(nonce);
    return { nonce, replayOf };
  }

  /**
   * Sends `record`'s request again; resolves with the marker once its
   * response has ended (or failed), when its own record is complete.
   */
  send(record: HttpRecord): Promise<string> {
    if (this.closed) return Promise.reject(new ReplayError('ERR_HYCO_REPLAY_CLOSED', 503, 'The relay is shutting down'));
    const start = record.start;
    const body = record.reqBody;
    if (record.requestSize > 0 && (!body || body.truncated)) {
      return Promise.reject(new ReplayError('ERR_HYCO_REPLAY_NO_BODY', 409, 'The request had a body that was not captured whole (start the emulator with --capture-bodies, and a large enough maxBodyBytes)'));
    }
    const url = new URL(start.url);
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of pairsOf(start.requestHeaders)) {
      const lower = name.toLowerCase();
      if (NOT_COPIED.has(lower) || isSecretHeader(lower) || value === '[redacted]') continue;
      const had = headers[lower];
      headers[lower] = had === undefined ? value : [...(Array.isArray(had) ? had : [had]), value];
    }
    const nonce = randomBytes(12).toString('hex');
    headers[REPLAY_HEADER] = nonce;
    const path = stripRedacted(start.target);
    const token = this.route.token(url.hostname, start.hybridConnection);
    if (token) headers.servicebusauthorization = token;
    const bytes = body && record.requestSize > 0 ? body.bytes() : undefined;
    if (bytes) headers['content-length'] = String(bytes.length);
    const origin = this.route.origin();
    this.pending.set(nonce, start.id);
    debug('replaying request %s to %s', start.id, start.hybridConnection);
    return new Promise<string>((resolve, reject) => {
      const options: https.RequestOptions = { protocol: origin.protocol, host: origin.host, port: origin.port, method: start.method, path, headers, agent: false, timeout: REPLAY_TIMEOUT_MS };
      if (origin.ca) {
        // The relay's own certificate, on the relay's own address: trusted as is (its names may not include the address dialled).
        options.ca = origin.ca;
        options.checkServerIdentity = () => undefined;
      }
      const req = (origin.protocol === 'https:' ? https : http).request(options);
      this.inFlight.add(req);
      const done = (err?: Error) => {
        this.inFlight.delete(req);
        this.pending.delete(nonce);
        if (err) {
          debug('replay of %s failed: %s', start.id, err.message);
          reject(new ReplayError('ERR_HYCO_REPLAY_FAILED', 502, `The replay failed: ${err.message}`));
        }
        else resolve(nonce);
      };
      req.on('response', (res) => {
        res.resume();
        // Ended or cut: either way its record says how.
        res.on('close', () => done());
        res.on('error', () => undefined);
      });
      req.on('timeout', () => req.destroy(new Error('no answer in time')));
      req.on('error', (err) => {
        // A request whose record exists (the relay took it) resolves: the record tells what happened.
        if (!this.pending.has(nonce)) done();
        else done(err);
      });
      req.end(bytes);
    });
  }

  /** Ends every replay under way. */
  close(): void {
    this.closed = true;
    for (const req of this.inFlight) req.destroy();
    this.inFlight.clear();
    this.pending.clear();
  }
}

/** A recorded path with its redacted query parameters left out. */
function stripRedacted(path: string): string {
  const q = path.indexOf('?');
  if (q < 0) return path;
  const kept = path.slice(q + 1).split('&').filter((p) => p && !isRedactedPair(p));
  return kept.length ? `${path.slice(0, q)}?${kept.join('&')}` : path.slice(0, q);
}

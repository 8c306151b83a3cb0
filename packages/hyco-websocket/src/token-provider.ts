/**
 * The token source of a listener (or sender): a SAS token or JWT string, a
 * function returning one, or a credential (TokenCredential: Entra ID tokens
 * for the relay scope; NamedKeyCredential: SAS tokens minted for the
 * address; SASCredential: its current signature). Every call is bounded by
 * a timeout; a source that throws, hangs or gives nothing is
 * `ERR_HYCO_TOKEN_PROVIDER`. Knows when each token expires (SAS `se`, JWT
 * `exp`, or what the credential says) and when to get the next.
 */
import type { RelayCredential, TokenCredential } from './credentials';
import { RELAY_SCOPE, isNamedKeyCredential, isSASCredential, isTokenCredential, jwtExpiry } from './credentials';
import { RelayArgumentError, RelayError } from './errors';
import { createRelayToken, tokenExpiry } from './protocol/token';
import { MAX_TIMER_MS } from './timers';

/** A token, a function returning one (or a Promise of one), or a credential. */
export type TokenSource = string | (() => string | Promise<string>) | RelayCredential;

export interface ProvidedToken {
  token: string;
  /** Expiry in Unix seconds, when known. */
  expiry: number | undefined;
  /** When to renew (ms since the epoch), when the source says (a credential's refreshAfterTimestamp). */
  refreshAt?: number;
}

/** Lifetime of the SAS tokens minted from a NamedKeyCredential, seconds. */
const MINTED_TOKEN_TTL = 3600;

export class TokenProvider {
  /**
   * @param source what gives the tokens
   * @param resource the address tokens are minted for (a NamedKeyCredential's)
   */
  constructor(
    private readonly source: TokenSource,
    private readonly resource: string,
  ) {
    TokenProvider.check(source);
  }

  /** Throws `ERR_HYCO_INVALID_ARGUMENT` unless `source` is a token source. */
  static check(source: unknown): asserts source is TokenSource {
    if (typeof source === 'string') {
      if (source.length === 0) throw new RelayArgumentError('The "token" option must not be empty');
    } else if (typeof source !== 'function' && !isTokenCredential(source) && !isNamedKeyCredential(source) && !isSASCredential(source)) {
      throw new RelayArgumentError(
        'The "token" (or "credential") option must be a token string, a function returning one, or a credential (TokenCredential, AzureNamedKeyCredential or AzureSASCredential)',
      );
    }
  }

  /** Whether a later call can give a new token (everything but a fixed string). */
  get renewable(): boolean {
    return typeof this.source !== 'string';
  }

  /** What kind of source this is, for messages. */
  get kind(): 'token' | 'function' | 'TokenCredential' | 'NamedKeyCredential' | 'SASCredential' {
    const s = this.source;
    if (typeof s === 'string') return 'token';
    if (typeof s === 'function') return 'function';
    if (isTokenCredential(s)) return 'TokenCredential';
    return isNamedKeyCredential(s) ? 'NamedKeyCredential' : 'SASCredential';
  }

  /**
   * Gets a token. Rejects with `ERR_HYCO_TOKEN_PROVIDER` when the source
   * throws, gives no token, or does not settle within `timeoutMs` (a source
   * that hangs must not stall the listener). Never puts the token in an
   * error.
   */
  async get(timeoutMs: number): Promise<ProvidedToken> {
    const source = this.source;
    if (typeof source === 'string') return { token: source, expiry: await expiryOf(source) };
    if (typeof source === 'function' || isTokenCredential(source)) return this.call(source, timeoutMs);
    if (isNamedKeyCredential(source)) {
      let token: string;
      try {
        token = createRelayToken(this.resource, source.name, source.key, MINTED_TOKEN_TTL);
      } catch (err) {
        throw new RelayError('ERR_HYCO_TOKEN_PROVIDER', `The NamedKeyCredential could not sign a token: ${(err as Error).message}`, { cause: err });
      }
      return { token, expiry: tokenExpiry(token) };
    }
    const token = source.signature;
    if (!token) throw new RelayError('ERR_HYCO_TOKEN_PROVIDER', 'The SASCredential holds no signature');
    return { token, expiry: await expiryOf(token) };
  }

  /** Calls a token function or a TokenCredential, bounded by `timeoutMs`. */
  private async call(source: (() => string | Promise<string>) | TokenCredential, timeoutMs: number): Promise<ProvidedToken> {
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new RelayError('ERR_HYCO_TOKEN_PROVIDER', `The ${this.kind === 'function' ? 'token function' : 'credential'} did not settle within ${timeoutMs} ms`));
      }, Math.min(timeoutMs, MAX_TIMER_MS));
    });
    try {
      if (typeof source === 'function') {
        const token: unknown = await Promise.race([Promise.resolve().then(source), deadline]);
        if (typeof token !== 'string' || token.length === 0) throw new RelayError('ERR_HYCO_TOKEN_PROVIDER', 'The token function did not return a token string');
        return { token, expiry: await expiryOf(token) };
      }
      const credential = source;
      const access = await Promise.race([Promise.resolve().then(() => credential.getToken(RELAY_SCOPE, { abortSignal: controller.signal })), deadline]);
      if (!access || typeof access.token !== 'string' || access.token.length === 0) {
        throw new RelayError('ERR_HYCO_TOKEN_PROVIDER', 'The credential gave no access token');
      }
      const provided: ProvidedToken = {
        // Sent raw, without "Bearer", as the relay expects.
        token: access.token.replace(/^Bearer\s+/i, ''),
        expiry: Number.isFinite(access.expiresOnTimestamp) ? Math.floor(access.expiresOnTimestamp / 1000) : await jwtExpiry(access.token),
      };
      if (typeof access.refreshAfterTimestamp === 'number' && Number.isFinite(access.refreshAfterTimestamp)) provided.refreshAt = access.refreshAfterTimestamp;
      return provided;
    } catch (err) {
      if (err instanceof RelayError && err.code === 'ERR_HYCO_TOKEN_PROVIDER') throw err;
      const what = this.kind === 'function' ? 'The token function' : 'The credential';
      throw new RelayError('ERR_HYCO_TOKEN_PROVIDER', `${what} failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A token's expiry: a SAS token's `se`, or a JWT's `exp`. */
async function expiryOf(token: string): Promise<number | undefined> {
  return tokenExpiry(token) ?? (await jwtExpiry(token));
}

/**
 * When to renew a token expiring at `expiry` (Unix seconds), as a delay in
 * ms from `now`: at 80% of its remaining life, and at least two seconds
 * before it expires (never sooner than 100 ms from now). When the source
 * named a time (`refreshAt`, ms), that time, within the same bounds.
 */
export function renewalDelay(expiry: number, now = Date.now(), refreshAt?: number): number {
  const remaining = expiry * 1000 - now;
  const latest = remaining - 2000;
  if (refreshAt !== undefined) return Math.max(100, Math.min(refreshAt - now, latest));
  return Math.max(100, Math.min(remaining * 0.8, latest));
}

/**
 * The listener's token source: a fixed string, or a function (sync or
 * async) called for every connect and renewal. Knows when a token expires.
 */
import { RelayArgumentError, RelayError } from './errors';
import { tokenExpiry } from './protocol/token';
import { MAX_TIMER_MS } from './timers';

/** A token, or a function returning one (or a Promise of one). */
export type TokenSource = string | (() => string | Promise<string>);

export interface ProvidedToken {
  token: string;
  /** Expiry in Unix seconds, when the token is a readable SAS token. */
  expiry: number | undefined;
}

export class TokenProvider {
  constructor(private readonly source: TokenSource) {
    if (typeof source !== 'string' && typeof source !== 'function') {
      throw new RelayArgumentError('The "token" option must be a token string or a function returning one');
    }
    if (typeof source === 'string' && source.length === 0) {
      throw new RelayArgumentError('The "token" option must not be empty');
    }
  }

  /** Whether the token can be renewed (the function form). */
  get renewable(): boolean {
    return typeof this.source === 'function';
  }

  /**
   * Gets a token. Rejects with `ERR_HYCO_TOKEN_PROVIDER` when the function
   * throws, returns no string, or does not settle within `timeoutMs` (a
   * token function that hangs must not stall the listener).
   */
  async get(timeoutMs: number): Promise<ProvidedToken> {
    let token: unknown;
    if (typeof this.source === 'string') token = this.source;
    else {
      const source = this.source;
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(
          () => reject(new RelayError('ERR_HYCO_TOKEN_PROVIDER', `The token function did not settle within ${timeoutMs} ms`)),
          Math.min(timeoutMs, MAX_TIMER_MS),
        );
      });
      try {
        token = await Promise.race([Promise.resolve().then(source), deadline]);
      } catch (err) {
        if (err instanceof RelayError && err.code === 'ERR_HYCO_TOKEN_PROVIDER') throw err;
        throw new RelayError('ERR_HYCO_TOKEN_PROVIDER', `The token function failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
      } finally {
        clearTimeout(timer);
      }
    }
    if (typeof token !== 'string' || token.length === 0) {
      throw new RelayError('ERR_HYCO_TOKEN_PROVIDER', 'The token function did not return a token string');
    }
    return { token, expiry: tokenExpiry(token) };
  }
}

/**
 * When to renew a token expiring at `expiry` (Unix seconds), as a delay in
 * ms from `now`: at 80% of its remaining life, and at least two seconds
 * before it expires (never sooner than 100 ms from now).
 */
export function renewalDelay(expiry: number, now = Date.now()): number {
  const remaining = expiry * 1000 - now;
  return Math.max(100, Math.min(remaining * 0.8, remaining - 2000));
}

/**
 * The listener's token source: a fixed string, or a function (sync or
 * async) called for every connect and renewal. Knows when a token expires.
 */
import { RelayArgumentError, RelayError } from './errors';
import { tokenExpiry } from './protocol/token';

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

  /** Gets a token. Rejects with `ERR_HYCO_TOKEN_PROVIDER` when the function throws or returns no string. */
  async get(): Promise<ProvidedToken> {
    let token: unknown;
    try {
      token = typeof this.source === 'function' ? await this.source() : this.source;
    } catch (err) {
      throw new RelayError('ERR_HYCO_TOKEN_PROVIDER', `The token function failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
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

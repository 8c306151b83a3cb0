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
    try {
      TokenProvider.checkShape(source);
    } catch (err) {
      if (err instanceof RelayArgumentError) throw err;
      // A credential whose getters throw: refused up front, without its message (it may quote a value).
      throw new RelayArgumentError('The "token" (or "credential") option could not be read (a property getter threw)');
    }
  }

  private static checkShape(source: unknown): void {
    if (typeof source === 'string') {
      if (source.length === 0) throw new RelayArgumentError('The "token" option must not be empty');
      const problem = tokenTextProblem(source);
      if (problem) throw new RelayArgumentError(`The "token" option ${problem}`);
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
  async get(timeoutMs: number, signal?: AbortSignal): Promise<ProvidedToken> {
    const source = this.source;
    if (signal?.aborted) throw abortReason(signal);
    if (typeof source === 'string') return { token: source, expiry: await expiryOf(source) };
    if (typeof source === 'function' || isTokenCredential(source)) return checked(await this.call(source, timeoutMs, signal), this.kind);
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
    return checked({ token, expiry: await expiryOf(token) }, this.kind);
  }

  /** Calls a token function or a TokenCredential, bounded by `timeoutMs`. */
  private async call(source: (() => string | Promise<string>) | TokenCredential, timeoutMs: number, signal: AbortSignal | undefined): Promise<ProvidedToken> {
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    // Ends at the timeout, or at once when the caller aborts (the credential is told either way).
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new RelayError('ERR_HYCO_TOKEN_PROVIDER', `The ${this.kind === 'function' ? 'token function' : 'credential'} did not settle within ${timeoutMs} ms`));
      }, Math.min(timeoutMs, MAX_TIMER_MS));
      if (signal) {
        onAbort = () => {
          controller.abort(signal.reason);
          reject(abortReason(signal));
        };
        signal.addEventListener('abort', onAbort, { once: true });
      }
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
      if (signal?.aborted) throw abortReason(signal);
      const what = this.kind === 'function' ? 'The token function' : 'The credential';
      throw new RelayError('ERR_HYCO_TOKEN_PROVIDER', `${what} failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
  }
}

/** A token's expiry: a SAS token's `se`, or a JWT's `exp`. */
async function expiryOf(token: string): Promise<number | undefined> {
  return tokenExpiry(token) ?? (await jwtExpiry(token));
}

/** A source asking to be called again sooner than this, ms, is taken to be asking "at once" (a `refreshAfterTimestamp` of 0 or in the past). */
export const EARLY_RENEWAL_THRESHOLD_MS = 500;
/** The shortest wait before a renewal the source asked for at once, ms. */
export const MIN_RENEWAL_MS = 1000;
/** The wait after a renewal the source asked for at once, doubled each time it does so again, ms (at most half the token's remaining life). */
const EARLY_RENEWAL_MS = 30_000;

/**
 * When to renew a token expiring at `expiry` (Unix seconds), as a delay in
 * ms from `now`: at 80% of its remaining life, and at least two seconds
 * before it expires (never sooner than 100 ms from now). When the source
 * named a time (`refreshAt`, ms), that time, within the same bounds. A
 * source that asks to be called again at once (its time already past, or
 * under half a second away) gets a floor instead: 30 s, doubled for each
 * consecutive such renewal (`early`), at most half the remaining life and
 * never under a second, so that it cannot make the channel renew in a loop.
 */
export function renewalDelay(expiry: number, now = Date.now(), refreshAt?: number, early = 0): number {
  const remaining = expiry * 1000 - now;
  const latest = remaining - 2000;
  if (refreshAt !== undefined && refreshAt - now < EARLY_RENEWAL_THRESHOLD_MS) {
    const floor = Math.min(EARLY_RENEWAL_MS * 2 ** Math.min(early, 8), remaining / 2);
    return Math.max(MIN_RENEWAL_MS, Math.min(floor, latest));
  }
  return Math.max(100, Math.min(refreshAt !== undefined ? refreshAt - now : remaining * 0.8, latest));
}

/** Whether a token with this expiry (Unix seconds) has already expired at `now` (ms). */
export function isExpired(expiry: number | undefined, now = Date.now()): boolean {
  return expiry !== undefined && expiry * 1000 <= now;
}

/**
 * Why `token` cannot travel in an HTTP header (CR, LF or another control
 * character, or surrounding white space, as a token read from a file with
 * its newline has), or undefined when it can. Never quotes the token.
 */
export function tokenTextProblem(token: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(token)) return 'contains a line break or another control character (a token read from a file keeps its newline: trim it)';
  if (/[\u0100-\uffff]/.test(token)) return 'contains characters that cannot travel in an HTTP header';
  if (token.trim() !== token) return 'begins or ends with white space (trim it)';
  return undefined;
}

/** A token a function or credential gave, refused when it cannot travel in a header. */
function checked(provided: ProvidedToken, kind: TokenProvider['kind']): ProvidedToken {
  const problem = tokenTextProblem(provided.token);
  if (!problem) return provided;
  const what = kind === 'function' ? 'token function' : kind === 'SASCredential' ? 'SASCredential' : 'credential';
  throw new RelayError('ERR_HYCO_TOKEN_PROVIDER', `The ${what} gave a token that ${problem}`);
}

/** What an aborted wait rejects with: the signal's reason when it is an error, else ERR_HYCO_ABORTED. */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  return new RelayError('ERR_HYCO_ABORTED', 'The operation was aborted', { cause: reason });
}

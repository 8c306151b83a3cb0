/**
 * Credentials: the Azure SDK's credential interfaces (@azure/core-auth's
 * `TokenCredential`, `NamedKeyCredential`, `SASCredential`), matched by
 * shape, so that `AzureNamedKeyCredential`, `AzureSASCredential`,
 * `DefaultAzureCredential`, `ManagedIdentityCredential` and any other
 * Azure SDK credential work as they are. (@azure/core-auth itself is not a
 * runtime dependency: its own dependencies now need Node.js 22, and this
 * package supports Node.js 20.)
 *
 * Microsoft Entra ID tokens for Azure Relay are asked for the scope
 * `https://relay.azure.net/.default` and sent raw (no `Bearer`) wherever a
 * SAS token goes (PROTOCOL.md, "Microsoft Entra ID (keyless) tokens").
 */

/** The scope Entra ID tokens for Azure Relay are asked for. */
export const RELAY_SCOPE = 'https://relay.azure.net/.default';

/** An access token, as a `TokenCredential` gives it. */
export interface AccessToken {
  token: string;
  /** When it expires, ms since the epoch. */
  expiresOnTimestamp: number;
  /** When to get a new one, ms since the epoch (optional). */
  refreshAfterTimestamp?: number;
  tokenType?: string;
}

/** Options a `TokenCredential` takes (the part this package passes). */
export interface GetTokenOptions {
  abortSignal?: AbortSignal;
  [option: string]: unknown;
}

/** The Azure SDK's `TokenCredential`: gives Entra ID access tokens. */
export interface TokenCredential {
  getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null>;
}

/** The Azure SDK's `NamedKeyCredential` (`AzureNamedKeyCredential`): a shared access rule's name and key. */
export interface NamedKeyCredential {
  readonly name: string;
  readonly key: string;
}

/** The Azure SDK's `SASCredential` (`AzureSASCredential`): a ready SAS token, replaceable with `update()`. */
export interface SASCredential {
  readonly signature: string;
}

/** Any credential the relay takes. */
export type RelayCredential = TokenCredential | NamedKeyCredential | SASCredential;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

export function isTokenCredential(value: unknown): value is TokenCredential {
  return isObject(value) && typeof value.getToken === 'function';
}

export function isNamedKeyCredential(value: unknown): value is NamedKeyCredential {
  return isObject(value) && typeof value.name === 'string' && typeof value.key === 'string';
}

export function isSASCredential(value: unknown): value is SASCredential {
  return isObject(value) && typeof value.signature === 'string';
}

/** Whether `value` is any credential the relay takes. */
export function isRelayCredential(value: unknown): value is RelayCredential {
  return isTokenCredential(value) || isNamedKeyCredential(value) || isSASCredential(value);
}

/** Whether `token` looks like a JWT (three base64url parts), as opposed to a SAS token. */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token.trim());
}

/** The `exp` of a JWT (Unix seconds), read with jose, without checking it; undefined when unreadable. */
export async function jwtExpiry(token: string): Promise<number | undefined> {
  if (!looksLikeJwt(token)) return undefined;
  try {
    const { decodeJwt } = await import('jose');
    const exp = decodeJwt(token.trim()).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp : undefined;
  } catch {
    return undefined;
  }
}

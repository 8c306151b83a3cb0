/**
 * `relayedFetch`: an HTTP request through the relay with Node's own
 * `fetch`, the relay's token added from a token source, through a proxy
 * when one applies (undici's `ProxyAgent`, an optional peer dependency
 * loaded only then).
 */
import { createRequire } from 'node:module';
import { ALLOWED_LISTENERS_HEADER, DISALLOWED_LISTENERS_HEADER, checkIds } from './client';
import { RelayArgumentError, RelayError } from './errors';
import { AUTH_HEADER } from './protocol/constants';
import { checkProxyOption, proxyFor } from './proxy';
import { TokenProvider } from './token-provider';
import type { TokenSource } from './token-provider';

const load = createRequire(__filename);

export interface RelayedFetchOptions {
  /** Where the relay's token comes from (as `relayedServer`'s `token`); none for an anonymous hybrid connection. */
  token?: TokenSource;
  credential?: TokenSource;
  /** An HTTP proxy, or false for none. Default: the environment's. */
  proxy?: string | false;
  /** Give up on getting a token after this long, ms. Default 30000. */
  tokenTimeout?: number;
  /** Only these listeners (tracking ids) may take the request. */
  allowedListeners?: string[];
  /** These listeners may not. */
  disallowedListeners?: string[];
}

interface UndiciModule {
  ProxyAgent: new (options: { uri: string; token?: string }) => object;
}

function proxyDispatcher(url: URL, option: string | false | undefined): object | undefined {
  const proxy = proxyFor(url.href, option);
  if (!proxy) return undefined;
  let undici: UndiciModule;
  try {
    undici = load('undici') as UndiciModule;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
    throw new RelayError('ERR_HYCO_MISSING_PACKAGE', `relayedFetch through a proxy (${proxy.source}) needs the package "undici", which is not installed: npm install undici`, { cause: err });
  }
  const bare = new URL(proxy.url.href);
  bare.username = '';
  bare.password = '';
  // The credentials travel as the Proxy-Authorization value, never in a URL something might print.
  const token = proxy.hasCredentials ? `Basic ${Buffer.from(`${decodeURIComponent(proxy.url.username)}:${decodeURIComponent(proxy.url.password)}`).toString('base64')}` : undefined;
  return new undici.ProxyAgent({ uri: bare.href, ...(token ? { token } : {}) });
}

/**
 * `fetch(address, init)` through the relay: `address` is
 * `createRelayHttpsUri(ns, path)` plus any path and query. The relay's
 * token goes in `ServiceBusAuthorization` (unless `init.headers` has one).
 * Resolves with fetch's `Response` (a relay refusal is a response too:
 * 401, 403, 404, 502, 504); rejects as fetch does when nothing answers.
 */
export async function relayedFetch(address: string | URL, init: RequestInit = {}, options: RelayedFetchOptions = {}): Promise<Response> {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new RelayArgumentError('The "address" argument is not a valid URL (use createRelayHttpsUri)');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RelayArgumentError('The "address" argument must be an http:// or https:// address (createRelayHttpsUri)');
  if (typeof options !== 'object' || options === null) throw new RelayArgumentError('The options argument must be an object');
  if (options.token != null && options.credential != null) throw new RelayArgumentError('Give either the "token" option or the "credential" option, not both');
  const source = options.token ?? options.credential;
  const proxyOption = checkProxyOption(options.proxy);
  const headers = new Headers(init.headers);
  if (source != null && !headers.has(AUTH_HEADER)) {
    // A token for the hybrid connection (the path's first segment): it covers any path under it.
    const entity = url.pathname.split('/').filter(Boolean)[0] ?? '';
    const token = await new TokenProvider(source, `http://${url.hostname}/${decodeURIComponent(entity)}`).get(options.tokenTimeout ?? 30_000);
    headers.set(AUTH_HEADER, token.token);
  }
  const allowed = checkIds(options.allowedListeners, 'allowedListeners');
  const disallowed = checkIds(options.disallowedListeners, 'disallowedListeners');
  if (allowed && !headers.has(ALLOWED_LISTENERS_HEADER)) headers.set(ALLOWED_LISTENERS_HEADER, allowed.join(','));
  if (disallowed && !headers.has(DISALLOWED_LISTENERS_HEADER)) headers.set(DISALLOWED_LISTENERS_HEADER, disallowed.join(','));
  const dispatcher = proxyDispatcher(url, proxyOption);
  return fetch(url, { ...init, headers, ...(dispatcher ? { dispatcher } : {}) } as RequestInit);
}

/**
 * `relayedFetch`: an HTTP request through the relay with Node's own
 * `fetch`, the relay's token added from a token source, through a proxy
 * when one applies (undici's `ProxyAgent`, an optional peer dependency
 * loaded only then).
 */
import { createRequire } from 'node:module';
import { ALLOWED_LISTENERS_HEADER, DISALLOWED_LISTENERS_HEADER, checkIds } from './client';
import { RelayArgumentError, RelayError, optionalAbortSignal, readOptions } from './errors';
import { AUTH_HEADER } from './protocol/constants';
import { decodeComponent } from './protocol/uri';
import { checkProxyOption, proxyFor } from './proxy';
import { TokenProvider, abortReason } from './token-provider';
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
  const token = proxy.authorization;
  try {
    return new undici.ProxyAgent({ uri: bare.href, ...(token ? { token } : {}) });
  } catch (err) {
    throw new RelayError('ERR_HYCO_PROXY', `The proxy ${proxy.display} (${proxy.source}) cannot be used: ${(err as Error).message}`, { cause: err });
  }
}

/** The headers that carry the relay's credentials or routing: they never go to another origin. */
const RELAY_ONLY_HEADERS = [AUTH_HEADER, ALLOWED_LISTENERS_HEADER, DISALLOWED_LISTENERS_HEADER, 'Authorization', 'Cookie', 'Proxy-Authorization'];
/** As fetch: at most this many redirects are followed. */
const MAX_REDIRECTS = 20;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** The hybrid connection an address names (the path's first segment), decoded when it can be. */
function entityOf(url: URL): string {
  return decodeComponent(url.pathname.split('/').filter(Boolean)[0] ?? '');
}

/** Whether fetch could send `body` again (a stream can be read once only). */
function replayable(body: RequestInit['body']): boolean {
  return body == null || typeof body === 'string' || body instanceof ArrayBuffer || ArrayBuffer.isView(body) || body instanceof Blob || body instanceof URLSearchParams || body instanceof FormData;
}

/**
 * `fetch(address, init)` through the relay: `address` is
 * `createRelayHttpsUri(ns, path)` plus any path and query. The relay's
 * token goes in `ServiceBusAuthorization` (unless `init.headers` has one).
 * Resolves with fetch's `Response` (a relay refusal is a response too:
 * 401, 403, 404, 502, 504); rejects as fetch does when nothing answers.
 *
 * Redirects: `init.redirect` works as in fetch (`follow` by default,
 * `manual`, `error`), but relayedFetch follows them itself so that the
 * relay's credentials never leave the relay's origin and hybrid
 * connection: a redirect to any other origin (scheme, host or port), or to
 * another hybrid connection of the namespace, is followed without
 * `ServiceBusAuthorization`, `Authorization`, `Cookie`,
 * `Proxy-Authorization` and the listener-choice headers. `init.signal`
 * ends every wait, the token's included.
 */
export async function relayedFetch(address: string | URL, givenInit: RequestInit = {}, givenOptions: RelayedFetchOptions = {}): Promise<Response> {
  const init = readOptions(givenInit, 'init');
  const options = readOptions(givenOptions);
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new RelayArgumentError('The "address" argument is not a valid URL (use createRelayHttpsUri)');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RelayArgumentError('The "address" argument must be an http:// or https:// address (createRelayHttpsUri)');
  // fetch refuses such an address with a message that quotes it, password and all.
  if (url.username || url.password) throw new RelayArgumentError('The "address" argument must not hold a user name or password (the relay takes a token)');
  if (typeof init !== 'object' || init === null) throw new RelayArgumentError('The "init" argument must be an object');
  if (typeof options !== 'object' || options === null) throw new RelayArgumentError('The options argument must be an object');
  if (options.token != null && options.credential != null) throw new RelayArgumentError('Give either the "token" option or the "credential" option, not both');
  const source = options.token ?? options.credential;
  if (source != null) TokenProvider.check(source);
  const tokenTimeout = options.tokenTimeout ?? 30_000;
  if (typeof tokenTimeout !== 'number' || !Number.isFinite(tokenTimeout) || tokenTimeout <= 0) throw new RelayArgumentError('The "tokenTimeout" option must be a positive number');
  const redirect = init.redirect ?? 'follow';
  if (redirect !== 'follow' && redirect !== 'manual' && redirect !== 'error') throw new RelayArgumentError('The "redirect" option must be "follow", "manual" or "error"');
  const proxyOption = checkProxyOption(options.proxy);
  const allowed = checkIds(options.allowedListeners, 'allowedListeners');
  const disallowed = checkIds(options.disallowedListeners, 'disallowedListeners');
  let headers: Headers;
  try {
    headers = new Headers(init.headers);
  } catch {
    // Node's message quotes the offending value, which may be a secret.
    throw new RelayArgumentError('The "headers" option holds a header name or value that is not valid in HTTP');
  }
  const signal = optionalAbortSignal(init.signal, 'signal');
  if (signal?.aborted) throw abortReason(signal);
  if (source != null && !headers.has(AUTH_HEADER)) {
    // A token for the hybrid connection (the path's first segment): it covers any path under it.
    const token = await new TokenProvider(source, `http://${url.hostname}/${entityOf(url)}`).get(tokenTimeout, signal);
    headers.set(AUTH_HEADER, token.token);
  }
  if (allowed && !headers.has(ALLOWED_LISTENERS_HEADER)) headers.set(ALLOWED_LISTENERS_HEADER, allowed.join(','));
  if (disallowed && !headers.has(DISALLOWED_LISTENERS_HEADER)) headers.set(DISALLOWED_LISTENERS_HEADER, disallowed.join(','));

  const relayOrigin = url.origin;
  const relayEntity = entityOf(url).toLowerCase();
  let method = (init.method ?? 'GET').toUpperCase();
  let body = init.body;
  for (let redirects = 0; ; redirects++) {
    const dispatcher = proxyDispatcher(url, proxyOption);
    const response = await fetch(url, { ...init, method, body, headers, redirect: 'manual', ...(dispatcher ? { dispatcher } : {}) } as RequestInit);
    const location = response.headers.get('location');
    if (redirect === 'manual' || !REDIRECT_STATUSES.has(response.status) || location === null) return redirects === 0 ? response : followed(response, url);
    await response.body?.cancel().catch(() => undefined);
    if (redirect === 'error') throw new TypeError(`fetch failed: the answer was a redirect (${response.status}) and "redirect" is "error"`);
    if (redirects >= MAX_REDIRECTS) throw new TypeError(`fetch failed: more than ${MAX_REDIRECTS} redirects`);
    let next: URL;
    try {
      next = new URL(location, url);
    } catch {
      throw new TypeError('fetch failed: the redirect\'s Location is not a valid URL');
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new TypeError('fetch failed: a redirect may only go to an http or https address');
    if ((response.status === 303 && method !== 'GET' && method !== 'HEAD') || ((response.status === 301 || response.status === 302) && method === 'POST')) {
      // As fetch: the next request is a GET without the body.
      method = 'GET';
      body = undefined;
      for (const name of ['Content-Type', 'Content-Length', 'Content-Encoding', 'Content-Language', 'Content-Location']) headers.delete(name);
    } else if (!replayable(body)) {
      throw new TypeError(`fetch failed: cannot follow a ${response.status} redirect with a streamed body (it cannot be sent again)`);
    }
    if (next.origin !== relayOrigin || entityOf(next).toLowerCase() !== relayEntity) {
      // Credentials never leave their origin, whatever the listener answers; nor do they follow a listener's
      // redirect to another hybrid connection of the namespace (a namespace-wide token would open it).
      headers = new Headers(headers);
      for (const name of RELAY_ONLY_HEADERS) headers.delete(name);
    }
    url = next;
  }
}

/** The last answer of a followed redirect chain, saying so as fetch's would (`redirected`, the final `url`). */
function followed(response: Response, url: URL): Response {
  Object.defineProperty(response, 'redirected', { value: true });
  Object.defineProperty(response, 'url', { value: url.href });
  return response;
}

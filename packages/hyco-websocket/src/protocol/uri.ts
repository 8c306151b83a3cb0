/**
 * Relay addresses: `wss://{namespace}:443/$hc/{path}[?query]` and the
 * listen / send forms with `sb-hc-*` parameters.
 */
import { isIP } from 'node:net';
import { RelayArgumentError, optionalString, requireString } from '../errors';
import {
  ACTION_CONNECT,
  ACTION_LISTEN,
  HC_PATH_PREFIX,
  PARAM_ACTION,
  PARAM_ID,
  PARAM_TOKEN,
} from './constants';
import { createRelayToken } from './token';

/** Where a namespace is reached: scheme, host and port. */
export interface RelayEndpoint {
  scheme: 'ws' | 'wss';
  /** Host name or address; IPv6 addresses in brackets. */
  host: string;
  port: number;
}

const SCHEME_MAP: Record<string, 'ws' | 'wss'> = {
  'ws:': 'ws',
  'wss:': 'wss',
  'http:': 'ws',
  'https:': 'wss',
  'sb:': 'wss',
};

/**
 * Reads a namespace argument: a bare host name (`contoso.servicebus.windows.net`,
 * reached with `wss` on 443) or a URL with a scheme and optional port
 * (`ws://127.0.0.1:9090`, `wss://contoso.servicebus.windows.net`).
 */
export function parseRelayNamespace(namespace: string): RelayEndpoint {
  requireString(namespace, 'namespace');
  const trimmed = namespace.trim();
  if (!trimmed.includes('://')) {
    if (/[/?#\s@]/.test(trimmed) || !isHostName(trimmed)) {
      throw new RelayArgumentError('The "namespace" argument must be a host name or a ws://, wss:// URL');
    }
    if (isIP(trimmed) === 6) return { scheme: 'wss', host: trimmed.toLowerCase(), port: 443 };
    // host or host:port, as a URL reads it (so that what is returned always makes a valid address).
    const bare = new URL(`wss://${trimmed}/`);
    return { scheme: 'wss', host: bare.hostname, port: bare.port ? Number(bare.port) : 443 };
  }
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    throw new RelayArgumentError('The "namespace" argument is not a valid URL');
  }
  const scheme = SCHEME_MAP[url.protocol];
  if (!scheme) {
    throw new RelayArgumentError(
      `The "namespace" argument has an unsupported scheme "${url.protocol.slice(0, -1)}" (use ws, wss, http, https or sb)`,
    );
  }
  const port = url.port ? Number(url.port) : scheme === 'wss' ? 443 : 80;
  return { scheme, host: url.hostname, port };
}

/** Whether `text` is a host name or address a URL can carry (an IPv6 address with or without brackets). */
function isHostName(text: string): boolean {
  const bare = text.replace(/^\[|\]$/g, '');
  if (isIP(bare) === 6) return true;
  try {
    const url = new URL(`wss://${text}/`);
    // Nothing the URL parser dropped or moved: "host:" (an empty port) or a name it had to rewrite is not a host.
    return url.hostname !== '' && `${url.hostname}${url.port ? `:${url.port}` : ''}` === text.toLowerCase().replace(/:443$/, '');
  } catch {
    return false;
  }
}

/** Percent-encodes what is not allowed in a path segment; valid `%XX` escapes are kept. */
function encodePathPart(text: string): string {
  // The u flag: a character outside the BMP is encoded whole, not as two halves (a URIError).
  return text.replace(/%(?![0-9a-fA-F]{2})|[^A-Za-z0-9\-._~!$&'()*+,;=:@%/]/gu, (ch) => encodeURIComponent(ch));
}

/** Percent-encodes what is not allowed in a query; valid `%XX` escapes are kept. */
function encodeQueryPart(text: string): string {
  return text.replace(/%(?![0-9a-fA-F]{2})|[^A-Za-z0-9\-._~!$&'()*+,;=:@%/?]/gu, (ch) => encodeURIComponent(ch));
}

/**
 * `wss://{namespace}:443/$hc/{path}`, keeping a suffix and query carried by
 * `path` (`hyco/rooms/7?user=ann`).
 */
export function createRelayBaseUri(namespace: string, path: string): string {
  const endpoint = parseRelayNamespace(namespace);
  const { encodedPath, querySuffix } = splitPath(path);
  return `${endpoint.scheme}://${endpoint.host}:${endpoint.port}/${HC_PATH_PREFIX}/${encodedPath}${querySuffix}`;
}

/** A `path` argument (hybrid connection, optional suffix and query), checked and encoded. */
function splitPath(path: string): { encodedPath: string; querySuffix: string } {
  requireString(path, 'path');
  const q = path.indexOf('?');
  const rawPath = (q === -1 ? path : path.slice(0, q)).replace(/^\/+/, '');
  const query = q === -1 ? '' : path.slice(q + 1);
  if (rawPath.length === 0) throw new RelayArgumentError('The "path" argument must name a hybrid connection');
  return { encodedPath: encodePathPart(rawPath), querySuffix: query ? `?${encodeQueryPart(query)}` : '' };
}

function actionUri(action: string, namespace: string, path: string, token?: string | null, id?: string | null): string {
  const base = createRelayBaseUri(namespace, path);
  const tokenText = optionalString(token, 'token');
  const idText = optionalString(id, 'id');
  let uri = `${base}${base.includes('?') ? '&' : '?'}${PARAM_ACTION}=${action}`;
  if (tokenText !== undefined) uri += `&${PARAM_TOKEN}=${encodeURIComponent(tokenText)}`;
  if (idText !== undefined) uri += `&${PARAM_ID}=${encodeURIComponent(idText)}`;
  return uri;
}

/** The address a listener opens its control channel on (`sb-hc-action=listen`). */
export function createRelayListenUri(namespace: string, path: string, token?: string | null, id?: string | null): string {
  return actionUri(ACTION_LISTEN, namespace, path, token, id);
}

/** The address a sender connects to (`sb-hc-action=connect`). */
export function createRelaySendUri(namespace: string, path: string, token?: string | null, id?: string | null): string {
  return actionUri(ACTION_CONNECT, namespace, path, token, id);
}

/**
 * Returns `uri` with a fresh token for it appended as `sb-hc-token`, for
 * clients that cannot set headers (browsers).
 */
export function appendRelayToken(uri: string, ruleName: string, key: string, expirationSeconds?: number): string {
  requireString(uri, 'uri');
  const token = createRelayToken(uri, ruleName, key, expirationSeconds);
  const hash = uri.indexOf('#');
  const head = hash === -1 ? uri : uri.slice(0, hash);
  const fragment = hash === -1 ? '' : uri.slice(hash);
  const separator = !head.includes('?') ? '?' : head.endsWith('?') || head.endsWith('&') ? '' : '&';
  return `${head}${separator}${PARAM_TOKEN}=${encodeURIComponent(token)}${fragment}`;
}

/**
 * The address HTTP senders use: `https://{namespace}/{path}` (`http://` and
 * the port kept for an emulator given as `ws://host:port`). The path may
 * carry a suffix and query.
 */
export function createRelayHttpsUri(namespace: string, path: string): string {
  const endpoint = parseRelayNamespace(namespace);
  const { encodedPath, querySuffix } = splitPath(path);
  const scheme = endpoint.scheme === 'wss' ? 'https' : 'http';
  const port = endpoint.port === (scheme === 'https' ? 443 : 80) ? '' : `:${endpoint.port}`;
  return `${scheme}://${endpoint.host}${port}/${encodedPath}${querySuffix}`;
}

/**
 * The part of a raw request path after the hybrid connection `entityPath`,
 * as sent (`/rooms/7`, or `/` when nothing follows). The entity is matched
 * segment by segment on the percent-decoded, case-insensitive form, as the
 * relay matches it, so `/%68yco/hello` on `hyco` gives `/hello`. Returns
 * undefined when `rawPath` does not start with the entity.
 */
export function pathAfterEntity(rawPath: string, entityPath: string): string | undefined {
  const segments = rawPath.replace(/^\/+/, '').split('/');
  const wanted = entityPath.replace(/^\/+|\/+$/g, '').toLowerCase().split('/');
  if (segments.length < wanted.length) return undefined;
  for (let i = 0; i < wanted.length; i++) {
    let segment = segments[i];
    try {
      segment = decodeURIComponent(segment);
    } catch {
      // Compared as sent.
    }
    if (segment.toLowerCase() !== wanted[i]) return undefined;
  }
  return `/${segments.slice(wanted.length).join('/')}`;
}

/** `uri` with the value of any `sb-hc-token` parameter masked, for logs. */
export function withoutToken(uri: string): string {
  return uri.replace(new RegExp(`([?&]${PARAM_TOKEN}=)[^&#]*`, 'gi'), '$1***');
}

/** `text` percent-decoded, or as it is when it is not valid percent-encoding (never a throw). */
export function decodeComponent(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * `rawQuery` (without `?`) less its `sb-hc-*` parameters, every other byte
 * as the sender sent it (no decoding, re-encoding or dropping of empty
 * parts: `&&&`, `flag` and `a=1&` stay as they are). As the service: only
 * a part with a value (`sb-hc-id=1`, `sb-hc-x=`) is the relay's; a bare
 * `sb-hc-undefined` is the sender's and stays.
 */
export function stripRelayQuery(rawQuery: string): string {
  if (!rawQuery) return '';
  return rawQuery
    .split('&')
    .filter((part) => {
      const eq = part.indexOf('=');
      if (eq === -1) return true;
      let name = part.slice(0, eq);
      try {
        name = decodeURIComponent(name.replace(/\+/g, ' '));
      } catch {
        // Compared as sent.
      }
      return !name.toLowerCase().startsWith('sb-hc-');
    })
    .join('&');
}

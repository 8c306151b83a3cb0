/**
 * Shared Access Signature tokens: creating them (listeners, senders) and
 * reading and checking them (the emulator). See PROTOCOL.md, "Shared Access
 * Signature tokens".
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { RelayArgumentError, RelayError, requireString } from '../errors';
import { SAS_SCHEME } from './constants';

/** Default token lifetime, in seconds. */
export const DEFAULT_TOKEN_TTL_SECONDS = 3600;

/** The parts of a SAS token. `resource` is decoded; `rawResource` is as signed. */
export interface SasToken {
  resource: string;
  rawResource: string;
  signature: string;
  /** Expiry, Unix seconds. */
  expiry: number;
  keyName: string;
}

/** Schemes a resource may be given with (`sb` as in connection strings). */
const RESOURCE_SCHEMES = new Set(['http:', 'https:', 'ws:', 'wss:', 'sb:']);

/**
 * Normalises an entity URI to the form a SAS token signs:
 * `http://{host}/{path}`, scheme http, no port, no query, no fragment and
 * no `$hc/` segment. Takes every form the URI helpers take and make: a host
 * name (the whole namespace), an endpoint such as `ws://127.0.0.1:9030`
 * (likewise), an entity address (`http://ns/hyco`, `ns/hyco`), or a full
 * listen or send URI (`wss://ns:443/$hc/hyco?sb-hc-action=listen`).
 * Throws a `TypeError` (`ERR_HYCO_INVALID_ARGUMENT`) for anything else,
 * such as two addresses run together (`http://ws://127.0.0.1:9030/hyco`),
 * which would give a token for no entity at all.
 */
export function normalizeResource(uri: string): string {
  const trimmed = uri.trim();
  // A scheme, unless it is a host followed by its port (`localhost:9030/hyco`).
  const scheme = /^([a-z][a-z0-9+.-]*):(?!\d+(?:[/?#]|$))/i.exec(trimmed);
  if (scheme && !trimmed.slice(scheme[0].length).startsWith('//')) throw badResource('a scheme must be followed by //');
  if (scheme && !RESOURCE_SCHEMES.has(`${scheme[1].toLowerCase()}:`)) {
    throw badResource(`the scheme "${scheme[1].slice(0, 10)}" is not one of http, https, ws, wss or sb`);
  }
  const rest = scheme ? trimmed.slice(scheme[0].length + 2) : trimmed;
  const pathAndMore = rest.replace(/^[^/?#]*/, '');
  const authority = rest.slice(0, rest.length - pathAndMore.length);
  if (!authority) throw badResource('it has no host name');
  if (authority.includes('@')) throw badResource('it must not carry credentials');
  const path = pathAndMore.replace(/[?#].*$/s, '');
  if (/:\/\//.test(pathAndMore.replace(/[?#].*$/s, '')) || path.includes('//')) {
    throw badResource('it looks like two addresses run together (use the URI helpers\' result, or a host name, as it is)');
  }
  const url = parseLoose(trimmed, 'uri');
  const entity = url.pathname.replace(/^\/\$hc(\/|$)/i, '/');
  return `http://${url.hostname}${entity}`;
}

function badResource(why: string): RelayArgumentError {
  return new RelayArgumentError(`The "uri" argument is not an address a token can be made for: ${why}`);
}

/**
 * Creates a SAS token for `uri`, valid `expirationSeconds` from now.
 *
 * @param uri the entity or namespace: a host name, an endpoint
 *   (`ws://127.0.0.1:9030`), an entity address, or a listen/send URI from
 *   the URI helpers (see `normalizeResource`)
 * @param ruleName the shared access rule (`skn`)
 * @param key the rule's key, used as given (its UTF-8 bytes key the HMAC)
 * @param expirationSeconds lifetime in seconds; default 3600
 */
export function createRelayToken(
  uri: string,
  ruleName: string,
  key: string,
  expirationSeconds: number = DEFAULT_TOKEN_TTL_SECONDS,
): string {
  requireString(uri, 'uri');
  requireString(ruleName, 'ruleName');
  requireString(key, 'key');
  if (expirationSeconds === undefined || expirationSeconds === null) expirationSeconds = DEFAULT_TOKEN_TTL_SECONDS;
  if (typeof expirationSeconds !== 'number' || !Number.isFinite(expirationSeconds) || expirationSeconds <= 0) {
    throw new RelayArgumentError('The "expirationSeconds" argument must be a positive number of seconds');
  }
  const expiry = Math.floor(Date.now() / 1000) + Math.round(expirationSeconds);
  const resource = encodeURIComponent(normalizeResource(uri));
  const signature = signResource(resource, expiry, key);
  return `${SAS_SCHEME} sr=${resource}&sig=${encodeURIComponent(signature)}&se=${expiry}&skn=${encodeURIComponent(ruleName)}`;
}

/** base64(HMAC-SHA256(key, encodedResource + "\n" + expiry)). */
export function signResource(encodedResource: string, expiry: number, key: string): string {
  return createHmac('sha256', Buffer.from(key, 'utf8')).update(`${encodedResource}\n${expiry}`).digest('base64');
}

/**
 * Parses a SAS token. Throws a `RelayError` with code
 * `ERR_HYCO_INVALID_TOKEN` naming the missing or malformed field (never
 * echoing the token).
 */
export function parseRelayToken(token: string): SasToken {
  if (typeof token !== 'string') throw invalid('the token is not a string');
  const text = token.trim();
  const schemeMatch = /^SharedAccessSignature\s+/i.exec(text);
  if (!schemeMatch) throw invalid('the token does not start with "SharedAccessSignature "');
  const fields = new Map<string, string>();
  for (const part of text.slice(schemeMatch[0].length).split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw invalid('the token has a field without a name or value');
    fields.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  const rawResource = fields.get('sr');
  const rawSignature = fields.get('sig');
  const rawExpiry = fields.get('se');
  const rawKeyName = fields.get('skn');
  if (!rawResource) throw invalid('the token has no "sr" (resource)');
  if (!rawSignature) throw invalid('the token has no "sig" (signature)');
  if (!rawExpiry) throw invalid('the token has no "se" (expiry)');
  if (!rawKeyName) throw invalid('the token has no "skn" (key name)');
  if (!/^\d{1,12}$/.test(rawExpiry)) throw invalid('the token\'s "se" (expiry) is not a number of seconds');
  let resource: string;
  let signature: string;
  let keyName: string;
  try {
    resource = decodeURIComponent(rawResource);
    signature = decodeURIComponent(rawSignature);
    keyName = decodeURIComponent(rawKeyName);
  } catch {
    throw invalid('the token has a badly percent-encoded field');
  }
  return { resource, rawResource, signature, expiry: Number(rawExpiry), keyName };
}

/** The expiry of a token as Unix seconds, or undefined when it is not a readable SAS token. */
export function tokenExpiry(token: string): number | undefined {
  try {
    return parseRelayToken(token).expiry;
  } catch {
    return undefined;
  }
}

/** Whether `token`'s signature was made with `key`. Constant-time over the signature bytes. */
export function verifySignature(token: SasToken, key: string): boolean {
  const expected = Buffer.from(signResource(token.rawResource, token.expiry, key), 'base64');
  const given = Buffer.from(token.signature, 'base64');
  if (given.length !== expected.length) {
    // Still spend the same time, so that length is not a timing oracle.
    timingSafeEqual(expected, expected);
    return false;
  }
  return timingSafeEqual(given, expected);
}

/**
 * Reduces a URI to `host/path` for audience comparison: scheme, port, case,
 * `$hc/`, query and a trailing slash are ignored, as the service does.
 */
export function audienceKey(uri: string): string {
  const url = parseLoose(uri, 'uri');
  const path = url.pathname.replace(/^\/\$hc(\/|$)/i, '/').replace(/\/+$/, '');
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    decoded = path;
  }
  return `${url.hostname}${decoded}`.toLowerCase();
}

/**
 * Whether a token for `resource` covers `entityUri`: equal, or a prefix
 * ending at a `/` boundary (so a token for `a` does not cover `ab`).
 */
export function resourceCovers(resource: string, entityUri: string): boolean {
  const granted = audienceKey(resource);
  const wanted = audienceKey(entityUri);
  return wanted === granted || wanted.startsWith(`${granted}/`);
}

function parseLoose(uri: string, name: string): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(uri) ? uri : `http://${uri}`;
  try {
    return new URL(withScheme);
  } catch {
    throw new RelayArgumentError(`The "${name}" argument is not a valid URI`);
  }
}

function invalid(what: string): RelayError {
  return new RelayError('ERR_HYCO_INVALID_TOKEN', `Malformed SAS token: ${what}`);
}

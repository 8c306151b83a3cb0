/** Cookies: reading a sender's `Cookie` header and writing `Set-Cookie` for its handshake. */
import { RelayError } from './errors';

/** A cookie the sender sent. */
export interface RequestCookie {
  name: string;
  value: string | null;
}

/** A cookie to set on the sender's handshake (as `websocket`'s `accept` takes them). */
export interface SetCookie {
  name: string;
  value: string;
  path?: string;
  domain?: string;
  expires?: Date;
  maxage?: number | string;
  secure?: boolean;
  httponly?: boolean;
}

/** Parses a `Cookie` header into name/value pairs (values percent-decoded where possible). */
export function parseCookieHeader(header: string | undefined): RequestCookie[] {
  if (!header) return [];
  const cookies: RequestCookie[] = [];
  for (const pair of header.split(/[;,]\s*/)) {
    if (!pair.trim()) continue;
    const eq = pair.indexOf('=');
    if (eq === -1) {
      cookies.push({ name: pair.trim(), value: null });
      continue;
    }
    let value = pair.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    try {
      value = decodeURIComponent(value);
    } catch {
      // Kept as sent.
    }
    cookies.push({ name: pair.slice(0, eq).trim(), value });
  }
  return cookies;
}

// RFC 6265 section 4.1.1: token characters for names, cookie-octets for
// values; control characters are exactly what these classes must exclude.
// eslint-disable-next-line no-control-regex
const BAD_NAME = /[\x00-\x20"(),/:-@[-\]{}\x7f]/;
const BAD_VALUE = /[^\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]/;
// eslint-disable-next-line no-control-regex
const BAD_ATTRIBUTE = /[\x00-\x1f;\x7f]/;

function bad(message: string): RelayError {
  return new RelayError('ERR_HYCO_INVALID_ARGUMENT', message);
}

/** Serialises cookies to `Set-Cookie` values; throws naming the first bad one. */
export function serializeSetCookies(cookies: unknown): string[] {
  if (cookies === undefined || cookies === null) return [];
  if (!Array.isArray(cookies)) throw bad('The "cookies" argument must be an array');
  const seen = new Set<string>();
  return cookies.map((raw: unknown) => {
    const cookie = raw as Partial<SetCookie> | null;
    if (!cookie || typeof cookie.name !== 'string' || !cookie.name || typeof cookie.value !== 'string') {
      throw bad('Each cookie must have a string "name" and "value"');
    }
    if (seen.has(cookie.name)) throw bad(`The cookie "${cookie.name}" is given twice`);
    seen.add(cookie.name);
    if (BAD_NAME.test(cookie.name)) throw bad('Illegal character in cookie name');
    const quoted = /^"[^"]*"$/.test(cookie.value);
    if (BAD_VALUE.test(quoted ? cookie.value.slice(1, -1) : cookie.value)) throw bad(`Illegal character in the value of cookie "${cookie.name}"`);
    const parts = [`${cookie.name}=${cookie.value}`];
    if (cookie.path !== undefined) {
      if (typeof cookie.path !== 'string' || BAD_ATTRIBUTE.test(cookie.path)) throw bad('Illegal cookie path');
      parts.push(`Path=${cookie.path}`);
    }
    if (cookie.domain !== undefined) {
      if (typeof cookie.domain !== 'string' || BAD_ATTRIBUTE.test(cookie.domain)) throw bad('Illegal cookie domain');
      parts.push(`Domain=${cookie.domain.toLowerCase()}`);
    }
    if (cookie.expires !== undefined) {
      if (!(cookie.expires instanceof Date) || Number.isNaN(cookie.expires.getTime())) throw bad('Cookie "expires" must be a valid Date');
      parts.push(`Expires=${cookie.expires.toUTCString()}`);
    }
    if (cookie.maxage !== undefined) {
      const maxage = typeof cookie.maxage === 'string' ? parseInt(cookie.maxage, 10) : cookie.maxage;
      if (typeof maxage !== 'number' || !Number.isFinite(maxage) || maxage <= 0) throw bad('Cookie "maxage" must be a positive number');
      parts.push(`Max-Age=${Math.round(maxage)}`);
    }
    if (cookie.secure !== undefined) {
      if (typeof cookie.secure !== 'boolean') throw bad('Cookie "secure" must be a boolean');
      if (cookie.secure) parts.push('Secure');
    }
    if (cookie.httponly !== undefined) {
      if (typeof cookie.httponly !== 'boolean') throw bad('Cookie "httponly" must be a boolean');
      if (cookie.httponly) parts.push('HttpOnly');
    }
    return parts.join('; ');
  });
}

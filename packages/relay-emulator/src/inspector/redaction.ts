/**
 * Redaction: what the inspector keeps of headers and query strings, with
 * every credential replaced by `[redacted]` before it is stored. Nothing
 * secret is kept, so nothing secret can leave in a record or an export.
 */

export const REDACTED = '[redacted]';

/** Headers that carry credentials, whatever their value looks like. */
const SECRET_HEADERS = new Set([
  'authorization',
  'proxy-authorization',
  'servicebusauthorization',
  'sb-hc-token',
  'cookie',
  'set-cookie',
  'x-api-key',
  'api-key',
  'ocp-apim-subscription-key',
  'x-ms-authorization-auxiliary',
  'x-identity-header',
]);

/** Query parameters that carry credentials (SAS fields, OAuth tokens and codes, keys). */
const SECRET_PARAMS = /^(sig|se|skn|sr|signature|sb-hc-token|token|access_token|id_token|refresh_token|code|key|apikey|api_key|api-key|password|passwd|secret|client_secret|x-amz-signature|x-amz-credential|x-goog-signature)$/i;

/** A SAS token, a JWT, a bearer token or a basic credential, wherever it appears. */
const SECRET_VALUE = /SharedAccessSignature|(^|[^A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.|^\s*(bearer|basic)\s+\S/i;

/** Whether a value looks like a credential (a SAS token, a JWT, a bearer or basic credential). */
export function looksSecret(value: string): boolean {
  return SECRET_VALUE.test(value);
}

/** `rawHeaders` (name, value, name, value...) copied flat, credentials redacted, values cut at `maxValue` characters; at most `max` headers. */
export function redactRawHeaders(raw: readonly string[], max = 200, maxValue = 4096): string[] {
  const n = Math.min(raw.length - (raw.length % 2), max * 2);
  const out = new Array<string>(n);
  for (let i = 0; i < n; i += 2) {
    const name = raw[i];
    const value = raw[i + 1];
    out[i] = name;
    out[i + 1] = redactHeader(name, value.length > maxValue ? `${value.slice(0, maxValue)}…` : value);
  }
  return out;
}

/** Flat name, value pairs as `[name, value]` tuples. */
export function pairsOf(flat: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i], flat[i + 1]]);
  return out;
}

/** A header record (as the listener gave it) flat (name, value, ...), redacted. */
export function redactHeaderRecord(headers: Record<string, string | string[] | number | undefined>, max = 200): string[] {
  const out: string[] = [];
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) {
      for (const one of value) if (out.length < max * 2) out.push(name, redactHeader(name, one));
    } else if (out.length < max * 2) out.push(name, redactHeader(name, String(value)));
  }
  return out;
}

/** One header's value as kept: `[redacted]` for a credential header or a credential-looking value. */
export function redactHeader(name: string, value: string): string {
  // The shortest credential the patterns match is longer than 8 characters.
  return SECRET_HEADERS.has(name.toLowerCase()) || (value.length > 8 && looksSecret(value)) ? REDACTED : value;
}

/** Whether a header is one the inspector redacts by name (a replay leaves it out). */
export function isSecretHeader(name: string): boolean {
  return SECRET_HEADERS.has(name.toLowerCase());
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}

/**
 * A query string (without `?`) with every credential-looking parameter's
 * value replaced by `[redacted]`; other parameters stay as sent.
 */
export function redactQuery(query: string): string {
  if (!query) return '';
  return query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq);
      const value = eq < 0 ? '' : pair.slice(eq + 1);
      return SECRET_PARAMS.test(decode(name)) || looksSecret(decode(value)) ? `${name}=${encodeURIComponent(REDACTED)}` : pair;
    })
    .join('&');
}

/** A request target (`/path?query`) with its query redacted. */
export function redactTarget(target: string): string {
  const q = target.indexOf('?');
  if (q < 0) return target;
  const query = redactQuery(target.slice(q + 1));
  return query ? `${target.slice(0, q)}?${query}` : target.slice(0, q);
}

/** Whether a query parameter was redacted (a replay leaves it out). */
export function isRedactedPair(pair: string): boolean {
  return pair.endsWith(`=${encodeURIComponent(REDACTED)}`);
}

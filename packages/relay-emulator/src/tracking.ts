/**
 * Tracking ids, status texts and the text the emulator shows: status texts
 * in the service's style
 * (`{what is wrong}. TrackingId:{uuid}, SystemTracker:{host}:HybridConnection:{path}, Timestamp:{iso}`),
 * client-supplied strings made safe to log, and close reasons that fit a
 * close frame.
 */
import { randomUUID } from 'node:crypto';
import createDebug from 'debug';

/** A new tracking id, as the service hands out. */
export function newTrackingId(): string {
  return randomUUID();
}

/**
 * A status text safe for an HTTP reason phrase: printable ASCII only, one
 * line, bounded length.
 */
export function statusText(what: string, trackingId: string, host: string, path: string): string {
  const text = `${what}. TrackingId:${trackingId}, SystemTracker:${host}:HybridConnection:${path}, Timestamp:${new Date().toISOString()}`;
  return sanitizeReason(text);
}

/** Printable ASCII, no CR/LF, at most 512 characters. */
export function sanitizeReason(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, ' ').slice(0, 512);
}

/**
 * Characters that must never reach a log line or an event as they are:
 * C0 and C1 controls (CR, LF, ESC...), DEL, line and paragraph separators,
 * bidirectional overrides and lone surrogates, any of which can forge or
 * disguise a log line.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** The longest client-supplied string shown in a log line or event, characters. */
export const MAX_SHOWN = 200;

/**
 * A client-supplied string made safe to log or report: unsafe characters
 * escaped (`\x0d`, `\u202e`), at most `max` characters (then `…`).
 */
export function printable(text: unknown, max = MAX_SHOWN): string {
  const s = typeof text === 'string' ? text : String(text);
  const escaped = s.replace(UNSAFE, (ch) => {
    const code = ch.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
  return escaped.length > max ? `${escaped.slice(0, max)}…` : escaped;
}

/**
 * A `debug` logger whose string arguments are passed through `printable`:
 * whatever a client sent cannot forge or break a log line.
 */
export function safeDebug(namespace: string): (format: string, ...args: unknown[]) => void {
  const log = createDebug(namespace);
  return (format, ...args) => {
    if (!log.enabled) return;
    log(format, ...args.map((a) => (typeof a === 'string' ? printable(a) : a)));
  };
}

/** The most bytes a close frame's reason may take (125 less the code). */
export const MAX_CLOSE_REASON_BYTES = 123;

/** `text` cut to at most 123 UTF-8 bytes, on a character boundary. */
export function closeReason(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= MAX_CLOSE_REASON_BYTES) return text;
  let end = MAX_CLOSE_REASON_BYTES;
  // Step back over continuation bytes (10xxxxxx) to the start of the cut character.
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}

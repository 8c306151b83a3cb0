/**
 * Tracking ids, status texts and the text the emulator shows: status texts
 * in the service's style
 * (`{what is wrong}. TrackingId:{uuid}, SystemTracker:{host}:HybridConnection:{path}, Timestamp:{iso}`),
 * client-supplied strings made safe to log, and close reasons that fit a
 * close frame.
 */
import { randomUUID } from 'node:crypto';
import createDebug from 'debug';
import { printable } from 'hyco-websocket/protocol';

export { MAX_SHOWN, printable } from 'hyco-websocket/protocol';

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

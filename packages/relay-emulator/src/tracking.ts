/**
 * Tracking ids and status texts in the service's style:
 * `{what is wrong}. TrackingId:{uuid}, SystemTracker:{host}:HybridConnection:{path}, Timestamp:{iso}`.
 */
import { randomUUID } from 'node:crypto';

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

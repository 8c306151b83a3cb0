/** The inspector's options and their defaults. */

/** What the inspector records, and its bounds. */
export interface InspectorOptions {
  /**
   * Record HTTP requests, relayed connections and listener history (what
   * `GET /$requests`, `/$connections` and the dashboard's tabs show).
   * Default: on when the emulator listens on a loopback address, off
   * otherwise. `/metrics` counts either way.
   */
  record?: boolean;
  /**
   * Keep request and response bodies (up to `maxBodyBytes` each,
   * `maxCapturedBytes` in all) and the first `capturedMessages` messages
   * each way of relayed connections. Default false: sizes only.
   */
  captureBodies?: boolean;
  /** How many requests are kept, and how many closed connections and listener events: the last N. Default 500. */
  ringSize?: number;
  /** Bytes kept of one body; the rest is counted, not kept. Default 65536 (64 KiB). */
  maxBodyBytes?: number;
  /** Bytes kept of all bodies together; the oldest bodies are dropped to make room. Default 16777216 (16 MiB). */
  maxCapturedBytes?: number;
  /** Messages kept each way per relayed connection with capture on (1 KiB of each). Default 10. */
  capturedMessages?: number;
}

export interface ResolvedInspectorOptions {
  record: boolean;
  captureBodies: boolean;
  ringSize: number;
  maxBodyBytes: number;
  maxCapturedBytes: number;
  capturedMessages: number;
  /** Bytes kept of each captured message. */
  messageBytes: number;
}

export const DEFAULT_RING_SIZE = 500;
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;
export const DEFAULT_MAX_CAPTURED_BYTES = 16 * 1024 * 1024;
export const DEFAULT_CAPTURED_MESSAGES = 10;
/** Bytes kept of each captured WebSocket message. */
export const MESSAGE_BYTES = 1024;
/** The largest ring allowed (memory stays bounded whatever is asked). */
export const MAX_RING_SIZE = 100_000;

function wholeNumber(value: unknown, name: string, fallback: number, min: number, max: number, fail: (m: string) => Error): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw fail(`${name} must be a whole number from ${min} to ${max}`);
  return value;
}

/**
 * Fills in the defaults; `loopback` says whether the emulator listens on a
 * loopback address (recording's default). `fail` makes the option error.
 */
export function resolveInspectorOptions(options: InspectorOptions | undefined, captureBodies: boolean | undefined, loopback: boolean, fail: (message: string) => Error): ResolvedInspectorOptions {
  const o: InspectorOptions = options ?? {};
  if (typeof o !== 'object' || o === null) throw fail('inspector must be an object');
  if (o.record !== undefined && typeof o.record !== 'boolean') throw fail('inspector.record must be true or false');
  const capture = o.captureBodies ?? captureBodies ?? false;
  if (typeof capture !== 'boolean') throw fail('captureBodies must be true or false');
  return {
    record: o.record ?? loopback,
    captureBodies: capture,
    ringSize: wholeNumber(o.ringSize, 'inspector.ringSize', DEFAULT_RING_SIZE, 1, MAX_RING_SIZE, fail),
    maxBodyBytes: wholeNumber(o.maxBodyBytes, 'inspector.maxBodyBytes', DEFAULT_MAX_BODY_BYTES, 0, 64 * 1024 * 1024, fail),
    maxCapturedBytes: wholeNumber(o.maxCapturedBytes, 'inspector.maxCapturedBytes', DEFAULT_MAX_CAPTURED_BYTES, 0, 1024 * 1024 * 1024, fail),
    capturedMessages: wholeNumber(o.capturedMessages, 'inspector.capturedMessages', DEFAULT_CAPTURED_MESSAGES, 0, 1000, fail),
    messageBytes: MESSAGE_BYTES,
  };
}

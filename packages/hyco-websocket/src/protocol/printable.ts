/**
 * Text from the network made safe to print or log: a value a peer chose
 * (a tracking id, a path, a message, a status text) must not be able to
 * forge a log line or drive the reader's terminal.
 */

/**
 * Characters that must never reach a log line or a terminal as they are:
 * C0 and C1 controls (CR, LF, ESC...), DEL, line and paragraph separators,
 * bidirectional overrides and lone surrogates, any of which can forge or
 * disguise a log line.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** The longest peer-supplied string shown in a log line or event, characters. */
export const MAX_SHOWN = 200;

/**
 * `text` made safe to print: unsafe characters escaped (`\x0d`, `\u202e`),
 * at most `max` characters (then `…`).
 */
export function printable(text: unknown, max = MAX_SHOWN): string {
  const s = typeof text === 'string' ? text : String(text);
  const escaped = s.replace(UNSAFE, (ch) => {
    const code = ch.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
  return escaped.length > max ? `${escaped.slice(0, max)}…` : escaped;
}

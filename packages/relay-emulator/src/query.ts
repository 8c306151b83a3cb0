/**
 * Query strings as the relay reads and passes them on (PROTOCOL.md, "What
 * the service passes on unchanged" and the .NET client's query table).
 * A parameter is an `&`-segment with `=`: only those are the relay's
 * (`sb-hc-action=connect`, `sb-hc-token=...`), and only those named
 * `sb-hc-*` are taken out before the listener sees the query. Everything
 * else, byte for byte: empty segments, flags without `=` (`?sb-hc-undefined`
 * included), `+`, percent-encoding. Nothing left: no query at all.
 */

import { stripRelayQuery } from 'hyco-websocket/protocol';

/** `rawQuery` (without `?`) as the listener sees it: without the relay's parameters; `''` when nothing is left (the rule is the library's, defined once). */
export const passedQuery: (rawQuery: string) => string = stripRelayQuery;

/**
 * The parameters the relay reads in `rawQuery` (without `?`): its
 * `name=value` segments, parsed. A segment without `=` is the sender's and
 * never a parameter of the relay (`?sb-hc-action` is no action).
 */
export function relayParameters(rawQuery: string): URLSearchParams {
  return new URLSearchParams(rawQuery.split('&').filter((segment) => segment.includes('=')).join('&'));
}

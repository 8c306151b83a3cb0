/**
 * `hyco-websocket/protocol`: the Hybrid Connections wire protocol (names,
 * limits, SAS tokens, addresses, connection strings, control messages),
 * shared by the library and the relay emulator.
 */
export * from './constants';
export * from './token';
export * from './uri';
export * from './connection-string';
export * from './messages';
export * from './printable';
export { RelayError, RelayArgumentError, trackingIdFrom } from '../errors';
export type { RelayErrorCode, RelayErrorOptions } from '../errors';

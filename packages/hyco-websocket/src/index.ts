/**
 * hyco-websocket: the `websocket` package (re-exported unchanged, the very
 * same objects) plus Azure Relay Hybrid Connections helpers and a relayed
 * server.
 */
export * from 'websocket';

export {
  createRelayBaseUri,
  createRelayListenUri,
  createRelaySendUri,
  appendRelayToken,
  parseRelayNamespace,
} from './protocol/uri';
export type { RelayEndpoint } from './protocol/uri';
export { createRelayToken, parseRelayToken, tokenExpiry } from './protocol/token';
export type { SasToken } from './protocol/token';
export { parseConnectionString } from './protocol/connection-string';
export type { RelayConnectionString } from './protocol/connection-string';
export { RelayError, RelayArgumentError } from './errors';
export type { RelayErrorCode, RelayErrorOptions } from './errors';

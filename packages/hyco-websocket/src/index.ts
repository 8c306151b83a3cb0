/**
 * hyco-websocket: the `websocket` package (re-exported unchanged, the very
 * same objects) plus Azure Relay Hybrid Connections helpers and a relayed
 * server.
 */
import { HybridConnectionsWebSocketServer } from './server';
import { HybridConnectionsWebSocketRequest } from './request';
import { HybridConnectionsWebSocketClient } from './client';

export * from 'websocket';

/** The relayed server: `websocket`'s WebSocketServer contract, listening through Azure Relay. */
export const relayedServer = HybridConnectionsWebSocketServer;
/** The relayed request handed to `request` listeners. */
export const relayedRequest = HybridConnectionsWebSocketRequest;
/** The relayed client: `websocket`'s client, connecting through Azure Relay. */
export const relayedClient = HybridConnectionsWebSocketClient;
export { HybridConnectionsWebSocketServer, HybridConnectionsWebSocketRequest, HybridConnectionsWebSocketClient };
export { relayedConnect } from './client';
export type { HybridConnectionsWebSocketClientOptions, RelayedClientSettings, RelayedConnectOptions } from './client';
export { relayedFetch } from './fetch';
export type { RelayedFetchOptions } from './fetch';
export { relayedProxy, RelayedProxy } from './expose';
export type { RelayedProxyOptions, RelayedProxyEvents, ProxyExchange } from './expose';
export { getRuntimeInformation } from './runtime-information';
export type { RuntimeInformation, RuntimeInformationOptions } from './runtime-information';
export { createLocalForward, createRemoteForward, LocalForward, RemoteForward, ForwardedConnection } from './forward';
export type {
  ForwardOptions,
  LocalForwardOptions,
  RemoteForwardOptions,
  LocalForwardBinding,
  RemoteForwardBinding,
  LocalAddress,
  LocalForwardEvents,
  RemoteForwardEvents,
  ForwardStats,
  ForwardProtocol,
} from './forward';
export type { HybridConnectionsWebSocketServerOptions, HybridConnectionsWebSocketServerEvents } from './server';
export type { RequestedExtension, HybridConnectionsWebSocketRequestEvents } from './request';
export type { RequestCookie, SetCookie } from './cookies';
export type { TokenSource } from './token-provider';
export { RELAY_SCOPE } from './credentials';
export type { AccessToken, GetTokenOptions, TokenCredential, NamedKeyCredential, SASCredential, RelayCredential } from './credentials';

export {
  createRelayBaseUri,
  createRelayListenUri,
  createRelaySendUri,
  createRelayHttpsUri,
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

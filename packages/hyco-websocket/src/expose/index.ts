/**
 * Expose: a local HTTP and WebSocket server (the origin) reachable through
 * the relay, every request and WebSocket forwarded to it. This file is the
 * folder's only door.
 */
export { relayedProxy, RelayedProxy } from './relayed-proxy';
export type { RelayedProxyOptions, RelayedProxyEvents } from './relayed-proxy';
export type { ProxyExchange } from './exchange';

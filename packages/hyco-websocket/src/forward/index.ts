/**
 * Forwarding TCP, UDP and Unix sockets through the relay, wire-compatible
 * with Azure Relay Bridge (azbridge), in either role: `createLocalForward`
 * (local listeners, connecting through the relay as senders; azbridge's
 * `-L`) and `createRemoteForward` (a relayed listener connecting to local
 * targets; `-T`). This file is the folder's only door.
 */
export { createLocalForward, LocalForward } from './local';
export type { LocalAddress, LocalForwardEvents } from './local';
export { createRemoteForward, RemoteForward } from './remote';
export type { RemoteForwardEvents } from './remote';
export type { ForwardOptions, LocalForwardOptions, RemoteForwardOptions } from './options';
export type { LocalForwardBinding, RemoteForwardBinding, HttpForward, ParsedForward, ResolvedBinding, Endpoint } from './bindings';
export { parseLocalForwardSpec, parseRemoteForwardSpec, parseHttpForwardSpec } from './bindings';
export { parseForwardConfig, loadForwardConfig } from './config';
export type { ForwardConfig } from './config';
export { ForwardedConnection } from './stats';
export type { ForwardStats, ForwardProtocol, ForwardConnectionEvents } from './stats';

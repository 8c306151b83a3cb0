/** hyco-relay-emulator: Azure Relay Hybrid Connections, service side, on loopback. */
export { RelayEmulator } from './emulator';
export type { RelayEmulatorStats, HybridConnectionStats, RelayActivity, RelayEmulatorEvents } from './emulator';
export type { RelayEmulatorOptions, SharedAccessRule, HybridConnectionOptions } from './options';
export { DEFAULT_RULE_NAME, generateKey } from './options';

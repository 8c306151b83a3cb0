/** hyco-relay-emulator: Azure Relay Hybrid Connections, service side, on loopback. */
export { RelayEmulator } from './emulator';
export type { RelayEmulatorStats, HybridConnectionStats, RelayActivity, RelayEmulatorEvents, CreateTokenCredentialOptions, EmulatorTokenCredential } from './emulator';
export type { RoleAssignment, RelayRole } from './entra';
export type { ApplicationRegistration } from './oauth';
export type { RelayEmulatorOptions, SharedAccessRule, HybridConnectionOptions, ManagedIdentityOptions, UserAssignedIdentity } from './options';
export { DEFAULT_RULE_NAME, generateKey } from './options';

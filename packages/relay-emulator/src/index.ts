/** hyco-relay-emulator: Azure Relay Hybrid Connections, service side, on loopback. */
export { RelayEmulator } from './emulator';
export type {
  RelayEmulatorStats,
  HybridConnectionStats,
  RelayActivity,
  RelayEmulatorEvents,
  CreateTokenCredentialOptions,
  EmulatorTokenCredential,
  ConnectionStringOptions,
  EmulatorState,
} from './emulator';
export type { RoleAssignment, RelayRole } from './entra';
export type { ApplicationRegistration } from './oauth';
export type { RelayEmulatorOptions, SharedAccessRule, HybridConnectionOptions, ManagedIdentityOptions, UserAssignedIdentity } from './options';
export type { InspectorOptions, HttpRequestRecord, BodyView, RequestOutcome, ConnectionRecord, DirectionView, MessageView, ListenerEvent, Har, HarEntry } from './inspector';
export { DEFAULT_RULE_NAME, DEVELOPMENT_KEY, generateKey } from './options';
export { CONFIG_SCHEMA_PATH, optionsFromConfig, readConfigFile } from './config-file';
export type { ConfigFile, ConfigResult } from './config-file';
export { CA_DIRECTORY_ENV, caDirectory, certificateHostNames, selfSignedCertificate } from './tls';

/** Options of the emulator, their defaults and their checks. */
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import type { AccessRight } from 'hyco-websocket/protocol';
import { HTTP_RESPONSE_TIMEOUT_MS, MAX_LISTENERS_PER_HYBRID_CONNECTION, RENDEZVOUS_TIMEOUT_MS, isLoopbackHost } from 'hyco-websocket/protocol';
import { relayRole } from './entra';
import { resolveInspectorOptions } from './inspector';
import type { InspectorOptions, ResolvedInspectorOptions } from './inspector';
import type {
  ApplicationRegistration,
  ManagedIdentityOptions,
  ResolvedManagedIdentity,
  ResolvedUserAssignedIdentity,
  RoleAssignment,
  SharedAccessRule,
} from './types';

export type { ManagedIdentityOptions, SharedAccessRule, UserAssignedIdentity } from './types';

/** A hybrid connection to create at start. */
export interface HybridConnectionOptions {
  path: string;
  /** When false, senders need no token (listeners always do). Default true. */
  requiresClientAuthorization?: boolean;
  /** Rules that apply to this hybrid connection only. */
  rules?: SharedAccessRule[];
  /** Free text the service keeps with the hybrid connection (runtime information's `UserMetadata`); at most 1024 characters. */
  userMetadata?: string;
}

export interface RelayEmulatorOptions {
  /** Address to bind. Default `127.0.0.1` (loopback). */
  host?: string;
  /** Port; 0 picks a free one. Default 0. */
  port?: number;
  /**
   * Namespace-wide rules (`[{ name, key, secondaryKey?, rights }]`; a token
   * signed with either key is valid). Default: `RootManageSharedAccessKey`
   * with all rights and the well-known development key `DEVELOPMENT_KEY`
   * (a random one with `randomKey`).
   */
  rules?: SharedAccessRule[];
  /** Without `rules`: a fresh random key instead of the well-known development key. Default false. */
  randomKey?: boolean;
  /** Hybrid connections to create, by name or with options. */
  hybridConnections?: (string | HybridConnectionOptions)[];
  /** Accept any path, creating the hybrid connection on first use. Default false. */
  autoCreate?: boolean;
  /**
   * TLS, then addresses are `wss://`: a certificate and key (PEM);
   * `'development-ca'`, a certificate for `localhost`, `127.0.0.1`, `::1`,
   * `host` and `namespace` signed by the development CA in `caDirectory`
   * (made there once; `relay.caCertificatePath` is the file clients trust);
   * or `'self-signed'`, a certificate each client must trust itself
   * (`relay.certificate`).
   */
  tls?: { cert: string | Buffer; key: string | Buffer } | 'self-signed' | 'development-ca';
  /**
   * The development CA's folder, for `tls: 'development-ca'`. Default:
   * `$HYCO_RELAY_EMULATOR_CA_DIR`, else `~/.hyco-relay-emulator/ca`.
   */
  caDirectory?: string;
  /** The host name the emulator answers as. Default: any `Host`. */
  namespace?: string;
  /** Rendezvous address lifetime, ms. Default 30000. */
  rendezvousTimeoutMs?: number;
  /** Listeners allowed per hybrid connection. Default 25. */
  maxListenersPerHybridConnection?: number;
  /** Cut control channels idle this long, ms, as an intermediary would; 0 = never. Default 0. */
  idleTimeoutMs?: number;
  /** A connection must send its complete request headers within this, ms (else 408). Default 20000. */
  handshakeTimeoutMs?: number;
  /** A listener must answer an HTTP request within this, ms (else 504). Default 60000. */
  httpResponseTimeoutMs?: number;
  /**
   * What a listener's WebSocket ping on its control channel gets: `answer`
   * (a pong, default) or `close` (the channel is closed with 1008, as one
   * user saw the service do: for testing listeners' keepalive fallbacks).
   */
  listenerPings?: 'answer' | 'close';
  /**
   * Roles given to Entra ID principals (by object id), for JWTs:
   * `[{ principal, role: 'Azure Relay Owner' | 'Azure Relay Listener' | 'Azure Relay Sender', scope? }]`
   * (`scope` a hybrid connection path; omitted: the whole namespace).
   */
  roleAssignments?: RoleAssignment[];
  /**
   * Which JWTs are taken: `emulator` (signed by this emulator, default) or
   * `unverified` (also real Entra ID tokens, without checking their
   * signature; loopback only).
   */
  entraTokens?: 'emulator' | 'unverified';
  /**
   * App registrations for the emulator's OAuth token endpoint (client
   * credentials grant): `[{ clientId, clientSecret, objectId? }]`. Give the
   * principal (`objectId`, default the client id) roles in `roleAssignments`.
   */
  applications?: ApplicationRegistration[];
  /**
   * A managed identity for local apps: the emulator answers as the App
   * Service managed identity endpoint (`relay.managedIdentityEnvironment`
   * gives `IDENTITY_ENDPOINT` and `IDENTITY_HEADER`), so that
   * `ManagedIdentityCredential` and `DefaultAzureCredential` get tokens
   * from it unchanged. `principal` is the object id its tokens carry (give
   * it roles in `roleAssignments`). As on App Service, the endpoint serves
   * only the identities assigned to the app: the system-assigned one, and
   * those listed in `userAssigned` (`[{ clientId, principalId?,
   * resourceId? }]`) when asked for by `client_id`, `principal_id`
   * (`object_id`) or `mi_res_id`; any other is refused with 400.
   */
  managedIdentity?: ManagedIdentityOptions;
  /**
   * Keep request and response bodies in the inspector's records (and the
   * first messages of relayed connections), within `inspector`'s bounds.
   * Default false. The same as `inspector.captureBodies`.
   */
  captureBodies?: boolean;
  /**
   * The inspector (`GET /$requests`, `/$connections`, `/metrics`, the
   * dashboard's tabs): `{ record?, captureBodies?, ringSize?, maxBodyBytes?,
   * maxCapturedBytes?, capturedMessages? }`. Recording is on by default on
   * loopback; see `InspectorOptions` for each default.
   */
  inspector?: InspectorOptions;
}

/** Options with every default filled in. */
export interface ResolvedOptions {
  host: string;
  port: number;
  rules: SharedAccessRule[];
  hybridConnections: HybridConnectionOptions[];
  autoCreate: boolean;
  tls: RelayEmulatorOptions['tls'];
  caDirectory: string | undefined;
  /** Whether the default rule with the well-known development key is in force. */
  developmentKey: boolean;
  namespace: string | undefined;
  rendezvousTimeoutMs: number;
  maxListenersPerHybridConnection: number;
  idleTimeoutMs: number;
  handshakeTimeoutMs: number;
  httpResponseTimeoutMs: number;
  listenerPings: 'answer' | 'close';
  roleAssignments: RoleAssignment[];
  entraTokens: 'emulator' | 'unverified';
  applications: ApplicationRegistration[];
  managedIdentity: ResolvedManagedIdentity | undefined;
  inspector: ResolvedInspectorOptions;
}

export const DEFAULT_RULE_NAME = 'RootManageSharedAccessKey';
/**
 * The emulator's well-known development key, for `RootManageSharedAccessKey`
 * when no rules are given (as Azurite and the Service Bus emulator have
 * theirs): the same at every start, so a connection string can be written
 * down once. For local development only; `randomKey` (`--random-key`) makes
 * a fresh one.
 */
export const DEVELOPMENT_KEY = 'aHljby1yZWxheS1lbXVsYXRvci1kZXZlbG9wbWVudC1rZXk=';
const RIGHTS = new Set(['Listen', 'Send', 'Manage']);

/** A TypeError with the stable code of a bad argument, as the library's RelayArgumentError. */
export function argumentError(message: string): TypeError {
  const err = new TypeError(message) as TypeError & { code: string };
  err.code = 'ERR_HYCO_INVALID_ARGUMENT';
  return err;
}

export function optionError(message: string): TypeError {
  return argumentError(`Invalid RelayEmulator option: ${message}`);
}

/** A random key of 32 bytes, base64, like the ones Azure generates. */
export function generateKey(): string {
  return randomBytes(32).toString('base64');
}

export function checkRules(rules: unknown, where: string): SharedAccessRule[] {
  if (!Array.isArray(rules)) throw optionError(`${where} must be an array`);
  return rules.map((rule: unknown, i) => {
    const r = rule as Partial<SharedAccessRule> | null;
    if (!r || typeof r !== 'object') throw optionError(`${where}[${i}] must be an object`);
    if (typeof r.name !== 'string' || !r.name) throw optionError(`${where}[${i}].name must be a non-empty string`);
    if (typeof r.key !== 'string' || !r.key) throw optionError(`${where}[${i}].key must be a non-empty string`);
    if (r.secondaryKey !== undefined && (typeof r.secondaryKey !== 'string' || !r.secondaryKey)) throw optionError(`${where}[${i}].secondaryKey must be a non-empty string`);
    if (!Array.isArray(r.rights) || r.rights.length === 0 || !r.rights.every((x) => RIGHTS.has(x))) {
      throw optionError(`${where}[${i}].rights must list Listen, Send and/or Manage`);
    }
    return { name: r.name, key: r.key, ...(r.secondaryKey ? { secondaryKey: r.secondaryKey } : {}), rights: [...r.rights] };
  });
}

/** Checks a hybrid connection path: segments of letters, digits, `-`, `_`, `.`. */
export function checkPath(path: unknown): string {
  if (typeof path !== 'string') throw optionError('a hybrid connection path must be a string');
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/.test(trimmed) || trimmed.length > 260) {
    throw optionError(`"${path.slice(0, 80)}" is not a valid hybrid connection path`);
  }
  return trimmed;
}

function checkApplications(value: unknown): ApplicationRegistration[] {
  if (!Array.isArray(value)) throw optionError('applications must be an array');
  return value.map((entry: unknown, i) => {
    const a = entry as Partial<ApplicationRegistration> | null;
    if (!a || typeof a !== 'object' || typeof a.clientId !== 'string' || !a.clientId || typeof a.clientSecret !== 'string' || !a.clientSecret) {
      throw optionError(`applications[${i}] must be { clientId, clientSecret, objectId? }`);
    }
    if (a.objectId !== undefined && (typeof a.objectId !== 'string' || !a.objectId)) throw optionError(`applications[${i}].objectId must be a string`);
    return { clientId: a.clientId, clientSecret: a.clientSecret, ...(a.objectId ? { objectId: a.objectId } : {}) };
  });
}

function checkManagedIdentity(value: ManagedIdentityOptions | undefined): ResolvedManagedIdentity | undefined {
  if (value === undefined) return undefined;
  // Options come from JavaScript and JSON too: nothing about their shape is taken on trust.
  const principal: unknown = typeof value === 'object' && value !== null ? value.principal : undefined;
  if (typeof principal !== 'string' || !principal) throw optionError('managedIdentity must be { principal, lifetimeSeconds?, userAssigned? }');
  const listed: unknown = value.userAssigned ?? [];
  if (!Array.isArray(listed)) throw optionError('managedIdentity.userAssigned must be an array of { clientId, principalId?, resourceId? }');
  const userAssigned = listed.map((entry: unknown, i): ResolvedUserAssignedIdentity => {
    const u = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<string, unknown>;
    const where = `managedIdentity.userAssigned[${i}]`;
    if (typeof u.clientId !== 'string' || !u.clientId) throw optionError(`${where} must be { clientId, principalId?, resourceId? }`);
    for (const key of ['principalId', 'resourceId']) {
      if (u[key] !== undefined && (typeof u[key] !== 'string' || !u[key])) throw optionError(`${where}.${key} must be a non-empty string`);
    }
    const out: ResolvedUserAssignedIdentity = { clientId: u.clientId, principalId: (u.principalId as string | undefined) ?? u.clientId };
    if (u.resourceId !== undefined) out.resourceId = u.resourceId as string;
    return out;
  });
  return { principal, lifetimeSeconds: positiveInt(value.lifetimeSeconds, 'managedIdentity.lifetimeSeconds', 3600), userAssigned };
}

/** Checks role assignments; role names as Azure spells them, or short (`Listener`). */
export function checkRoleAssignments(value: unknown): RoleAssignment[] {
  if (!Array.isArray(value)) throw optionError('roleAssignments must be an array');
  return value.map((entry: unknown, i) => {
    const a = entry as Partial<RoleAssignment> | null;
    if (!a || typeof a !== 'object') throw optionError(`roleAssignments[${i}] must be an object`);
    if (typeof a.principal !== 'string' || !a.principal) throw optionError(`roleAssignments[${i}].principal must be a principal's object id`);
    const role = relayRole(a.role);
    if (!role) throw optionError(`roleAssignments[${i}].role must be Azure Relay Owner, Azure Relay Listener or Azure Relay Sender`);
    const out: RoleAssignment = { principal: a.principal, role };
    if (a.scope !== undefined) out.scope = checkPath(a.scope);
    return out;
  });
}

export function checkHybridConnection(value: unknown): HybridConnectionOptions {
  if (typeof value === 'string') return { path: checkPath(value), requiresClientAuthorization: true };
  if (!value || typeof value !== 'object') throw optionError('hybridConnections entries must be names or objects');
  const v = value as Partial<HybridConnectionOptions>;
  const out: HybridConnectionOptions = {
    path: checkPath(v.path),
    requiresClientAuthorization: v.requiresClientAuthorization !== false,
  };
  if (v.rules !== undefined) out.rules = checkRules(v.rules, `hybridConnections "${out.path}" rules`);
  if (v.userMetadata !== undefined) {
    if (typeof v.userMetadata !== 'string' || v.userMetadata.length > 1024) throw optionError(`hybridConnections "${out.path}" userMetadata must be a string of at most 1024 characters`);
    out.userMetadata = v.userMetadata;
  }
  return out;
}

function positiveInt(value: unknown, name: string, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || (!allowZero && value === 0)) {
    throw optionError(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer`);
  }
  return value;
}

/** The longest a Node timer can wait, ms; a longer time would fire at once (or be refused by Node). */
const MAX_TIMER_MS = 0x7fffffff;

/** A time option in ms: a whole number a timer can wait for. */
function milliseconds(value: unknown, name: string, fallback: number, allowZero = false): number {
  const ms = positiveInt(value, name, fallback, allowZero);
  if (ms > MAX_TIMER_MS) throw optionError(`${name} must be at most ${MAX_TIMER_MS} ms (about 24 days)`);
  return ms;
}

export function resolveOptions(options: RelayEmulatorOptions = {}): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw optionError('options must be an object');
  const host = options.host ?? '127.0.0.1';
  if (typeof host !== 'string' || !host) throw optionError('host must be a non-empty string');
  // An address or a host name to bind to; anything else would fail later, in name resolution, quoting itself.
  if (isIP(host.replace(/^\[|\]$/g, '')) === 0 && !/^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i.test(host)) {
    throw optionError('host must be an IP address or a host name to bind to (e.g. 127.0.0.1, ::1, localhost)');
  }
  const port = positiveInt(options.port, 'port', 0, true);
  if (port > 65535) throw optionError('port must be at most 65535');
  if (options.randomKey !== undefined && typeof options.randomKey !== 'boolean') throw optionError('randomKey must be true or false');
  if (options.randomKey && options.rules !== undefined) throw optionError('randomKey is for the default rule: give rules or randomKey, not both');
  const developmentKey = options.rules === undefined && options.randomKey !== true;
  const rules = options.rules === undefined
    ? [{ name: DEFAULT_RULE_NAME, key: developmentKey ? DEVELOPMENT_KEY : generateKey(), rights: ['Listen', 'Send', 'Manage'] as AccessRight[] }]
    : checkRules(options.rules, 'rules');
  const listed: unknown = options.hybridConnections ?? [];
  if (!Array.isArray(listed)) throw optionError('hybridConnections must be an array of paths or { path, ... }');
  const hybridConnections = listed.map(checkHybridConnection);
  const tls = options.tls;
  if (tls !== undefined && tls !== 'self-signed' && tls !== 'development-ca' && (typeof tls !== 'object' || !tls || !tls.cert || !tls.key)) {
    throw optionError('tls must be { cert, key }, "development-ca" or "self-signed"');
  }
  if (options.caDirectory !== undefined && (typeof options.caDirectory !== 'string' || !options.caDirectory)) throw optionError('caDirectory must be a folder\'s path');
  if (options.namespace !== undefined && (typeof options.namespace !== 'string' || !options.namespace)) {
    throw optionError('namespace must be a host name');
  }
  const entraTokens = options.entraTokens ?? 'emulator';
  if (entraTokens !== 'emulator' && entraTokens !== 'unverified') throw optionError('entraTokens must be "emulator" or "unverified"');
  if (entraTokens === 'unverified' && !isLoopbackHost(host)) {
    throw optionError('entraTokens "unverified" takes tokens without checking their signature: it is for a loopback host only');
  }
  const listenerPings = options.listenerPings ?? 'answer';
  if (listenerPings !== 'answer' && listenerPings !== 'close') throw optionError('listenerPings must be "answer" or "close"');
  return {
    host,
    port,
    rules,
    hybridConnections,
    autoCreate: options.autoCreate === true,
    tls,
    caDirectory: options.caDirectory,
    developmentKey,
    namespace: options.namespace?.toLowerCase(),
    rendezvousTimeoutMs: milliseconds(options.rendezvousTimeoutMs, 'rendezvousTimeoutMs', RENDEZVOUS_TIMEOUT_MS),
    maxListenersPerHybridConnection: positiveInt(
      options.maxListenersPerHybridConnection,
      'maxListenersPerHybridConnection',
      MAX_LISTENERS_PER_HYBRID_CONNECTION,
    ),
    idleTimeoutMs: milliseconds(options.idleTimeoutMs, 'idleTimeoutMs', 0, true),
    handshakeTimeoutMs: milliseconds(options.handshakeTimeoutMs, 'handshakeTimeoutMs', 20_000),
    httpResponseTimeoutMs: milliseconds(options.httpResponseTimeoutMs, 'httpResponseTimeoutMs', HTTP_RESPONSE_TIMEOUT_MS),
    listenerPings,
    roleAssignments: checkRoleAssignments(options.roleAssignments ?? []),
    entraTokens,
    applications: checkApplications(options.applications ?? []),
    managedIdentity: checkManagedIdentity(options.managedIdentity),
    inspector: resolveInspectorOptions(options.inspector, options.captureBodies, isLoopbackHost(host), optionError),
  };
}

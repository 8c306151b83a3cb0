/**
 * The configuration file (`--config FILE`): the namespace in the Service
 * Bus emulator's shape (`UserConfig.Namespaces[0]` with its
 * `AuthorizationRules` and `HybridConnections`) and the emulator's own
 * settings (`Emulator`), checked against the JSON Schema shipped with the
 * package (`config.schema.json`) by Ajv: an unknown or misspelt key, or a
 * wrong type, stops start-up with the JSON path of the offending key and
 * the keys accepted there. A file without `UserConfig` and `Emulator` is
 * the earlier format (`RelayEmulator.start` options), still read, its
 * top-level keys checked the same way.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { AccessRight } from 'hyco-websocket/protocol';
import type { HybridConnectionOptions, RelayEmulatorOptions } from './options';
import type { ApplicationRegistration, RoleAssignment, SharedAccessRule } from './types';
import { printable } from './tracking';

/** The schema file, in the package's root. */
export const CONFIG_SCHEMA_PATH = join(__dirname, '..', 'config.schema.json');

/** The shapes the schema allows (what Ajv has checked before any of this is read). */
interface RuleConfig {
  KeyName: string;
  PrimaryKey: string;
  SecondaryKey?: string;
  Rights: AccessRight[];
}
interface HybridConnectionConfig {
  Name: string;
  RequiresClientAuthorization?: boolean;
  UserMetadata?: string;
  AuthorizationRules?: RuleConfig[];
}
interface EmulatorConfig {
  Host?: string;
  Port?: number;
  HostName?: string;
  AutoCreate?: boolean;
  RandomKey?: boolean;
  Tls?: { Mode: 'development-ca' | 'self-signed' | 'files' | 'off'; CaDirectory?: string; CertificateFile?: string; KeyFile?: string };
  RendezvousTimeoutMs?: number;
  IdleTimeoutMs?: number;
  HandshakeTimeoutMs?: number;
  HttpResponseTimeoutMs?: number;
  MaxListenersPerHybridConnection?: number;
  ListenerPings?: 'answer' | 'close';
  EntraTokens?: 'emulator' | 'unverified';
  RoleAssignments?: { Principal: string; Role: string; Scope?: string }[];
  Applications?: { ClientId: string; ClientSecret: string; ObjectId?: string }[];
  ManagedIdentity?: { Principal: string; LifetimeSeconds?: number; UserAssigned?: { ClientId: string; PrincipalId?: string; ResourceId?: string }[] };
}
export interface ConfigFile {
  UserConfig?: { Namespaces: { Name: string; AuthorizationRules?: RuleConfig[]; HybridConnections?: HybridConnectionConfig[] }[] };
  Emulator?: EmulatorConfig;
}

/** The top-level keys of the earlier format: `RelayEmulator.start` options. */
const OPTION_KEYS = [
  'host', 'port', 'rules', 'randomKey', 'hybridConnections', 'autoCreate', 'tls', 'caDirectory', 'namespace', 'rendezvousTimeoutMs',
  'maxListenersPerHybridConnection', 'idleTimeoutMs', 'handshakeTimeoutMs', 'httpResponseTimeoutMs', 'listenerPings', 'roleAssignments',
  'entraTokens', 'applications', 'managedIdentity',
];

/** What a configuration file gives: the options, and which format it was in. */
export interface ConfigResult {
  options: RelayEmulatorOptions;
  format: 'UserConfig' | 'options';
}

function configError(message: string, cause?: unknown): Error {
  const err = new Error(message, cause === undefined ? undefined : { cause }) as Error & { code: string };
  err.code = 'ERR_HYCO_INVALID_CONFIG';
  return err;
}

/** A JSON pointer (`/UserConfig/Namespaces/0`) as a JSON path (`$.UserConfig.Namespaces[0]`). */
export function jsonPath(pointer: string, key?: string): string {
  const segments = pointer ? pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~')) : [];
  if (key !== undefined) segments.push(key);
  return `$${segments.map((s) => (/^\d+$/.test(s) ? `[${s}]` : /^[A-Za-z_$][\w$]*$/.test(s) ? `.${s}` : `[${JSON.stringify(printable(s, 80))}]`)).join('')}`;
}

/** The accepted key most like `key` (a different case, or one or two letters off), if any. */
function closest(key: string, accepted: string[]): string | undefined {
  const distance = (a: string, b: string) => {
    const row = Array.from({ length: b.length + 1 }, (_, i) => i);
    for (let i = 1; i <= a.length; i++) {
      let previous = row[0];
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const current = row[j];
        row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
        previous = current;
      }
    }
    return row[b.length];
  };
  let best: { name: string; d: number } | undefined;
  for (const name of accepted) {
    const d = distance(key.toLowerCase(), name.toLowerCase());
    if (d <= 2 && (!best || d < best.d)) best = { name, d };
  }
  return best?.name;
}

/** One of Ajv's errors, as much of it as is read here (with `verbose`, the schema of the place too). */
interface SchemaError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
  parentSchema?: { properties?: Record<string, unknown>; enum?: unknown[] };
}

/** A schema error as a line: the JSON path, what is wrong, and what is accepted there. */
export function describeError(e: SchemaError): string {
  const where = jsonPath(e.instancePath);
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(e.params.additionalProperty);
      const accepted = Object.keys(e.parentSchema?.properties ?? {});
      const guess = closest(key, accepted);
      return `${jsonPath(e.instancePath, key)}: unknown key${guess ? ` (did you mean "${guess}"?)` : ''}; the keys accepted in ${where} are ${accepted.join(', ')}`;
    }
    case 'required':
      return `${where}: the key "${String(e.params.missingProperty)}" is missing`;
    case 'enum':
      return `${where}: must be one of ${(e.parentSchema?.enum ?? (e.params.allowedValues as unknown[]) ?? []).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'if':
      return '';
    default:
      return `${where}: ${e.message ?? e.keyword}`;
  }
}

type Validator = ((value: unknown) => boolean) & { errors?: SchemaError[] | null };

let validators: { current: Validator; options: Validator } | undefined;

/** The validators, compiled once, on first use (a start without a file never loads Ajv). */
function compile(): { current: Validator; options: Validator } {
  if (validators) return validators;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { default: Ajv } = require('ajv') as typeof import('ajv');
  const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, strictRequired: false });
  const schema = JSON.parse(readFileSync(CONFIG_SCHEMA_PATH, 'utf8')) as Record<string, unknown>;
  const options = { type: 'object', additionalProperties: false, properties: Object.fromEntries(OPTION_KEYS.map((k) => [k, {}])) };
  validators = { current: ajv.compile(schema) as Validator, options: ajv.compile(options) as Validator };
  return validators;
}

/** Checks `value` against `validate`; throws every problem found (at most 10), one a line. */
function check(validate: Validator, value: unknown, source: string): void {
  if (validate(value)) return;
  const lines = [...new Set((validate.errors ?? []).map(describeError).filter(Boolean))];
  const shown = lines.slice(0, 10).map((l) => `  ${l}`);
  if (lines.length > 10) shown.push(`  (and ${lines.length - 10} more)`);
  throw configError(`${source} does not match the configuration schema (${CONFIG_SCHEMA_PATH}):\n${shown.join('\n')}`);
}

function rules(list: RuleConfig[]): SharedAccessRule[] {
  return list.map((r) => ({ name: r.KeyName, key: r.PrimaryKey, ...(r.SecondaryKey ? { secondaryKey: r.SecondaryKey } : {}), rights: [...r.Rights] }));
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw configError(`cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, err);
  }
}

/** The options a configuration in the current format gives; relative file names are taken from `baseDir`. */
function fromUserConfig(config: ConfigFile, baseDir: string): RelayEmulatorOptions {
  const options: RelayEmulatorOptions = {};
  const ns = config.UserConfig?.Namespaces[0];
  if (ns?.AuthorizationRules) options.rules = rules(ns.AuthorizationRules);
  if (ns?.HybridConnections) {
    options.hybridConnections = ns.HybridConnections.map((h): HybridConnectionOptions => ({
      path: h.Name,
      requiresClientAuthorization: h.RequiresClientAuthorization !== false,
      ...(h.UserMetadata !== undefined ? { userMetadata: h.UserMetadata } : {}),
      ...(h.AuthorizationRules ? { rules: rules(h.AuthorizationRules) } : {}),
    }));
  }
  const e = config.Emulator ?? {};
  if (e.Host !== undefined) options.host = e.Host;
  if (e.Port !== undefined) options.port = e.Port;
  if (e.HostName !== undefined) options.namespace = e.HostName;
  if (e.AutoCreate !== undefined) options.autoCreate = e.AutoCreate;
  if (e.RandomKey !== undefined) options.randomKey = e.RandomKey;
  if (e.Tls && e.Tls.Mode !== 'off') {
    if (e.Tls.Mode === 'files') {
      options.tls = { cert: readPem(resolve(baseDir, e.Tls.CertificateFile ?? ''), 'the certificate'), key: readPem(resolve(baseDir, e.Tls.KeyFile ?? ''), 'the key') };
    } else options.tls = e.Tls.Mode;
    if (e.Tls.CaDirectory !== undefined) options.caDirectory = resolve(baseDir, e.Tls.CaDirectory);
  }
  if (e.RendezvousTimeoutMs !== undefined) options.rendezvousTimeoutMs = e.RendezvousTimeoutMs;
  if (e.IdleTimeoutMs !== undefined) options.idleTimeoutMs = e.IdleTimeoutMs;
  if (e.HandshakeTimeoutMs !== undefined) options.handshakeTimeoutMs = e.HandshakeTimeoutMs;
  if (e.HttpResponseTimeoutMs !== undefined) options.httpResponseTimeoutMs = e.HttpResponseTimeoutMs;
  if (e.MaxListenersPerHybridConnection !== undefined) options.maxListenersPerHybridConnection = e.MaxListenersPerHybridConnection;
  if (e.ListenerPings !== undefined) options.listenerPings = e.ListenerPings;
  if (e.EntraTokens !== undefined) options.entraTokens = e.EntraTokens;
  if (e.RoleAssignments) {
    // The role's spelling is checked with the options (Azure's names or the short ones).
    options.roleAssignments = e.RoleAssignments.map((a) => ({ principal: a.Principal, role: a.Role as RoleAssignment['role'], ...(a.Scope !== undefined ? { scope: a.Scope } : {}) }));
  }
  if (e.Applications) {
    options.applications = e.Applications.map((a): ApplicationRegistration => ({ clientId: a.ClientId, clientSecret: a.ClientSecret, ...(a.ObjectId ? { objectId: a.ObjectId } : {}) }));
  }
  if (e.ManagedIdentity) {
    const m = e.ManagedIdentity;
    options.managedIdentity = {
      principal: m.Principal,
      ...(m.LifetimeSeconds !== undefined ? { lifetimeSeconds: m.LifetimeSeconds } : {}),
      ...(m.UserAssigned
        ? { userAssigned: m.UserAssigned.map((u) => ({ clientId: u.ClientId, ...(u.PrincipalId ? { principalId: u.PrincipalId } : {}), ...(u.ResourceId ? { resourceId: u.ResourceId } : {}) })) }
        : {}),
    };
  }
  return options;
}

/**
 * The options a parsed configuration gives (`source` names it in errors;
 * relative file names are taken from `baseDir`). Throws
 * `ERR_HYCO_INVALID_CONFIG` with every problem's JSON path.
 */
export function optionsFromConfig(value: unknown, source = 'the configuration', baseDir = process.cwd()): ConfigResult {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw configError(`${source} must hold a JSON object`);
  const { current, options } = compile();
  const record = value as Record<string, unknown>;
  if ('UserConfig' in record || 'Emulator' in record || '$schema' in record) {
    check(current, value, source);
    return { options: fromUserConfig(value, baseDir), format: 'UserConfig' };
  }
  check(options, value, source);
  return { options: { ...(value as RelayEmulatorOptions) }, format: 'options' };
}

/** Reads and checks a configuration file (see `optionsFromConfig`). */
export function readConfigFile(file: string): ConfigResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw configError(`cannot read --config ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, err);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw configError(`--config ${file} is not valid JSON (${(err as Error).message})`, err);
  }
  return optionsFromConfig(value, file, dirname(resolve(file)));
}

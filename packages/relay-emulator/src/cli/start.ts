/**
 * `hyco-relay-emulator [flags]`: starts the emulator. Flags win over the
 * configuration file; the banner (or, with `--json`, one JSON object on
 * stdout) follows once it is ready, then one line per listener and
 * connection (never a payload, key or token).
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { readConfigFile } from '../config-file';
import { RelayEmulator } from '../emulator';
import type { RelayActivity } from '../emulator';
import { relayRole } from '../entra';
import { DEFAULT_RULE_NAME, checkPath } from '../options';
import type { HybridConnectionOptions, RelayEmulatorOptions } from '../options';
import type { RelayRole, RoleAssignment } from '../types';
import { bannerLines, readySummary, readyLine } from './banner';

/** The CLI's default port (the programmatic default is 0, any free port). */
export const DEFAULT_CLI_PORT = 9030;

function integer(name: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${name} must be a whole number`);
    return Number(value);
  };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export interface StartFlags {
  host?: string;
  port?: number;
  hybridConnection: string[];
  anonymousHybridConnection: string[];
  keyName?: string;
  key?: string;
  randomKey?: boolean;
  autoCreate?: boolean;
  tls?: boolean;
  caDir?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsSelfSigned?: boolean;
  namespace?: string;
  config?: string;
  rendezvousTimeout?: number;
  idleTimeout?: number;
  listenerPings?: 'answer' | 'close';
  roleAssignment: string[];
  entraTokens?: 'emulator' | 'unverified';
  printEntraToken: string[];
  managedIdentity?: string;
  captureBodies?: boolean;
  inspectorRingSize?: number;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
}

/** `PRINCIPAL=ROLE[@PATH]` as a role assignment. */
function roleAssignmentFlag(value: string): RoleAssignment {
  const match = /^([^=]+)=([^@]+)(?:@(.+))?$/.exec(value);
  const role = match ? relayRole(match[2]) : undefined;
  if (!match || !role) throw new InvalidArgumentError('expected PRINCIPAL=ROLE[@PATH], ROLE one of Owner, Listener, Sender');
  const assignment: RoleAssignment = { principal: match[1].trim(), role };
  if (match[3]) assignment.scope = match[3].trim();
  return assignment;
}

/**
 * The principal of a `--print-entra-token ROLE[@PATH]` token: one per
 * (role, scope) pair, readable and injective (`cli-listener@a.b`,
 * `cli-owner`): the role names hold no `@`, the path is kept exactly (as
 * checked), so two different pairs never share a principal and a token never
 * carries another pair's role.
 */
export function cliPrincipal(role: RelayRole, scope: string | undefined): string {
  const name = `cli-${role.replace(/^Azure Relay /, '').toLowerCase()}`;
  return scope === undefined ? name : `${name}@${checkPath(scope)}`;
}

/**
 * Where each main setting came from, for --verbose: a flag, the --config
 * file, or the default (keys are never shown, only whether one is set).
 */
export function settingSources(flags: StartFlags, fileOptions: RelayEmulatorOptions): string[] {
  const from = (flag: unknown, inFile: unknown) => (flag !== undefined && flag !== false ? 'flag' : inFile !== undefined ? `--config ${flags.config ?? ''}` : 'default');
  const lines = [
    `host: ${flags.host ?? fileOptions.host ?? '127.0.0.1'} (from ${from(flags.host, fileOptions.host)})`,
    `port: ${flags.port ?? fileOptions.port ?? DEFAULT_CLI_PORT} (from ${from(flags.port, fileOptions.port)})`,
    `key: ${flags.key !== undefined ? '(set)' : flags.randomKey ? 'random' : fileOptions.rules ? '(set)' : fileOptions.randomKey ? 'random' : 'the well-known development key'} (from ${from(flags.key ?? (flags.randomKey || undefined), fileOptions.rules ?? fileOptions.randomKey)})`,
    `namespace: ${flags.namespace ?? fileOptions.namespace ?? 'any Host'} (from ${from(flags.namespace, fileOptions.namespace)})`,
    `auto-create: ${flags.autoCreate === true || fileOptions.autoCreate === true ? 'on' : 'off'} (from ${from(flags.autoCreate, fileOptions.autoCreate)})`,
    `tls: ${flags.tls || flags.tlsSelfSigned ? 'development CA' : flags.tlsCert ? 'own certificate' : fileOptions.tls ? 'on' : 'off'} (from ${from(flags.tls ?? flags.tlsSelfSigned ?? flags.tlsCert, fileOptions.tls)})`,
  ];
  return lines;
}

/** Emulator options from the configuration file (if any) and the flags, which win. */
export function optionsFromFlags(flags: StartFlags, note: (line: string) => void = () => {}): RelayEmulatorOptions {
  let options: RelayEmulatorOptions = {};
  if (flags.config) {
    const config = readConfigFile(flags.config);
    options = config.options;
    if (flags.verbose) for (const line of settingSources(flags, { ...config.options })) note(line);
    if (config.format === 'options') note(`--config ${flags.config}: read as RelayEmulator.start options (the earlier format); the UserConfig format is described in the README and config.schema.json`);
  }
  else if (flags.verbose) for (const line of settingSources(flags, {})) note(line);
  if (flags.host !== undefined) options.host = flags.host;
  options.port = flags.port ?? options.port ?? DEFAULT_CLI_PORT;
  const added: (string | HybridConnectionOptions)[] = [
    ...flags.hybridConnection,
    ...flags.anonymousHybridConnection.map((path) => ({ path, requiresClientAuthorization: false })),
  ];
  if (added.length) options.hybridConnections = [...(options.hybridConnections ?? []), ...added];
  if (flags.key !== undefined || flags.keyName !== undefined) {
    if (flags.key === undefined) throw new Error('--key-name needs --key');
    if (flags.randomKey) throw new Error('use --key or --random-key, not both');
    options.rules = [{ name: flags.keyName ?? DEFAULT_RULE_NAME, key: flags.key, rights: ['Listen', 'Send', 'Manage'] }];
    delete options.randomKey;
  }
  if (flags.randomKey) {
    // The flag is about the default rule: it replaces rules from the file too.
    delete options.rules;
    options.randomKey = true;
  }
  if (flags.autoCreate) options.autoCreate = true;
  if (flags.namespace) options.namespace = flags.namespace;
  const tlsFlags = [flags.tls && '--tls', flags.tlsSelfSigned && '--tls-self-signed', (flags.tlsCert || flags.tlsKey) && '--tls-cert/--tls-key'].filter(Boolean);
  if (tlsFlags.length > 1) throw new Error(`use one of ${tlsFlags.join(', ')}`);
  if (flags.tlsSelfSigned) note('--tls-self-signed is now --tls: a certificate signed by the development CA, which clients trust once (hyco-relay-emulator trust)');
  if (flags.tls || flags.tlsSelfSigned) options.tls = 'development-ca';
  else if (flags.tlsCert || flags.tlsKey) {
    if (!flags.tlsCert || !flags.tlsKey) throw new Error('--tls-cert and --tls-key go together');
    options.tls = { cert: readFileSync(flags.tlsCert), key: readFileSync(flags.tlsKey) };
  }
  if (flags.caDir !== undefined) options.caDirectory = flags.caDir;
  if (flags.rendezvousTimeout !== undefined) options.rendezvousTimeoutMs = flags.rendezvousTimeout;
  if (flags.idleTimeout !== undefined) options.idleTimeoutMs = flags.idleTimeout;
  if (flags.listenerPings !== undefined) options.listenerPings = flags.listenerPings;
  if (flags.roleAssignment.length) options.roleAssignments = [...(options.roleAssignments ?? []), ...flags.roleAssignment.map(roleAssignmentFlag)];
  if (flags.entraTokens !== undefined) options.entraTokens = flags.entraTokens;
  for (const spec of flags.printEntraToken) roleAssignmentFlag(`check=${spec}`);
  if (flags.managedIdentity !== undefined) options.managedIdentity = { principal: flags.managedIdentity };
  if (flags.captureBodies) options.captureBodies = true;
  if (flags.inspectorRingSize !== undefined) options.inspector = { ...options.inspector, ringSize: flags.inspectorRingSize };
  return options;
}

function describe(a: RelayActivity): string {
  const time = new Date().toISOString();
  switch (a.type) {
    case 'listener-online':
      return `${time} listener online    ${a.path} (${a.id})`;
    case 'listener-offline':
      return `${time} listener offline   ${a.path} (${a.id})`;
    case 'sender-accepted':
      return `${time} connection open    ${a.path} (${a.id})`;
    case 'connection-closed':
      return `${time} connection closed  ${a.path} (${a.id})`;
    case 'sender-rejected':
      return `${time} sender rejected    ${a.path} ${a.status ?? ''} (${a.id})`;
    case 'sender-timed-out':
      return `${time} sender timed out   ${a.path} 504 (${a.id})`;
    case 'refused':
      return `${time} refused ${a.status ?? ''}        ${a.path || '-'}: ${a.detail ?? ''}`;
    case 'listener-error':
      return `${time} listener error     ${a.path} (${a.id}): ${a.detail ?? ''}`;
    case 'hybrid-connection-created':
      return `${time} created            ${a.path} (${a.id})`;
    case 'hybrid-connection-deleted':
      return `${time} deleted            ${a.path} (${a.id})`;
  }
}

/** The start flags. */
export function startOptions(program: Command): Command {
  return program
    .option('--host <host>', 'address to bind (default 127.0.0.1; anything else is reachable from other machines)')
    .option('-p, --port <port>', `port to listen on (0 = any free port; default ${DEFAULT_CLI_PORT})`, integer('--port'))
    .option('--hybrid-connection <name>', 'create a hybrid connection (repeatable)', collect, [])
    .option('--anonymous-hybrid-connection <name>', 'create a hybrid connection whose senders need no token (RequiresClientAuthorization false; listeners still need Listen; repeatable)', collect, [])
    .option('--key-name <name>', `shared access rule name (default ${DEFAULT_RULE_NAME})`)
    .option('--key <key>', 'shared access key (default: the well-known development key)')
    .option('--random-key', 'a fresh random key for the default rule instead of the well-known development key')
    .option('--auto-create', 'accept any hybrid connection path, creating it on first listen')
    .option('--namespace <host>', 'host name the emulator answers as (default: any Host); in --tls certificates too')
    .option('--tls', 'serve wss:// and https:// with a certificate signed by the development CA (made once; see `hyco-relay-emulator trust`)')
    .option('--ca-dir <dir>', 'the development CA\'s folder (default: $HYCO_RELAY_EMULATOR_CA_DIR, else ~/.hyco-relay-emulator/ca)')
    .option('--tls-cert <file>', 'TLS certificate (PEM) of your own; serve wss://')
    .option('--tls-key <file>', 'TLS private key (PEM)')
    .option('--tls-self-signed', 'the same as --tls (kept for earlier scripts)')
    .option('--rendezvous-timeout <ms>', 'rendezvous address lifetime in ms (default 30000)', integer('--rendezvous-timeout'))
    .option('--idle-timeout <ms>', 'cut idle control channels after this many ms, as an intermediary would (default: never)', integer('--idle-timeout'))
    .addOption(
      new Option('--listener-pings <mode>', 'what a listener\'s ping on its control channel gets: answer (a pong) or close (1008), as one report of the service says').choices(['answer', 'close']),
    )
    .option('--role-assignment <PRINCIPAL=ROLE[@PATH]>', 'give an Entra ID principal (object id) a role: Owner, Listener or Sender, on the namespace or a hybrid connection (repeatable)', collect, [])
    .addOption(new Option('--entra-tokens <mode>', 'which Entra ID tokens are taken: emulator (signed by this emulator) or unverified (also real ones, signature unchecked; loopback only)').choices(['emulator', 'unverified']))
    .option('--print-entra-token <ROLE[@PATH]>', 'print a token this emulator signed for a principal with that role, for curl and other clients (repeatable)', collect, [])
    .option('--capture-bodies', 'keep request and response bodies (64 KiB each, 16 MiB in all) and the first messages of connections in the inspector (GET /$requests, the dashboard)')
    .option('--inspector-ring-size <n>', 'how many requests, connections and listener events the inspector keeps (default 500)', integer('--inspector-ring-size'))
    .option('--managed-identity <PRINCIPAL>', 'answer as a managed identity endpoint whose tokens carry this object id; prints IDENTITY_ENDPOINT and IDENTITY_HEADER for apps using ManagedIdentityCredential or DefaultAzureCredential')
    .option('--config <file>', 'configuration file (JSON; UserConfig as the Service Bus emulator has it, and Emulator settings; see config.schema.json); flags win')
    .option('--json', 'once ready, print one JSON object on stdout (endpoint, dashboard, health, connection strings, CA certificate); everything else goes to stderr')
    .option('-q, --quiet', 'do not log connections')
    .option('-v, --verbose', 'say where each setting came from (flag, --config file, default; never a key)');
}

/** Starts the emulator from `flags`; prints the banner (and the JSON) once it is ready. */
export async function start(flags: StartFlags, version: string): Promise<RelayEmulator> {
  // With --json, stdout carries the JSON object alone: everything for people goes to stderr.
  const stream = flags.json ? process.stderr : process.stdout;
  const out = (line: string) => {
    if (stream.writable) stream.write(`${line}\n`);
  };
  const options = optionsFromFlags(flags, (line) => process.stderr.write(`hyco-relay-emulator: ${line}\n`));
  const relay = await RelayEmulator.start(options);
  // Ctrl-C is handled before anything is printed: one that follows the first lines at once is never missed.
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    out('shutting down');
    relay.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // A closed stdout (e.g. piped into `head`) ends the emulator quietly.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') void relay.close().then(() => process.exit(0));
  });
  const summary = readySummary(relay, version, options.autoCreate === true);
  const extra: string[] = [];
  for (const spec of flags.printEntraToken) {
    const { role, scope } = roleAssignmentFlag(`cli=${spec}`);
    const principal = cliPrincipal(role, scope);
    const credential = relay.createTokenCredential({ principal, roles: [scope ? { role, scope } : { role }] });
    const { token } = await credential.getToken('https://relay.azure.net/.default');
    (summary.entraTokens ??= []).push({ role, scope: scope ?? null, principal, token });
    extra.push(`entra token:          ${role}${scope ? ` on ${scope}` : ''} (principal ${principal}, 1 hour): ${token}`);
  }
  const identity = relay.managedIdentityEnvironment;
  if (identity) {
    summary.managedIdentity = identity;
    extra.push(`managed identity:     ${options.managedIdentity?.principal} (give it a role with --role-assignment); for your app's environment:`);
    extra.push(`  IDENTITY_ENDPOINT=${identity.IDENTITY_ENDPOINT}`);
    extra.push(`  IDENTITY_HEADER=${identity.IDENTITY_HEADER}`);
  }
  for (const line of [...bannerLines(summary), ...extra, readyLine(summary)]) out(line);
  if (flags.json && process.stdout.writable) process.stdout.write(`${JSON.stringify(summary)}\n`);
  if (!flags.quiet) relay.on('activity', (a: RelayActivity) => out(describe(a)));
  return relay;
}

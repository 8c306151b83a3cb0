/**
 * `hyco-relay-emulator`: runs the emulator from a terminal. Prints each
 * listening address and the connection string once, then one line per
 * listener and connection (never a payload, key or token).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { RelayEmulator } from './emulator';
import type { RelayActivity } from './emulator';
import { DEFAULT_RULE_NAME, checkPath } from './options';
import type { RelayEmulatorOptions } from './options';
import { relayRole } from './entra';
import type { RelayRole, RoleAssignment } from './types';

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

interface CliFlags {
  host?: string;
  port: number;
  hybridConnection: string[];
  keyName?: string;
  key?: string;
  autoCreate?: boolean;
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
  quiet?: boolean;
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

function readConfig(file: string): RelayEmulatorOptions {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read --config ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`--config ${file} is not valid JSON (${(err as Error).message})`, { cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`--config ${file} must hold a JSON object`);
  return value;
}

/** Builds emulator options from flags (flags win over the config file). */
export function optionsFromFlags(flags: CliFlags): RelayEmulatorOptions {
  const options: RelayEmulatorOptions = flags.config ? readConfig(flags.config) : {};
  if (flags.host !== undefined) options.host = flags.host;
  options.port = flags.port;
  if (flags.hybridConnection.length) options.hybridConnections = [...(options.hybridConnections ?? []), ...flags.hybridConnection];
  if (flags.key !== undefined || flags.keyName !== undefined) {
    if (flags.key === undefined) throw new Error('--key-name needs --key');
    options.rules = [{ name: flags.keyName ?? DEFAULT_RULE_NAME, key: flags.key, rights: ['Listen', 'Send', 'Manage'] }];
  }
  if (flags.autoCreate) options.autoCreate = true;
  if (flags.namespace) options.namespace = flags.namespace;
  if (flags.tlsSelfSigned && (flags.tlsCert || flags.tlsKey)) throw new Error('use --tls-self-signed or --tls-cert/--tls-key, not both');
  if (flags.tlsSelfSigned) options.tls = 'self-signed';
  else if (flags.tlsCert || flags.tlsKey) {
    if (!flags.tlsCert || !flags.tlsKey) throw new Error('--tls-cert and --tls-key go together');
    options.tls = { cert: readFileSync(flags.tlsCert), key: readFileSync(flags.tlsKey) };
  }
  if (flags.rendezvousTimeout !== undefined) options.rendezvousTimeoutMs = flags.rendezvousTimeout;
  if (flags.idleTimeout !== undefined) options.idleTimeoutMs = flags.idleTimeout;
  if (flags.listenerPings !== undefined) options.listenerPings = flags.listenerPings;
  if (flags.roleAssignment.length) options.roleAssignments = [...(options.roleAssignments ?? []), ...flags.roleAssignment.map(roleAssignmentFlag)];
  if (flags.entraTokens !== undefined) options.entraTokens = flags.entraTokens;
  for (const spec of flags.printEntraToken) roleAssignmentFlag(`check=${spec}`);
  if (flags.managedIdentity !== undefined) options.managedIdentity = { principal: flags.managedIdentity };
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
  }
}

export async function main(argv: string[]): Promise<RelayEmulator> {
  const program = new Command();
  program
    .name('hyco-relay-emulator')
    .description('A local Azure Relay Hybrid Connections emulator (service side), for development and tests.')
    .version((JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version, '-V, --version', 'print the version')
    .option('--host <host>', 'address to bind (default 127.0.0.1; anything else is reachable from other machines)')
    .option('-p, --port <port>', 'port to listen on (0 = any free port)', integer('--port'), DEFAULT_CLI_PORT)
    .option('--hybrid-connection <name>', 'create a hybrid connection (repeatable)', collect, [])
    .option('--key-name <name>', `shared access rule name (default ${DEFAULT_RULE_NAME})`)
    .option('--key <key>', 'shared access key (default: random, printed once)')
    .option('--auto-create', 'accept any hybrid connection path, creating it on first listen')
    .option('--namespace <host>', 'host name the emulator answers as (default: any Host)')
    .option('--tls-cert <file>', 'TLS certificate (PEM); serve wss://')
    .option('--tls-key <file>', 'TLS private key (PEM)')
    .option('--tls-self-signed', 'serve wss:// with a generated self-signed certificate')
    .option('--rendezvous-timeout <ms>', 'rendezvous address lifetime in ms (default 30000)', integer('--rendezvous-timeout'))
    .option('--idle-timeout <ms>', 'cut idle control channels after this many ms, as an intermediary would (default: never)', integer('--idle-timeout'))
    .addOption(
      new Option('--listener-pings <mode>', 'what a listener\'s ping on its control channel gets: answer (a pong) or close (1008), as one report of the service says').choices(['answer', 'close']),
    )
    .option('--role-assignment <PRINCIPAL=ROLE[@PATH]>', 'give an Entra ID principal (object id) a role: Owner, Listener or Sender, on the namespace or a hybrid connection (repeatable)', collect, [])
    .addOption(new Option('--entra-tokens <mode>', 'which Entra ID tokens are taken: emulator (signed by this emulator) or unverified (also real ones, signature unchecked; loopback only)').choices(['emulator', 'unverified']))
    .option('--print-entra-token <ROLE[@PATH]>', 'print a token this emulator signed for a principal with that role, for curl and other clients (repeatable)', collect, [])
    .option('--managed-identity <PRINCIPAL>', 'answer as a managed identity endpoint whose tokens carry this object id; prints IDENTITY_ENDPOINT and IDENTITY_HEADER for apps using ManagedIdentityCredential or DefaultAzureCredential')
    .option('--config <file>', 'JSON file with RelayEmulator.start options (flags win)')
    .option('-q, --quiet', 'do not log connections')
    .showHelpAfterError()
    .parse(argv);
  const flags = program.opts<CliFlags>();
  const options = optionsFromFlags(flags);
  const relay = await RelayEmulator.start(options);
  const out = (line: string) => {
    if (process.stdout.writable) process.stdout.write(`${line}\n`);
  };
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
  out(`hyco-relay-emulator listening on ${relay.endpoint}`);
  const scheme = relay.endpoint.startsWith('wss') ? 'https' : 'http';
  out(`dashboard:            ${scheme}://${relay.endpoint.split('://')[1]}/`);
  for (const hc of relay.stats().hybridConnections) out(`hybrid connection:    ${hc.path}${hc.requiresClientAuthorization ? '' : ' (anonymous senders)'}`);
  if (options.autoCreate) out('hybrid connections:   created on first listen (--auto-create)');
  out(`connection string:    ${relay.connectionString()}`);
  if (!options.rules) out('(the key above is random and shown once; pass --key to fix it)');
  for (const spec of flags.printEntraToken) {
    const { role, scope } = roleAssignmentFlag(`cli=${spec}`);
    const principal = cliPrincipal(role, scope);
    const credential = relay.createTokenCredential({ principal, roles: [scope ? { role, scope } : { role }] });
    const { token } = await credential.getToken('https://relay.azure.net/.default');
    out(`entra token:          ${role}${scope ? ` on ${scope}` : ''} (principal ${principal}, 1 hour): ${token}`);
  }
  const identity = relay.managedIdentityEnvironment;
  if (identity) {
    out(`managed identity:     ${options.managedIdentity?.principal} (give it a role with --role-assignment); for your app's environment:`);
    out(`  IDENTITY_ENDPOINT=${identity.IDENTITY_ENDPOINT}`);
    out(`  IDENTITY_HEADER=${identity.IDENTITY_HEADER}`);
  }
  if (!flags.quiet) relay.on('activity', (a: RelayActivity) => out(describe(a)));
  return relay;
}

/** Runs the command line; errors become a message and exit code 1. */
export function run(argv: string[]): void {
  main(argv).catch((err: Error) => {
    process.stderr.write(`hyco-relay-emulator: ${err.message}\n`);
    process.exit(1);
  });
}

if (require.main === module) run(process.argv);

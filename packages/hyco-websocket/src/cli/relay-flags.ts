/**
 * The relay settings every command that talks to the relay takes
 * (`--connection-string`, `--namespace`/`--key-name`/`--key`, `--path`,
 * `--entra`, `--proxy`), how they become an address and tokens, and the
 * escaped output every command prints with.
 */
import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';
import { RELAY_SCOPE } from '../credentials';
import type { TokenCredential } from '../credentials';
import { RelayArgumentError } from '../errors';
import { defaultAzureCredential, tokenSourceFor } from '../identity';
import { isManagedIdentity, parseConnectionString } from '../protocol/connection-string';
import { complain } from './terminal';
import { createRelayToken } from '../protocol/token';
import { parseRelayNamespace } from '../protocol/uri';

export interface RelayFlags {
  connectionString?: string;
  namespace?: string;
  keyName?: string;
  key?: string;
  path?: string;
  ttl: number;
  entra?: boolean;
  /** --proxy URL, or false with --no-proxy; undefined: the environment's. */
  proxy?: string | false;
  verbose?: boolean;
}

export interface Relay {
  /** `scheme://host:port`, the namespace argument of the URI helpers. */
  address: string;
  host: string;
  path: string | undefined;
  keyName?: string;
  key?: string;
  signature?: string;
  /** --entra, or Authentication=Managed Identity: tokens from an Entra ID credential. */
  credential?: TokenCredential;
  /** Where each effective setting came from, for --verbose (values of secrets are never kept here). */
  sources: SettingSource[];
}

/** One effective setting and where it came from. */
export interface SettingSource {
  name: string;
  /** The value as printed; for a secret only "(set)". */
  shown: string;
  from: string;
}

export { complain, out } from './terminal';

export function seconds(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) <= 0) throw new InvalidArgumentError('must be a positive whole number of seconds');
  return Number(value);
}

/** The environment variable a connection string is read from when no flag gives one. */
export const CONNECTION_STRING_ENV = 'HYCO_CONNECTION_STRING';

export function relayOptions(command: Command): Command {
  return command
    .option('-c, --connection-string <text>', `an Azure Relay connection string (default: $${CONNECTION_STRING_ENV}); the flags below override its parts`)
    .option('-n, --namespace <ns>', 'namespace host (contoso.servicebus.windows.net) or URL (ws://127.0.0.1:9030)')
    .option('--key-name <name>', 'shared access rule name')
    .option('--key <key>', 'shared access key')
    .option('-p, --path <path>', 'hybrid connection (default: the connection string\'s EntityPath)')
    .option('--ttl <seconds>', 'token lifetime in seconds', seconds, 3600)
    .option('--entra', 'use Microsoft Entra ID (DefaultAzureCredential, from @azure/identity) instead of a key')
    .option('-v, --verbose', 'say where each setting came from (flag, environment, default; never a secret), and add tracking ids to errors');
}

/** --proxy and --no-proxy, for the commands that connect. */
export function proxyOptions(command: Command): Command {
  return command
    .option('--proxy <url>', 'HTTP proxy (http://[user:password@]host:port); default: HTTPS_PROXY / HTTP_PROXY unless NO_PROXY lists the relay')
    .option('--no-proxy', 'connect directly, whatever the environment says');
}

/** Was this option given on the command line (not a default)? */
export function explicit(command: Command | undefined, name: string): boolean {
  return command?.getOptionValueSource(name) === 'cli';
}

/**
 * The relay from the flags, the environment and the defaults, in that
 * order: a connection string from `--connection-string`, else from
 * `HYCO_CONNECTION_STRING`; then each of `--namespace`, `--key-name`,
 * `--key`, `--path` and `--entra` given on the command line overrides its
 * part of it. A key given by flag drops the string's signature and managed
 * identity; a `--namespace` naming another host drops the string's key (it
 * belongs to another namespace).
 */
export function resolveRelay(flags: RelayFlags, command?: Command): Relay {
  const env = process.env[CONNECTION_STRING_ENV];
  const csFlag = flags.connectionString !== undefined && (command === undefined || explicit(command, 'connectionString'));
  const connectionString = csFlag ? flags.connectionString : env || undefined;
  const csFrom = csFlag ? '--connection-string' : `$${CONNECTION_STRING_ENV}`;
  const sources: SettingSource[] = [];
  let relay: Relay | undefined;
  if (connectionString) {
    const cs = parseConnectionString(connectionString);
    relay = {
      address: cs.address,
      host: cs.namespace,
      path: cs.entityPath,
      keyName: cs.sharedAccessKeyName,
      key: cs.sharedAccessKey,
      signature: cs.sharedAccessSignature,
      sources,
    };
    sources.push({ name: 'namespace', shown: cs.address, from: csFrom });
    if (cs.entityPath !== undefined) sources.push({ name: 'path', shown: cs.entityPath, from: `${csFrom} (EntityPath)` });
    if (cs.sharedAccessKeyName !== undefined) sources.push({ name: 'key name', shown: cs.sharedAccessKeyName, from: csFrom });
    if (cs.sharedAccessKey !== undefined) sources.push({ name: 'key', shown: '(set)', from: csFrom });
    if (cs.sharedAccessSignature !== undefined) sources.push({ name: 'signature', shown: '(set)', from: csFrom });
    if (isManagedIdentity(cs.authentication)) {
      relay.credential = tokenSourceFor(cs) as TokenCredential;
      sources.push({ name: 'credential', shown: 'managed identity', from: csFrom });
    }
  }
  const override = (name: string, shown: string, flag: string) => {
    const i = sources.findIndex((s) => s.name === name);
    if (i >= 0) sources.splice(i, 1);
    sources.push({ name, shown, from: flag });
  };
  if (flags.namespace !== undefined) {
    const endpoint = parseRelayNamespace(flags.namespace);
    const address = `${endpoint.scheme}://${endpoint.host}:${endpoint.port}`;
    if (relay && relay.host !== endpoint.host) {
      // The string's credentials are for its own namespace, not this one.
      delete relay.keyName;
      delete relay.key;
      delete relay.signature;
      delete relay.credential;
      for (const name of ['key name', 'key', 'signature', 'credential']) {
        const i = sources.findIndex((s) => s.name === name);
        if (i >= 0) sources.splice(i, 1);
      }
    }
    relay = { ...(relay ?? { path: undefined, sources }), address, host: endpoint.host };
    override('namespace', address, '--namespace');
  }
  if (!relay) throw new RelayArgumentError(`give --connection-string (or ${CONNECTION_STRING_ENV}), or --namespace`);
  if (flags.keyName !== undefined || flags.key !== undefined) {
    // A key by flag wins over the string's key, signature and managed identity.
    delete relay.signature;
    delete relay.credential;
    for (const name of ['signature', 'credential']) {
      const i = sources.findIndex((s) => s.name === name);
      if (i >= 0) sources.splice(i, 1);
    }
  }
  if (flags.keyName !== undefined) {
    relay.keyName = flags.keyName;
    override('key name', flags.keyName, '--key-name');
  }
  if (flags.key !== undefined) {
    relay.key = flags.key;
    override('key', '(set)', '--key');
  }
  if (flags.path !== undefined) {
    relay.path = flags.path;
    override('path', flags.path, '--path');
  }
  if (flags.entra) {
    // Keyless: whatever DefaultAzureCredential finds (environment, managed identity, az login...).
    relay.credential = defaultAzureCredential('--entra');
    override('credential', 'Entra ID (DefaultAzureCredential)', '--entra');
  }
  sources.push({ name: 'token lifetime', shown: `${flags.ttl} s`, from: explicit(command, 'ttl') ? '--ttl' : 'default' });
  if (flags.proxy !== undefined) sources.push({ name: 'proxy', shown: flags.proxy === false ? 'none' : redactUrl(flags.proxy), from: flags.proxy === false ? '--no-proxy' : '--proxy' });
  else {
    const proxyEnv = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'].find((name) => process.env[name]);
    if (proxyEnv) sources.push({ name: 'proxy', shown: redactUrl(process.env[proxyEnv] ?? ''), from: `$${proxyEnv} (unless NO_PROXY lists the relay)` });
  }
  if (flags.verbose) tellSources(sources);
  return relay;
}

/** A URL without its password. */
function redactUrl(text: string): string {
  try {
    const url = new URL(text);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '(set)';
  }
}

/** --verbose: one stderr line per effective setting and where it came from. */
export function tellSources(sources: readonly SettingSource[]): void {
  for (const s of sources) complain(`${s.name}: ${s.shown} (from ${s.from})`);
}

/** A token for the relay: an Entra ID token from the credential, else a SAS token from the key. */
export async function tokenNow(relay: Relay, ttl: number, path = relay.path): Promise<string> {
  if (!relay.credential) return tokenFor(relay, ttl, path);
  const access = await relay.credential.getToken(RELAY_SCOPE);
  if (!access?.token) throw new RelayArgumentError('the Entra ID credential gave no token');
  return access.token;
}

export function needPath(relay: Relay): string {
  if (!relay.path) throw new RelayArgumentError('give --path (or an EntityPath in the connection string)');
  return relay.path;
}

export function tokenFor(relay: Relay, ttl: number, path = relay.path): string {
  if (relay.signature) return relay.signature;
  if (!relay.keyName && !relay.key) throw new RelayArgumentError('give --key-name and --key (or a connection string with them)');
  if (!relay.keyName) throw new RelayArgumentError('--key is given without --key-name: give the rule\'s name too');
  if (!relay.key) throw new RelayArgumentError('--key-name is given without --key: give the rule\'s key too');
  return createRelayToken(`http://${relay.host}/${path ?? ''}`, relay.keyName, relay.key, ttl);
}

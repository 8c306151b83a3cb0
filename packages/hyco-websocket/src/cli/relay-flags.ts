/**
 * The relay settings every command that talks to the relay takes
 * (`--connection-string`, `--namespace`/`--key-name`/`--key`, `--path`,
 * `--entra`, `--proxy`), how they become an address and tokens, and the
 * escaped output every command prints with.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { RELAY_SCOPE } from '../credentials';
import type { TokenCredential } from '../credentials';
import { RelayArgumentError } from '../errors';
import type { RelayError } from '../errors';
import { defaultAzureCredential, tokenSourceFor } from '../identity';
import { isLoopbackHost, isManagedIdentity, parseConnectionString } from '../protocol/connection-string';
import { printable } from '../protocol/printable';
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
}

// Every line printed may hold values from the network (ids, paths, messages, status texts): escaped, so
// that no peer can forge a line or drive the terminal.
export const out = (line: string): void => {
  process.stdout.write(`${printable(line, Infinity)}\n`);
};

export const complain = (line: string): void => {
  process.stderr.write(`hyco-websocket: ${printable(line, Infinity)}\n`);
};

export function seconds(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) <= 0) throw new InvalidArgumentError('must be a positive whole number of seconds');
  return Number(value);
}

export function relayOptions(command: Command): Command {
  return command
    .addOption(new Option('-c, --connection-string <text>', 'an Azure Relay connection string').env('HYCO_CONNECTION_STRING'))
    .option('-n, --namespace <ns>', 'namespace host (contoso.servicebus.windows.net) or URL (ws://127.0.0.1:9030)')
    .option('--key-name <name>', 'shared access rule name')
    .option('--key <key>', 'shared access key')
    .option('-p, --path <path>', 'hybrid connection (default: the connection string\'s EntityPath)')
    .option('--ttl <seconds>', 'token lifetime in seconds', seconds, 3600)
    .option('--entra', 'use Microsoft Entra ID (DefaultAzureCredential, from @azure/identity) instead of a key');
}

/** --proxy and --no-proxy, for the commands that connect. */
export function proxyOptions(command: Command): Command {
  return command
    .option('--proxy <url>', 'HTTP proxy (http://[user:password@]host:port); default: HTTPS_PROXY / HTTP_PROXY unless NO_PROXY lists the relay')
    .option('--no-proxy', 'connect directly, whatever the environment says');
}

export function resolveRelay(flags: RelayFlags): Relay {
  let relay: Relay;
  if (flags.connectionString) {
    const cs = parseConnectionString(flags.connectionString);
    relay = {
      address: cs.address,
      host: cs.namespace,
      path: flags.path ?? cs.entityPath,
      keyName: cs.sharedAccessKeyName,
      key: cs.sharedAccessKey,
      signature: cs.sharedAccessSignature,
    };
    if (isManagedIdentity(cs.authentication)) relay.credential = tokenSourceFor(cs) as TokenCredential;
  } else {
    if (!flags.namespace) throw new RelayArgumentError('give --connection-string (or HYCO_CONNECTION_STRING), or --namespace');
    const endpoint = parseRelayNamespace(flags.namespace);
    relay = {
      address: `${endpoint.scheme}://${endpoint.host}:${endpoint.port}`,
      host: endpoint.host,
      path: flags.path,
      keyName: flags.keyName,
      key: flags.key,
    };
  }
  if (flags.entra) {
    // Keyless: whatever DefaultAzureCredential finds (environment, managed identity, az login...).
    relay.credential = defaultAzureCredential('--entra');
  }
  return relay;
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

/** What to tell someone whose listener failed with `err`, once; and whether to stop. */
export function describeFailure(err: RelayError, address: string): { line: string; stop: boolean } {
  if (err.statusCode === 401 || err.statusCode === 403) {
    return { line: `the relay refused the listener (${err.statusCode}): check the key, rule name or role. ${err.message}`, stop: true };
  }
  const cause = err.cause as NodeJS.ErrnoException | undefined;
  if (err.code === 'ERR_HYCO_CONNECTION' && cause?.code === 'ECONNREFUSED') {
    const endpoint = parseRelayNamespace(address);
    if (isLoopbackHost(endpoint.host)) {
      return { line: `nothing answers at ${address}: is the emulator running on ${endpoint.port}? (npx hyco-relay-emulator --port ${endpoint.port}); retrying`, stop: false };
    }
  }
  return { line: err.message, stop: false };
}

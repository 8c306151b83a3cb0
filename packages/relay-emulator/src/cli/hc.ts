/**
 * `hyco-relay-emulator hc create|delete NAME`: creates or deletes a hybrid
 * connection in a running emulator, over its management endpoint (`PUT` /
 * `DELETE /{path}?api-version=2016-07` with `X-PROCESS-AT: ServiceBus` and a
 * Manage token), as any HTTP client could. The namespace and key come from
 * `--connection-string`, or `--endpoint` with the well-known development key
 * (or `--key-name`/`--key`).
 */
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { Command } from 'commander';
import { Option } from 'commander';
import { createRelayToken, parseConnectionString } from 'hyco-websocket/protocol';
import { DEFAULT_RULE_NAME, DEVELOPMENT_KEY, checkPath } from '../options';
import { DEFAULT_CLI_PORT } from './start';

interface HcFlags {
  endpoint?: string;
  connectionString?: string;
  keyName?: string;
  key?: string;
  ca?: string;
  anonymous?: boolean;
  userMetadata?: string;
}

interface Target {
  /** `http(s)://host:port` */
  base: string;
  host: string;
  keyName: string;
  key: string;
  /** The namespace connection string (for printing the new one's). */
  connectionString: string | undefined;
}

function target(flags: HcFlags): Target {
  if (flags.connectionString) {
    const cs = parseConnectionString(flags.connectionString);
    if (!cs.sharedAccessKeyName || !cs.sharedAccessKey) throw new Error('the connection string needs SharedAccessKeyName and SharedAccessKey (of a rule with Manage)');
    const secure = cs.scheme === 'wss';
    return {
      base: `${secure ? 'https' : 'http'}://${cs.namespace.includes(':') ? `[${cs.namespace}]` : cs.namespace}:${cs.port}`,
      host: cs.namespace,
      keyName: cs.sharedAccessKeyName,
      key: cs.sharedAccessKey,
      connectionString: flags.connectionString.replace(/;?EntityPath=[^;]*/i, ''),
    };
  }
  const raw = flags.endpoint ?? `http://127.0.0.1:${DEFAULT_CLI_PORT}`;
  let url: URL;
  try {
    url = new URL(/^[a-z]+:\/\//i.test(raw) ? raw.replace(/^ws/i, 'http') : `http://${raw}`);
  } catch {
    throw new Error(`--endpoint ${raw} is not an address (http://127.0.0.1:9030)`);
  }
  if (flags.key === undefined && flags.keyName !== undefined) throw new Error('--key-name needs --key');
  return { base: url.origin, host: url.hostname, keyName: flags.keyName ?? DEFAULT_RULE_NAME, key: flags.key ?? DEVELOPMENT_KEY, connectionString: undefined };
}

/** One management request; resolves with the status, its text and the body. */
function manage(t: Target, method: 'PUT' | 'DELETE', path: string, body: string | undefined, ca: string | undefined): Promise<{ status: number; text: string; body: string }> {
  const url = new URL(`${t.base}/${path.split('/').map(encodeURIComponent).join('/')}?api-version=2016-07`);
  const token = createRelayToken(`http://${t.host}/${path}`, t.keyName, t.key, 300);
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(
      url,
      {
        method,
        headers: { Authorization: token, 'X-PROCESS-AT': 'ServiceBus', ...(body ? { 'Content-Type': 'application/json' } : {}) },
        // --ca adds a CA to the ones Node trusts (it does not replace them).
        ...(ca ? { ca: [...rootCertificates, readFileSync(ca, 'utf8')] } : {}),
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: res.statusMessage ?? '', body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${t.base} did not answer within 10 s`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'ECONNREFUSED' ? new Error(`nothing answers at ${t.base}: is the emulator running? (npx hyco-relay-emulator)`, { cause: err }) : err);
    });
    req.end(body);
  });
}

function common(command: Command): Command {
  return command
    .addOption(new Option('--endpoint <url>', `the emulator (default http://127.0.0.1:${DEFAULT_CLI_PORT}), with the well-known development key unless --key-name/--key`))
    .addOption(new Option('-c, --connection-string <text>', 'the namespace\'s connection string, of a rule with Manage (instead of --endpoint)'))
    .option('--key-name <name>', `shared access rule with Manage (default ${DEFAULT_RULE_NAME})`)
    .option('--key <key>', 'its key (default: the well-known development key)')
    .option('--ca <file>', 'a CA certificate to trust (PEM), for an emulator with --tls');
}

export function registerHybridConnectionCommands(program: Command, out: (line: string) => void): void {
  const hc = program.command('hc').description('create or delete hybrid connections in a running emulator');
  common(hc.command('create <name>').description('create a hybrid connection (shown on the dashboard at once)'))
    .option('--anonymous', 'senders need no token (RequiresClientAuthorization false); listeners still do')
    .option('--user-metadata <text>', 'free text kept with it (runtime information\'s UserMetadata)')
    .action(async (name: string, flags: HcFlags) => {
      const path = checkPath(name);
      const t = target(flags);
      const settings = { requiresClientAuthorization: flags.anonymous !== true, ...(flags.userMetadata !== undefined ? { userMetadata: flags.userMetadata } : {}) };
      const res = await manage(t, 'PUT', path, JSON.stringify(settings), flags.ca);
      if (res.status !== 201) throw new Error(`the emulator refused to create "${path}": ${res.status} ${res.text}`);
      out(`created: hybrid connection "${path}"${flags.anonymous ? ' (anonymous senders)' : ''}`);
      if (t.connectionString) out(`connection string: ${t.connectionString};EntityPath=${path}`);
    });
  common(hc.command('delete <name>').description('delete a hybrid connection (its listeners and connections are closed with 1001)')).action(async (name: string, flags: HcFlags) => {
    const path = checkPath(name);
    const res = await manage(target(flags), 'DELETE', path, undefined, flags.ca);
    if (res.status !== 200) throw new Error(`the emulator refused to delete "${path}": ${res.status} ${res.text}`);
    out(`deleted: hybrid connection "${path}"`);
  });
}

/**
 * What the emulator prints once it is ready: for people, a banner to copy
 * from (connection strings with `EntityPath`, ready `listen` and `send`
 * commands, how to trust its CA); for programs (`--json`), one JSON object.
 */
import type { RelayEmulator } from '../emulator';
import { trustInstructions } from './trust';

/** What `--json` prints, on one line of stdout, once the emulator is ready. */
export interface ReadySummary {
  status: 'ready';
  service: 'hyco-relay-emulator';
  version: string;
  /** `ws://host:port` (or `wss://`): the namespace address. */
  endpoint: string;
  port: number;
  dashboard: string;
  health: string;
  /** The namespace's connection string (the first rule's key). */
  connectionString: string;
  /** Whether that key is the well-known development key. */
  developmentKey: boolean;
  hybridConnections: { name: string; requiresClientAuthorization: boolean; connectionString: string }[];
  autoCreate: boolean;
  /** With TLS: the CA certificate's path, when the development CA signed the certificate (else null). */
  tls: { caCertificate: string | null } | null;
  entraTokens?: { role: string; scope: string | null; principal: string; token: string }[];
  managedIdentity?: { IDENTITY_ENDPOINT: string; IDENTITY_HEADER: string };
}

export function readySummary(relay: RelayEmulator, version: string, autoCreate: boolean): ReadySummary {
  return {
    status: 'ready',
    service: 'hyco-relay-emulator',
    version,
    endpoint: relay.endpoint,
    port: relay.port,
    dashboard: relay.dashboardUrl,
    health: relay.healthUrl,
    connectionString: relay.connectionString(),
    developmentKey: relay.usesDevelopmentKey,
    hybridConnections: relay.stats().hybridConnections.map((hc) => ({
      name: hc.path,
      requiresClientAuthorization: hc.requiresClientAuthorization,
      connectionString: relay.connectionString({ entityPath: hc.path }),
    })),
    autoCreate,
    tls: relay.endpoint.startsWith('wss') ? { caCertificate: relay.caCertificatePath ?? null } : null,
  };
}

/**
 * `text` as one shell word: in double quotes when nothing in it is special
 * there (what a connection string holds; works in POSIX shells, cmd and
 * PowerShell alike), else in single quotes (POSIX).
 */
export function shellWord(text: string): string {
  if (/^[A-Za-z0-9_\-.,:/=+;@%]*$/.test(text)) return `"${text}"`;
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** The human banner, line by line (the last line is the stable "ready" line). */
export function bannerLines(s: ReadySummary): string[] {
  const lines = [
    `hyco-relay-emulator listening on ${s.endpoint}`,
    `dashboard:            ${s.dashboard}`,
    `health:               ${s.health}`,
    `connection string:    ${s.connectionString}`,
    s.developmentKey
      ? 'key:                  the well-known development key (the same at every start; for local development only; --random-key for a fresh one)'
      : 'key:                  given, or random (--random-key: it changes at every start)',
  ];
  const ca = s.tls?.caCertificate;
  const caFlag = ca ? ` --ca ${shellWord(ca)}` : '';
  for (const hc of s.hybridConnections) {
    lines.push(`hybrid connection:    ${hc.name}${hc.requiresClientAuthorization ? '' : ' (anonymous senders)'}`);
    lines.push(`  connection string:  ${hc.connectionString}`);
    lines.push(`  listen:             npx hyco-websocket listen -c ${shellWord(hc.connectionString)}${caFlag}`);
    lines.push(`  send:               npx hyco-websocket send -c ${shellWord(hc.connectionString)}${caFlag}`);
  }
  if (s.autoCreate) lines.push('hybrid connections:   created on first listen (--auto-create): add ;EntityPath=NAME to the connection string above');
  else if (s.hybridConnections.length === 0) {
    lines.push(
      'hybrid connections:   none yet: start with --hybrid-connection NAME (or --auto-create, or a --config file), or add one now: npx hyco-relay-emulator hc create NAME' +
        (s.port === 9030 ? '' : ` --endpoint ${s.dashboard.replace(/\/$/, '')}`),
    );
  }
  if (s.tls) {
    if (ca) {
      lines.push(`TLS:                  a certificate for localhost, 127.0.0.1, ::1 (and --namespace) signed by the development CA ${ca}; trust the CA once:`);
      for (const line of trustInstructions(ca)) lines.push(`  ${line}`);
    } else lines.push('TLS:                  the certificate given (or self-signed): clients must trust it');
  }
  return lines;
}

/** The stable line that says the emulator is ready (scripts may wait for it). */
export function readyLine(s: ReadySummary): string {
  return `hyco-relay-emulator ready on ${s.endpoint}`;
}

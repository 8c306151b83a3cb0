/**
 * Azure Relay connection strings, as the portal and SDKs give them:
 * `Endpoint=sb://ns/;SharedAccessKeyName=...;SharedAccessKey=...;EntityPath=...`
 * plus the `SharedAccessSignature=` and `UseDevelopmentEmulator=true` forms.
 */
import { RelayError, requireString } from '../errors';

/** A parsed connection string. Secrets are kept, never printed. */
export interface RelayConnectionString {
  /** Host name of the namespace (IPv6 addresses in brackets). */
  namespace: string;
  /** Port to connect to: 443 for Azure, the endpoint's port for an emulator. */
  port: number;
  /** WebSocket scheme to use: `wss`, or `ws` with `UseDevelopmentEmulator=true`. */
  scheme: 'ws' | 'wss';
  /** `scheme://namespace:port`, ready for the `namespace` argument of the URI helpers. */
  address: string;
  sharedAccessKeyName?: string;
  sharedAccessKey?: string;
  /** A ready SAS token given instead of a key. */
  sharedAccessSignature?: string;
  /** The hybrid connection's name, when the string is entity-level. */
  entityPath?: string;
  /** `UseDevelopmentEmulator=true`: no TLS, loopback hosts only. */
  useDevelopmentEmulator: boolean;
  /** `Authentication=...` as given (`Managed Identity`: use an Entra ID credential instead of a key). */
  authentication?: string;
}

/** Whether an `Authentication` value asks for a managed identity (`Managed Identity`, `ManagedIdentity`). */
export function isManagedIdentity(authentication: string | undefined): boolean {
  return authentication !== undefined && /^managed\s*identity$/i.test(authentication.trim());
}

const KNOWN_KEYS: Record<string, string> = {
  endpoint: 'Endpoint',
  sharedaccesskeyname: 'SharedAccessKeyName',
  sharedaccesskey: 'SharedAccessKey',
  sharedaccesssignature: 'SharedAccessSignature',
  entitypath: 'EntityPath',
  usedevelopmentemulator: 'UseDevelopmentEmulator',
  authentication: 'Authentication',
};

const ENDPOINT_SCHEMES = new Set(['sb:', 'https:', 'http:', 'wss:', 'ws:']);

/** Whether `host` is a loopback name or address. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  // Only names that are loopback without asking a resolver: "*.localhost" is loopback by RFC 6761 only where
  // the resolver honours it; an /etc/hosts line or a DNS answer can point it anywhere.
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

function fail(message: string): RelayError {
  return new RelayError('ERR_HYCO_INVALID_CONNECTION_STRING', `Invalid connection string: ${message}`);
}

/**
 * Parses a connection string. Keys are case-insensitive and may come in any
 * order; whitespace and a trailing `;` are tolerated. Throws a `RelayError`
 * (`ERR_HYCO_INVALID_CONNECTION_STRING`) naming what is wrong, never
 * echoing a key or signature.
 */
export function parseConnectionString(text: string): RelayConnectionString {
  requireString(text, 'connectionString');
  const values = new Map<string, string>();
  for (const rawPart of text.split(';')) {
    const part = rawPart.trim();
    if (part.length === 0) continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw fail('each part must be Name=Value');
    const name = part.slice(0, eq).trim().toLowerCase();
    const value = part.slice(eq + 1).trim();
    const canonical = KNOWN_KEYS[name];
    if (!canonical) continue; // Unknown keys (e.g. TransportType) are ignored, as the Azure SDKs do.
    if (values.has(canonical)) throw fail(`${canonical} is given twice`);
    values.set(canonical, value);
  }

  const endpoint = values.get('Endpoint');
  if (!endpoint) throw fail('Endpoint is missing');
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw fail('Endpoint is not a valid URL (expected sb://{namespace}/)');
  }
  if (!ENDPOINT_SCHEMES.has(url.protocol)) {
    throw fail(`Endpoint has an unknown scheme "${url.protocol.slice(0, -1)}" (expected sb, https or wss)`);
  }
  if (!url.hostname) throw fail('Endpoint has no host name');

  const emulatorText = values.get('UseDevelopmentEmulator');
  let useDevelopmentEmulator = false;
  if (emulatorText !== undefined) {
    if (!/^(true|false)$/i.test(emulatorText)) throw fail('UseDevelopmentEmulator must be true or false');
    useDevelopmentEmulator = emulatorText.toLowerCase() === 'true';
  }
  const authentication = values.get('Authentication');
  if (authentication !== undefined && !authentication) throw fail('Authentication is empty');
  if (useDevelopmentEmulator && !isLoopbackHost(url.hostname)) {
    throw fail(`UseDevelopmentEmulator=true is only honoured for loopback hosts, not "${url.hostname}"`);
  }

  const keyName = values.get('SharedAccessKeyName');
  const key = values.get('SharedAccessKey');
  const signature = values.get('SharedAccessSignature');
  if (keyName !== undefined && !keyName) throw fail('SharedAccessKeyName is empty');
  if (keyName && !key) throw fail('SharedAccessKeyName is given without SharedAccessKey');
  if (key !== undefined && !keyName) throw fail('SharedAccessKey is given without SharedAccessKeyName');
  if (signature !== undefined && !/^SharedAccessSignature\s/i.test(signature)) {
    throw fail('SharedAccessSignature must be a token starting with "SharedAccessSignature "');
  }

  const scheme = useDevelopmentEmulator ? 'ws' : 'wss';
  // An explicit port is kept (Azure endpoints have none; a TLS emulator does).
  const port = url.port ? Number(url.port) : useDevelopmentEmulator ? 80 : 443;
  const entityPath = values.get('EntityPath')?.replace(/^\/+|\/+$/g, '') || undefined;

  const result: RelayConnectionString = {
    namespace: url.hostname,
    port,
    scheme,
    address: `${scheme}://${url.hostname}:${port}`,
    useDevelopmentEmulator,
  };
  if (keyName) result.sharedAccessKeyName = keyName;
  if (key) result.sharedAccessKey = key;
  if (signature) result.sharedAccessSignature = signature;
  if (entityPath) result.entityPath = entityPath;
  if (authentication) result.authentication = authentication;
  return result;
}

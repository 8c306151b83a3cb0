/**
 * Credentials made from settings: what a connection string's key,
 * signature or `Authentication=Managed Identity` means, and Entra ID
 * credentials from `@azure/identity`, an optional peer dependency loaded
 * only when one is asked for (with a clear error naming it when missing).
 */
import { createRequire } from 'node:module';
import type { NamedKeyCredential, TokenCredential } from './credentials';
import { RelayArgumentError, RelayError } from './errors';
import { isLoopbackHost, isManagedIdentity, parseConnectionString } from './protocol/connection-string';
import type { RelayConnectionString } from './protocol/connection-string';
import type { TokenSource } from './token-provider';

/** Loads optional packages from this package's place in node_modules. */
const load = createRequire(__filename);

interface IdentityModule {
  ManagedIdentityCredential: new (options?: { clientId?: string }) => TokenCredential;
  DefaultAzureCredential: new (options?: { disableInstanceDiscovery?: boolean }) => TokenCredential;
}

/** `@azure/identity`, or `ERR_HYCO_MISSING_PACKAGE` saying what needs it and how to get it. */
export function loadIdentity(why: string): IdentityModule {
  try {
    return load('@azure/identity') as IdentityModule;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
    throw new RelayError('ERR_HYCO_MISSING_PACKAGE', `${why} needs the package "@azure/identity", which is not installed: npm install @azure/identity`, { cause: err });
  }
}

/**
 * `DefaultAzureCredential` (environment, workload or managed identity, the
 * Azure CLI...). When `AZURE_AUTHORITY_HOST` names a loopback address (the
 * local emulator's token endpoint), Microsoft's instance discovery, which
 * cannot know such a host, is turned off.
 */
export function defaultAzureCredential(why: string, env: NodeJS.ProcessEnv = process.env): TokenCredential {
  const { DefaultAzureCredential } = loadIdentity(why);
  return new DefaultAzureCredential(isLoopbackAuthority(env.AZURE_AUTHORITY_HOST) ? { disableInstanceDiscovery: true } : {});
}

function isLoopbackAuthority(host: string | undefined): boolean {
  if (host === undefined) return false;
  try {
    return isLoopbackHost(new URL(host).hostname);
  } catch {
    return false;
  }
}

/**
 * The token source a connection string holds: its key (SAS tokens minted
 * and renewed), its `SharedAccessSignature` (fixed), or, with
 * `Authentication=Managed Identity`, a `ManagedIdentityCredential`.
 */
export function tokenSourceFor(cs: RelayConnectionString): TokenSource {
  if (isManagedIdentity(cs.authentication)) {
    const { ManagedIdentityCredential } = loadIdentity('Authentication=Managed Identity');
    return new ManagedIdentityCredential();
  }
  if (cs.authentication !== undefined) {
    throw new RelayError('ERR_HYCO_INVALID_CONNECTION_STRING', 'Invalid connection string: Authentication must be "Managed Identity" (or give a key)');
  }
  if (cs.sharedAccessKeyName && cs.sharedAccessKey) {
    const named: NamedKeyCredential = { name: cs.sharedAccessKeyName, key: cs.sharedAccessKey };
    return named;
  }
  if (cs.sharedAccessSignature) return cs.sharedAccessSignature;
  throw new RelayError(
    'ERR_HYCO_INVALID_CONNECTION_STRING',
    'Invalid connection string: it holds no SharedAccessKeyName/SharedAccessKey, SharedAccessSignature or Authentication=Managed Identity',
  );
}

/**
 * What a `fromConnectionString` factory needs: the namespace address, the
 * hybrid connection (`EntityPath`, or `path`; both given must agree), and
 * the token source the string holds, unless the options give one.
 */
export function connectionStringTarget(
  connectionString: string,
  options: { path?: unknown; token?: unknown; credential?: unknown },
): { address: string; path: string; token: TokenSource | undefined } {
  const cs = parseConnectionString(connectionString);
  const { path } = options;
  if (path !== undefined && typeof path !== 'string') throw new RelayArgumentError('options.path must be a hybrid connection path (a string)');
  if (path && cs.entityPath && path.toLowerCase() !== cs.entityPath.toLowerCase()) {
    throw new RelayArgumentError(`The connection string is for the hybrid connection "${cs.entityPath}" (EntityPath), not "${path}": drop one of them`);
  }
  const hcPath = path || cs.entityPath;
  if (!hcPath) throw new RelayArgumentError('The connection string names no hybrid connection (EntityPath): give options.path');
  const given = (options.token ?? null) !== null || (options.credential ?? null) !== null;
  return { address: cs.address, path: hcPath, token: given ? undefined : tokenSourceFor(cs) };
}

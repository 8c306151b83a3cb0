/**
 * Credentials made from settings: what a connection string's key,
 * signature or `Authentication=Managed Identity` means, and Entra ID
 * credentials from `@azure/identity`, an optional peer dependency loaded
 * only when one is asked for (with a clear error naming it when missing).
 */
import { createRequire } from 'node:module';
import type { NamedKeyCredential, TokenCredential } from './credentials';
import { RelayError } from './errors';
import { isLoopbackHost, isManagedIdentity } from './protocol/connection-string';
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

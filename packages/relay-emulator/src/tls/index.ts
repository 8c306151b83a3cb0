/**
 * TLS material for the emulator: a certificate and key given by the user,
 * a self-signed certificate, or a server certificate signed by the
 * development CA (`tls: 'development-ca'`, the CLI's `--tls`). Everything is
 * made with Node's own crypto; no package is needed.
 */
import { isIP } from 'node:net';
import { developmentCa, serverCertificate } from './development-ca';
import { issueCertificate, rsaKeyPair } from './x509';

export { CA_CERTIFICATE_FILE, CA_DIRECTORY_ENV, CA_KEY_FILE, caDirectory, developmentCa } from './development-ca';
export type { DevelopmentCa } from './development-ca';

export interface TlsMaterial {
  cert: string | Buffer;
  key: string | Buffer;
  /** With the development CA: its certificate's path and PEM. */
  ca?: { path: string; certificate: string };
}

/** The names every generated certificate covers: loopback by name and address. */
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1'];

/** `localhost`, `127.0.0.1`, `::1`, then `extra` (host names or addresses; wildcard addresses left out), without repeats. */
export function certificateHostNames(extra: (string | undefined)[]): string[] {
  const names = [...LOOPBACK_NAMES];
  for (const raw of extra) {
    if (!raw) continue;
    const name = raw.replace(/^\[|\]$/g, '').toLowerCase();
    if (name === '0.0.0.0' || name === '::' || names.includes(name)) continue;
    if (isIP(name) === 0 && !/^[a-z0-9-]+(\.[a-z0-9-]+)*\.?$/.test(name)) continue;
    names.push(name);
  }
  return names;
}

/** A self-signed server certificate for `hostNames` (each client must trust this certificate itself). */
export async function selfSignedCertificate(hostNames: string[]): Promise<{ cert: string; key: string }> {
  const keys = await rsaKeyPair();
  const now = Date.now();
  const name = { commonName: hostNames[0] ?? 'localhost', organization: 'hyco-relay-emulator' };
  const cert = issueCertificate({
    subject: name,
    publicKey: keys.publicKey,
    issuer: { name, ...keys },
    notBefore: new Date(now - 3600 * 1000),
    notAfter: new Date(now + 30 * 24 * 3600 * 1000),
    authority: false,
    hostNames,
  });
  return { cert, key: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/** A server certificate signed by the development CA in `directory` (made there first when missing). */
export async function developmentCaCertificate(directory: string, hostNames: string[]): Promise<TlsMaterial> {
  const ca = await developmentCa(directory);
  const pems = await serverCertificate(ca, hostNames);
  return { ...pems, ca: { path: ca.certificatePath, certificate: ca.certificate } };
}

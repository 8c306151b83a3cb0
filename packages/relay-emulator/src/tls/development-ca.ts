/**
 * The development certificate authority: made once, kept on disk
 * (`ca.pem`, to trust; `ca-key.pem`, readable by its owner only), and used
 * at every start to sign a fresh server certificate for the emulator's host
 * names. Clients that cannot be told "trust this one certificate" (the .NET
 * and Java clients, curl) trust the CA once, as they would a company CA.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { hostname, homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { issueCertificate, rsaKeyPair } from './x509';
import type { Issuer } from './x509';

/** The environment variable that chooses the CA's folder. */
export const CA_DIRECTORY_ENV = 'HYCO_RELAY_EMULATOR_CA_DIR';
export const CA_CERTIFICATE_FILE = 'ca.pem';
export const CA_KEY_FILE = 'ca-key.pem';
/** The CA lives 10 years; server certificates 397 days (the most browsers take), made anew at every start. */
const CA_DAYS = 3650;
const SERVER_DAYS = 397;
const DAY_MS = 24 * 3600 * 1000;
/** Certificates are valid from a little before now, for clocks a little behind. */
const BACKDATE_MS = 3600 * 1000;

/** The development CA: where its certificate is, the certificate (PEM), and what signs with it. */
export interface DevelopmentCa {
  directory: string;
  certificatePath: string;
  certificate: string;
  issuer: Issuer;
}

/** The CA's folder: `directory`, else `$HYCO_RELAY_EMULATOR_CA_DIR`, else `~/.hyco-relay-emulator/ca`. */
export function caDirectory(directory?: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(directory ?? (env[CA_DIRECTORY_ENV] || join(homedir(), '.hyco-relay-emulator', 'ca')));
}

function codedError(code: string, message: string, cause?: unknown): Error {
  const err = new Error(message, cause === undefined ? undefined : { cause }) as Error & { code: string };
  err.code = code;
  return err;
}

async function readCa(directory: string): Promise<DevelopmentCa | undefined> {
  const certificatePath = join(directory, CA_CERTIFICATE_FILE);
  let certificate: string;
  let keyPem: string;
  try {
    [certificate, keyPem] = await Promise.all([fs.readFile(certificatePath, 'utf8'), fs.readFile(join(directory, CA_KEY_FILE), 'utf8')]);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw codedError('ERR_HYCO_DEVELOPMENT_CA', `cannot read the development CA in ${directory}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, err);
  }
  let parsed: X509Certificate;
  let privateKey;
  try {
    parsed = new X509Certificate(certificate);
    privateKey = createPrivateKey(keyPem);
  } catch (err) {
    throw codedError('ERR_HYCO_DEVELOPMENT_CA', `the development CA in ${directory} is damaged (${CA_CERTIFICATE_FILE} or ${CA_KEY_FILE} does not parse); delete the folder to make a new one (and trust that one instead)`, err);
  }
  if (!parsed.ca || !parsed.checkPrivateKey(privateKey)) {
    throw codedError('ERR_HYCO_DEVELOPMENT_CA', `${CA_CERTIFICATE_FILE} in ${directory} is not a CA certificate for ${CA_KEY_FILE}; delete the folder to make a new one`);
  }
  if (Date.parse(parsed.validTo) < Date.now() + SERVER_DAYS * DAY_MS) {
    throw codedError('ERR_HYCO_DEVELOPMENT_CA', `the development CA in ${directory} expires on ${parsed.validTo}; delete the folder to make a new one (and trust that one instead)`);
  }
  const commonName = /CN=([^\n]+)/.exec(parsed.subject)?.[1] ?? 'hyco-relay-emulator development CA';
  const organization = /O=([^\n]+)/.exec(parsed.subject)?.[1];
  return {
    directory,
    certificatePath,
    certificate,
    issuer: { name: { commonName, ...(organization ? { organization } : {}) }, privateKey, publicKey: parsed.publicKey },
  };
}

/**
 * The CA in `directory`, made there first when there is none. Two emulators
 * starting at once make one CA between them: the folder appears complete,
 * by one rename, or not at all.
 */
export async function developmentCa(directory: string): Promise<DevelopmentCa> {
  const existing = await readCa(directory);
  if (existing) return existing;
  const keys = await rsaKeyPair();
  const now = Date.now();
  const name = { commonName: `hyco-relay-emulator development CA (${hostname().slice(0, 40)})`, organization: 'hyco-relay-emulator' };
  const certificate = issueCertificate({
    subject: name,
    publicKey: keys.publicKey,
    issuer: { name, ...keys },
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + CA_DAYS * DAY_MS),
    authority: true,
  });
  await fs.mkdir(dirname(directory), { recursive: true });
  const staging = `${directory}.${randomBytes(6).toString('hex')}.tmp`;
  await fs.mkdir(staging, { mode: 0o700 });
  try {
    await fs.writeFile(join(staging, CA_KEY_FILE), keys.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    await fs.writeFile(join(staging, CA_CERTIFICATE_FILE), certificate, { mode: 0o644 });
    try {
      await fs.rename(staging, directory);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'ENOTEMPTY' && code !== 'EPERM') throw err;
      // Another emulator made it first, or the folder was there (empty, or with something else in it).
    }
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
  const made = await readCa(directory);
  if (!made) throw codedError('ERR_HYCO_DEVELOPMENT_CA', `${directory} exists but holds no development CA (${CA_CERTIFICATE_FILE} and ${CA_KEY_FILE}); give another folder, or empty this one`);
  return made;
}

/** A server certificate and key (PEM) for `hostNames`, signed by `ca`. */
export async function serverCertificate(ca: DevelopmentCa, hostNames: string[]): Promise<{ cert: string; key: string }> {
  const keys = await rsaKeyPair();
  const now = Date.now();
  const cert = issueCertificate({
    subject: { commonName: hostNames[0] ?? 'localhost', organization: 'hyco-relay-emulator' },
    publicKey: keys.publicKey,
    issuer: ca.issuer,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + SERVER_DAYS * DAY_MS),
    authority: false,
    hostNames,
  });
  // The chain: the server's certificate, then the CA's (clients that trust the CA find their path at once).
  return { cert: `${cert}${ca.certificate}`, key: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

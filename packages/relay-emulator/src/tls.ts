/**
 * TLS material for `tls: 'self-signed'`. Certificate generation lives in the
 * `selfsigned` package, an optional peer dependency loaded only when asked
 * for, so that the default install stays lean.
 */
import { createRequire } from 'node:module';

export interface TlsMaterial {
  cert: string;
  key: string;
}

interface SelfSigned {
  generate(
    attrs: { name: string; value: string }[],
    options: { keySize: number; notAfterDate: Date; algorithm: string; extensions: unknown[] },
  ): Promise<{ cert: string; private: string }>;
}

/** Loads optional packages from this package's place in node_modules. */
const load = createRequire(__filename);

function loadSelfSigned(): SelfSigned {
  try {
    return load('selfsigned') as SelfSigned;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
    const missing = new Error(
      'A self-signed certificate needs the package "selfsigned", which is not installed: npm install selfsigned (or pass tls: { cert, key } / --tls-cert and --tls-key)',
    ) as Error & { code: string };
    missing.code = 'ERR_HYCO_MISSING_PACKAGE';
    throw missing;
  }
}

/** A self-signed certificate for `localhost`, loopback addresses and `namespace`. */
export async function selfSignedCertificate(namespace: string | undefined): Promise<TlsMaterial> {
  const selfsigned = loadSelfSigned();
  const commonName = namespace ?? 'localhost';
  const altNames: { type: 2 | 7; value?: string; ip?: string }[] = [
    { type: 2, value: 'localhost' },
    { type: 7, ip: '127.0.0.1' },
    { type: 7, ip: '::1' },
  ];
  if (namespace && namespace !== 'localhost') altNames.push({ type: 2, value: namespace });
  const pems = await selfsigned.generate([{ name: 'commonName', value: commonName }], {
    keySize: 2048,
    notAfterDate: new Date(Date.now() + 30 * 24 * 3600 * 1000),
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames }],
  });
  return { cert: pems.cert, key: pems.private };
}

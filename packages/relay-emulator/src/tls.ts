/** TLS material for `tls: 'self-signed'`. */
import { generate } from 'selfsigned';

export interface TlsMaterial {
  cert: string;
  key: string;
}

/** A self-signed certificate for `localhost`, loopback addresses and `namespace`. */
export async function selfSignedCertificate(namespace: string | undefined): Promise<TlsMaterial> {
  const commonName = namespace ?? 'localhost';
  const altNames: { type: 2 | 7; value?: string; ip?: string }[] = [
    { type: 2, value: 'localhost' },
    { type: 7, ip: '127.0.0.1' },
    { type: 7, ip: '::1' },
  ];
  if (namespace && namespace !== 'localhost') altNames.push({ type: 2, value: namespace });
  const pems = await generate([{ name: 'commonName', value: commonName }], {
    keySize: 2048,
    notAfterDate: new Date(Date.now() + 30 * 24 * 3600 * 1000),
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames }],
  });
  return { cert: pems.cert, key: pems.private };
}

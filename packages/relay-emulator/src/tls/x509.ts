/**
 * X.509 v3 certificates (RFC 5280), issued with Node's own crypto: the key
 * pairs, the signature and the parsing come from `node:crypto`; this file
 * lays out the to-be-signed structure in DER. RSA keys, SHA-256 signatures
 * (what every TLS client, .NET, Java, OpenSSL and browsers included, takes).
 */
import { X509Certificate, createHash, generateKeyPair, randomBytes, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { bitString, boolean, element, explicit, implicit, nullValue, objectIdentifier, octetString, sequence, set, smallInteger, time, unsignedInteger, utf8String } from './der';

const SHA256_WITH_RSA = '1.2.840.113549.1.1.11';
const COMMON_NAME = '2.5.4.3';
const ORGANIZATION = '2.5.4.10';
const SUBJECT_KEY_IDENTIFIER = '2.5.29.14';
const KEY_USAGE = '2.5.29.15';
const SUBJECT_ALT_NAME = '2.5.29.17';
const BASIC_CONSTRAINTS = '2.5.29.19';
const AUTHORITY_KEY_IDENTIFIER = '2.5.29.35';
const EXTENDED_KEY_USAGE = '2.5.29.37';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

/** A distinguished name: a common name and an organization. */
export interface DistinguishedName {
  commonName: string;
  organization?: string;
}

/** Who signs a certificate: its name and key (itself, for a self-signed one). */
export interface Issuer {
  name: DistinguishedName;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export interface CertificateRequest {
  subject: DistinguishedName;
  /** The certified key. */
  publicKey: KeyObject;
  /** The signer: the authority, or the subject itself for a self-signed certificate. */
  issuer: Issuer;
  notBefore: Date;
  notAfter: Date;
  /** A certificate authority (signs certificates) or a TLS server certificate. */
  authority: boolean;
  /** DNS names and IP addresses a server certificate is valid for (subjectAltName). */
  hostNames?: string[];
}

/** An RSA key pair, 2048 bits (made off the main thread). */
export function rsaKeyPair(): Promise<{ publicKey: KeyObject; privateKey: KeyObject }> {
  return new Promise((resolve, reject) => {
    generateKeyPair('rsa', { modulusLength: 2048 }, (err, publicKey, privateKey) => (err ? reject(err) : resolve({ publicKey, privateKey })));
  });
}

function name(dn: DistinguishedName): Buffer {
  const rdns = [];
  if (dn.organization) rdns.push(set(sequence(objectIdentifier(ORGANIZATION), utf8String(dn.organization))));
  rdns.push(set(sequence(objectIdentifier(COMMON_NAME), utf8String(dn.commonName))));
  return sequence(...rdns);
}

function spki(key: KeyObject): Buffer {
  return key.export({ type: 'spki', format: 'der' });
}

/** A key identifier: a hash of the SubjectPublicKeyInfo (RFC 5280 4.2.1.2 allows any such method). */
function keyIdentifier(key: KeyObject): Buffer {
  return createHash('sha1').update(spki(key)).digest();
}

function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  return sequence(objectIdentifier(oid), ...(critical ? [boolean(true)] : []), octetString(value));
}

/** The 16 bytes of an IPv6 address (`::1`, `fe80::1`, `::ffff:1.2.3.4`). */
function ipv6Bytes(address: string): Buffer {
  let text = address;
  const tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    tail.push(...v4[1].split('.').map(Number));
    text = text.slice(0, -v4[1].length) + '0:0';
  }
  const [head, rest] = text.split('::');
  const groups = (part: string | undefined) => (part ? part.split(':').filter(Boolean).map((g) => parseInt(g, 16)) : []);
  const front = groups(head);
  const back = groups(rest);
  const all = rest === undefined ? front : [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
  const bytes = Buffer.alloc(16);
  all.forEach((g, i) => bytes.writeUInt16BE(g, i * 2));
  if (tail.length) Buffer.from(tail).copy(bytes, 12);
  return bytes;
}

/** subjectAltName: dNSName [2] for names, iPAddress [7] for addresses. */
function altNames(hostNames: string[]): Buffer {
  return sequence(
    ...hostNames.map((host) => {
      const bare = host.replace(/^\[|\]$/g, '');
      const kind = isIP(bare);
      if (kind === 4) return implicit(7, Buffer.from(bare.split('.').map(Number)));
      if (kind === 6) return implicit(7, ipv6Bytes(bare));
      return element(0x82, Buffer.from(host.toLowerCase(), 'ascii'));
    }),
  );
}

/** Issues a certificate: returns it as PEM. */
export function issueCertificate(request: CertificateRequest): string {
  const algorithm = sequence(objectIdentifier(SHA256_WITH_RSA), nullValue());
  // 127 random bits: positive, never 0, at most 20 bytes (RFC 5280 4.1.2.2).
  const serial = randomBytes(16);
  serial[0] = (serial[0] & 0x7f) | 0x01;
  const extensions = [
    request.authority
      ? extension(BASIC_CONSTRAINTS, true, sequence(boolean(true), smallInteger(0)))
      : extension(BASIC_CONSTRAINTS, true, sequence()),
    // keyCertSign and cRLSign for an authority; digitalSignature and keyEncipherment for a server.
    request.authority ? extension(KEY_USAGE, true, bitString(Buffer.from([0x06]), 1)) : extension(KEY_USAGE, true, bitString(Buffer.from([0xa0]), 5)),
    extension(SUBJECT_KEY_IDENTIFIER, false, octetString(keyIdentifier(request.publicKey))),
  ];
  if (!request.authority) {
    extensions.push(extension(EXTENDED_KEY_USAGE, false, sequence(objectIdentifier(SERVER_AUTH))));
    extensions.push(extension(SUBJECT_ALT_NAME, false, altNames(request.hostNames ?? [])));
  }
  if (request.issuer.publicKey !== request.publicKey) {
    extensions.push(extension(AUTHORITY_KEY_IDENTIFIER, false, sequence(implicit(0, keyIdentifier(request.issuer.publicKey)))));
  }
  const tbs = sequence(
    explicit(0, smallInteger(2)), // v3
    unsignedInteger(serial),
    algorithm,
    name(request.issuer.name),
    sequence(time(request.notBefore), time(request.notAfter)),
    name(request.subject),
    spki(request.publicKey),
    explicit(3, sequence(...extensions)),
  );
  const signature = sign('sha256', tbs, request.issuer.privateKey);
  const der = sequence(tbs, algorithm, bitString(signature));
  // Parsed back by Node's own X.509 code: a certificate this file got wrong never leaves it.
  const pem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE-----\n`;
  const parsed = new X509Certificate(pem);
  if (!parsed.verify(request.issuer.publicKey)) {
    const err = new Error('hyco-relay-emulator: an issued certificate does not verify') as Error & { code: string };
    err.code = 'ERR_HYCO_CERTIFICATE';
    throw err;
  }
  return pem;
}

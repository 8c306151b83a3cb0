/**
 * The few ASN.1 DER encodings an X.509 certificate is made of (ITU-T X.690):
 * tag, length, content, for the types RFC 5280 uses. Encoding only, of
 * values this package chooses itself: nothing here parses input.
 */

/** A DER element: `tag`, its length in the definite form, then `content`. */
export function element(tag: number, content: Buffer): Buffer {
  const length = content.length;
  let header: Buffer;
  if (length < 0x80) header = Buffer.from([tag, length]);
  else {
    const bytes: number[] = [];
    for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
    header = Buffer.from([tag, 0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([header, content]);
}

export function sequence(...items: Buffer[]): Buffer {
  return element(0x30, Buffer.concat(items));
}

/** A SET OF, its elements in DER order (sorted by their encodings). */
export function set(...items: Buffer[]): Buffer {
  return element(0x31, Buffer.concat([...items].sort((a, b) => Buffer.compare(a, b))));
}

/** A non-negative INTEGER from its big-endian bytes (minimal, with a 0 byte where the top bit would make it negative). */
export function unsignedInteger(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  return element(0x02, trimmed[0] & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : Buffer.from(trimmed));
}

export function smallInteger(value: number): Buffer {
  const bytes: number[] = [];
  for (let n = value; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return unsignedInteger(Buffer.from(bytes.length ? bytes : [0]));
}

export function boolean(value: boolean): Buffer {
  return element(0x01, Buffer.from([value ? 0xff : 0]));
}

export function nullValue(): Buffer {
  return element(0x05, Buffer.alloc(0));
}

/** An OBJECT IDENTIFIER from its dotted form (`2.5.29.17`). */
export function objectIdentifier(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const bytes: number[] = [];
  const base128 = (value: number) => {
    const groups = [value & 0x7f];
    for (let n = Math.floor(value / 128); n > 0; n = Math.floor(n / 128)) groups.unshift((n & 0x7f) | 0x80);
    bytes.push(...groups);
  };
  base128(arcs[0] * 40 + arcs[1]);
  for (const arc of arcs.slice(2)) base128(arc);
  return element(0x06, Buffer.from(bytes));
}

export function utf8String(text: string): Buffer {
  return element(0x0c, Buffer.from(text, 'utf8'));
}

export function octetString(bytes: Buffer): Buffer {
  return element(0x04, bytes);
}

/** A BIT STRING of whole bytes, or of named bits (`unusedBits` trailing zero bits of the last byte unused). */
export function bitString(bytes: Buffer, unusedBits = 0): Buffer {
  return element(0x03, Buffer.concat([Buffer.from([unusedBits]), bytes]));
}

/** RFC 5280 Time: UTCTime through 2049, GeneralizedTime from 2050, to the second, in UTC. */
export function time(date: Date): Buffer {
  const iso = date.toISOString(); // 2026-12-01T01:29:00.000Z
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '');
  const year = date.getUTCFullYear();
  return year < 2050 ? element(0x17, Buffer.from(`${digits.slice(2)}Z`, 'ascii')) : element(0x18, Buffer.from(`${digits}Z`, 'ascii'));
}

/** `[n] EXPLICIT`: a context-specific constructed wrapper. */
export function explicit(n: number, content: Buffer): Buffer {
  return element(0xa0 | n, content);
}

/** `[n] IMPLICIT` of a primitive type: its content under a context-specific tag. */
export function implicit(n: number, content: Buffer): Buffer {
  return element(0x80 | n, content);
}

/**
 * The forwarding preamble (PROTOCOL.md, "Forwarding ports"): what a sender
 * writes first on a relayed connection, `[1, 0, mode, n]` and then `n`
 * bytes of the UTF-8 port name, and the listener's 3-byte reply.
 *
 * Both are read from the connection as a byte stream, incrementally:
 * azbridge writes the preamble as two binary messages, another sender may
 * write it as one, or byte by byte, and the reply may arrive with the first
 * bytes of data behind it. What follows the preamble (or the reply) in the
 * same message is handed back as `rest`: it is the start of the data.
 * Nothing here buffers more than the preamble's 259 bytes.
 */
import { isUtf8 } from 'node:buffer';
import { RelayArgumentError } from '../errors';

/** The preamble's version: 1.0, the only one azbridge speaks. */
export const PREAMBLE_MAJOR = 1;
export const PREAMBLE_MINOR = 0;

/** Mode byte: a byte stream (TCP, Unix socket). */
export const MODE_STREAM = 0;
/** Mode byte: datagrams (UDP), each one binary message with a 2-byte length. */
export const MODE_DATAGRAM = 1;
export type ModeByte = typeof MODE_STREAM | typeof MODE_DATAGRAM;

/** The longest port name, bytes of UTF-8 (its length travels in one byte). */
export const MAX_PORT_NAME_BYTES = 255;

/** The replies a listener sends (3 bytes each). */
export const REPLY_VERSION_NOT_UNDERSTOOD = Buffer.from([0, 0, 0]);
/** The port name is a datagram (UDP) binding, and a stream was asked for. */
export const REPLY_BINDING_IS_DATAGRAM = Buffer.from([0, 0, 1]);
/** The port name is a stream (TCP, Unix socket) binding, and datagrams were asked for. */
export const REPLY_BINDING_IS_STREAM = Buffer.from([0, 0, 255]);

/** The reply accepting a connection in `mode`. */
export function acceptedReply(mode: ModeByte): Buffer {
  return Buffer.from([PREAMBLE_MAJOR, PREAMBLE_MINOR, mode]);
}

/**
 * The preamble for `portName` in `mode`, as azbridge writes it: two
 * messages, the 4-byte header and the name. (A name is never empty here, so
 * neither message is: an empty binary message would read as the end of the
 * stream to a .NET peer.)
 */
export function encodePreamble(mode: ModeByte, portName: string): [Buffer, Buffer] {
  const name = Buffer.from(portName, 'utf8');
  if (name.length === 0) throw new RelayArgumentError('A port name must not be empty');
  if (name.length > MAX_PORT_NAME_BYTES) throw new RelayArgumentError(`A port name must be at most ${MAX_PORT_NAME_BYTES} bytes of UTF-8`);
  return [Buffer.from([PREAMBLE_MAJOR, PREAMBLE_MINOR, mode, name.length]), name];
}

/** What a listener has read of a preamble so far. */
export type PreambleResult =
  /** Not all of it yet. */
  | { kind: 'more' }
  /** The whole preamble; `rest` is what followed it (data). */
  | { kind: 'preamble'; mode: ModeByte; portName: string; rest: Buffer }
  /** The first three bytes are not `[1, 0, 0|1]`: answer REPLY_VERSION_NOT_UNDERSTOOD and close. */
  | { kind: 'unsupported'; version: Buffer }
  /** The port name is not valid UTF-8: no binding can have it (close without a reply, as for an unknown name). */
  | { kind: 'invalidName'; name: Buffer };

/**
 * Reads a preamble from the chunks a listener receives. As azbridge reads
 * it: three bytes of version and mode, checked first, then the length byte
 * and the name. Once it has returned a result other than `more`, it is
 * done: pushing more is a programming error.
 */
export class PreambleReader {
  private readonly head = Buffer.alloc(4 + MAX_PORT_NAME_BYTES);
  private have = 0;
  private done = false;

  push(chunk: Buffer): PreambleResult {
    if (this.done) throw new Error('PreambleReader: the preamble was already read');
    let offset = 0;
    for (;;) {
      // Four bytes of header, then as many of name as the fourth says.
      const need = this.have < 4 ? 4 : 4 + this.head[3];
      if (this.have === need) break;
      if (offset === chunk.length) return { kind: 'more' };
      // Byte by byte up to the mode, so that a bad version is answered as soon as its three bytes are in.
      const take = Math.min(this.have < 3 ? 3 - this.have : need - this.have, chunk.length - offset);
      chunk.copy(this.head, this.have, offset, offset + take);
      this.have += take;
      offset += take;
      if (this.have === 3 && !isVersion(this.head)) {
        this.done = true;
        return { kind: 'unsupported', version: Buffer.from(this.head.subarray(0, 3)) };
      }
    }
    this.done = true;
    const name = this.head.subarray(4, 4 + this.head[3]);
    // Decoding would fold invalid bytes to U+FFFD, a name that a binding might have.
    if (!isUtf8(name)) return { kind: 'invalidName', name: Buffer.from(name) };
    return {
      kind: 'preamble',
      mode: this.head[2] as ModeByte,
      portName: this.head.toString('utf8', 4, 4 + this.head[3]),
      rest: chunk.subarray(offset),
    };
  }
}

function isVersion(head: Buffer): boolean {
  return head[0] === PREAMBLE_MAJOR && head[1] === PREAMBLE_MINOR && (head[2] === MODE_STREAM || head[2] === MODE_DATAGRAM);
}

/** What a sender has read of the reply so far. */
export type ReplyResult =
  | { kind: 'more' }
  /** The three bytes; `accepted` only when they are exactly `[1, 0, mode]`. `rest` followed them (data). */
  | { kind: 'reply'; reply: Buffer; accepted: boolean; rest: Buffer };

/** Reads the listener's 3-byte reply from the chunks a sender receives. */
export class ReplyReader {
  private readonly reply = Buffer.alloc(3);
  private have = 0;
  private done = false;

  constructor(private readonly mode: ModeByte) {}

  push(chunk: Buffer): ReplyResult {
    if (this.done) throw new Error('ReplyReader: the reply was already read');
    const take = Math.min(3 - this.have, chunk.length);
    chunk.copy(this.reply, this.have, 0, take);
    this.have += take;
    if (this.have < 3) return { kind: 'more' };
    this.done = true;
    const accepted = this.reply[0] === PREAMBLE_MAJOR && this.reply[1] === PREAMBLE_MINOR && this.reply[2] === this.mode;
    return { kind: 'reply', reply: Buffer.from(this.reply), accepted, rest: chunk.subarray(take) };
  }
}

/** What a reply means, for an error message. */
export function describeReply(reply: Buffer): string {
  const bytes = `[${[...reply].join(', ')}]`;
  if (reply.equals(REPLY_VERSION_NOT_UNDERSTOOD)) return `${bytes}: the remote forwarder does not understand preamble version 1.0`;
  if (reply.equals(REPLY_BINDING_IS_DATAGRAM)) return `${bytes}: the port name is a UDP binding there, and a stream was asked for`;
  if (reply.equals(REPLY_BINDING_IS_STREAM)) return `${bytes}: the port name is a TCP binding there, and datagrams were asked for`;
  if (reply[0] === PREAMBLE_MAJOR && reply[1] === PREAMBLE_MINOR) return `${bytes}: the remote forwarder accepted another mode than the one asked for`;
  return `${bytes}: an unknown reply`;
}

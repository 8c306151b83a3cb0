'use strict';
// Raw WebSocket plumbing for tests that must see frames exactly as they
// travel: a handshake over http.request and a minimal frame codec.
const http = require('node:http');
const crypto = require('node:crypto');

/** Encodes one frame; masked (as a client sends) unless mask is false. */
function encodeFrame({ fin = true, rsv = 0, opcode, payload = Buffer.alloc(0), mask = true, lengthOverride }) {
  const len = payload.length;
  const lenBytes = len < 126 ? 0 : len < 0x10000 ? 2 : 8;
  const head = Buffer.alloc(2 + lenBytes + (mask ? 4 : 0));
  head[0] = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  head[1] = (mask ? 0x80 : 0) | (lenBytes === 0 ? len : lenBytes === 2 ? 126 : 127);
  if (lenBytes === 2) head.writeUInt16BE(len, 2);
  if (lenBytes === 8) head.writeBigUInt64BE(BigInt(lengthOverride ?? len), 2);
  if (!mask) return Buffer.concat([head, payload]);
  const key = crypto.randomBytes(4);
  key.copy(head, 2 + lenBytes);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= key[i & 3];
  return Buffer.concat([head, body]);
}

/**
 * Collects frames from a socket: unmasked ones (as a server sends them), or,
 * with `masked`, masked ones (as a client sends them), unmasked.
 */
class FrameReader {
  constructor(socket, initial = Buffer.alloc(0), { masked = false } = {}) {
    this.masked = masked;
    this.buffer = Buffer.alloc(0);
    this.frames = [];
    this.waiters = [];
    this.ended = false;
    socket.on('data', (chunk) => this.push(chunk));
    socket.on('close', () => {
      this.ended = true;
      this.flush();
    });
    if (initial.length) this.push(initial);
  }

  push(chunk) {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      if (this.buffer.length < 2) break;
      const b0 = this.buffer[0];
      const b1 = this.buffer[1];
      let len = b1 & 0x7f;
      let pos = 2;
      if (len === 126) {
        if (this.buffer.length < 4) break;
        len = this.buffer.readUInt16BE(2);
        pos = 4;
      } else if (len === 127) {
        if (this.buffer.length < 10) break;
        len = Number(this.buffer.readBigUInt64BE(2));
        pos = 10;
      }
      if (Boolean(b1 & 0x80) !== this.masked) throw new Error(this.masked ? 'a client frame must be masked' : 'a server frame must not be masked');
      const maskAt = pos;
      if (this.masked) pos += 4;
      if (this.buffer.length < pos + len) break;
      const payload = Buffer.from(this.buffer.subarray(pos, pos + len));
      if (this.masked) for (let i = 0; i < payload.length; i++) payload[i] ^= this.buffer[maskAt + (i & 3)];
      this.frames.push({ fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0x0f, payload });
      this.buffer = this.buffer.subarray(pos + len);
    }
    this.flush();
  }

  flush() {
    while (this.waiters.length && (this.frames.length || this.ended)) {
      const { resolve, reject } = this.waiters.shift();
      if (this.frames.length) resolve(this.frames.shift());
      else reject(new Error('socket closed'));
    }
  }

  /** The next frame. */
  next() {
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.flush();
    });
  }
}

/**
 * Opens a WebSocket handshake with http.request. Resolves with
 * { socket, response, reader } on 101, or { status, statusMessage } otherwise.
 */
function rawUpgrade(url, headers = {}, rawPath) {
  const u = new URL(url.replace(/^ws/, 'http'));
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: u.hostname,
      port: u.port,
      // `rawPath` goes on the wire exactly as given (URL parsing would re-encode a query).
      path: rawPath ?? u.pathname + u.search,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': crypto.randomBytes(16).toString('base64'),
        ...headers,
      },
    });
    req.on('upgrade', (response, socket, head) => resolve({ socket, response, reader: new FrameReader(socket, head) }));
    req.on('response', (res) => {
      res.resume();
      resolve({ status: res.statusCode, statusMessage: res.statusMessage });
    });
    req.on('error', reject);
    req.end();
  });
}

/** The 101 a WebSocket server answers the upgrade request `req` with (RFC 6455 section 4.2.2). */
function switchingProtocolsHead(req) {
  const accept = crypto.createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`;
}

/**
 * A WebSocket server on loopback that answers each upgrade with its 101 and
 * `first` (a Buffer, or a function giving one per connection) in one write,
 * so that they reach the client in one chunk, then calls `then(socket)`.
 * Resolves with { port, close() }.
 */
async function greetingServer(first, then = () => {}) {
  const server = http.createServer((req, res) => res.writeHead(404).end());
  server.on('upgrade', (req, socket) => {
    socket.on('error', () => {});
    const greeting = typeof first === 'function' ? first() : first;
    socket.write(Buffer.concat([Buffer.from(switchingProtocolsHead(req)), greeting]));
    then(socket);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: server.address().port, close: () => server.close() };
}

/** Every frame `reader` still delivers until its socket closes. */
async function framesUntilClosed(reader) {
  const frames = [];
  for (;;) {
    try {
      frames.push(await reader.next());
    } catch {
      return frames;
    }
  }
}

module.exports = { encodeFrame, FrameReader, framesUntilClosed, greetingServer, rawUpgrade, switchingProtocolsHead };

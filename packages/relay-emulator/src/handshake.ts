/**
 * The WebSocket opening handshake on raw sockets (RFC 6455 section 4):
 * checking a client's upgrade request, and writing the 101 or a failure
 * status. The emulator answers senders and rendezvous itself (rather than
 * through `ws`) because it relays their frames untouched.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import { sanitizeReason } from './tracking';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Sockets whose handshake has been answered (101 or a failure): nothing more may be written as HTTP. */
const answered = new WeakSet<Duplex>();

/** Whether `socket`'s handshake has already been answered. */
export function isAnswered(socket: Duplex): boolean {
  return answered.has(socket);
}

/** Sec-WebSocket-Accept for a client's Sec-WebSocket-Key. */
export function acceptKey(key: string): string {
  return createHash('sha1').update(key + WS_GUID).digest('base64');
}

/** What is wrong with a WebSocket upgrade request, or undefined when it is well formed. */
export function upgradeProblem(req: IncomingMessage): string | undefined {
  if (req.method !== 'GET') return 'a WebSocket upgrade must be a GET request';
  if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') return 'the Upgrade header must be "websocket"';
  if (!/(^|,)\s*upgrade\s*(,|$)/i.test(req.headers.connection ?? '')) return 'the Connection header must contain "Upgrade"';
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string' || !/^[A-Za-z0-9+/]{22}==$/.test(key.trim())) return 'Sec-WebSocket-Key is missing or malformed';
  if (req.headers['sec-websocket-version'] !== '13') return 'Sec-WebSocket-Version must be 13';
  return undefined;
}

/** Writes a 101 response completing `req`'s handshake. */
export function writeSwitchingProtocols(socket: Duplex, req: IncomingMessage, extraHeaders: [string, string][] = []): void {
  const lines = [
    'HTTP/1.1 101 Switching Protocols',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Accept: ${acceptKey(String(req.headers['sec-websocket-key']).trim())}`,
  ];
  for (const [name, value] of extraHeaders) lines.push(`${name}: ${value.replace(/[\r\n]/g, ' ')}`);
  answered.add(socket);
  socket.write(lines.join('\r\n') + '\r\n\r\n');
}

/**
 * Fails a handshake with `status` and `reason` (also sent as the body),
 * then closes the socket once the answer is written.
 */
export function writeFailure(socket: Duplex, status: number, reason: string, extraHeaders: [string, string][] = []): void {
  if (socket.destroyed || !socket.writable || answered.has(socket)) {
    socket.destroy();
    return;
  }
  const phrase = sanitizeReason(reason || STATUS_CODES[status] || 'Error');
  const body = Buffer.from(`${phrase}\n`, 'utf8');
  const lines = [
    `HTTP/1.1 ${status} ${phrase}`,
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${body.length}`,
    'Connection: close',
  ];
  for (const [name, value] of extraHeaders) lines.push(`${name}: ${value.replace(/[\r\n]/g, ' ')}`);
  answered.add(socket);
  socket.end(Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), body]));
  // A peer that never reads must not keep the socket alive.
  const timer = setTimeout(() => socket.destroy(), 2000);
  socket.once('close', () => clearTimeout(timer));
}

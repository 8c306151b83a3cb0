'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const WebSocket = require('ws');
const { startRelay, listen, send, onceOrError, token, handshakeStatus, createRelaySendUri, createRelayListenUri } = require('hyco-test-support');
const { encodeFrame, rawUpgrade } = require('hyco-test-support/raw');

function rawExchange(port, text) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.on('data', (d) => (data += d));
    socket.on('close', () => resolve(data));
    socket.on('error', () => resolve(data));
    socket.write(text);
    setTimeout(() => socket.destroy(), 3000);
  });
}

test('garbage HTTP, oversized headers and non-WebSocket requests get clear statuses', async (t) => {
  const relay = await startRelay(t);
  assert.match(await rawExchange(relay.port, 'HELLO THERE\r\n\r\n'), /^HTTP\/1\.1 400 /);
  const huge = `GET /$hc/echo?sb-hc-action=listen HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(40 * 1024)}\r\n\r\n`;
  assert.match(await rawExchange(relay.port, huge), /^HTTP\/1\.1 431 /);
  const plain = await fetch(`http://127.0.0.1:${relay.port}/$hc/echo?sb-hc-action=listen`);
  assert.equal(plain.status, 400);
  assert.equal((await fetch(`http://127.0.0.1:${relay.port}/elsewhere`)).status, 404);
  // The emulator still serves.
  await listen(t, relay);
});

test('bad WebSocket keys and versions get 400', async (t) => {
  const relay = await startRelay(t);
  await listen(t, relay);
  const badKey = await rawUpgrade(createRelaySendUri(relay.endpoint, 'echo'), { ServiceBusAuthorization: token('echo'), 'Sec-WebSocket-Key': 'short' });
  assert.equal(badKey.status, 400);
  assert.match(badKey.statusMessage, /Sec-WebSocket-Key/);
  const badVersion = await rawUpgrade(createRelaySendUri(relay.endpoint, 'echo'), { ServiceBusAuthorization: token('echo'), 'Sec-WebSocket-Version': '8' });
  assert.equal(badVersion.status, 400);
  const badListen = await rawUpgrade(createRelayListenUri(relay.endpoint, 'echo'), { ServiceBusAuthorization: token('echo'), 'Sec-WebSocket-Version': '99' });
  assert.equal(badListen.status, 400);
});

test('garbage, unknown and oversized control messages close that channel with a code; others are untouched', async (t) => {
  const relay = await startRelay(t);
  const healthy = await listen(t, relay);
  const cases = [
    ['{not json', 1008, /not valid JSON/],
    ['{"launch":{"missiles":true}}', 1008, /unknown command/],
    ['{"response":{"requestId":"nope","statusCode":200}}', 1008, /no request nope is pending/],
    [Buffer.from([1, 2, 3]), 1003, /Binary/],
    [JSON.stringify({ renewToken: { token: 'x'.repeat(200 * 1024) } }), 1009, /./],
  ];
  for (const [payload, code, reason] of cases) {
    const channel = await listen(t, relay);
    channel.send(payload);
    const [gotCode, gotReason] = await onceOrError(channel, 'close');
    assert.equal(gotCode, code, String(payload).slice(0, 40));
    if (code !== 1009) assert.match(gotReason.toString(), reason);
  }
  assert.equal(healthy.readyState, WebSocket.OPEN);
  const connection = await send(relay);
  connection.drop();
});

test('an unmasked client frame closes that relayed connection with 1002, the peer with 1001', async (t) => {
  const relay = await startRelay(t);
  const channel = await listen(t, relay);
  const sender = await rawUpgrade(createRelaySendUri(relay.endpoint, 'echo'), { ServiceBusAuthorization: token('echo') });
  t.after(() => sender.socket.destroy());
  const rendezvous = channel.rendezvous[0];
  if (rendezvous.readyState !== WebSocket.OPEN) await onceOrError(rendezvous, 'open');
  const peerClosed = onceOrError(rendezvous, 'close');
  sender.socket.write(encodeFrame({ opcode: 1, payload: Buffer.from('no mask'), mask: false }));
  const close = await sender.reader.next();
  assert.equal(close.opcode, 8);
  assert.equal(close.payload.readUInt16BE(0), 1002);
  assert.match(close.payload.subarray(2).toString(), /masked/);
  assert.equal((await peerClosed)[0], 1001);
});

test('invalid frames (reserved opcode, long control frame, stray continuation, absurd length) get 1002 or 1009', async (t) => {
  const relay = await startRelay(t);
  await listen(t, relay);
  const frames = [
    [encodeFrame({ opcode: 3, payload: Buffer.from('x') }), 1002],
    [encodeFrame({ opcode: 9, payload: Buffer.alloc(126) }), 1002],
    [encodeFrame({ opcode: 9, fin: false, payload: Buffer.from('p') }), 1002],
    [encodeFrame({ opcode: 0, payload: Buffer.from('c') }), 1002],
    [encodeFrame({ opcode: 2, payload: Buffer.alloc(70000), lengthOverride: 2 ** 62 }), 1009],
  ];
  for (const [frame, code] of frames) {
    const sender = await rawUpgrade(createRelaySendUri(relay.endpoint, 'echo'), { ServiceBusAuthorization: token('echo') });
    sender.socket.write(frame);
    const close = await sender.reader.next();
    assert.equal(close.opcode, 8);
    assert.equal(close.payload.readUInt16BE(0), code);
    sender.socket.destroy();
  }
  const connection = await send(relay);
  connection.drop();
});

test('a bad rejection status code is refused with 400 and leaves the rendezvous usable', async (t) => {
  const relay = await startRelay(t);
  const channel = await listen(t, relay, 'echo', { onAccept() {} });
  const pending = send(relay);
  while (channel.accepts.length === 0) await new Promise((r) => setTimeout(r, 10));
  const address = channel.accepts[0].address;
  assert.equal((await handshakeStatus(`${address}&sb-hc-statusCode=99999`)).status, 400);
  assert.equal((await handshakeStatus(`${address}&sb-hc-statusCode=abc`)).status, 400);
  const r = new WebSocket(address, { perMessageDeflate: false });
  r.on('message', (d, isBinary) => r.send(d, { binary: isBinary }));
  t.after(() => r.terminate());
  const connection = await pending;
  connection.sendUTF('still fine');
  assert.equal((await onceOrError(connection, 'message')).utf8Data, 'still fine');
  connection.drop();
});

test('a sender that gives up while waiting frees its rendezvous', async (t) => {
  const relay = await startRelay(t);
  const channel = await listen(t, relay, 'echo', { onAccept() {} });
  const socket = net.connect(relay.port, '127.0.0.1');
  socket.on('error', () => {});
  socket.write(
    `GET /$hc/echo?sb-hc-action=connect HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nServiceBusAuthorization: ${token('echo')}\r\n\r\n`,
  );
  while (channel.accepts.length === 0) await new Promise((r) => setTimeout(r, 10));
  assert.equal(relay.stats().hybridConnections[0].pendingSenders, 1);
  socket.destroy();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(relay.stats().hybridConnections[0].pendingSenders, 0);
  assert.equal((await handshakeStatus(channel.accepts[0].address)).status, 403);
});

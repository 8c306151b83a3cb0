'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const WebSocket = require('ws');
const websocket = require('websocket');
const { startRelay, listen, send, sendWs, onceOrError, token, createRelaySendUri } = require('hyco-test-support');
const { encodeFrame, rawUpgrade } = require('./raw');

/** A listener whose rendezvous are raw sockets, handed to `onJoin`. */
async function rawListener(t, relay, onJoin, headers = {}) {
  return listen(t, relay, 'echo', {
    onAccept: async (accept) => {
      const joined = await rawUpgrade(accept.address, headers);
      t.after(() => joined.socket && joined.socket.destroy());
      onJoin(joined);
    },
  });
}

test('a 16 MB binary message arrives intact both ways', async (t) => {
  const relay = await startRelay(t);
  await listen(t, relay);
  const big = 16 * 1024 * 1024;
  const connection = await send(relay, 'echo', { config: { maxReceivedFrameSize: 2 * big, maxReceivedMessageSize: 2 * big } });
  t.after(() => connection.drop());
  // The ws listener echoes; its default maxPayload is 100 MiB.
  const payload = crypto.randomBytes(big);
  connection.sendBytes(payload);
  const message = await onceOrError(connection, 'message');
  assert.equal(message.binaryData.length, big);
  assert.equal(crypto.createHash('sha256').update(message.binaryData).digest('hex'), crypto.createHash('sha256').update(payload).digest('hex'));
});

test('a message sent in fragments arrives as the same fragments, not reassembled', async (t) => {
  const relay = await startRelay(t);
  let resolveJoin;
  const joined = new Promise((r) => (resolveJoin = r));
  await rawListener(t, relay, resolveJoin);
  const sender = await rawUpgrade(createRelaySendUri(relay.endpoint, 'echo'), { ServiceBusAuthorization: token('echo') });
  t.after(() => sender.socket.destroy());
  const listenerSide = await joined;
  sender.socket.write(encodeFrame({ fin: false, opcode: 1, payload: Buffer.from('frag-1 ') }));
  sender.socket.write(encodeFrame({ fin: false, opcode: 0, payload: Buffer.from('frag-2 ') }));
  sender.socket.write(encodeFrame({ fin: true, opcode: 0, payload: Buffer.from('frag-3') }));
  const frames = [await listenerSide.reader.next(), await listenerSide.reader.next(), await listenerSide.reader.next()];
  assert.deepEqual(
    frames.map((f) => [f.fin, f.opcode, f.payload.toString()]),
    [[false, 1, 'frag-1 '], [false, 0, 'frag-2 '], [true, 0, 'frag-3']],
  );
});

test('RSV bits and extension negotiation pass through untouched', async (t) => {
  const relay = await startRelay(t);
  let resolveJoin;
  const joined = new Promise((r) => (resolveJoin = r));
  await rawListener(t, relay, resolveJoin, { 'Sec-WebSocket-Extensions': 'permessage-deflate' });
  const sender = await rawUpgrade(createRelaySendUri(relay.endpoint, 'echo'), {
    ServiceBusAuthorization: token('echo'),
    'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits',
  });
  t.after(() => sender.socket.destroy());
  assert.equal(sender.response.headers['sec-websocket-extensions'], 'permessage-deflate');
  const listenerSide = await joined;
  assert.equal(listenerSide.response.headers['sec-websocket-extensions'], 'permessage-deflate');
  const compressed = Buffer.from([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
  sender.socket.write(encodeFrame({ rsv: 4, opcode: 1, payload: compressed }));
  const frame = await listenerSide.reader.next();
  assert.equal(frame.rsv, 4);
  assert.deepEqual(frame.payload, compressed);
  listenerSide.socket.write(encodeFrame({ rsv: 4, opcode: 2, payload: compressed }));
  const back = await sender.reader.next();
  assert.equal(back.rsv, 4);
  assert.equal(back.opcode, 2);
});

test('ping and pong travel both ways with their payloads', async (t) => {
  const relay = await startRelay(t);
  const channel = await listen(t, relay);
  const sender = await sendWs(relay);
  t.after(() => sender.terminate());
  sender.ping(Buffer.from('from-sender'));
  const pong = await onceOrError(sender, 'pong');
  assert.equal(pong.toString(), 'from-sender');
  const rendezvous = channel.rendezvous[0];
  const senderSawPing = onceOrError(sender, 'ping');
  rendezvous.ping(Buffer.from('from-listener'));
  assert.equal((await senderSawPing).toString(), 'from-listener');
  assert.equal((await onceOrError(rendezvous, 'pong')).toString(), 'from-listener');
});

test('close code 4000 and its reason reach the other side, in both directions', async (t) => {
  const relay = await startRelay(t);
  const channel = await listen(t, relay);
  const sender = await sendWs(relay);
  const rendezvous = channel.rendezvous[0];
  if (rendezvous.readyState !== WebSocket.OPEN) await onceOrError(rendezvous, 'open');
  const listenerClose = onceOrError(rendezvous, 'close');
  sender.close(4000, 'done here');
  const [code, reason] = await listenerClose;
  assert.equal(code, 4000);
  assert.equal(reason.toString(), 'done here');
  assert.deepEqual((await onceOrError(sender, 'close')).map(String), ['4000', 'done here']);

  const sender2 = await sendWs(relay);
  const rendezvous2 = channel.rendezvous[1];
  if (rendezvous2.readyState !== WebSocket.OPEN) await onceOrError(rendezvous2, 'open');
  const senderClose = onceOrError(sender2, 'close');
  rendezvous2.close(4001, 'listener leaves');
  const [code2, reason2] = await senderClose;
  assert.equal(code2, 4001);
  assert.equal(reason2.toString(), 'listener leaves');
});

test('when one side drops without a close, the other gets 1001 from the relay', async (t) => {
  const relay = await startRelay(t);
  const channel = await listen(t, relay);
  const sender = await sendWs(relay);
  const rendezvous = channel.rendezvous[0];
  if (rendezvous.readyState !== WebSocket.OPEN) await onceOrError(rendezvous, 'open');
  const closed = onceOrError(rendezvous, 'close');
  sender.terminate();
  const [code] = await closed;
  assert.equal(code, 1001);
});

test('websocket (WebSocket-Node) clients on both ends: fragmented 200 KB text round trip', async (t) => {
  const relay = await startRelay(t);
  await listen(t, relay, 'echo', {
    onAccept(accept) {
      const client = new websocket.client({ assembleFragments: true });
      client.on('connect', (conn) => {
        t.after(() => conn.drop());
        conn.on('message', (m) => conn.sendUTF(m.utf8Data));
      });
      client.connect(accept.address);
    },
  });
  const connection = await send(relay, 'echo', { config: { fragmentationThreshold: 1000 } });
  t.after(() => connection.drop());
  const text = 'ü'.repeat(100 * 1024);
  connection.sendUTF(text);
  const message = await onceOrError(connection, 'message');
  assert.equal(message.utf8Data, text);
});

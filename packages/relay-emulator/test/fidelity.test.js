'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const WebSocket = require('ws');
const websocket = require('websocket');
const { startRelay, listen, send, sendWs, onceOrError, token, until, delay, createRelaySendUri } = require('hyco-test-support');
const { encodeFrame, rawUpgrade } = require('hyco-test-support/raw');

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

test('when one side drops without a close frame, the relay drops the other without one: an abnormal closure (1006), both ways', async (t) => {
  const relay = await startRelay(t);
  const channel = await listen(t, relay);
  const sender = await sendWs(relay);
  const rendezvous = channel.rendezvous[0];
  if (rendezvous.readyState !== WebSocket.OPEN) await onceOrError(rendezvous, 'open');
  const closed = onceOrError(rendezvous, 'close');
  sender.terminate();
  const [code] = await closed;
  assert.equal(code, 1006);
  const sender2 = await sendWs(relay);
  const rendezvous2 = channel.rendezvous[1];
  if (rendezvous2.readyState !== WebSocket.OPEN) await onceOrError(rendezvous2, 'open');
  const closed2 = onceOrError(sender2, 'close');
  rendezvous2.terminate();
  assert.equal((await closed2)[0], 1006);
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

/** A raw sender joined to a ws listener's rendezvous (on `channel`, or a new listener); resolves with both ends. */
async function rawSenderToWsListener(t, relay, channel) {
  channel ??= await listen(t, relay);
  const before = channel.rendezvous.length;
  const sender = await rawUpgrade(createRelaySendUri(relay.endpoint, 'echo'), { ServiceBusAuthorization: token('echo') });
  t.after(() => sender.socket.destroy());
  await until(() => channel.rendezvous.length === before + 1, 5000, 'the rendezvous');
  const rendezvous = channel.rendezvous[before];
  if (rendezvous.readyState !== WebSocket.OPEN) await onceOrError(rendezvous, 'open');
  return { sender, rendezvous, channel };
}

test('a sender that hangs up mid-frame: the listener sees an abnormal closure, never a message completed with the relay\'s bytes', async (t) => {
  const relay = await startRelay(t);
  const { sender, rendezvous } = await rawSenderToWsListener(t, relay);
  const messages = [];
  rendezvous.on('message', (data) => messages.push(Buffer.from(data)));
  const closed = onceOrError(rendezvous, 'close');
  // A 10-byte binary frame of which only 8 bytes are sent.
  const frame = encodeFrame({ opcode: 2, payload: Buffer.from('ABCDEFGHIJ') });
  sender.socket.end(frame.subarray(0, frame.length - 2));
  const [code] = await closed;
  assert.deepEqual(messages, [], 'no message may be delivered');
  assert.equal(code, 1006);
});

test('a listener that hangs up mid-frame: the sender sees an abnormal closure, not a forged frame', async (t) => {
  const relay = await startRelay(t);
  let resolveJoin;
  const joined = new Promise((r) => (resolveJoin = r));
  await rawListener(t, relay, resolveJoin);
  const sender = await sendWs(relay);
  t.after(() => sender.terminate());
  const listenerSide = await joined;
  const messages = [];
  sender.on('message', (data) => messages.push(data));
  const closed = onceOrError(sender, 'close');
  const frame = encodeFrame({ opcode: 1, payload: Buffer.from('0123456789') });
  listenerSide.socket.end(frame.subarray(0, frame.length - 3));
  const [code] = await closed;
  assert.deepEqual(messages, []);
  assert.equal(code, 1006);
});

test('a close frame that arrives in two reads reaches the other side whole, code and reason', async (t) => {
  const relay = await startRelay(t);
  // The listener closes first; the sender answers with a close frame split across two TCP writes.
  const { sender, rendezvous, channel } = await rawSenderToWsListener(t, relay);
  const listenerClosed = onceOrError(rendezvous, 'close');
  rendezvous.close(4001, 'first');
  const theirs = await sender.reader.next();
  assert.equal(theirs.opcode, 8);
  const payload = Buffer.concat([Buffer.from([0x0f, 0xa1]), Buffer.from('...')]);
  const answer = encodeFrame({ opcode: 8, payload });
  sender.socket.write(answer.subarray(0, 7));
  await delay(50);
  sender.socket.write(answer.subarray(7));
  const [code, reason] = await listenerClosed;
  assert.equal(code, 4001);
  assert.equal(reason.toString(), '...');

  // And the sender first, split, with the listener answering.
  const second = await rawSenderToWsListener(t, relay, channel);
  const closedToo = onceOrError(second.rendezvous, 'close');
  const first = encodeFrame({ opcode: 8, payload: Buffer.concat([Buffer.from([0x0f, 0xa2]), Buffer.from('bye now')]) });
  second.sender.socket.write(first.subarray(0, 3));
  await delay(50);
  second.sender.socket.write(first.subarray(3));
  const [code2, reason2] = await closedToo;
  assert.equal(code2, 4002);
  assert.equal(reason2.toString(), 'bye now');
  const echoed = await second.sender.reader.next();
  assert.equal(echoed.opcode, 8);
  assert.equal(echoed.payload.readUInt16BE(0), 4002);
});

test('a non-SAS Authorization header of a WebSocket sender reaches the listener; one that was the relay\'s token does not', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['echo', { path: 'open', requiresClientAuthorization: false }] });
  const channel = await listen(t, relay);
  const withBoth = await send(relay, 'echo', { headers: { Authorization: 'Bearer app-token' } });
  withBoth.close();
  const onlyAuthorization = await send(relay, 'echo', { token: null, headers: { Authorization: token('echo') } });
  onlyAuthorization.close();
  const viaQuery = await send(relay, 'echo', { token: null, uriToken: token('echo'), headers: { Authorization: 'Basic dXNlcjpwdw==' } });
  viaQuery.close();
  const seen = channel.accepts.map((a) => Object.fromEntries(Object.entries(a.connectHeaders).map(([k, v]) => [k.toLowerCase(), v])));
  assert.equal(seen[0].authorization, 'Bearer app-token');
  assert.equal(seen[0].servicebusauthorization, undefined);
  assert.equal(seen[1].authorization, undefined, 'the relay\'s own token is consumed');
  assert.equal(seen[2].authorization, 'Basic dXNlcjpwdw==');
  // An anonymous hybrid connection takes no token, so Authorization is the application's.
  const open = await listen(t, relay, 'open');
  const anonymous = await send(relay, 'open', { token: null, headers: { Authorization: 'Bearer end-to-end' } });
  anonymous.close();
  assert.equal(Object.fromEntries(Object.entries(open.accepts[0].connectHeaders).map(([k, v]) => [k.toLowerCase(), v])).authorization, 'Bearer end-to-end');
});

test('a sender\'s path suffix and query reach the accept address byte for byte, less sb-hc-*', async (t) => {
  const relay = await startRelay(t);
  const channel = await listen(t, relay, 'echo', { onAccept() {} });
  const cases = ['?&&&', '?CustomValue', '?%20', '?a=1&', "?key='value'", '?flag&x=%20y', '?a=%2B+b&sb-hc-token=zzz&c', ''];
  for (const q of cases) {
    const sep = q ? '&' : '?';
    const attempt = rawUpgrade(relay.endpoint, { ServiceBusAuthorization: token('echo') }, `/$hc/echo/r%20oom/7${q}${sep}sb-hc-action=connect`);
    await until(() => channel.accepts.length === cases.indexOf(q) + 1, 5000, 'the accept');
    const address = channel.accepts.at(-1).address;
    const rest = address.slice(address.indexOf('/$hc/echo') + '/$hc/echo'.length);
    const [pathPart, query] = [rest.slice(0, rest.indexOf('?')), rest.slice(rest.indexOf('?') + 1)];
    assert.equal(pathPart, '/r%20oom/7');
    const own = query.split('&').filter((p) => !p.startsWith('sb-hc-')).join('&');
    const expected = q.slice(1).split('&').filter((p) => !p.startsWith('sb-hc-')).join('&');
    assert.equal(own, expected, `query ${q}`);
    void attempt.then((r) => r.socket?.destroy());
  }
});

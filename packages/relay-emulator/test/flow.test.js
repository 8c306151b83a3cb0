'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const { startRelay, listen, acceptAndEcho, send, onceOrError, token } = require('hyco-test-support');

test('listen, connect, accept: text and binary echo end to end', async (t) => {
  const relay = await startRelay(t);
  await listen(t, relay);
  const connection = await send(relay);
  t.after(() => connection.drop());
  connection.sendUTF('hello relay');
  const text = await onceOrError(connection, 'message');
  assert.equal(text.type, 'utf8');
  assert.equal(text.utf8Data, 'hello relay');
  const bytes = Buffer.from([0, 1, 2, 250, 255]);
  connection.sendBytes(bytes);
  const binary = await onceOrError(connection, 'message');
  assert.equal(binary.type, 'binary');
  assert.deepEqual(binary.binaryData, bytes);
  assert.equal(relay.stats().hybridConnections[0].relayedConnections, 1);
});

test('reject: the listener\'s status code and text reach the sender; the listener gets 410', async (t) => {
  const relay = await startRelay(t);
  let resolveListenerStatus;
  const listenerStatus = new Promise((resolve) => (resolveListenerStatus = resolve));
  await listen(t, relay, 'echo', {
    onAccept(accept) {
      const uri = `${accept.address}&sb-hc-statusCode=451&sb-hc-statusDescription=${encodeURIComponent('Not in this room')}`;
      const r = new WebSocket(uri);
      r.on('unexpected-response', (req, res) => {
        resolveListenerStatus(res.statusCode);
        req.destroy();
      });
      r.on('error', () => {});
    },
  });
  await assert.rejects(send(relay), /non-101 status: 451 Not in this room/);
  assert.equal(await listenerStatus, 410);
  assert.equal(relay.stats().totals.sendersRejected, 1);
});

test('reject with the unprefixed statusCode/statusDescription of older clients', async (t) => {
  const relay = await startRelay(t);
  await listen(t, relay, 'echo', {
    onAccept(accept) {
      const r = new WebSocket(`${accept.address}&statusCode=404&statusDescription=Gone%20fishing`);
      r.on('error', () => {});
    },
  });
  await assert.rejects(send(relay), /non-101 status: 404 Gone fishing/);
});

test('the subprotocol chosen by the listener reaches the sender', async (t) => {
  const relay = await startRelay(t);
  const channel = await listen(t, relay, 'echo', {
    onAccept: (accept, ch) => acceptAndEcho(accept, ch, ['chat.v2']),
  });
  const connection = await send(relay, 'echo', { protocols: ['chat.v1', 'chat.v2'] });
  t.after(() => connection.drop());
  assert.equal(connection.protocol, 'chat.v2');
  assert.equal(channel.accepts[0].connectHeaders['Sec-WebSocket-Protocol'], 'chat.v1, chat.v2');
});

test('the sender\'s path suffix, query and sb-hc-id reach the listener; its token does not', async (t) => {
  const relay = await startRelay(t);
  const channel = await listen(t, relay);
  const connection = await send(relay, 'echo/rooms/7?user=ann', { id: 'trace-42', uriToken: token('echo'), token: null });
  t.after(() => connection.drop());
  const accept = channel.accepts[0];
  assert.equal(accept.id, 'trace-42');
  const address = new URL(accept.address);
  assert.equal(address.pathname, '/$hc/echo/rooms/7');
  assert.equal(address.searchParams.get('user'), 'ann');
  assert.equal(address.searchParams.get('sb-hc-action'), 'accept');
  assert.equal(address.searchParams.get('sb-hc-id'), 'trace-42');
  assert.equal(address.searchParams.get('sb-hc-token'), null);
  assert.equal(accept.address.includes('SharedAccessSignature'), false);
  assert.match(address.searchParams.get('sb-hc-rendezvous'), /^[0-9a-f]{32}$/);
});

test('custom sender headers arrive in connectHeaders, authorization does not', async (t) => {
  const relay = await startRelay(t);
  const channel = await listen(t, relay);
  const connection = await send(relay, 'echo', { headers: { 'X-Tenant': 'contoso', Cookie: 'a=1; b=2' }, origin: 'https://app.example' });
  t.after(() => connection.drop());
  const headers = channel.accepts[0].connectHeaders;
  assert.equal(headers['X-Tenant'], 'contoso');
  assert.equal(headers.Cookie, 'a=1; b=2');
  assert.equal(headers.Origin, 'https://app.example');
  assert.match(headers['Sec-WebSocket-Key'], /^[A-Za-z0-9+/]{22}==$/);
  assert.equal(headers['Sec-WebSocket-Version'], '13');
  assert.equal(Object.keys(headers).some((h) => /authorization/i.test(h)), false);
  const remote = channel.accepts[0].remoteEndpoint;
  assert.equal(remote.address, '127.0.0.1');
  assert.ok(remote.port > 0);
});

test('headers the listener sends on the rendezvous (Set-Cookie) reach the sender\'s 101', async (t) => {
  const relay = await startRelay(t);
  await listen(t, relay, 'echo', {
    onAccept: (accept, ch) => acceptAndEcho(accept, ch, undefined, { headers: { 'Set-Cookie': 'session=xyz; Path=/' } }),
  });
  const ws = new WebSocket(`${relay.endpoint}/$hc/echo?sb-hc-action=connect`, { headers: { ServiceBusAuthorization: token('echo') } });
  t.after(() => ws.terminate());
  const [response] = await Promise.all([onceOrError(ws, 'upgrade'), onceOrError(ws, 'open')]);
  assert.deepEqual(response.headers['set-cookie'], ['session=xyz; Path=/']);
});

test('GET / answers runtime information as JSON', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['echo', { path: 'open', requiresClientAuthorization: false }] });
  await listen(t, relay);
  const res = await fetch(`http://127.0.0.1:${relay.port}/`);
  assert.equal(res.status, 200);
  const info = await res.json();
  assert.deepEqual(
    info.hybridConnections.map((h) => [h.path, h.listeners, h.requiresClientAuthorization]),
    [['echo', 1, true], ['open', 0, false]],
  );
  const status = await fetch(`http://127.0.0.1:${relay.port}/$status`);
  assert.equal(status.status, 200);
  assert.equal(JSON.stringify(info).includes(relay.rules[0].key), false, 'no key in runtime information');
});

test('activity events report listeners and connections without secrets', async (t) => {
  const relay = await startRelay(t);
  const seen = [];
  relay.on('activity', (a) => seen.push(a));
  await listen(t, relay);
  const connection = await send(relay, 'echo', { id: 'abc' });
  connection.close();
  await onceOrError(connection, 'close');
  await new Promise((resolve) => setTimeout(resolve, 50));
  const types = seen.map((a) => a.type);
  assert.ok(types.includes('listener-online'));
  assert.ok(types.includes('sender-accepted'));
  assert.ok(types.includes('connection-closed'));
  assert.equal(seen.find((a) => a.type === 'sender-accepted').id, 'abc');
  assert.equal(JSON.stringify(seen).includes('SharedAccessSignature'), false);
});

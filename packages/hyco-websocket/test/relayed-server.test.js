'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { WebSocketServer } = require('ws');
const hyco = require('hyco-websocket');
const { startRelay, relayedServer, offlineServer, once, send, token, until, delay } = require('hyco-test-support');

test('constructor: missing or wrongly typed server and token throw TypeError naming them', () => {
  assert.throws(() => new hyco.relayedServer({ token: 'x' }), { name: 'TypeError', code: 'ERR_HYCO_INVALID_ARGUMENT', message: /"server"/ });
  assert.throws(() => new hyco.relayedServer({ server: 'ws://127.0.0.1:1/$hc/a' }), { name: 'TypeError', message: /"token"/ });
  assert.throws(() => new hyco.relayedServer({ server: 42, token: 'x' }), { name: 'TypeError', message: /"server"/ });
  assert.throws(() => new hyco.relayedServer({ server: 'ws://127.0.0.1:1/$hc/a', token: 5 }), { name: 'TypeError', message: /"token"/ });
  assert.throws(() => new hyco.relayedServer({ server: 'http://127.0.0.1:1/$hc/a', token: 'x' }), { name: 'TypeError', message: /ws:\/\// });
  assert.throws(() => new hyco.relayedServer({ server: 'ws://127.0.0.1:1/elsewhere', token: 'x' }), { name: 'TypeError', message: /\/\$hc\// });
  assert.throws(() => new hyco.relayedServer({ server: 'ws://127.0.0.1:1/$hc/a?sb-hc-action=connect', token: 'x' }), { name: 'TypeError', message: /listen URI/ });
  assert.throws(() => new hyco.relayedServer({ server: 'ws://127.0.0.1:1/$hc/a', token: 'x', keepaliveInterval: -1 }), { name: 'TypeError', message: /keepaliveInterval/ });
  assert.throws(() => new hyco.relayedServer(), { name: 'TypeError' });
});

test('mount() and unmount() are not supported and say so', async (t) => {
  const relay = await startRelay(t);
  const server = await relayedServer(t, relay);
  assert.throws(() => server.mount({}), { code: 'ERR_HYCO_NOT_SUPPORTED', message: /mount\(\) is not supported/ });
  assert.throws(() => server.unmount(), { code: 'ERR_HYCO_NOT_SUPPORTED' });
});

test('defaults match WebSocketServer\'s for accepted connections, but for 64 KiB fragments (its 16 KiB: four times the frames for every hop)', async (t) => {
  const relay = await startRelay(t);
  const server = await relayedServer(t, relay);
  const c = server.config;
  assert.deepEqual(
    [c.maxReceivedFrameSize, c.maxReceivedMessageSize, c.fragmentOutgoingMessages, c.fragmentationThreshold, c.keepalive, c.keepaliveInterval, c.dropConnectionOnKeepaliveTimeout, c.keepaliveGracePeriod, c.closeTimeout, c.autoAcceptConnections],
    [0x10000, 0x100000, true, 0x10000, true, 20000, true, 10000, 5000, false],
  );
});

test('online/listening, isOnline, connections, broadcast and per-connection close events', async (t) => {
  const relay = await startRelay(t);
  const server = offlineServer(t, relay, { autoAcceptConnections: true });
  assert.equal(server.isOnline, false);
  await Promise.all([once(server, 'online'), once(server, 'listening')]);
  assert.equal(server.isOnline, true);
  const a = await send(relay);
  const b = await send(relay);
  await until(() => server.connections.length === 2, 2000, 'two connections');
  const got = [once(a, 'message'), once(b, 'message')];
  server.broadcast('to all');
  assert.deepEqual((await Promise.all(got)).map((m) => m.utf8Data), ['to all', 'to all']);
  const bytes = [once(a, 'message'), once(b, 'message')];
  server.broadcastBytes(Buffer.from([1, 2]));
  assert.deepEqual((await Promise.all(bytes)).map((m) => [...m.binaryData]), [[1, 2], [1, 2]]);
  const closed = once(server, 'close');
  a.close(4005, 'leaving');
  const [connection, reason, description] = await closed;
  assert.equal(reason, 4005);
  assert.equal(description, 'leaving');
  assert.equal(server.connections.includes(connection), false);
  assert.equal(server.connections.length, 1);
  b.drop();
});

test('close() closes the control channel and accepted connections, emits offline, and answers a callback', async (t) => {
  const relay = await startRelay(t);
  const server = await relayedServer(t, relay, { autoAcceptConnections: true });
  const sender = await send(relay);
  await until(() => server.connections.length === 1, 2000, 'connection');
  const senderClosed = once(sender, 'close');
  const offline = once(server, 'offline');
  let called = false;
  await server.close(() => (called = true));
  assert.equal(called, true);
  assert.equal(await offline, undefined, 'offline without an error when closed on purpose');
  assert.equal(server.isOnline, false);
  await senderClosed;
  await until(() => relay.stats().hybridConnections[0].listeners === 0, 2000, 'listener gone');
  assert.equal(server.connections.length, 0);
});

test('one handler serves a local websocket.server and a relayedServer at once (the hybrid scenario)', async (t) => {
  const relay = await startRelay(t);
  const httpServer = http.createServer();
  await new Promise((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  t.after(() => httpServer.close());
  const local = new hyco.server({ httpServer, autoAcceptConnections: false });
  t.after(() => local.shutDown());
  const relayed = await relayedServer(t, relay);
  const seen = [];
  function onRequest(request) {
    seen.push(request.resource);
    const result = request.accept('echo', request.origin);
    const handle = (connection) => connection.on('message', (m) => connection.sendUTF(`${request.resource}:${m.utf8Data}`));
    if (result && typeof result.then === 'function') result.then(handle);
    else handle(result);
  }
  local.on('request', onRequest);
  relayed.on('request', onRequest);

  const localClient = new hyco.client();
  const localConnected = once(localClient, 'connect');
  localClient.connect(`ws://127.0.0.1:${httpServer.address().port}/room/1`, 'echo');
  const localConnection = await localConnected;
  t.after(() => localConnection.drop());
  const relayedConnection = await send(relay, 'echo/room/1', { protocols: ['echo'] });
  t.after(() => relayedConnection.drop());
  localConnection.sendUTF('local');
  relayedConnection.sendUTF('relayed');
  assert.equal((await once(localConnection, 'message')).utf8Data, '/room/1:local');
  assert.equal((await once(relayedConnection, 'message')).utf8Data, '/room/1:relayed');
  assert.deepEqual(seen, ['/room/1', '/room/1']);
});

test('a string token is used as is, and a warning is emitted once before it expires', async (t) => {
  const relay = await startRelay(t);
  const server = new hyco.relayedServer({ server: hyco.createRelayListenUri(relay.endpoint, 'echo'), token: token('echo', 3) });
  t.after(() => server.close());
  const warnings = [];
  server.on('warning', (w) => warnings.push(w));
  server.on('error', () => {});
  await once(server, 'online');
  await until(() => warnings.length > 0, 4000, 'warning');
  await delay(300);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0].message, /cannot be renewed/);
  assert.equal(warnings[0].message.includes('SharedAccessSignature'), false);
});

test('token function errors are reported as errors and retried, never thrown', async (t) => {
  const relay = await startRelay(t);
  let calls = 0;
  const server = new hyco.relayedServer({
    server: hyco.createRelayListenUri(relay.endpoint, 'echo'),
    token: async () => {
      calls++;
      if (calls <= 2) throw new Error('vault unavailable');
      return token('echo');
    },
    reconnectBackoff: [0, 20],
  });
  t.after(() => server.close());
  const errors = [];
  server.on('error', (e) => errors.push(e));
  await once(server, 'online');
  assert.equal(errors.length, 2);
  assert.equal(errors[0].code, 'ERR_HYCO_TOKEN_PROVIDER');
  assert.match(errors[0].message, /vault unavailable/);
});

test('an error event with no handler does not crash the process', async (t) => {
  const relay = await startRelay(t);
  const server = new hyco.relayedServer({
    server: hyco.createRelayListenUri(relay.endpoint, 'echo'),
    // A badly signed token (not an expired one: that is caught before it is sent).
    token: () => 'SharedAccessSignature sr=x&sig=y&se=9999999999&skn=z',
    reconnectBackoff: [0, 20],
  });
  t.after(() => server.close());
  const retried = once(server, 'connecting');
  await retried;
  assert.equal(server.lastError.code, 'ERR_HYCO_UNAUTHORIZED');
  assert.equal(server.lastError.statusCode, 401);
  assert.match(server.lastError.trackingId, /^[0-9a-f-]{36}$/);
});

test('HTTP requests on the control channel are answered 501 at once, body frames consumed, garbage ignored, channel kept', async (t) => {
  // The emulator has no HTTP gateway yet: a small test service plays the relay for this.
  const responses = [];
  const service = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  t.after(() => service.close());
  await once(service, 'listening');
  const channelReady = new Promise((resolve) => service.on('connection', resolve));
  const server = new hyco.relayedServer({
    server: `ws://127.0.0.1:${service.address().port}/$hc/web?sb-hc-action=listen`,
    token: () => token('web'),
  });
  t.after(() => server.close());
  const channel = await channelReady;
  channel.on('message', (data, isBinary) => {
    if (!isBinary) responses.push(JSON.parse(data.toString()));
  });
  channel.send(JSON.stringify({ request: { address: 'ws://127.0.0.1:1/$hc/web?sb-hc-action=request', id: 'req-1', requestTarget: '/web/x', method: 'POST', requestHeaders: {}, body: true } }));
  channel.send(Buffer.from('the body'));
  channel.send('{"garbage"');
  channel.send(JSON.stringify({ request: { address: 'ws://127.0.0.1:1/$hc/web?sb-hc-action=request', id: 'req-2', requestTarget: '/web/y', method: 'GET', requestHeaders: {} } }));
  await until(() => responses.length === 2, 3000, 'two responses');
  assert.deepEqual(responses.map((r) => [r.response.requestId, r.response.statusCode]), [['req-1', 501], ['req-2', 501]]);
  assert.equal(server.isOnline, true);
});

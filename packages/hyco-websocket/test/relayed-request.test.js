'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const hyco = require('hyco-websocket');
const { startRelay, relayedServer, once, send, until, delay } = require('hyco-test-support');

test('request.resource keeps the sender\'s suffix and query byte for byte, less sb-hc-*', async (t) => {
  const relay = await startRelay(t);
  const server = await relayedServer(t, relay);
  for (const [suffix, expected] of [
    ['/%72ooms/7?&&&', '/%72ooms/7?&&&'],
    ['?flag&x=~!', '/?flag&x=~!'],
    ['/a?x=%20y&sb-hc-id=q&z=1&', '/a?x=%20y&z=1&'],
    // As the service: a parameter without "=" is the sender's, even when it starts with sb-hc-.
    ['?sb-hc-undefined', '/?sb-hc-undefined'],
    ['?sb-hc-whatever=&foo=bar', '/?foo=bar'],
    ['?sb-hc-undefined=true', '/'],
  ]) {
    const seen = once(server, 'request');
    const pending = send(relay, `echo${suffix}`).catch(() => undefined);
    const request = await seen;
    assert.equal(request.resource, expected, suffix);
    await request.reject(404);
    await pending;
  }
});

test('a path the legacy URL parser chokes on (//%80@a) reaches the handler instead of crashing the listener', async (t) => {
  const relay = await startRelay(t);
  const server = await relayedServer(t, relay);
  const seen = once(server, 'request');
  const pending = send(relay, 'echo//%80@a?x=%C2').catch(() => undefined);
  const request = await seen;
  assert.equal(request.resource, '//%80@a?x=%C2');
  assert.equal(request.resourceURL.pathname, '//%80@a');
  assert.deepEqual(Object.keys(request.resourceURL.query), ['x']);
  await request.reject(400, 'no thanks');
  await pending;
  // The listener is still online and serves the next sender.
  const next = once(server, 'request');
  const second = send(relay, 'echo/fine').catch(() => undefined);
  (await next).reject(404);
  await second;
});

test('request carries what WebSocketRequest carries: headers, resource without sb-hc-*, id, origin, protocols, cookies, address', async (t) => {
  const relay = await startRelay(t);
  const server = await relayedServer(t, relay);
  const seen = once(server, 'request');
  const pending = send(relay, 'echo/rooms/7?user=ann', {
    id: 'trace-7',
    protocols: ['Chat.V1', 'chat.v2'],
    origin: 'https://app.example',
    headers: { Cookie: 'theme=dark; sid=%7Babc%7D', 'X-Tenant': 'contoso', 'X-Forwarded-For': '203.0.113.9' },
  });
  const request = await seen;
  assert.ok(request instanceof hyco.relayedRequest);
  assert.equal(request.resource, '/rooms/7?user=ann');
  assert.equal(request.resourceURL.pathname, '/rooms/7');
  assert.equal(request.resourceURL.query.user, 'ann');
  assert.equal(request.httpRequest.headers['x-tenant'], 'contoso');
  assert.equal(request.httpRequest.headers.authorization, undefined);
  assert.equal(request.httpRequest.headers.servicebusauthorization, undefined);
  assert.equal(request.id, 'trace-7');
  assert.equal(request.origin, 'https://app.example');
  assert.deepEqual(request.requestedProtocols, ['chat.v1', 'chat.v2']);
  assert.deepEqual(request.cookies, [{ name: 'theme', value: 'dark' }, { name: 'sid', value: '{abc}' }]);
  assert.equal(request.webSocketVersion, 13);
  assert.match(request.key, /^[A-Za-z0-9+/]{22}==$/);
  assert.match(request.host, /^127\.0\.0\.1:\d+$/);
  assert.equal(request.remoteAddress, '203.0.113.9', 'X-Forwarded-For is honoured by default');
  assert.deepEqual(request.remoteAddresses, ['203.0.113.9', '127.0.0.1']);
  assert.equal(request.hybridConnectionPath, 'echo');
  const connection = await request.accept('CHAT.V1', request.origin);
  t.after(() => connection.drop());
  const sender = await pending;
  t.after(() => sender.drop());
  assert.equal(sender.protocol, 'Chat.V1', 'the protocol comes back in the sender\'s own case');
  assert.equal(connection.remoteAddress, '203.0.113.9');
});

test('ignoreXForwardedFor: remoteAddress is the relay-reported sender address', async (t) => {
  const relay = await startRelay(t);
  const server = await relayedServer(t, relay, { ignoreXForwardedFor: true, autoAcceptConnections: true });
  const connected = once(server, 'connect');
  const sender = await send(relay, 'echo', { headers: { 'X-Forwarded-For': '203.0.113.9' } });
  t.after(() => sender.drop());
  const connection = await connected;
  assert.equal(connection.remoteAddress, '127.0.0.1');
});

test('accept resolves the promise and calls back with the connection; messages flow both ways', async (t) => {
  const relay = await startRelay(t);
  const server = await relayedServer(t, relay);
  let callbackResult;
  let accepted;
  server.on('request', (request) => {
    accepted = request.accept(null, null, null, (connection) => (callbackResult = connection));
  });
  const serverConnect = once(server, 'connect');
  const sender = await send(relay);
  t.after(() => sender.drop());
  const connection = await accepted;
  assert.equal(await serverConnect, connection);
  await until(() => callbackResult, 2000, 'callback');
  assert.equal(callbackResult, connection);
  assert.deepEqual(server.connections, [connection]);
  connection.on('message', (m) => connection.sendUTF(`echo:${m.utf8Data}`));
  sender.sendUTF('ping');
  assert.equal((await once(sender, 'message')).utf8Data, 'echo:ping');
  connection.sendBytes(Buffer.from([9, 8, 7]));
  assert.deepEqual([...(await once(sender, 'message')).binaryData], [9, 8, 7]);
});

test('cookies passed to accept become Set-Cookie on the sender\'s handshake', async (t) => {
  const relay = await startRelay(t);
  const server = await relayedServer(t, relay);
  server.on('request', (request) => {
    request.accept(null, null, [
      { name: 'session', value: 'xyz', path: '/', httponly: true },
      { name: 'theme', value: 'dark', maxage: 60, secure: true },
    ]);
  });
  const sender = await send(relay);
  t.after(() => sender.drop());
  assert.deepEqual(sender.handshakeResponse.headers['set-cookie'], ['session=xyz; Path=/; HttpOnly', 'theme=dark; Max-Age=60; Secure']);
});

test('reject: status and text reach the sender; callback called without arguments; promise resolves', async (t) => {
  const relay = await startRelay(t);
  const server = await relayedServer(t, relay);
  let callbackArgs;
  let rejected;
  const rejectedEvent = new Promise((resolve) => {
    server.on('request', (request) => {
      request.on('requestRejected', resolve);
      rejected = request.reject(451, 'Unavailable For Legal Reasons here', (...args) => (callbackArgs = args));
    });
  });
  await assert.rejects(send(relay), /non-101 status: 451 Unavailable For Legal Reasons here/);
  assert.equal(await rejected, undefined);
  await rejectedEvent;
  await until(() => callbackArgs, 2000, 'callback');
  assert.deepEqual(callbackArgs, []);
});

test('reject defaults to 403', async (t) => {
  const relay = await startRelay(t);
  const server = await relayedServer(t, relay);
  server.on('request', (request) => request.reject());
  await assert.rejects(send(relay), /non-101 status: 403 Forbidden/);
});

test('autoAcceptConnections accepts with the first requested subprotocol and emits connect, not request', async (t) => {
  const relay = await startRelay(t);
  const server = await relayedServer(t, relay, { autoAcceptConnections: true });
  let requests = 0;
  server.on('request', () => requests++);
  const connected = once(server, 'connect');
  const sender = await send(relay, 'echo', { protocols: ['first', 'second'] });
  t.after(() => sender.drop());
  await connected;
  assert.equal(sender.protocol, 'first');
  assert.equal(requests, 0);
});

test('without a request handler (and no autoAccept) senders are rejected with 404 "no handler"', async (t) => {
  const relay = await startRelay(t);
  await relayedServer(t, relay);
  await assert.rejects(send(relay), /non-101 status: 404 No handler for this request/);
});

test('a second accept throws; a second reject never throws, its Promise rejects', async (t) => {
  const relay = await startRelay(t);
  const server = await relayedServer(t, relay);
  const seen = once(server, 'request');
  const pending = send(relay);
  const request = await seen;
  const connection = await request.accept();
  t.after(() => connection.drop());
  assert.throws(() => request.accept(), { code: 'ERR_HYCO_ALREADY_RESOLVED', message: /only be accepted or rejected one time/ });
  let called;
  const second = request.reject(403, 'late', (err) => (called = err));
  await assert.rejects(second, { code: 'ERR_HYCO_ALREADY_RESOLVED' });
  assert.equal(called.code, 'ERR_HYCO_ALREADY_RESOLVED');
  (await pending).drop();
});

test('accepting an unrequested protocol fails with a code, emits requestRejected, and the sender gets 500', async (t) => {
  const relay = await startRelay(t);
  const server = await relayedServer(t, relay);
  const seen = once(server, 'request');
  const pending = send(relay, 'echo', { protocols: ['chat'] });
  pending.catch(() => {}); // Asserted below; it fails before the accept settles.
  const request = await seen;
  const rejectedEvent = once(request, 'requestRejected');
  let callbackResult;
  await assert.rejects(request.accept('video', null, null, (r) => (callbackResult = r)), { code: 'ERR_HYCO_PROTOCOL_NOT_REQUESTED' });
  const [, error] = await rejectedEvent;
  assert.equal(error.code, 'ERR_HYCO_PROTOCOL_NOT_REQUESTED');
  assert.equal(callbackResult, error);
  await assert.rejects(pending, /non-101 status: 500/);
});

test('bad cookies fail the accept with a clear error and the sender gets 500', async (t) => {
  const relay = await startRelay(t);
  const server = await relayedServer(t, relay);
  const seen = once(server, 'request');
  const pending = send(relay);
  pending.catch(() => {}); // Asserted below; it fails before the accept settles.
  const request = await seen;
  await assert.rejects(request.accept(null, null, [{ name: 'bad name', value: 'x' }]), { code: 'ERR_HYCO_INVALID_ARGUMENT', message: /cookie name/ });
  await assert.rejects(pending, /non-101 status: 500/);
});

test('accept after the rendezvous expired fails with ERR_HYCO_RENDEZVOUS_FAILED (403), never unhandled', async (t) => {
  const relay = await startRelay(t, { rendezvousTimeoutMs: 200 });
  const server = await relayedServer(t, relay);
  const seen = once(server, 'request');
  const pending = send(relay);
  pending.catch(() => {}); // Asserted below.
  const request = await seen;
  await assert.rejects(pending, /504/);
  let callbackResult;
  // The callback form alone: the returned promise is ignored and must not surface as unhandled.
  request.accept(null, null, null, (result) => (callbackResult = result));
  await until(() => callbackResult, 3000, 'callback');
  assert.ok(callbackResult instanceof Error);
  assert.equal(callbackResult.code, 'ERR_HYCO_RENDEZVOUS_FAILED');
  assert.equal(callbackResult.statusCode, 403);
  assert.match(callbackResult.trackingId, /^[0-9a-f-]{36}$/);
});

test('a sender that speaks first loses nothing: its first frame reaches a handler attached after await accept()', async (t) => {
  const net = require('node:net');
  const crypto = require('node:crypto');
  const { token } = require('hyco-test-support');
  const relay = await startRelay(t);
  const server = await relayedServer(t, relay);
  const received = [];
  server.on('request', async (request) => {
    const connection = await request.accept();
    connection.on('message', (m) => received.push(m.utf8Data));
  });
  for (let round = 0; round < 5; round++) {
    // The handshake and a masked text frame in one write: the relay holds
    // the frame and hands it to the listener right behind the 101.
    const payload = Buffer.from(`first words ${round}`);
    const mask = crypto.randomBytes(4);
    const frame = Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, payload.map((b, i) => b ^ mask[i & 3])]);
    const socket = net.connect(relay.port, '127.0.0.1');
    t.after(() => socket.destroy());
    socket.on('error', () => {});
    socket.write(
      Buffer.concat([
        Buffer.from(
          `GET /$hc/echo?sb-hc-action=connect HTTP/1.1\r\nHost: 127.0.0.1:${relay.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nServiceBusAuthorization: ${token('echo')}\r\n\r\n`,
        ),
        frame,
      ]),
    );
    await until(() => received.length === round + 1, 3000, `message ${round}`);
    assert.equal(received[round], `first words ${round}`);
  }
});

test('reject validates first: a numeric string is a status, an invalid status still answers the sender (500), a long reason is cut; never a synchronous throw', async (t) => {
  const relay = await startRelay(t);
  const server = await relayedServer(t, relay);
  const cases = [
    { args: [101], sender: 500, error: 'ERR_HYCO_INVALID_ARGUMENT' },
    { args: ['403'], sender: 403 },
    { args: [403, 'x'.repeat(40 * 1024)], sender: 403, reasonLength: 512 },
    { args: ['teapot'], sender: 500, error: 'ERR_HYCO_INVALID_ARGUMENT' },
    { args: [404, { not: 'a string' }], sender: 500, error: 'ERR_HYCO_INVALID_ARGUMENT' },
    // Regression (adversarial review): a cut inside an emoji, or a lone surrogate, made the rejection address throw a
    // URIError, and the sender waited 30 s for the relay's 504.
    { args: [403, `${'a'.repeat(511)}\u{1F600} tail`], sender: 403, reasonLength: 513 },
    { args: [403, 'lone \ud800 surrogate'], sender: 403 },
  ];
  for (const c of cases) {
    const seen = once(server, 'request');
    const outcome = send(relay).then(
      () => 'connected',
      (err) => err,
    );
    const request = await seen;
    let promise;
    assert.doesNotThrow(() => (promise = request.reject(...c.args)), `reject(${String(c.args[0])}) must not throw`);
    if (c.error) await assert.rejects(promise, { code: c.error });
    else await promise;
    const err = await Promise.race([outcome, delay(5000).then(() => ({ status: 'no answer' }))]);
    assert.equal(err.status, c.sender, `reject(${String(c.args[0])})`);
    if (c.reasonLength) {
      const reason = /non-101 status: 403 (.*)\n/.exec(err.message)?.[1] ?? '';
      assert.ok(reason.length > 0 && reason.length <= c.reasonLength, `the reason has ${reason.length} characters`);
    }
  }
});

test('a ws sender offering permessage-deflate gets a 101 without extensions and exchanges messages (nothing unimplemented is echoed)', async (t) => {
  const WebSocket = require('ws');
  const relay = await startRelay(t);
  const server = await relayedServer(t, relay);
  server.on('request', (request) => {
    assert.match(request.httpRequest.headers['sec-websocket-extensions'], /permessage-deflate/);
    request.accept(null).then((connection) => connection.on('message', (m) => connection.sendUTF(m.utf8Data)));
  });
  const ws = new WebSocket(hyco.createRelaySendUri(relay.endpoint, 'echo'), { headers: { ServiceBusAuthorization: require('hyco-test-support').token('echo') } });
  t.after(() => ws.terminate());
  const upgrade = once(ws, 'upgrade');
  await once(ws, 'open');
  assert.equal((await upgrade).headers['sec-websocket-extensions'], undefined);
  ws.send('through, uncompressed');
  assert.equal(String((await once(ws, 'message'))[0]), 'through, uncompressed');
});

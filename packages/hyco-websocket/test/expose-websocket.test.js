'use strict';
// relayedProxy for WebSockets: senders connect through the emulator; the
// proxy joins each to the origin (a `websocket.server`) as a WebSocket.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const crypto = require('node:crypto');
const websocket = require('websocket');
const hyco = require('hyco-websocket');
const { startRelay, token, once, until, within, send, FAST_BACKOFF } = require('hyco-test-support');

/**
 * A WebSocket origin: accepts `chat.v2` when offered, echoes every message
 * with its type, closes with `close:CODE:REASON`, refuses `/refuse` (403)
 * and records what it saw.
 */
async function startOrigin(t, port = 0) {
  const httpServer = http.createServer((req, res) => res.end('not a websocket'));
  const wsServer = new websocket.server({ httpServer, maxReceivedFrameSize: 1024 * 1024, maxReceivedMessageSize: 8 * 1024 * 1024 });
  const seen = { requests: [], closes: [], messages: [] };
  wsServer.on('request', (request) => {
    seen.requests.push({ resource: request.resource, protocols: request.requestedProtocols, headers: request.httpRequest.headers, origin: request.origin });
    if (request.resource.startsWith('/refuse')) {
      request.reject(403, 'Not here');
      return;
    }
    const connection = request.accept(request.requestedProtocols.includes('chat.v2') ? 'chat.v2' : null, request.origin);
    connection.on('message', (m) => {
      seen.messages.push(m.type === 'utf8' ? { type: 'utf8', length: Buffer.byteLength(m.utf8Data) } : { type: 'binary', length: m.binaryData.length });
      const close = m.type === 'utf8' && /^close:(\d+):(.*)$/.exec(m.utf8Data);
      if (close) connection.close(Number(close[1]), close[2]);
      else if (m.type === 'utf8') connection.sendUTF(m.utf8Data);
      else connection.sendBytes(m.binaryData);
    });
    connection.on('close', (code, description) => seen.closes.push({ code, description }));
  });
  await new Promise((resolve) => httpServer.listen(port, '127.0.0.1', resolve));
  const stop = () =>
    new Promise((resolve) => {
      wsServer.shutDown();
      httpServer.closeAllConnections();
      httpServer.close(() => resolve());
    });
  t.after(() => (httpServer.listening ? stop() : undefined));
  return { port: httpServer.address().port, seen, stop };
}

async function setup(t) {
  const relay = await startRelay(t, { hybridConnections: ['app'] });
  const origin = await startOrigin(t);
  const proxy = hyco.relayedProxy({
    server: hyco.createRelayListenUri(relay.endpoint, 'app'),
    token: () => token('app'),
    origin: `http://127.0.0.1:${origin.port}`,
    reconnectBackoff: FAST_BACKOFF,
  });
  t.after(() => proxy.close());
  const exchanges = [];
  proxy.on('exchange', (e) => exchanges.push(e));
  await once(proxy, 'online');
  return { relay, origin, proxy, exchanges };
}

/** The next message on a `websocket` connection. */
function nextMessage(connection) {
  return once(connection, 'message');
}

test('a WebSocket reaches the origin as one: its path and query as sent, its subprotocols offered, the origin\'s choice returned', async (t) => {
  const { relay, origin } = await setup(t);
  const sender = await send(relay, 'app/chat/%7E7?room=7&&x=%2F%20&flag&a=1&', {
    token: token('app'),
    protocols: ['chat.v1', 'chat.v2'],
    origin: 'https://page.example',
    headers: { 'X-Custom': 'kept', 'Keep-Alive': 'timeout=5', TE: 'trailers', 'Proxy-Foo': 'hop', 'Sec-WebSocket-Extensions': 'permessage-deflate' },
  });
  t.after(() => sender.drop());
  assert.equal(sender.protocol, 'chat.v2', 'the origin\'s choice reaches the sender');
  assert.equal(origin.seen.requests.length, 1);
  const [seen] = origin.seen.requests;
  assert.equal(seen.resource, '/chat/%7E7?room=7&&x=%2F%20&flag&a=1&');
  assert.deepEqual(seen.protocols, ['chat.v1', 'chat.v2']);
  assert.equal(seen.origin, 'https://page.example');
  assert.equal(seen.headers['x-custom'], 'kept');
  for (const hop of ['keep-alive', 'te', 'proxy-foo', 'sec-websocket-extensions', 'servicebusauthorization']) assert.equal(seen.headers[hop], undefined, hop);
  assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
  assert.equal(seen.headers['x-forwarded-proto'], 'http');
  assert.equal(seen.headers['x-forwarded-prefix'], '/app');
  assert.match(seen.headers.forwarded, /^for=127\.0\.0\.1;host="127\.0\.0\.1:\d+";proto=http$/);
});

test('a sender offering no subprotocol gets none; text and binary messages keep their type and boundaries both ways', async (t) => {
  const { relay, origin, exchanges } = await setup(t);
  const sender = await send(relay, 'app', { token: token('app'), config: { fragmentationThreshold: 16 * 1024 } });
  assert.equal(sender.protocol, undefined);
  sender.sendUTF('héllo');
  assert.deepEqual(await nextMessage(sender), { type: 'utf8', utf8Data: 'héllo' });
  // 200 KB goes out in 16 KB fragments; it arrives (and comes back) as one message.
  const big = crypto.randomBytes(200 * 1024);
  sender.sendBytes(big);
  const echoed = await nextMessage(sender);
  assert.equal(echoed.type, 'binary');
  assert.ok(echoed.binaryData.equals(big));
  const text = 'ü'.repeat(50 * 1024);
  sender.sendUTF(text);
  assert.equal((await nextMessage(sender)).utf8Data, text);
  assert.deepEqual(origin.seen.messages, [
    { type: 'utf8', length: 6 },
    { type: 'binary', length: big.length },
    { type: 'utf8', length: Buffer.byteLength(text) },
  ]);
  sender.close(1000, 'done');
  await until(() => exchanges.length === 1, 5000, 'the exchange event');
  const [e] = exchanges;
  assert.deepEqual({ kind: e.kind, method: e.method, path: e.path, status: e.status, complete: e.complete, closeCode: e.closeCode }, {
    kind: 'websocket', method: 'GET', path: '/', status: 101, complete: true, closeCode: 1000,
  });
  const payload = 6 + big.length + Buffer.byteLength(text);
  assert.equal(e.bytesIn, payload);
  assert.equal(e.bytesOut, payload);
});

test('close codes and reasons pass both ways', async (t) => {
  const { relay, origin } = await setup(t);
  const first = await send(relay, 'app', { token: token('app') });
  const closedBySender = once(first, 'close');
  first.close(4001, 'sender says bye');
  await closedBySender;
  await until(() => origin.seen.closes.length === 1, 5000, 'the origin to see the close');
  assert.deepEqual(origin.seen.closes[0], { code: 4001, description: 'sender says bye' });
  const second = await send(relay, 'app', { token: token('app') });
  const closedByOrigin = once(second, 'close');
  second.sendUTF('close:4002:origin says bye');
  const [code, description] = await closedByOrigin;
  assert.equal(code, 4002);
  assert.equal(description, 'origin says bye');
});

test('the origin refusing the upgrade gives the sender its status; an origin down gives 502; back up, it works through the same listener', async (t) => {
  const { relay, origin, proxy, exchanges } = await setup(t);
  await assert.rejects(send(relay, 'app/refuse', { token: token('app') }), (err) => err.status === 403);
  await origin.stop();
  await assert.rejects(send(relay, 'app', { token: token('app') }), (err) => err.status === 502);
  await until(() => exchanges.length === 2, 5000, 'the exchange events');
  assert.deepEqual(exchanges.map((e) => [e.status, e.complete, e.error?.code]), [
    [403, false, 'ERR_HYCO_HANDSHAKE'],
    [502, false, 'ERR_HYCO_ORIGIN_UNREACHABLE'],
  ]);
  assert.equal(proxy.isOnline, true);
  await startOrigin(t, origin.port);
  const sender = await send(relay, 'app', { token: token('app') });
  sender.sendUTF('again');
  assert.equal((await nextMessage(sender)).utf8Data, 'again');
  sender.close();
});

test('close(): joined WebSockets are closed on both sides with 1001, and close() resolves once they are', async (t) => {
  const { relay, origin, proxy } = await setup(t);
  const sender = await send(relay, 'app', { token: token('app') });
  sender.sendUTF('up');
  await nextMessage(sender);
  const senderClosed = once(sender, 'close');
  assert.notEqual(await within(proxy.close().then(() => 'closed'), 10000, 'hung'), 'hung', 'close() hung');
  assert.equal(origin.seen.closes.length, 1, 'the origin\'s connection closed before close() resolved');
  assert.equal(origin.seen.closes[0].code, 1001);
  const [code] = await senderClosed;
  assert.equal(code, 1001);
  assert.equal(proxy.isOnline, false);
});

test('hop-by-hop headers of the sender\'s handshake stop at the proxy, those its Connection header names too', async (t) => {
  const net = require('node:net');
  const { relay, origin } = await setup(t);
  const socket = net.connect(relay.port, '127.0.0.1');
  t.after(() => socket.destroy());
  await once(socket, 'connect');
  socket.write(
    [
      'GET /$hc/app/raw?sb-hc-action=connect HTTP/1.1',
      `Host: 127.0.0.1:${relay.port}`,
      'Upgrade: websocket',
      'Connection: Upgrade, X-Hop',
      'X-Hop: only for the next hop',
      'Keep-Alive: timeout=5',
      'X-End-To-End: kept',
      `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}`,
      'Sec-WebSocket-Version: 13',
      `ServiceBusAuthorization: ${token('app')}`,
      '',
      '',
    ].join('\r\n'),
  );
  let head = '';
  await until(() => {
    head += socket.read()?.toString('latin1') ?? '';
    return head.includes('\r\n\r\n');
  }, 5000, 'the 101');
  assert.match(head, /^HTTP\/1\.1 101 /);
  const [seen] = origin.seen.requests;
  assert.equal(seen.resource, '/raw');
  assert.equal(seen.headers['x-end-to-end'], 'kept');
  assert.equal(seen.headers['x-hop'], undefined);
  assert.equal(seen.headers['keep-alive'], undefined);
  assert.equal(seen.headers.connection, 'Upgrade', 'the proxy\'s own handshake');
});

test('an origin that does not answer the upgrade within originTimeout: the sender is refused 504, the attempt dropped', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['app'] });
  // Takes the connection, never answers the upgrade.
  const silent = http.createServer();
  const sockets = [];
  const ended = [];
  silent.on('upgrade', (req, socket) => {
    sockets.push(socket);
    socket.on('end', () => ended.push(socket));
    socket.on('error', () => undefined);
    socket.resume();
  });
  await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    sockets.forEach((s) => s.destroy());
    silent.close();
  });
  const proxy = hyco.relayedProxy({ server: hyco.createRelayListenUri(relay.endpoint, 'app'), token: () => token('app'), origin: `http://127.0.0.1:${silent.address().port}`, originTimeout: 300 });
  t.after(() => proxy.close());
  await once(proxy, 'online');
  await assert.rejects(send(relay, 'app', { token: token('app') }), (err) => err.status === 504);
  assert.equal(sockets.length, 1);
  // The proxy hangs up its side (the origin's socket reads its end).
  await until(() => ended.length === 1, 5000, 'the origin attempt to be dropped');
});

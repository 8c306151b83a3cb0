'use strict';
// relayedProxy against origins and senders that do what most do not: an
// origin that speaks (or closes, or resets) the moment a WebSocket opens,
// a path that climbs out of the base path with dot segments, a body ended
// by a reset, a non-idempotent request on a connection the origin resets.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const crypto = require('node:crypto');
const WebSocket = require('ws');
const hyco = require('hyco-websocket');
const { startRelay, token, once, until, FAST_BACKOFF } = require('hyco-test-support');
const { rawUpgrade } = require('hyco-test-support/raw.js');

/** A server (net or http) listening on a loopback port, closed after the test. */
async function listening(t, server) {
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  t.after(() => {
    server.closeAllConnections?.();
    server.close();
  });
  return server.address().port;
}

/** The emulator and a relayed proxy to `origin` (a URL), online. */
async function setup(t, origin) {
  const relay = await startRelay(t, { hybridConnections: ['app'] });
  const proxy = hyco.relayedProxy({
    server: hyco.createRelayListenUri(relay.endpoint, 'app'),
    token: () => token('app'),
    origin,
    reconnectBackoff: FAST_BACKOFF,
  });
  t.after(() => proxy.close());
  const exchanges = [];
  proxy.on('exchange', (e) => exchanges.push(e));
  await once(proxy, 'online');
  return { relay, proxy, exchanges };
}

/**
 * A `ws` sender with its listeners on before it opens (nothing it is sent
 * can be missed): resolves with its messages and its close, or `{ hung }`
 * when it is still open after `ms`.
 */
function sender(relay, path, { onOpen, ms = 8000 } = {}) {
  const ws = new WebSocket(hyco.createRelaySendUri(relay.endpoint, path), { headers: { ServiceBusAuthorization: token('app') }, perMessageDeflate: false });
  const messages = [];
  ws.on('open', () => onOpen?.(ws));
  ws.on('message', (m) => messages.push(String(m)));
  ws.on('error', () => undefined);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      ws.terminate();
      resolve({ hung: true, messages });
    }, ms);
    ws.on('close', (code, reason) => {
      clearTimeout(timer);
      resolve({ code, reason: String(reason), messages });
    });
  });
}

/** A raw WebSocket origin: takes the upgrade, then `after(socket)` does what it does. */
function rawWebSocketOrigin(after) {
  return net.createServer((socket) => {
    let head = '';
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => {
      if (head.includes('\r\n\r\n')) return;
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const key = /sec-websocket-key: *(.*)\r\n/i.exec(head)[1];
      const accept = crypto.createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      after(socket);
    });
  });
}

test('a WebSocket origin that sends a message the moment it opens: every sender gets it, first, then its echo', async (t) => {
  const originServer = http.createServer();
  const wss = new WebSocket.Server({ server: originServer });
  wss.on('connection', (c) => {
    c.send('welcome');
    c.on('message', (m) => c.send(`echo:${m}`));
  });
  const port = await listening(t, originServer);
  t.after(() => wss.close());
  const { relay } = await setup(t, `http://127.0.0.1:${port}`);
  for (let i = 0; i < 5; i++) {
    const result = await sender(relay, 'app/chat', {
      onOpen: (ws) => {
        ws.send('ping');
        ws.on('message', (m) => String(m).startsWith('echo:') && ws.close(1000));
      },
    });
    assert.deepEqual(result.messages, ['welcome', 'echo:ping'], `sender ${i}`);
  }
});

test('a WebSocket origin that closes at once (4001): the sender gets its message and its close promptly, and the exchange says so', async (t) => {
  const originServer = http.createServer();
  const wss = new WebSocket.Server({ server: originServer });
  wss.on('connection', (c) => {
    c.send('hello');
    c.close(4001, 'unauthorized');
  });
  const port = await listening(t, originServer);
  t.after(() => wss.close());
  const { relay, exchanges } = await setup(t, `http://127.0.0.1:${port}`);
  for (let i = 0; i < 3; i++) {
    const result = await sender(relay, 'app/x');
    assert.deepEqual(result, { code: 4001, reason: 'unauthorized', messages: ['hello'] }, `sender ${i}`);
  }
  // Reported as it ended, before any close() of the proxy.
  await until(() => exchanges.length === 3, 5000, 'the exchange events');
  for (const e of exchanges) assert.deepEqual([e.status, e.complete, e.closeCode, e.error], [101, true, 4001, undefined]);
});

for (const variant of ['reset', 'close frame and FIN']) {
  test(`a WebSocket origin gone while the sender is being accepted (${variant}): the sender is not left open`, async (t) => {
    const origin = rawWebSocketOrigin((socket) => {
      socket.write(Buffer.from([0x81, 2, 0x68, 0x69]));
      if (variant === 'reset') socket.resetAndDestroy();
      else socket.end(Buffer.from([0x88, 2, 0x0f, 0xa0]));
    });
    const port = await listening(t, origin);
    const { relay, exchanges } = await setup(t, `http://127.0.0.1:${port}`);
    const result = await sender(relay, 'app/x');
    assert.notEqual(result.hung, true, 'the sender is closed, not left open');
    assert.deepEqual(result.messages, ['hi']);
    assert.equal(result.code, variant === 'reset' ? 1006 : 4000);
    await until(() => exchanges.length === 1, 5000, 'the exchange event');
    assert.equal(exchanges[0].closeCode, variant === 'reset' ? 1006 : 4000);
    assert.equal(exchanges[0].complete, variant !== 'reset');
  });
}

test('a path with a "." or ".." segment (any spelling) is refused 400, HTTP and WebSocket; anything else passes byte for byte', async (t) => {
  const seen = [];
  const originServer = http.createServer((req, res) => {
    seen.push(req.url);
    res.end('ok');
  });
  const wss = new WebSocket.Server({ server: originServer });
  wss.on('connection', (c, req) => {
    seen.push(req.url);
    c.close(1000);
  });
  const port = await listening(t, originServer);
  t.after(() => wss.close());
  const { relay } = await setup(t, `http://127.0.0.1:${port}/public`);
  const relayPort = new URL(relay.endpoint).port;
  const get = (target) =>
    new Promise((resolve, reject) => {
      const socket = net.connect(relayPort, '127.0.0.1', () =>
        socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nServiceBusAuthorization: ${token('app')}\r\nConnection: close\r\n\r\n`),
      );
      let data = '';
      socket.on('data', (chunk) => (data += chunk));
      socket.on('error', reject);
      socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1])));
    });
  for (const target of ['/app/../admin', '/app/%2e%2e/admin', '/app/%2E%2E/admin/users', '/app/.%2e/x', '/app/a/./b', '/app/%2E', '/app/a/..', '/app/x/..?q=1']) {
    assert.equal(await get(target), 400, target);
  }
  assert.deepEqual(seen, [], 'the origin saw none of them');
  for (const target of ['/app/a..b/...', '/app/.hidden/x%2e', '/app/a?x=/../../b', '/app/%2e%2e%2fx']) {
    assert.equal(await get(target), 200, target);
  }
  assert.deepEqual(seen, ['/public/a..b/...', '/public/.hidden/x%2e', '/public/a?x=/../../b', '/public/%2e%2e%2fx']);
  seen.length = 0;
  const upgrade = await rawUpgrade(`${relay.endpoint}/`, { ServiceBusAuthorization: token('app') }, '/$hc/app/%2e%2e/admin?sb-hc-action=connect');
  assert.equal(upgrade.status, 400);
  const fine = await rawUpgrade(`${relay.endpoint}/`, { ServiceBusAuthorization: token('app') }, '/$hc/app/room?sb-hc-action=connect');
  assert.ok(fine.socket, 'an ordinary path is joined');
  fine.socket.destroy();
  assert.deepEqual(seen, ['/public/room']);
});

test('an origin body delimited by the connection end, then a reset: the sender\'s response is cut, the exchange incomplete', async (t) => {
  const origin = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', () => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nfirst half of the body... ');
      setTimeout(() => socket.resetAndDestroy(), 100);
    });
  });
  const port = await listening(t, origin);
  const { proxy, exchanges } = await setup(t, `http://127.0.0.1:${port}`);
  const outcome = await new Promise((resolve) => {
    const req = http.get(`${proxy.httpUrl}file`, { headers: { ServiceBusAuthorization: token('app') } }, (res) => {
      res.resume();
      res.on('end', () => resolve(`clean end (complete=${res.complete})`));
      res.on('error', () => resolve('cut'));
    });
    req.on('error', () => resolve('cut'));
  });
  assert.equal(outcome, 'cut');
  await until(() => exchanges.length === 1, 5000, 'the exchange event');
  assert.equal(exchanges[0].status, 200);
  assert.equal(exchanges[0].complete, false);
  assert.equal(exchanges[0].error.code, 'ERR_HYCO_ORIGIN_CLOSED');
});

test('a kept-open origin connection reset under a body-less POST: not sent again (a GET is)', async (t) => {
  const runs = { POST: 0, GET: 0 };
  const originServer = http.createServer((req, res) => {
    if (req.url === '/warm') return res.end('warm');
    runs[req.method]++;
    // The first of each acts, then resets its connection (a crash after the side effect).
    if (runs[req.method] === 1) return req.socket.resetAndDestroy();
    res.end(`ran ${runs[req.method]}`);
  });
  originServer.keepAliveTimeout = 60000;
  const port = await listening(t, originServer);
  const { proxy } = await setup(t, `http://127.0.0.1:${port}`);
  const request = (method, path) =>
    new Promise((resolve, reject) => {
      const req = http.request(`${proxy.httpUrl}${path}`, { method, headers: { ServiceBusAuthorization: token('app') } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      });
      req.on('error', reject);
      req.end();
    });
  for (const method of ['POST', 'GET']) {
    assert.equal(await request('GET', 'warm'), 200);
    const status = await request(method, 'act');
    if (method === 'POST') {
      assert.equal(status, 502);
      assert.equal(runs.POST, 1, 'the POST ran once');
    } else {
      assert.equal(status, 200);
      assert.equal(runs.GET, 2, 'the GET was sent again');
    }
  }
});

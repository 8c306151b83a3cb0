'use strict';
// GET /health: the readiness check for scripts, CI and containers. 503
// while the emulator starts, 200 {"status":"healthy"} once it is ready, 503
// while it stops (it keeps its socket until every connection has ended),
// then nothing listens.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const http = require('node:http');
const net = require('node:net');
const { RelayEmulator } = require('hyco-relay-emulator');
const { RULES, startRelay, listen, token } = require('hyco-test-support');

/** GET (or another method) on the emulator with exactly these headers; resolves { status, body, headers } or { error }. */
function get(port, target = '/health', headers = {}, method = 'GET') {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: target, method, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body, headers: res.headers }));
    });
    req.on('error', (error) => resolve({ error: error.code }));
    req.end();
  });
}

function freePort() {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

test('/health: 503 {"status":"unhealthy"} while starting, 200 {"status":"healthy"} once ready, 503 while stopping, then the port is closed', async (t) => {
  // Warm up what start-up loads, so that the only wait left in it is the work it gives libuv's thread pool.
  await (await RelayEmulator.start()).close();
  const port = await freePort();
  // A busy thread pool, as on a loaded machine: the emulator is bound at once, but its start-up work (the
  // identity provider's signing key) waits its turn for a thread, for as long as the pool stays busy.
  const threads = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  const busy = Array.from({ length: threads }, () => new Promise((resolve) => crypto.pbkdf2('p', 's', 400_000, 64, 'sha512', resolve)));
  const starting = RelayEmulator.start({ port, rules: RULES });
  const seen = [];
  let started = false;
  void starting.then(() => (started = true));
  for (;;) {
    const r = await get(port);
    seen.push(r);
    if (r.status === 200 || started) break;
  }
  const relay = await starting;
  t.after(() => relay.close());
  await Promise.all(busy);
  const answers = seen.filter((r) => r.status !== undefined);
  assert.ok(answers.length >= 1, `no answer while starting: ${JSON.stringify(seen.slice(0, 3))}`);
  const first = answers[0];
  assert.equal(first.status, 503, 'the first answer, while starting');
  assert.deepEqual(JSON.parse(first.body), { status: 'unhealthy', state: 'starting' });
  assert.match(first.headers['content-type'], /^application\/json/);
  assert.equal(relay.state, 'ready');
  const ready = await get(port);
  assert.equal(ready.status, 200);
  assert.deepEqual(JSON.parse(ready.body), { status: 'healthy' });
  assert.equal(ready.headers['cache-control'], 'no-store');

  // Stopping: a client connection that sends nothing keeps the emulator draining (up to its 1 s grace).
  const keepOpen = net.connect(port, '127.0.0.1');
  t.after(() => keepOpen.destroy());
  await new Promise((resolve) => keepOpen.once('connect', resolve));
  const closing = relay.close();
  assert.equal(relay.state, 'stopping');
  const stopping = await get(port);
  assert.equal(stopping.status, 503);
  assert.deepEqual(JSON.parse(stopping.body), { status: 'unhealthy', state: 'stopping' });
  assert.equal(stopping.headers.connection, 'close');
  const refusedMeanwhile = await get(port, '/$status');
  assert.equal(refusedMeanwhile.status, 503);
  assert.match(refusedMeanwhile.body, /shutting down/);
  await closing;
  assert.equal(relay.state, 'closed');
  assert.equal((await get(port)).error, 'ECONNREFUSED');
});

test('/health answers any Host (a container probe names its own address) and only GET and HEAD; /$health answers the same', async (t) => {
  const relay = await startRelay(t);
  for (const host of ['localhost', '10.1.2.3:9030', 'relay.internal', `127.0.0.1:${relay.port}`]) {
    const r = await get(relay.port, '/health', { Host: host });
    assert.equal(r.status, 200, host);
    // The dashboard, by contrast, answers its own names only.
    if (host !== `127.0.0.1:${relay.port}` && host !== 'localhost') assert.equal((await get(relay.port, '/$status', { Host: host })).status, 403);
  }
  assert.equal((await get(relay.port, '/$health')).status, 200);
  const head = await get(relay.port, '/health', {}, 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  assert.equal((await get(relay.port, '/health', {}, 'POST')).status, 405);
  assert.equal(relay.stats().totals.handshakesRefused, 0, 'health checks are no refusals');
});

test('a hybrid connection named "health" keeps its own path (HTTP requests reach its listener); /$health still answers', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['health'] });
  const channel = await listen(t, relay, 'health');
  channel.on('message', (data, isBinary) => {
    if (isBinary) return;
    const { request } = JSON.parse(String(data));
    if (request) channel.send(JSON.stringify({ response: { requestId: request.id, statusCode: 299, statusDescription: 'From the listener', body: false } }));
  });
  const relayed = await get(relay.port, '/health', { ServiceBusAuthorization: token('health') });
  assert.equal(relayed.status, 299);
  assert.deepEqual(JSON.parse((await get(relay.port, '/$health')).body), { status: 'healthy' });
});

test('close() under TLS also ends a connection still in its TLS handshake, at once rather than at the handshake timeout (2 minutes)', async (t) => {
  const relay = await RelayEmulator.start({ rules: RULES, tls: 'self-signed' });
  const silent = net.connect(relay.port, '127.0.0.1');
  t.after(() => silent.destroy());
  await new Promise((resolve) => silent.once('connect', resolve));
  const ended = new Promise((resolve) => silent.once('close', resolve));
  const started = Date.now();
  await relay.close();
  await ended;
  assert.ok(Date.now() - started < 5000, `close() took ${Date.now() - started} ms`);
  assert.equal(relay.state, 'closed');
});

'use strict';
// The listener's HTTP exchanges under a hostile or failing relay: a body is
// never handed to another request, interim heads never pass for the final
// one, a vanished client is seen as one, and frames follow bytes, not calls.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const hyco = require('hyco-websocket');
const { FakeRelay, startRelay, relayedServer, token, once, delay, until, FAST_BACKOFF } = require('hyco-test-support');

async function fakeRelay(t) {
  const relay = await FakeRelay.start();
  t.after(() => relay.close());
  return relay;
}

function listenerOn(t, relay, options = {}) {
  const server = new hyco.relayedServer({ server: relay.listenUri(), token: 'SharedAccessSignature sr=x&sig=y&se=9999999999&skn=z', reconnectBackoff: FAST_BACKOFF, ...options });
  server.on('error', () => {});
  server.on('warning', () => {});
  t.after(() => server.close());
  return server;
}

/** Node's http client against the emulator; resolves with status, headers, body (and whether it was complete). */
function request(url, { method = 'GET', headers = {}, onResponse } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      onResponse?.(res, req);
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', () => {});
      res.on('close', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks), complete: res.complete }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('a body is never handed to another request: a channel that drops between a request and its body takes the request along', async (t) => {
  const relay = await fakeRelay(t);
  const server = listenerOn(t, relay);
  const seen = [];
  server.on('httpRequest', (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      seen.push(`${req.url}=${Buffer.concat(chunks)}`);
      res.end(`answer for ${req.url}`);
    });
  });
  const first = await relay.nextChannel(false);
  // Request A arrives; its body never does: the channel drops first.
  relay.sendRequest('A', { method: 'POST', target: '/fake/a', body: Buffer.from('A-body'), withholdBody: true, channel: first });
  await delay(50);
  relay.drop('destroy');
  const second = await relay.nextChannel();
  // After the reconnect, request B arrives with its body.
  relay.sendRequest('B', { method: 'POST', target: '/fake/b', body: Buffer.from('B-body'), channel: second });
  await until(() => relay.responses.get('B')?.complete, 5000, 'the answer to B');
  await delay(100);
  assert.deepEqual(seen, ['/b=B-body'], 'B ran with its own body; A never ran');
  assert.equal(Buffer.concat(relay.responses.get('B').body).toString(), 'answer for /b');
  assert.equal(relay.responses.has('A'), false, 'nothing was sent under A\'s id');
});

test('interim heads (writeContinue, writeEarlyHints, a 1xx writeHead) are skipped; the final response arrives', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['web'] });
  const server = await relayedServer(t, relay, {}, 'web');
  server.on('httpRequest', (req, res) => {
    res.writeContinue();
    res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
    if (req.url === '/processing') res.writeProcessing();
    res.writeHead(201, { 'X-Final': 'yes' });
    res.end(`final for ${req.url}`);
  });
  const base = hyco.createRelayHttpsUri(relay.endpoint, 'web');
  for (const path of ['/plain', '/processing']) {
    const res = await Promise.race([request(`${base}${path}`, { headers: { ServiceBusAuthorization: token('web') } }), delay(5000).then(() => ({ status: 'hung' }))]);
    assert.equal(res.status, 201, path);
    assert.equal(res.headers['x-final'], 'yes');
    assert.equal(res.body.toString(), `final for ${path}`);
  }
});

test('a streamed response learns that the client left: res and req close, writableEnded stays false, writes are ignored', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['web'] });
  const server = await relayedServer(t, relay, {}, 'web');
  let handler;
  const handled = new Promise((resolve) => (handler = resolve));
  server.on('httpRequest', (req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    let n = 0;
    let writesAfterClose = 0;
    const timer = setInterval(() => {
      if (res.destroyed) writesAfterClose++;
      res.write(`data: ${n++}\n\n`);
    }, 20);
    const reqClosed = once(req, 'close');
    res.on('close', async () => {
      await reqClosed;
      await delay(60);
      clearInterval(timer);
      handler({ writableEnded: res.writableEnded, writesAfterClose });
    });
  });
  const base = hyco.createRelayHttpsUri(relay.endpoint, 'web');
  await new Promise((resolve, reject) => {
    const req = http.get(`${base}/events`, { headers: { ServiceBusAuthorization: token('web') } }, (res) => {
      res.once('data', () => {
        // The client leaves after the first event.
        req.destroy();
        resolve();
      });
    });
    req.on('error', () => {});
    setTimeout(() => reject(new Error('no first event')), 5000);
  });
  const outcome = await Promise.race([handled, delay(5000).then(() => 'res never closed')]);
  assert.notEqual(outcome, 'res never closed');
  assert.equal(outcome.writableEnded, false);
  assert.ok(outcome.writesAfterClose >= 1, 'writes after close are ignored without an error');
});

test('a response whose rendezvous closes before it ends closes req and res as for a vanished client', async (t) => {
  const relay = await fakeRelay(t);
  const server = listenerOn(t, relay);
  const closed = new Promise((resolve) => {
    server.on('httpRequest', (req, res) => {
      res.writeHead(200);
      res.write('x'.repeat(100 * 1024)); // Over 64 KB: a rendezvous.
      res.on('close', () => resolve({ writableEnded: res.writableEnded }));
    });
  });
  const channel = await relay.nextChannel(false);
  relay.sendRequest('R', { target: '/fake/r', channel });
  await until(() => relay.responses.has('R'), 5000, 'the response to start');
  for (const socket of relay.sockets) if (socket.readyState === 'open' && socket !== channel._socket) socket.destroy();
  const outcome = await Promise.race([closed, delay(5000).then(() => 'hung')]);
  assert.deepEqual(outcome, { writableEnded: false });
});

test('small writes are coalesced: 20,000 writes of 1 KB go out in a few hundred frames, byte for byte', async (t) => {
  const relay = await fakeRelay(t);
  const server = listenerOn(t, relay);
  const piece = Buffer.alloc(1024, 7);
  server.on('httpRequest', (req, res) => {
    res.writeHead(200);
    let i = 0;
    const pump = () => {
      while (i < 20000) {
        i++;
        if (!res.write(piece)) return res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  const channel = await relay.nextChannel(false);
  relay.sendRequest('F', { target: '/fake/f', channel });
  await until(() => relay.responses.get('F')?.complete, 20000, 'the whole response');
  const record = relay.responses.get('F');
  const body = Buffer.concat(record.body);
  assert.equal(body.length, 20000 * 1024);
  assert.ok(body.every((b) => b === 7));
  t.diagnostic(`20,000 writes of 1 KB went out in ${record.frames} frames`);
  assert.ok(record.frames <= 20000 * 1024 / 16384, `${record.frames} frames for 20,000 writes`);
});

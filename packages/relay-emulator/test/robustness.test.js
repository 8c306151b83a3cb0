'use strict';
// One bad message never takes the emulator down: it runs in a process of
// its own here, and must still be running, and serving others, after each
// hostile input.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const WebSocket = require('ws');
const { childEmulator, listen, send, token, onceOrError, until } = require('hyco-test-support');

async function emulator(t) {
  const relay = await childEmulator({ hybridConnections: ['echo', 'good'] });
  t.after(() => relay.stop());
  return relay;
}

/** A well-behaved listener and sender on `good` still exchange a message. */
async function stillServing(t, relay) {
  assert.ok(relay.alive(), 'the emulator process is running');
  const connection = await send(relay.endpoint, 'good', { timeoutMs: 5000 });
  const echoed = onceOrError(connection, 'message');
  connection.sendUTF('ping');
  assert.equal((await echoed).utf8Data, 'ping');
  connection.close();
}

function get(relay, target) {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port: relay.port, path: target, headers: { ServiceBusAuthorization: token('echo') } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', (err) => resolve(err.code));
    req.end();
  });
}

test('a listener response with a header Node refuses (non-Latin-1 value, a name with a space) does not crash the emulator', async (t) => {
  const relay = await emulator(t);
  await listen(t, relay, 'good');
  const channel = await listen(t, relay, 'echo', { onAccept() {} });
  channel.on('message', (data, isBinary) => {
    if (isBinary) return;
    const { request } = JSON.parse(data);
    if (!request) return;
    const headers = request.requestTarget.endsWith('name') ? { 'A Name': 'x' } : { 'X-City': 'Zürich → Genève' };
    if (request.requestTarget.includes('rendezvous')) {
      const ws = new WebSocket(request.address, { perMessageDeflate: false });
      ws.on('error', () => {});
      ws.on('open', () => ws.send(JSON.stringify({ response: { requestId: request.id, statusCode: 200, responseHeaders: headers } })));
      return;
    }
    channel.send(JSON.stringify({ response: { requestId: request.id, statusCode: 200, responseHeaders: headers } }));
  });
  for (const target of ['/echo/value', '/echo/name', '/echo/rendezvous-value', '/echo/rendezvous-name']) {
    assert.equal(await get(relay, target), 502, target);
    await stillServing(t, relay);
  }
});

test('a control message whose error text is long and non-ASCII closes that channel with a valid reason; the emulator lives', async (t) => {
  const relay = await emulator(t);
  await listen(t, relay, 'good');
  const channel = await listen(t, relay, 'echo', { onAccept() {} });
  const closed = onceOrError(channel, 'close');
  channel.send(JSON.stringify({ response: { requestId: '€'.repeat(40), statusCode: 200 } }));
  const [code, reason] = await closed;
  assert.equal(code, 1008);
  assert.ok(reason.length <= 123, `${reason.length} bytes`);
  assert.equal(Buffer.from(reason.toString('utf8'), 'utf8').equals(reason), true, 'the reason is valid UTF-8');
  assert.match(reason.toString(), /^Unexpected response/);
  // A renewToken refusal with a long non-ASCII reason, too.
  const second = await listen(t, relay, 'echo', { onAccept() {} });
  const closedToo = onceOrError(second, 'close');
  second.send(JSON.stringify({ renewToken: { token: `SharedAccessSignature sr=${'é'.repeat(200)}` } }));
  const [code2, reason2] = await closedToo;
  assert.equal(code2, 1008);
  assert.ok(reason2.length <= 123);
  await stillServing(t, relay);
  await until(() => relay.alive(), 100);
});

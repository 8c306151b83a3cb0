'use strict';
// The inspector: every relayed HTTP request recorded (credentials redacted
// everywhere), bodies kept only when asked and within their bounds, replay
// through the relay to the current listener, HAR 1.2, relayed connections
// and listener history, memory bounded by the ring.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const WebSocket = require('ws');
const Ajv = require('ajv');
const { createRelayHttpsUri, createRelaySendUri } = require('hyco-websocket');
const { startRelay, listen, token, onceOrError, until, RULES } = require('hyco-test-support');
const { httpListener, request, getJson, waitFor } = require('./inspector-helpers');

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzZWNyZXQtdXNlci00MiJ9.c2lnbmF0dXJlLXNlY3JldC1vZi10ZXN0';

function httpUri(relay, hc) {
  return createRelayHttpsUri(relay.endpoint, hc);
}

/** Every export the inspector serves, as text. */
async function everyExport(relay) {
  const base = `http://127.0.0.1:${relay.port}`;
  const paths = ['/$requests', '/$requests.har', '/$connections', '/$listeners', '/metrics', '/$status'];
  const list = await getJson(relay, '/$requests');
  for (const r of list) paths.push(`/$requests/${r.id}`);
  const texts = [];
  for (const p of paths) texts.push(`${p}\n${(await request(base + p)).text}`);
  return texts.join('\n');
}

test('every relayed request is recorded, newest first, with method, path, status, timing, sizes, listener and outcome; credentials are redacted in every record and export', async (t) => {
  const relay = await startRelay(t, { captureBodies: true });
  const channel = await httpListener(t, relay, 'echo', () => ({ status: 201, headers: { 'Set-Cookie': 'sid=RESPONSE-COOKIE-SECRET; HttpOnly', 'Content-Type': 'application/json' }, body: '{"ok":true}' }));
  const sas = token('echo');
  const sasSig = /sig=([^&]+)/.exec(sas)[1];
  const first = await request(`${httpUri(relay, 'echo')}/orders?keep=1&sb-hc-token=${encodeURIComponent(sas)}&sig=QUERY-SIG-SECRET&se=EXPIRY-SECRET-7&idt=${JWT}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${JWT}`, Cookie: 'session=REQUEST-COOKIE-SECRET', 'X-Custom': 'visible', 'Content-Type': 'text/plain' },
    body: 'hello',
  });
  assert.equal(first.status, 201);
  const second = await request(`${httpUri(relay, 'echo')}/second`, { headers: { ServiceBusAuthorization: token('echo') } });
  assert.equal(second.status, 201);
  assert.equal(channel.requests.length, 2, 'the listener got both requests: recording changes nothing on the way');
  await request(`${httpUri(relay, 'nowhere')}/x`);

  const list = await getJson(relay, '/$requests');
  assert.equal(list.length, 3);
  assert.deepEqual(list.map((r) => r.path), ['/nowhere/x', '/echo/second', '/echo/orders'], 'newest first');
  const [missing, , orders] = list;
  assert.equal(missing.status, 404);
  assert.equal(missing.outcome, 'refused');
  assert.match(missing.why, /EntityNotFound/);
  assert.equal(orders.method, 'POST');
  assert.equal(orders.status, 201);
  assert.equal(orders.outcome, 'complete');
  assert.equal(typeof orders.durationMs, 'number');
  assert.ok(orders.ttfbMs <= orders.durationMs);
  assert.equal(orders.requestBody.size, 5);
  assert.equal(Buffer.from(orders.requestBody.base64, 'base64').toString(), 'hello');
  assert.equal(orders.responseBody.size, 11);
  assert.match(orders.startedAt, /^\d{4}-\d\d-\d\dT/);
  assert.equal(orders.hybridConnection, 'echo');
  assert.equal(orders.listenerId, relay.stats().hybridConnections.find((h) => h.path === 'echo').listenerIds[0]);
  assert.equal(orders.path, '/echo/orders');
  assert.match(orders.query, /keep=1/);
  assert.match(orders.query, /sig=%5Bredacted%5D/);
  const header = (r, name) => r.requestHeaders.find(([n]) => n.toLowerCase() === name)?.[1];
  assert.equal(header(orders, 'authorization'), '[redacted]');
  assert.equal(header(orders, 'cookie'), '[redacted]');
  assert.equal(header(orders, 'x-custom'), 'visible');
  assert.equal(orders.responseHeaders.find(([n]) => n.toLowerCase() === 'set-cookie')[1], '[redacted]');
  assert.equal(header(list[1], 'servicebusauthorization'), '[redacted]');

  const all = await everyExport(relay);
  for (const secret of [sas, sasSig, decodeURIComponent(sasSig), 'QUERY-SIG-SECRET', 'EXPIRY-SECRET-7', JWT, JWT.split('.')[1], 'REQUEST-COOKIE-SECRET', 'RESPONSE-COOKIE-SECRET', ...RULES.map((r) => r.key)]) {
    assert.ok(!all.includes(secret), `a secret (${secret.slice(0, 12)}…) appears in an export`);
  }
});

test('bodies are kept only with captureBodies, each up to maxBodyBytes and all within maxCapturedBytes (the oldest dropped first)', async (t) => {
  const off = await startRelay(t);
  await httpListener(t, off);
  await request(`${httpUri(off, 'echo')}/a`, { method: 'POST', body: 'x'.repeat(30), headers: { ServiceBusAuthorization: token('echo') } });
  const [plain] = await getJson(off, '/$requests');
  assert.equal(plain.requestBody.size, 30);
  assert.equal(plain.requestBody.base64, undefined, 'no body kept without captureBodies');
  assert.equal(plain.responseBody.base64, undefined);

  const relay = await startRelay(t, { inspector: { captureBodies: true, maxBodyBytes: 10, maxCapturedBytes: 45 } });
  await httpListener(t, relay);
  for (const c of ['a', 'b', 'c']) {
    const res = await request(`${httpUri(relay, 'echo')}/${c}`, { method: 'POST', body: c.repeat(30), headers: { ServiceBusAuthorization: token('echo') } });
    assert.equal(res.text, c.repeat(30), 'the whole body is relayed whatever is kept');
  }
  const list = await getJson(relay, '/$requests');
  const kept = (b) => Buffer.from(b.base64 ?? '', 'base64').toString();
  assert.equal(list[0].requestBody.size, 30);
  assert.equal(kept(list[0].requestBody), 'c'.repeat(10));
  assert.equal(list[0].requestBody.truncated, true);
  assert.equal(kept(list[0].responseBody), 'c'.repeat(10));
  const total = list.reduce((n, r) => n + kept(r.requestBody).length + kept(r.responseBody).length, 0);
  assert.ok(total <= 45, `at most maxCapturedBytes kept in all (${total})`);
  assert.equal(kept(list[2].requestBody), '', 'the oldest body was dropped to make room');
  assert.equal(list[2].requestBody.truncated, true);
});

test('a replay re-sends the recorded request with its body to the current listener, and is recorded as a replay', async (t) => {
  const relay = await startRelay(t, { captureBodies: true });
  const first = await httpListener(t, relay);
  const res = await request(`${httpUri(relay, 'echo')}/hook?n=1`, { method: 'PUT', body: '{"event":"paid"}', headers: { ServiceBusAuthorization: token('echo'), 'Content-Type': 'application/json', 'X-Event': 'e1' } });
  assert.equal(res.status, 200);
  const [original] = await getJson(relay, '/$requests');
  // The listener that served it goes; a new one comes: the replay goes to the current one.
  first.close(1000);
  await until(() => relay.stats().hybridConnections[0].listeners === 0);
  const second = await httpListener(t, relay, 'echo', () => ({ status: 202, body: 'again' }));
  const base = `http://127.0.0.1:${relay.port}`;
  const replayed = await request(`${base}/$requests/${original.id}/replay`, { method: 'POST' });
  assert.equal(replayed.status, 200, replayed.text);
  const record = JSON.parse(replayed.text);
  assert.equal(record.replayOf, original.id);
  assert.notEqual(record.id, original.id);
  assert.equal(record.status, 202);
  assert.equal(record.outcome, 'complete');
  assert.equal(record.method, 'PUT');
  assert.equal(record.path, '/echo/hook');
  assert.equal(record.query, 'n=1');
  assert.equal(record.listenerId, relay.stats().hybridConnections[0].listenerIds[0]);
  assert.equal(second.requests.length, 1, 'the replay reached the current listener');
  const got = second.requests[0];
  assert.equal(got.body.toString(), '{"event":"paid"}');
  assert.equal(got.request.method, 'PUT');
  assert.equal(got.request.requestHeaders['X-Event'] ?? got.request.requestHeaders['x-event'], 'e1');
  const list = await getJson(relay, '/$requests');
  assert.equal(list[0].id, record.id, 'the replay is in the log, newest');
  assert.equal(list[0].replayOf, original.id);

  assert.equal((await request(`${base}/$requests/zzzz/replay`, { method: 'POST' })).status, 404);
  assert.equal((await request(`${base}/$requests/${original.id}/replay`, { method: 'POST', headers: { Origin: 'http://evil.example' } })).status, 403, 'no replay from another origin');
  assert.equal((await request(`${base}/$requests`, { headers: { Host: 'evil.example' } })).status, 403, 'the dashboard\'s Host rule');
});

test('a request whose body was not captured is not replayed (409)', async (t) => {
  const relay = await startRelay(t);
  await httpListener(t, relay);
  await request(`${httpUri(relay, 'echo')}/x`, { method: 'POST', body: 'data', headers: { ServiceBusAuthorization: token('echo') } });
  const [r] = await getJson(relay, '/$requests');
  const res = await request(`http://127.0.0.1:${relay.port}/$requests/${r.id}/replay`, { method: 'POST' });
  assert.equal(res.status, 409);
  assert.equal(JSON.parse(res.text).error.code, 'ERR_HYCO_REPLAY_NO_BODY');
});

/** HAR 1.2's required fields (http://www.softwareishard.com/blog/har-12-spec/). */
const nameValue = { type: 'array', items: { type: 'object', required: ['name', 'value'], properties: { name: { type: 'string' }, value: { type: 'string' }, comment: { type: 'string' } } } };
const HAR_SCHEMA = {
  type: 'object',
  required: ['log'],
  properties: {
    log: {
      type: 'object',
      required: ['version', 'creator', 'entries'],
      properties: {
        version: { type: 'string', const: '1.2' },
        creator: { type: 'object', required: ['name', 'version'], properties: { name: { type: 'string' }, version: { type: 'string' } } },
        entries: {
          type: 'array',
          items: {
            type: 'object',
            required: ['startedDateTime', 'time', 'request', 'response', 'cache', 'timings'],
            properties: {
              startedDateTime: { type: 'string', pattern: '^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(\\.\\d+)?(Z|[+-]\\d\\d:\\d\\d)$' },
              time: { type: 'number', minimum: 0 },
              request: {
                type: 'object',
                required: ['method', 'url', 'httpVersion', 'cookies', 'headers', 'queryString', 'headersSize', 'bodySize'],
                properties: {
                  method: { type: 'string' },
                  url: { type: 'string', pattern: '^https?://' },
                  httpVersion: { type: 'string' },
                  cookies: { type: 'array' },
                  headers: nameValue,
                  queryString: nameValue,
                  postData: { type: 'object', required: ['mimeType'], properties: { mimeType: { type: 'string' }, text: { type: 'string' }, params: { type: 'array' } } },
                  headersSize: { type: 'integer' },
                  bodySize: { type: 'integer' },
                },
              },
              response: {
                type: 'object',
                required: ['status', 'statusText', 'httpVersion', 'cookies', 'headers', 'content', 'redirectURL', 'headersSize', 'bodySize'],
                properties: {
                  status: { type: 'integer' },
                  statusText: { type: 'string' },
                  httpVersion: { type: 'string' },
                  cookies: { type: 'array' },
                  headers: nameValue,
                  content: { type: 'object', required: ['size', 'mimeType'], properties: { size: { type: 'integer' }, compression: { type: 'integer' }, mimeType: { type: 'string' }, text: { type: 'string' }, encoding: { type: 'string' } } },
                  redirectURL: { type: 'string' },
                  headersSize: { type: 'integer' },
                  bodySize: { type: 'integer' },
                },
              },
              cache: { type: 'object' },
              timings: {
                type: 'object',
                required: ['send', 'wait', 'receive'],
                properties: { send: { type: 'number', minimum: 0 }, wait: { type: 'number', minimum: 0 }, receive: { type: 'number', minimum: 0 }, blocked: { type: 'number', minimum: -1 }, dns: { type: 'number', minimum: -1 }, connect: { type: 'number', minimum: -1 }, ssl: { type: 'number', minimum: -1 } },
              },
            },
          },
        },
      },
    },
  },
};

test('GET /$requests.har is HAR 1.2 (valid against its required fields), oldest first, bodies as text or base64', async (t) => {
  const relay = await startRelay(t, { captureBodies: true });
  await httpListener(t, relay, 'echo', (request, body) => ({ status: 200, headers: { 'Content-Type': 'application/octet-stream' }, body: request.method === 'POST' ? Buffer.from([0xff, 0x00, 0xfe]) : body }));
  await request(`${httpUri(relay, 'echo')}/a?q=1`, { method: 'PUT', body: 'text body', headers: { ServiceBusAuthorization: token('echo'), 'Content-Type': 'text/plain' } });
  await request(`${httpUri(relay, 'echo')}/b`, { method: 'POST', body: 'x', headers: { ServiceBusAuthorization: token('echo') } });
  await request(`${httpUri(relay, 'nobody')}/c`);
  const res = await request(`http://127.0.0.1:${relay.port}/$requests.har`);
  assert.match(res.headers['content-disposition'], /attachment; filename=".+\.har"/);
  const har = JSON.parse(res.text);
  const validate = new Ajv({ allErrors: true, strict: true }).compile(HAR_SCHEMA);
  assert.ok(validate(har), JSON.stringify(validate.errors));
  assert.equal(har.log.entries.length, 3);
  const [a, b, c] = har.log.entries;
  assert.equal(a.request.method, 'PUT');
  assert.deepEqual(a.request.queryString, [{ name: 'q', value: '1' }]);
  assert.equal(a.request.postData.text, 'text body');
  assert.equal(a.response.content.text, 'text body');
  assert.equal(b.response.content.encoding, 'base64');
  assert.equal(Buffer.from(b.response.content.text, 'base64').toString('hex'), 'ff00fe');
  assert.equal(c.response.status, 404);
});

test('relayed WebSocket connections are recorded with both ids, subprotocol, close codes and reasons from each side, messages and bytes each way, and the first messages with capture on', async (t) => {
  const relay = await startRelay(t, { captureBodies: true, inspector: { capturedMessages: 2 } });
  const channel = await listen(t, relay, 'echo', {
    onAccept(accept, ch) {
      const rendezvous = new WebSocket(accept.address, 'chat', { perMessageDeflate: false });
      ch.rendezvous.push(rendezvous);
      rendezvous.on('message', (data, isBinary) => rendezvous.send(data, { binary: isBinary }));
      rendezvous.on('close', () => {});
      rendezvous.on('error', () => {});
    },
  });
  const ws = new WebSocket(createRelaySendUri(relay.endpoint, 'echo'), 'chat', { headers: { ServiceBusAuthorization: token('echo') }, perMessageDeflate: false });
  t.after(() => ws.terminate());
  await onceOrError(ws, 'open');
  const echoes = [];
  ws.on('message', (d) => echoes.push(d.toString()));
  for (const m of ['one', 'two', 'three']) ws.send(m);
  await until(() => echoes.length === 3);
  const open = await getJson(relay, '/$connections');
  assert.equal(open.length, 1);
  assert.equal(open[0].open, true);
  ws.close(4001, 'sender done');
  await waitFor(async () => (await getJson(relay, '/$connections'))[0]?.open === false);
  const [c] = await getJson(relay, '/$connections');
  assert.equal(c.hybridConnection, 'echo');
  assert.equal(c.subprotocol, 'chat');
  assert.equal(c.listenerId, relay.stats().hybridConnections[0].listenerIds[0]);
  assert.ok(c.senderId);
  assert.match(c.openedAt, /^\d{4}-/);
  assert.match(c.closedAt, /^\d{4}-/);
  assert.equal(c.fromSender.messages, 3);
  assert.equal(c.fromListener.messages, 3);
  assert.equal(c.fromSender.close.code, 4001);
  assert.equal(c.fromSender.close.reason, 'sender done');
  assert.equal(c.fromListener.close.code, 4001, 'ws echoes the close code back');
  assert.ok(c.fromSender.bytes >= 11);
  assert.deepEqual(c.fromSender.captured.map((m) => m.text), ['one', 'two'], 'the first N messages, no more');
  assert.deepEqual(c.fromListener.captured.map((m) => m.text), ['one', 'two']);
  assert.equal(channel.accepts.length, 1);
  const dl = await request(`http://127.0.0.1:${relay.port}/$connections?download`);
  assert.match(dl.headers['content-disposition'], /attachment/);
});

test('listener history keeps each listener\'s online and offline transitions with the reason', async (t) => {
  const relay = await startRelay(t);
  const channel = await listen(t, relay);
  channel.close(4000, 'maintenance');
  await waitFor(async () => (await getJson(relay, '/$listeners')).length === 2);
  await listen(t, relay);
  relay.dropControlChannels('echo', 'close', 1011);
  await waitFor(async () => (await getJson(relay, '/$listeners')).length === 4);
  const history = await getJson(relay, '/$listeners?hc=echo');
  assert.deepEqual(history.map((e) => e.event), ['offline', 'online', 'offline', 'online']);
  assert.equal(history[2].code, 4000);
  assert.match(history[2].detail, /closed by the listener: maintenance/);
  assert.equal(history[0].code, 1011);
  assert.match(history[0].detail, /closed by the relay/);
  assert.equal(history[3].hybridConnection, 'echo');
  assert.equal(history[3].listenerId, history[2].listenerId);
});

test('memory stays bounded: after 10,000 requests the ring holds the last ringSize, newest first', async (t) => {
  const relay = await startRelay(t, { captureBodies: true, inspector: { ringSize: 50, maxCapturedBytes: 4096 } });
  await httpListener(t, relay, 'echo', (request, body) => ({ status: 200, body }));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  t.after(() => agent.destroy());
  const url = `${httpUri(relay, 'echo')}/n`;
  const auth = { ServiceBusAuthorization: token('echo') };
  const TOTAL = 10_000;
  let next = 0;
  async function worker() {
    while (next < TOTAL) {
      const n = next++;
      const res = await request(`${url}?i=${n}`, { method: 'POST', body: String(n), headers: auth, agent });
      assert.equal(res.status, 200);
    }
  }
  await Promise.all(Array.from({ length: 32 }, worker));
  const list = await getJson(relay, '/$requests');
  assert.equal(list.length, 50);
  assert.equal(new Set(list.map((r) => r.id)).size, 50);
  const indices = list.map((r) => Number(/i=(\d+)/.exec(r.query)[1]));
  assert.ok(Math.min(...indices) >= TOTAL - 50 - 32, 'only the latest requests are kept');
  const kept = list.reduce((n, r) => n + Buffer.from(r.requestBody.base64 ?? '', 'base64').length + Buffer.from(r.responseBody.base64 ?? '', 'base64').length, 0);
  assert.ok(kept <= 4096);
  const metrics = (await request(`http://127.0.0.1:${relay.port}/metrics`)).text;
  assert.match(metrics, /hyco_emulator_http_requests_total\{status="200"\} 10000/);
});

test('--capture-bodies and --inspector-ring-size reach the options; bad inspector options are refused at start', async (t) => {
  const { optionsFromFlags } = require('../dist/cli/start');
  const flags = { hybridConnection: [], anonymousHybridConnection: [], roleAssignment: [], printEntraToken: [], captureBodies: true, inspectorRingSize: 7 };
  const options = optionsFromFlags(flags);
  assert.equal(options.captureBodies, true);
  assert.equal(options.inspector.ringSize, 7);
  const { RelayEmulator } = require('..');
  await assert.rejects(RelayEmulator.start({ inspector: { ringSize: 0 } }), /inspector\.ringSize must be a whole number/);
  await assert.rejects(RelayEmulator.start({ captureBodies: 'yes' }), /captureBodies must be true or false/);
  // The ring keeps the last ringSize requests.
  const relay = await startRelay(t, { inspector: { ringSize: 2 } });
  await httpListener(t, relay);
  for (let i = 0; i < 5; i++) await request(`${httpUri(relay, 'echo')}/r${i}`, { headers: { ServiceBusAuthorization: token('echo') } });
  assert.deepEqual((await getJson(relay, '/$requests')).map((r) => r.path), ['/echo/r4', '/echo/r3']);
});

test('hostile requests to the inspector get 404 or 400-class answers, never a crash', async (t) => {
  const relay = await startRelay(t);
  const base = `http://127.0.0.1:${relay.port}`;
  assert.equal((await request(`${base}/$requests/..%2f..%2fetc/replay`, { method: 'POST' })).status, 404);
  assert.equal((await request(`${base}/$requests/${'a'.repeat(40)}`)).status, 404);
  assert.equal((await request(`${base}/$requests/abc`)).status, 404);
  assert.equal((await request(`${base}/$requests?status=%ZZ&limit=-1&hc=%00`)).status, 200);
  assert.equal((await request(`${base}/$requests`, { method: 'DELETE' })).status !== 500, true);
  assert.equal((await request(`${base}/health`)).status, 200, 'still serving');
});

test('with TLS, a replay goes through the relay\'s https:// front door and reaches the listener', async (t) => {
  const https = require('node:https');
  const { createRelayListenUri } = require('hyco-websocket');
  const relay = await startRelay(t, { tls: 'self-signed', captureBodies: true });
  const ca = relay.certificate;
  const channel = new WebSocket(createRelayListenUri(relay.endpoint, 'echo'), { headers: { ServiceBusAuthorization: token('echo') }, perMessageDeflate: false, ca });
  t.after(() => channel.terminate());
  const bodies = [];
  let pending;
  channel.on('message', (data, isBinary) => {
    if (isBinary) {
      bodies.push(data.toString());
      channel.send(JSON.stringify({ response: { requestId: pending.id, statusCode: 200, responseHeaders: {} } }));
      return;
    }
    const m = JSON.parse(data);
    if (m.request) pending = m.request;
  });
  await onceOrError(channel, 'open');
  const call = (url, method, body) =>
    new Promise((resolve, reject) => {
      const req = https.request(url, { method, ca, headers: { ServiceBusAuthorization: token('echo') } }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }));
      });
      req.on('error', reject);
      req.end(body);
    });
  const origin = relay.endpoint.replace(/^wss:/, 'https:');
  assert.equal((await call(`${origin}/echo/tls`, 'POST', 'secure body')).status, 200);
  const list = JSON.parse((await call(`${origin}/$requests`, 'GET')).text);
  assert.match(list[0].url, /^https:\/\//);
  const replay = await call(`${origin}/$requests/${list[0].id}/replay`, 'POST');
  assert.equal(replay.status, 200, replay.text);
  assert.equal(JSON.parse(replay.text).replayOf, list[0].id);
  assert.deepEqual(bodies, ['secure body', 'secure body']);
});

test('how each request ended is recorded: 504 when the listener does not answer in time, aborted when its response is cut, 502 with no listener', async (t) => {
  const relay = await startRelay(t, { httpResponseTimeoutMs: 300 });
  const auth = { ServiceBusAuthorization: token('echo') };
  assert.equal((await request(`${httpUri(relay, 'echo')}/nobody`, { headers: auth })).status, 502);
  const channel = await listen(t, relay, 'echo', { onAccept() {} });
  channel.on('message', (data, isBinary) => {
    if (isBinary) return;
    const m = JSON.parse(data);
    if (!m.request) return;
    // /slow: no answer; /cut: a head promising 100 bytes, then the channel goes.
    if (m.request.requestTarget.startsWith('/echo/cut')) {
      channel.send(JSON.stringify({ response: { requestId: m.request.id, statusCode: 200, responseHeaders: { 'Content-Length': '100' }, body: true } }));
      setTimeout(() => channel.terminate(), 50);
    }
  });
  assert.equal((await request(`${httpUri(relay, 'echo')}/slow`, { headers: auth })).status, 504);
  await assert.rejects(request(`${httpUri(relay, 'echo')}/cut`, { headers: auth }));
  await waitFor(async () => (await getJson(relay, '/$requests'))[0].outcome !== 'in-progress');
  const [cut, slow, nobody] = await getJson(relay, '/$requests');
  assert.equal(cut.outcome, 'aborted');
  assert.equal(cut.status, 200);
  assert.match(cut.why, /control channel closed/);
  assert.equal(slow.outcome, 'failed');
  assert.equal(slow.status, 504);
  assert.match(slow.why, /GatewayTimeout/);
  assert.equal(nobody.outcome, 'refused');
  assert.equal(nobody.status, 502);
  assert.match(nobody.why, /no listener online/);
});

test('large bodies streamed over a rendezvous (hyco-https listener) are counted whole and captured up to maxBodyBytes; a replay of a body kept whole streams too', async (t) => {
  const hycoHttps = require('hyco-https');
  const { createRelayListenUri } = require('hyco-websocket');
  const relay = await startRelay(t, { hybridConnections: ['web'], inspector: { captureBodies: true, maxBodyBytes: 1000 } });
  const got = [];
  const server = hycoHttps.createRelayedServer({ server: createRelayListenUri(relay.endpoint, 'web'), token: () => token('web') }, (req, res) => {
    let n = 0;
    req.on('data', (c) => (n += c.length));
    req.on('end', () => {
      got.push(n);
      res.setHeader('Content-Type', 'application/octet-stream');
      res.end(Buffer.alloc(80 * 1024, 0x61));
    });
  });
  server.on('error', () => {});
  server.listen();
  t.after(() => server.close());
  await waitFor(() => relay.stats().hybridConnections[0].listeners === 1, 5000, 'hyco-https online');
  const big = Buffer.alloc(100 * 1024, 0x62);
  const res = await request(`${httpUri(relay, 'web')}/upload`, { method: 'POST', body: big, headers: { ServiceBusAuthorization: token('web') } });
  assert.equal(res.status, 200);
  assert.equal(res.text.length, 80 * 1024);
  assert.deepEqual(got, [100 * 1024]);
  await waitFor(async () => (await getJson(relay, '/$requests'))[0].outcome === 'complete');
  const [r] = await getJson(relay, '/$requests');
  assert.equal(r.requestBody.size, 100 * 1024);
  assert.equal(Buffer.from(r.requestBody.base64, 'base64').length, 1000);
  assert.equal(r.requestBody.truncated, true);
  assert.equal(r.responseBody.size, 80 * 1024);
  assert.equal(Buffer.from(r.responseBody.base64, 'base64').length, 1000);
  // Not kept whole: no replay.
  assert.equal((await request(`http://127.0.0.1:${relay.port}/$requests/${r.id}/replay`, { method: 'POST' })).status, 409);
});

test('redaction, as a property: a credential-named parameter or a credential-looking value never survives, whatever surrounds it; nothing throws', async () => {
  const fc = require('fast-check');
  const { checkProperty } = require('hyco-test-support');
  const { redactTarget, redactRawHeaders } = require('../dist/inspector/redaction');
  const names = fc.constantFrom('sig', 'se', 'skn', 'sr', 'SIG', 'sb-hc-token', 'token', 'access_token', 'code', 'key', 'password', 'secret');
  const safeText = fc.stringMatching(/^[A-Za-z0-9_.~-]{0,12}$/);
  const secretValue = fc.stringMatching(/^[A-Za-z0-9]{12,30}$/).map((s) => `S3CR3T${s}`);
  const jwt = fc.tuple(fc.stringMatching(/^[A-Za-z0-9_-]{6,20}$/), fc.stringMatching(/^[A-Za-z0-9_-]{6,20}$/)).map(([a, b]) => `eyJ${a}.${b}.sig`);
  await checkProperty(
    fc.property(fc.array(fc.tuple(safeText.filter((n) => !/^(sig|se|skn|sr|token|code|key|password|secret|signature|apikey|passwd)$/i.test(n)), safeText), { maxLength: 4 }), names, secretValue, jwt, fc.string(), (others, name, secret, token, junk) => {
      const pairs = [...others.map(([n, v]) => `${n}=${v}`), `${name}=${encodeURIComponent(secret)}`, `x${others.length}=${token}`];
      const target = `/hc/p?${pairs.join('&')}`;
      const out = redactTarget(target);
      if (out.includes(secret) || out.includes(token)) throw new Error(`survived: ${out}`);
      for (const [n, v] of others) if (!out.includes(`${n}=${v}`)) throw new Error(`lost a plain parameter ${n}=${v}: ${out}`);
      // Anything at all: never throws.
      redactTarget(`/x?${junk}`);
      const headers = redactRawHeaders(['Authorization', `Bearer ${secret}`, 'X-Any', token, 'Cookie', secret, 'X-Plain', 'plain', 'X-Junk', junk]);
      if (headers.join('\n').includes(secret) || headers.includes(token)) throw new Error(`a header survived: ${headers}`);
      if (headers[7] !== 'plain') throw new Error('a plain header was redacted');
    }),
    { defaultSeed: 26, numRuns: 300 },
  );
});

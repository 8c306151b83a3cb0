'use strict';
// The HTTP gateway with a plain `ws` listener speaking the protocol by hand.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const WebSocket = require('ws');
const { createRelayHttpsUri } = require('hyco-websocket');
const { startRelay, httpListener, token, onceOrError } = require('hyco-test-support');

test('a small request travels inline with its body; the inline response comes back with status, text, headers and Via', async (t) => {
  const relay = await startRelay(t);
  let seen;
  await httpListener(t, relay, (request, channel, body) => {
    seen = { request, body: body?.toString() };
    channel.send(JSON.stringify({ response: { requestId: request.id, statusCode: 202, statusDescription: 'Taken', responseHeaders: { 'X-Out': '1', Connection: 'close' }, body: true } }));
    channel.send(Buffer.from('done'), { binary: true });
  });
  const res = await fetch(`${createRelayHttpsUri(relay.endpoint, 'echo')}/a/b?c=d&sb-hc-token=${encodeURIComponent(token('echo'))}`, {
    method: 'POST',
    body: 'payload',
    headers: { 'X-In': 'x', Via: '1.1 proxy' },
  });
  assert.equal(res.status, 202);
  assert.equal(res.statusText, 'Taken');
  assert.equal(res.headers.get('x-out'), '1');
  assert.match(res.headers.get('via'), /^1\.1 127\.0\.0\.1$/, 'the relay names itself by the host the sender addressed');
  assert.equal(await res.text(), 'done');
  assert.equal(seen.request.method, 'POST');
  assert.equal(seen.request.requestTarget, '/echo/a/b?c=d');
  assert.equal(seen.body, 'payload');
  const headers = Object.fromEntries(Object.entries(seen.request.requestHeaders).map(([k, v]) => [k.toLowerCase(), v]));
  assert.equal(headers['x-in'], 'x');
  assert.match(headers.via, /^1\.1 proxy, 1\.1 127\.0\.0\.1$/);
  for (const hop of ['content-length', 'host', 'connection', 'transfer-encoding']) assert.equal(headers[hop], undefined, hop);
  assert.match(seen.request.address, /sb-hc-action=request/);
});

test('a large request is address-only; request and body stream over the rendezvous, and the response returns there', async (t) => {
  const relay = await startRelay(t);
  const body = crypto.randomBytes(300 * 1024);
  await httpListener(t, relay, (request) => {
    assert.equal(request.method, undefined, 'address only');
    const rendezvous = new WebSocket(request.address, { perMessageDeflate: false });
    let req;
    rendezvous.on('message', (data, isBinary) => {
      if (!isBinary) return (req = JSON.parse(data).request);
      const digest = crypto.createHash('sha256').update(data).digest('hex');
      rendezvous.send(JSON.stringify({ response: { requestId: req.id, statusCode: 200, body: true } }));
      rendezvous.send(Buffer.from(`${req.method} ${data.length} ${digest}`), { binary: true });
    });
  });
  const res = await fetch(`${createRelayHttpsUri(relay.endpoint, 'echo')}/big`, { method: 'PUT', body, headers: { ServiceBusAuthorization: token('echo') } });
  assert.equal(await res.text(), `PUT ${body.length} ${crypto.createHash('sha256').update(body).digest('hex')}`);
});

test('a response too large for the control channel may come over a rendezvous even for an inline request', async (t) => {
  const relay = await startRelay(t);
  await httpListener(t, relay, (request) => {
    const rendezvous = new WebSocket(request.address, { perMessageDeflate: false });
    rendezvous.on('open', () => {
      rendezvous.send(JSON.stringify({ response: { requestId: request.id, statusCode: 200, body: true } }));
      rendezvous.send(Buffer.alloc(100 * 1024, 1), { binary: true, fin: false });
      rendezvous.send(Buffer.alloc(100 * 1024, 2), { binary: true, fin: true });
    });
  });
  const res = await fetch(`${createRelayHttpsUri(relay.endpoint, 'echo')}/r`, { headers: { ServiceBusAuthorization: token('echo') } });
  const bytes = Buffer.from(await res.arrayBuffer());
  assert.equal(bytes.length, 200 * 1024);
  assert.equal(bytes[0], 1);
  assert.equal(bytes.at(-1), 2);
});

test('a late answer after 504 is dropped without closing the control channel; an unknown one closes it with 1008', async (t) => {
  const relay = await startRelay(t, { httpResponseTimeoutMs: 200 });
  let late;
  const channel = await httpListener(t, relay, (request) => (late = request));
  const res = await fetch(`${createRelayHttpsUri(relay.endpoint, 'echo')}/slow`, { headers: { ServiceBusAuthorization: token('echo') } });
  assert.equal(res.status, 504);
  channel.send(JSON.stringify({ response: { requestId: late.id, statusCode: 200, body: true } }));
  channel.send(Buffer.from('too late'), { binary: true });
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(channel.readyState, WebSocket.OPEN);
  const closed = onceOrError(channel, 'close');
  channel.send(JSON.stringify({ response: { requestId: 'never-asked', statusCode: 200 } }));
  assert.equal((await closed)[0], 1008);
});

test('auth, entity and listener failures: 401, 403, 404, 502; anonymous hybrid connections need no token', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['echo', { path: 'open', requiresClientAuthorization: false }] });
  const base = createRelayHttpsUri(relay.endpoint, 'echo');
  assert.equal((await fetch(base)).status, 401);
  assert.equal((await fetch(base, { headers: { ServiceBusAuthorization: token('echo', 'ListenOnly') } })).status, 403);
  assert.equal((await fetch(createRelayHttpsUri(relay.endpoint, 'nope'), { headers: { ServiceBusAuthorization: token('nope') } })).status, 404);
  const noListener = await fetch(base, { headers: { ServiceBusAuthorization: token('echo') } });
  assert.equal(noListener.status, 502);
  assert.match(noListener.statusText, /no listener online/);
  const open = await fetch(createRelayHttpsUri(relay.endpoint, 'open'));
  assert.equal(open.status, 502, 'past auth without a token');
});

'use strict';
// A sender's choice of listener (Microsoft-Relay-AllowedListeners /
// -DisallowedListeners) and runtime information (the .NET client's GET with
// X-PROCESS-AT: ServiceBus), as the service has them, with raw clients.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { RelayEmulator } = require('hyco-relay-emulator');
const { startRelay, listen, sendWs, nextMessage, handshakeStatus, token, until, createRelaySendUri } = require('hyco-test-support');

/** A raw listener that answers every sender with its own id. */
async function namedListener(t, relay, id) {
  const ws = await listen(t, relay, 'echo', {
    id,
    onAccept: (accept, channel) => {
      const WebSocket = require('ws');
      const rendezvous = new WebSocket(accept.address, { perMessageDeflate: false });
      channel.rendezvous.push(rendezvous);
      rendezvous.on('open', () => rendezvous.send(id));
      rendezvous.on('error', () => {});
    },
  });
  return ws;
}

test('WebSocket senders: Allowed- and DisallowedListeners route among listeners (ids any case); none allowed online is 404; the headers never reach the listener', async (t) => {
  const relay = await startRelay(t);
  const [a] = await Promise.all(['a', 'b', 'c'].map((id) => namedListener(t, relay, id)));
  const landsOn = async (headers) => {
    const sender = await sendWs(relay, 'echo', { ws: { headers: { ServiceBusAuthorization: token('echo'), ...headers } } });
    const id = String(await nextMessage(sender));
    sender.terminate();
    return id;
  };
  for (let i = 0; i < 12; i++) assert.equal(await landsOn({ 'Microsoft-Relay-AllowedListeners': 'b' }), 'b');
  for (let i = 0; i < 12; i++) assert.equal(await landsOn({ 'Microsoft-Relay-DisallowedListeners': 'A, B' }), 'c');
  for (let i = 0; i < 6; i++) assert.equal(await landsOn({ 'Microsoft-Relay-AllowedListeners': 'a,b', 'Microsoft-Relay-DisallowedListeners': 'b' }), 'a');
  const refused = await handshakeStatus(createRelaySendUri(relay.endpoint, 'echo'), { ServiceBusAuthorization: token('echo'), 'Microsoft-Relay-AllowedListeners': 'gone' });
  assert.equal(refused.status, 404);
  assert.match(refused.text, /^None of the connected listeners meet the AllowedListeners\/DisallowedListeners criteria \(EndpointNotFound\): no listener the sender allowed is online/);
  assert.equal((await handshakeStatus(createRelaySendUri(relay.endpoint, 'echo'), { ServiceBusAuthorization: token('echo'), 'Microsoft-Relay-DisallowedListeners': 'a,b,c' })).status, 404);
  for (const accept of a.accepts) {
    const names = Object.keys(accept.connectHeaders).map((h) => h.toLowerCase());
    assert.ok(!names.includes('microsoft-relay-allowedlisteners') && !names.includes('microsoft-relay-disallowedlisteners'), names.join());
  }
});

test('HTTP senders are routed the same way: only allowed listeners, 404 when none is online, 502 when there is no listener at all', async (t) => {
  const relay = await startRelay(t);
  const seen = [];
  for (const id of ['x', 'y']) {
    const ws = await listen(t, relay, 'echo', { id });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const message = JSON.parse(String(data));
      if (!message.request) return;
      seen.push({ id, headers: message.request.requestHeaders });
      ws.send(JSON.stringify({ response: { requestId: message.request.id, statusCode: 200, responseHeaders: { 'Content-Type': 'text/plain' }, body: true } }));
      ws.send(Buffer.from(id));
    });
  }
  const get = (headers, p = 'echo') =>
    new Promise((resolve, reject) => {
      http
        .get(`http://127.0.0.1:${relay.port}/${p}/who`, { headers: { ServiceBusAuthorization: token(p), ...headers } }, (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode, body }));
        })
        .on('error', reject);
    });
  for (let i = 0; i < 8; i++) assert.deepEqual(await get({ 'Microsoft-Relay-AllowedListeners': 'y' }), { status: 200, body: 'y' });
  assert.equal((await get({ 'Microsoft-Relay-AllowedListeners': 'z' })).status, 404);
  for (const s of seen) assert.equal(Object.keys(s.headers).some((h) => /^microsoft-relay-/i.test(h)), false);
  relay.createHybridConnection('idle');
  assert.equal((await get({ 'Microsoft-Relay-AllowedListeners': 'y' }, 'idle')).status, 502);
});

test('runtime information: the .NET client\'s GET, any right or role, the live listener count, metadata escaped; 400, 401, 403, 405 as XML errors; a feed for an unknown path', async (t) => {
  const relay = await startRelay(t, {
    hybridConnections: ['echo', { path: 'meta', userMetadata: '<contacts> "ops" & friends' }],
    roleAssignments: [{ principal: 'reader', role: 'Sender', scope: 'echo' }],
  });
  const get = (p, headers = { Authorization: token(p) }, method = 'GET', query = '?api-version=2016-07') =>
    fetch(`http://127.0.0.1:${relay.port}/${p}${query}`, { method, headers: { 'X-PROCESS-AT': 'ServiceBus', ...headers } });
  const count = async (headers) => /<ListenerCount>(\d+)<\/ListenerCount>/.exec(await (await get('echo', headers)).text())?.[1];
  assert.equal(await count(), '0');
  await listen(t, relay, 'echo');
  const second = await listen(t, relay, 'echo');
  assert.equal(await count(), '2');
  second.close();
  await until(async () => (await count()) === '1', 3000, 'one listener');
  const jwt = (await relay.createTokenCredential({ principal: 'reader' }).getToken('https://relay.azure.net/.default')).token;
  assert.equal(await count({ Authorization: jwt }), '1', 'a Sender role reads it');
  const meta = await (await get('meta')).text();
  assert.match(meta, /<UserMetadata>&#60;contacts&#62; &#34;ops&#34; &#38; friends<\/UserMetadata>/);
  const bad = await get('echo', { Authorization: 'SharedAccessSignature sr=x&sig=y&se=1&skn=nobody' });
  assert.equal(bad.status, 401);
  assert.match(await bad.text(), /^<Error><Code>401<\/Code><Detail>.*TrackingId:[0-9a-f-]{36}/);
  assert.equal((await get('echo', { Authorization: token('meta') })).status, 403, 'a token for another entity');
  assert.equal((await get('echo', undefined, 'POST')).status, 405, 'PUT and DELETE are management (management.test.js)');
  assert.equal((await get('echo', undefined, 'GET', '')).status, 400, 'no api-version');
  const unknown = await get('no-such');
  assert.equal(unknown.status, 200);
  assert.match(await unknown.text(), /^<feed xmlns="http:\/\/www\.w3\.org\/2005\/Atom">/);
  await assert.rejects(RelayEmulator.start({ hybridConnections: [{ path: 'x', userMetadata: 'm'.repeat(1025) }] }), /userMetadata must be a string of at most 1024 characters/);
});

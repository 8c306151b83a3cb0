'use strict';
// The sender side: relayedClient and relayedConnect (WebSocket), relayedFetch
// (HTTP), listener choice by listener id, runtime information (is anyone
// listening?), and the CLI's send and status.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const path = require('node:path');
const { spawn } = require('node:child_process');
const express = require('express');
const hycoWs = require('hyco-ws');
const { SaxesParser } = require('saxes');
const hyco = require('hyco-websocket');
const { startRelay, RULES, once, delay, until, token } = require('hyco-test-support');

const CLI = path.join(__dirname, '..', 'bin', 'hyco-websocket.js');
const NAMESPACE_KEY = () => ({ name: RULES[0].name, key: RULES[0].key });

/** A relayed server with an id, recording the senders it sees, echoing with its id. */
function listener(t, relay, id, hcPath = 'echo', extra = {}) {
  const server = new hyco.relayedServer({
    server: hyco.createRelayListenUri(relay.endpoint, hcPath),
    credential: NAMESPACE_KEY(),
    reconnectBackoff: [100],
    ...(id ? { id } : {}),
    ...extra,
  });
  server.seen = [];
  server.on('error', () => {});
  server.on('request', (request) => {
    server.seen.push(request);
    request.accept(request.requestedProtocols[0] ?? null).then(
      (c) => c.on('message', (m) => (m.type === 'utf8' ? c.sendUTF(`${server.listenerId}:${m.utf8Data}`) : c.sendBytes(m.binaryData))),
      () => {},
    );
  });
  t.after(() => server.close());
  return server;
}

function sendUri(relay, hcPath = 'echo') {
  return hyco.createRelaySendUri(relay.endpoint, hcPath);
}

async function reply(connection, text) {
  const answer = once(connection, 'message');
  connection.sendUTF(text);
  return (await answer).utf8Data;
}

test('relayedClient is websocket\'s client, connecting through the relay with its own token source: text and binary both ways, config honoured', async (t) => {
  const relay = await startRelay(t);
  const server = listener(t, relay, 'listener-one');
  await once(server, 'online');
  const client = new hyco.relayedClient({ credential: NAMESPACE_KEY(), maxReceivedFrameSize: 1024 });
  assert.ok(client instanceof hyco.client, 'a subclass of websocket\'s client');
  assert.equal(hyco.relayedClient, hyco.HybridConnectionsWebSocketClient);
  const connected = once(client, 'connect');
  client.connect(sendUri(relay, 'echo/rooms/7?user=ann'), ['chat']);
  const connection = await connected;
  assert.equal(connection.protocol, 'chat');
  assert.equal(await reply(connection, 'hello'), 'listener-one:hello');
  const bytes = once(connection, 'message');
  connection.sendBytes(Buffer.from([0, 1, 2, 255]));
  assert.deepEqual([...(await bytes).binaryData], [0, 1, 2, 255]);
  assert.equal(server.seen[0].resource, '/rooms/7?user=ann', 'suffix and query reach the listener; the token minted for the hybrid connection covers them');
  assert.equal(server.seen[0].httpRequest.headers.servicebusauthorization, undefined, 'the token does not reach the listener');
  // The client's config is websocket's: a frame over maxReceivedFrameSize closes the connection.
  const closed = once(connection, 'close');
  connection.sendUTF('x'.repeat(2000));
  const [code] = await closed;
  assert.equal(code, 1009);
});

/** Counts the writes (system-call level: _write and _writev) a socket makes from now on. */
function countWrites(socket) {
  const counter = { writes: 0 };
  for (const method of ['_write', '_writev']) {
    const original = socket[method];
    socket[method] = function (...args) {
      counter.writes++;
      return original.apply(this, args);
    };
  }
  return counter;
}

test('the fragments of one message leave in one socket write, listener and sender alike; frames, sizes and order unchanged', async (t) => {
  const relay = await startRelay(t);
  const server = new hyco.relayedServer({ server: hyco.createRelayListenUri(relay.endpoint, 'echo'), credential: NAMESPACE_KEY(), reconnectBackoff: [100] });
  server.on('error', () => {});
  t.after(() => server.close());
  const accepted = new Promise((resolve) => server.on('request', (request) => request.accept(null).then(resolve, () => {})));
  await once(server, 'online');
  // The sender takes frames as they come, to see them one by one.
  const sender = await hyco.relayedConnect(sendUri(relay), { credential: NAMESPACE_KEY(), assembleFragments: false });
  const listenerSide = await accepted;
  const payload = crypto.randomBytes(16 * 16384 + 100);
  await delay(50);

  // Listener to sender: 5 fragments of relayedServer's default 64 KiB threshold, in one write.
  const listenerWrites = countWrites(listenerSide.socket);
  const frames = [];
  const allFrames = new Promise((resolve) => sender.on('frame', (frame) => frames.push(frame) && frame.fin && resolve()));
  listenerSide.sendBytes(payload);
  await allFrames;
  assert.equal(listenerWrites.writes, 1, 'one write for the whole fragmented message');
  assert.deepEqual(frames.map((f) => f.binaryPayload.length), [...Array(4).fill(65536), 100]);
  assert.deepEqual(frames.map((f) => f.opcode), [0x2, ...Array(4).fill(0)]);
  assert.deepEqual(frames.map((f) => f.fin), [false, false, false, false, true]);
  assert.ok(Buffer.concat(frames.map((f) => f.binaryPayload)).equals(payload), 'the bytes, in order');

  // Sender to listener (websocket's client default, 16 KiB fragments): the same.
  const senderWrites = countWrites(sender.socket);
  const received = once(listenerSide, 'message');
  sender.sendBytes(payload);
  const message = await received;
  assert.equal(senderWrites.writes, 1, 'one write for the whole fragmented message');
  assert.ok(message.binaryData.equals(payload));
});

test('relayedConnect against Microsoft\'s hyco-ws@1.0.5 listener: a Promise of the connection; messages both ways; the address gets sb-hc-action when it lacks it', async (t) => {
  const relay = await startRelay(t);
  const server = hycoWs.createRelayedServer(
    { server: hyco.createRelayListenUri(relay.endpoint, 'echo'), token: () => token('echo') },
    (ws) => ws.on('message', (data) => ws.send(`hyco-ws: ${data}`)),
  );
  server.on('error', () => {});
  t.after(() => server.close());
  await once(server, 'listening');
  const connection = await hyco.relayedConnect(hyco.createRelayBaseUri(relay.endpoint, 'echo').replace('wss:', 'ws:'), { token: () => token('echo') });
  assert.equal(await reply(connection, 'from relayedConnect'), 'hyco-ws: from relayedConnect');
  connection.close();
  assert.throws(() => new hyco.relayedClient().connect(hyco.createRelayListenUri(relay.endpoint, 'echo')), { code: 'ERR_HYCO_INVALID_ARGUMENT', message: /send URI/ });
  await assert.rejects(hyco.relayedConnect('http://x/echo'), { code: 'ERR_HYCO_INVALID_ARGUMENT' });
});

test('every failure arrives as the right RelayError: 401, 403, 404 (no hybrid connection vs no listener), 504, the listener\'s own status and reason, the token source, the network', async (t) => {
  const relay = await startRelay(t, {
    hybridConnections: ['echo', 'silent', 'empty'],
    rendezvousTimeoutMs: 300,
  });
  const server = listener(t, relay, 'rejecter');
  server.removeAllListeners('request');
  server.on('request', (request) => request.reject(418, 'not a teapot today'));
  const silent = listener(t, relay, 'silent-one', 'silent');
  silent.removeAllListeners('request');
  silent.on('request', () => {}); // never answers
  await Promise.all([once(server, 'online'), once(silent, 'online')]);
  const failure = (hcPath, options) => hyco.relayedConnect(sendUri(relay, hcPath), { credential: NAMESPACE_KEY(), ...options }).then(() => assert.fail('connected'), (err) => err);
  const cases = [
    ['echo', { credential: { name: RULES[0].name, key: 'd3Jvbmcta2V5' } }, 'ERR_HYCO_UNAUTHORIZED', 401, /InvalidSignature/],
    ['echo', { credential: { name: RULES[1].name, key: RULES[1].key } }, 'ERR_HYCO_FORBIDDEN', 403, /Send/],
    ['nothing-here', {}, 'ERR_HYCO_NOT_FOUND', 404, /EntityNotFound/],
    ['empty', {}, 'ERR_HYCO_NO_LISTENER', 404, /no listener online/],
    ['silent', {}, 'ERR_HYCO_SERVICE', 504, /GatewayTimeout|did not/],
    ['echo', {}, 'ERR_HYCO_HANDSHAKE', 418, /not a teapot today/],
  ];
  for (const [hcPath, options, code, status, text] of cases) {
    const err = await failure(hcPath, options);
    assert.ok(err instanceof hyco.RelayError, `${hcPath}: a RelayError (${err})`);
    assert.equal(err.code, code, `${hcPath}: ${err.message}`);
    assert.equal(err.statusCode, status);
    assert.match(err.message, text);
    if (status !== 418) assert.match(err.trackingId ?? '', /^[0-9a-f-]{36}$/, `${hcPath}: the relay's tracking id`);
  }
  const badSource = await failure('echo', { credential: { getToken: () => Promise.reject(new Error('no identity here')) } });
  assert.equal(badSource.code, 'ERR_HYCO_TOKEN_PROVIDER');
  assert.match(badSource.message, /no identity here/);
  const closedPort = await hyco.relayedConnect('ws://127.0.0.1:9/$hc/echo?sb-hc-action=connect', { token: 't' }).catch((e) => e);
  assert.equal(closedPort.code, 'ERR_HYCO_CONNECTION');
  assert.equal(closedPort.cause.code, 'ECONNREFUSED');
  // The event form: connectFailed gets the same RelayError.
  const client = new hyco.relayedClient({ credential: NAMESPACE_KEY() });
  const failed = once(client, 'connectFailed');
  client.connect(sendUri(relay, 'empty'));
  assert.equal((await failed).code, 'ERR_HYCO_NO_LISTENER');
});

test('an aborted relayedConnect leaves nothing open: before the token, and while the listener is deciding', async (t) => {
  const relay = await startRelay(t);
  const server = listener(t, relay, 'slow');
  server.removeAllListeners('request');
  const pending = [];
  server.on('request', (request) => pending.push(request));
  await once(server, 'online');
  // Aborted while the token is still coming: no sender ever reaches the relay.
  const early = new AbortController();
  let release;
  const slowToken = () => new Promise((resolve) => (release = () => resolve(token('echo'))));
  const first = hyco.relayedConnect(sendUri(relay), { token: slowToken, abortSignal: early.signal });
  await until(() => release !== undefined, 2000, 'the token call');
  early.abort();
  await assert.rejects(first, { code: 'ERR_HYCO_ABORTED' });
  release();
  await delay(200);
  assert.equal(pending.length, 0, 'the aborted sender never arrived');
  // Aborted while the listener holds the sender: the listener's late accept finds nobody, nothing stays relayed.
  const late = new AbortController();
  const second = hyco.relayedConnect(sendUri(relay), { credential: NAMESPACE_KEY(), abortSignal: late.signal });
  await until(() => pending.length === 1, 2000, 'the sender at the listener');
  late.abort();
  await assert.rejects(second, { code: 'ERR_HYCO_ABORTED' });
  const accepted = await pending[0].accept(null).catch((err) => err);
  if (!(accepted instanceof Error)) await once(accepted, 'close');
  await until(() => relay.stats().relayedConnections === 0 && relay.stats().hybridConnections[0].pendingSenders === 0, 3000, 'nothing relayed or pending');
  // Already aborted: rejects at once, connects nothing.
  await assert.rejects(hyco.relayedConnect(sendUri(relay), { credential: NAMESPACE_KEY(), abortSignal: AbortSignal.abort() }), { code: 'ERR_HYCO_ABORTED' });
  await delay(100);
  assert.equal(pending.length, 1);
});

test('TLS with a certificate trusted through tlsOptions: every sender\'s rendezvous trusts it, not only the first (websocket\'s client consumes its config)', async (t) => {
  const relay = await startRelay(t, { tls: 'self-signed' });
  const server = listener(t, relay, 'tls-listener', 'echo', { tlsOptions: { ca: relay.certificate } });
  const failures = [];
  server.on('error', (err) => failures.push(err.message));
  await once(server, 'online');
  const options = { credential: NAMESPACE_KEY(), tlsOptions: { ca: relay.certificate } };
  for (let i = 0; i < 4; i++) {
    const connection = await hyco.relayedConnect(sendUri(relay), options);
    assert.equal(await reply(connection, `tls ${i}`), `tls-listener:tls ${i}`);
    connection.close();
  }
  assert.deepEqual(options.tlsOptions, { ca: relay.certificate }, 'the caller\'s options are left as they were');
  assert.deepEqual(failures, []);
  // The listener's rendezvous resume its TLS session with the relay (no full handshake each time).
  const { tlsHandshakes, tlsSessionsResumed } = relay.stats().totals;
  t.diagnostic(`${tlsHandshakes} TLS handshakes, ${tlsSessionsResumed} resumed`);
  assert.ok(tlsSessionsResumed >= 4, `the four rendezvous resumed a session (${tlsSessionsResumed} of ${tlsHandshakes})`);
});

test('a listener resolves its relay\'s host name once, not for every rendezvous', async (t) => {
  const dns = require('node:dns');
  const relay = await startRelay(t);
  const lookups = [];
  const original = dns.lookup;
  dns.lookup = function (hostname, ...rest) {
    lookups.push(hostname);
    return original.call(this, hostname, ...rest);
  };
  t.after(() => (dns.lookup = original));
  // The emulator addressed by name (as Azure is), so that connections need a lookup.
  const byName = `ws://localhost:${relay.port}`;
  const server = new hyco.relayedServer({ server: hyco.createRelayListenUri(byName, 'echo'), credential: NAMESPACE_KEY(), id: 'by-name' });
  t.after(() => server.close());
  server.on('request', (request) => request.accept(null).then((c) => c.on('message', (m) => c.sendUTF(m.utf8Data)), () => {}));
  await once(server, 'online');
  for (let i = 0; i < 5; i++) {
    const connection = await hyco.relayedConnect(sendUri(relay), { credential: NAMESPACE_KEY() });
    assert.equal(await reply(connection, `n${i}`), `n${i}`);
    connection.close();
  }
  assert.equal(lookups.filter((h) => h === 'localhost').length, 1, `lookups: ${lookups.join(', ')}`);
});

test('relayedFetch: a GET and a 5 MB POST through the relay to an Express app behind our listener', async (t) => {
  const relay = await startRelay(t);
  const server = listener(t, relay, 'web');
  const app = express();
  app.get('/api/hello', (req, res) => res.json({ hello: req.query.name, auth: req.headers.servicebusauthorization ?? null }));
  app.post('/api/upload', express.raw({ type: '*/*', limit: '10mb' }), (req, res) => {
    res.json({ length: req.body.length, sha256: crypto.createHash('sha256').update(req.body).digest('hex') });
  });
  server.on('httpRequest', app);
  await once(server, 'online');
  const base = hyco.createRelayHttpsUri(relay.endpoint, 'echo');
  const get = await hyco.relayedFetch(`${base}/api/hello?name=ann`, {}, { credential: NAMESPACE_KEY() });
  assert.equal(get.status, 200);
  assert.deepEqual(await get.json(), { hello: 'ann', auth: null });
  const body = crypto.randomBytes(5 * 1024 * 1024);
  const post = await hyco.relayedFetch(`${base}/api/upload`, { method: 'POST', body, headers: { 'Content-Type': 'application/octet-stream' } }, { token: () => token('echo') });
  assert.equal(post.status, 200);
  assert.deepEqual(await post.json(), { length: body.length, sha256: crypto.createHash('sha256').update(body).digest('hex') });
  const refused = await hyco.relayedFetch(`${base}/api/hello`, {}, { token: 'SharedAccessSignature sr=x&sig=y&se=1&skn=z' });
  assert.equal(refused.status, 401, 'a relay refusal is a response');
  await assert.rejects(hyco.relayedFetch('ftp://x/y'), { code: 'ERR_HYCO_INVALID_ARGUMENT' });
});

test('listener choice: three listeners; 50 senders allowed only B land on B; disallowing A and B sends all to C; an offline id gives 404; HTTP is routed the same way; the headers never reach a listener', async (t) => {
  const relay = await startRelay(t);
  const [a, b, c] = ['listener-a', 'listener-b', 'listener-c'].map((id) => listener(t, relay, id));
  const httpSeen = [];
  for (const s of [a, b, c]) {
    s.on('httpRequest', (req, res) => {
      httpSeen.push({ at: s.listenerId, headers: req.headers });
      res.end(s.listenerId);
    });
  }
  await Promise.all([a, b, c].map((s) => once(s, 'online')));
  const land = async (options, n) => {
    const where = [];
    await Promise.all(
      Array.from({ length: n }, async () => {
        const connection = await hyco.relayedConnect(sendUri(relay), { credential: NAMESPACE_KEY(), ...options });
        where.push((await reply(connection, 'x')).split(':')[0]);
        connection.close();
      }),
    );
    return where;
  };
  assert.deepEqual(new Set(await land({ allowedListeners: ['listener-b'] }, 50)), new Set(['listener-b']));
  assert.deepEqual(new Set(await land({ disallowedListeners: ['listener-a', 'LISTENER-B'] }, 20)), new Set(['listener-c']), 'ids compared case-insensitively');
  const spread = await land({}, 30);
  assert.ok(new Set(spread).size >= 2, 'without a choice, senders spread over the listeners');
  const offline = await hyco.relayedConnect(sendUri(relay), { credential: NAMESPACE_KEY(), allowedListeners: ['listener-gone'] }).catch((e) => e);
  assert.equal(offline.code, 'ERR_HYCO_NO_LISTENER');
  assert.equal(offline.statusCode, 404);
  for (const s of [a, b, c]) {
    for (const r of s.seen) {
      assert.equal(r.httpRequest.headers['microsoft-relay-allowedlisteners'], undefined);
      assert.equal(r.httpRequest.headers['microsoft-relay-disallowedlisteners'], undefined);
    }
  }
  const base = hyco.createRelayHttpsUri(relay.endpoint, 'echo');
  for (let i = 0; i < 10; i++) {
    const res = await hyco.relayedFetch(`${base}/who`, {}, { credential: NAMESPACE_KEY(), allowedListeners: ['listener-c'] });
    assert.equal(await res.text(), 'listener-c');
  }
  const none = await hyco.relayedFetch(`${base}/who`, {}, { credential: NAMESPACE_KEY(), allowedListeners: ['listener-gone'] });
  assert.equal(none.status, 404);
  assert.equal(httpSeen.length, 10);
  for (const seen of httpSeen) assert.equal(seen.headers['microsoft-relay-allowedlisteners'], undefined);
});

test('server.listenerId: the id option, or a generated UUID sent as sb-hc-id (the emulator knows it by it)', async (t) => {
  const relay = await startRelay(t);
  const named = listener(t, relay, 'my-listener');
  const anonymous = listener(t, relay, undefined);
  await Promise.all([once(named, 'online'), once(anonymous, 'online')]);
  assert.equal(named.listenerId, 'my-listener');
  assert.match(anonymous.listenerId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.deepEqual(new Set(relay.stats().hybridConnections[0].listenerIds), new Set(['my-listener', anonymous.listenerId]));
  const direct = await hyco.relayedConnect(sendUri(relay), { credential: NAMESPACE_KEY(), allowedListeners: [anonymous.listenerId] });
  assert.equal((await reply(direct, 'to the anonymous one')).split(':')[0], anonymous.listenerId);
  direct.close();
});

test('getRuntimeInformation: 0, then 2, then 1 listeners; dates and metadata; any right or role reads it; 401, 403 and an unknown path as the service answers', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['echo', { path: 'described', userMetadata: 'owner: team <relay> & friends', requiresClientAuthorization: false }] });
  const started = Date.now();
  const info = () => hyco.getRuntimeInformation(relay.endpoint, 'echo', { credential: NAMESPACE_KEY() });
  assert.equal((await info()).listenerCount, 0);
  const one = listener(t, relay, 'one');
  const two = listener(t, relay, 'two');
  await Promise.all([once(one, 'online'), once(two, 'online')]);
  const both = await info();
  assert.equal(both.listenerCount, 2);
  assert.ok(both.createdAt instanceof Date && both.createdAt.getTime() <= Date.now() && both.createdAt.getTime() > started - 60_000);
  assert.ok(both.updatedAt.getTime() >= both.createdAt.getTime());
  assert.equal(both.requiresClientAuthorization, true);
  await one.close();
  await until(async () => (await info()).listenerCount === 1, 3000, 'one listener left');
  const described = await hyco.getRuntimeInformation(relay.endpoint, 'described', { token: () => token('described') });
  assert.equal(described.userMetadata, 'owner: team <relay> & friends');
  assert.equal(described.requiresClientAuthorization, false);
  // Listen-only and Send-only rights, and an Entra ID role, all read it.
  const keyless = relay.createTokenCredential({ principal: 'reader', roles: [{ role: 'Azure Relay Sender', scope: 'echo' }] });
  assert.equal((await hyco.getRuntimeInformation(relay.endpoint, 'echo', { credential: keyless })).listenerCount, 1);
  const unauthorized = await hyco.getRuntimeInformation(relay.endpoint, 'echo', { token: 'SharedAccessSignature sr=x&sig=y&se=1&skn=z' }).catch((e) => e);
  assert.equal(unauthorized.code, 'ERR_HYCO_UNAUTHORIZED');
  assert.equal(unauthorized.statusCode, 401);
  assert.match(unauthorized.trackingId, /^[0-9a-f-]{36}$/);
  const forbidden = await hyco.getRuntimeInformation(relay.endpoint, 'echo', { token: () => token('described') }).catch((e) => e);
  assert.equal(forbidden.code, 'ERR_HYCO_FORBIDDEN');
  assert.equal(forbidden.statusCode, 403);
  const unknown = await hyco.getRuntimeInformation(relay.endpoint, 'no-such-thing', { credential: NAMESPACE_KEY() }).catch((e) => e);
  assert.equal(unknown.code, 'ERR_HYCO_NOT_FOUND');
  await assert.rejects(hyco.getRuntimeInformation(relay.endpoint, 'echo'), { code: 'ERR_HYCO_INVALID_ARGUMENT' });
});

test('runtime information on the wire: the .NET client\'s GET gets an Atom entry whose ListenerCount is in the service\'s XML namespace; an unknown path a feed', async (t) => {
  const relay = await startRelay(t);
  const server = listener(t, relay, 'wire');
  await once(server, 'online');
  const get = (p) => fetch(`http://127.0.0.1:${relay.port}/${p}?api-version=2016-07`, { headers: { Authorization: token(p), 'X-PROCESS-AT': 'ServiceBus' } });
  const answer = await get('echo');
  assert.equal(answer.status, 200);
  assert.match(answer.headers.get('content-type'), /application\/atom\+xml/);
  const elements = parse(await answer.text());
  assert.deepEqual(elements[0], { name: 'entry', uri: 'http://www.w3.org/2005/Atom', text: undefined });
  const count = elements.find((e) => e.name === 'ListenerCount');
  assert.equal(count.uri, 'http://schemas.microsoft.com/netservices/2010/10/servicebus/connect');
  assert.equal(count.text, '1');
  const order = elements.filter((e) => e.uri === count.uri).map((e) => e.name);
  assert.deepEqual(order, ['HybridConnectionDescription', 'CreatedAt', 'UpdatedAt', 'RequiresClientAuthorization', 'ListenerCount'], 'the .NET data contract\'s order');
  const unknown = parse(await (await get('unknown')).text());
  assert.equal(unknown[0].name, 'feed');
  // Without X-PROCESS-AT the same GET is an HTTP request for the listener (which has no handler: 501).
  const toListener = await fetch(`http://127.0.0.1:${relay.port}/echo?api-version=2016-07`, { headers: { ServiceBusAuthorization: token('echo') } });
  assert.equal(toListener.status, 501);
});

/** Every element of an XML document, in order: { name, uri, text }. */
function parse(xml) {
  const parser = new SaxesParser({ xmlns: true });
  const out = [];
  const open = [];
  parser.on('opentag', (tag) => {
    const entry = { name: tag.local, uri: tag.uri, text: undefined };
    out.push(entry);
    open.push(entry);
  });
  parser.on('text', (text) => {
    if (open.length) open.at(-1).text = (open.at(-1).text ?? '') + text;
  });
  parser.on('closetag', () => open.pop());
  parser.write(xml).close();
  return out;
}

test('relayedClient.fromConnectionString: the key mints tokens for the hybrid connection; client.address is its send URI', async (t) => {
  const relay = await startRelay(t);
  const server = listener(t, relay, 'cs');
  await once(server, 'online');
  const client = hyco.relayedClient.fromConnectionString(`${relay.connectionString()};EntityPath=echo`);
  assert.equal(client.address, sendUri(relay));
  const connected = once(client, 'connect');
  client.connect(`${client.address.replace('?', '/sub/path?')}`);
  const connection = await connected;
  assert.equal(await reply(connection, 'cs'), 'cs:cs');
  connection.close();
  assert.throws(() => hyco.relayedClient.fromConnectionString(relay.connectionString()), { message: /EntityPath/ });
});

test('CLI: status prints the listener count; a piped send waits for both replies and prints them unmarked; --allowed-listener routes; listen prints its id', async (t) => {
  const relay = await startRelay(t);
  const cs = `${relay.connectionString()};EntityPath=echo`;
  const env = { ...process.env };
  delete env.HYCO_CONNECTION_STRING;
  const run = (args, input) =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('exit', (code) => resolve({ code, stdout, stderr }));
      if (input !== undefined) child.stdin.end(input);
      else child.stdin.end();
    });
  const empty = await run(['status', '-c', cs]);
  assert.equal(empty.code, 0, empty.stderr);
  assert.match(empty.stdout, /listeners online:\s+0/);
  const cliListener = spawn(process.execPath, [CLI, 'listen', '-c', cs], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => cliListener.kill());
  let listenOut = '';
  cliListener.stdout.on('data', (d) => (listenOut += d));
  await until(() => /listener id (\S+)\)/.test(listenOut), 10000, 'the CLI listener online with its id');
  const cliId = /listener id (\S+)\)/.exec(listenOut)[1];
  const other = listener(t, relay, 'not-the-cli');
  await once(other, 'online');
  const status = await run(['status', '-c', cs]);
  assert.match(status.stdout, /listeners online:\s+2/);
  assert.match(status.stdout, /created:\s+\d{4}-\d\d-\d\dT/);
  const json = JSON.parse((await run(['status', '-c', cs, '--json'])).stdout);
  assert.equal(json.listenerCount, 2);
  // Piped input to the CLI's echo listener only: both replies come back, as they are (markers are for terminals), before it closes.
  const piped = await run(['send', '-c', cs, '--allowed-listener', cliId, '--wait', '500'], 'first line\nsecond line\n');
  assert.equal(piped.code, 0, piped.stderr);
  assert.deepEqual(piped.stdout.trim().split('\n'), ['first line', 'second line']);
  const elsewhere = await run(['send', '-c', cs, '--allowed-listener', 'not-the-cli', '--message', 'hi']);
  assert.equal(elsewhere.stdout.trim(), 'not-the-cli:hi');
  const nobody = await run(['send', '-c', cs, '--allowed-listener', 'gone', '--message', 'hi']);
  assert.equal(nobody.code, 4, 'not found');
  assert.match(nobody.stderr, /no listener is online for "[^"]+" \(404\); fix: start one/);
  const unknown = await run(['status', '-c', `${relay.connectionString()};EntityPath=missing`]);
  assert.equal(unknown.code, 4, 'not found');
  assert.match(unknown.stderr, /there is no hybrid connection "missing"/);
});

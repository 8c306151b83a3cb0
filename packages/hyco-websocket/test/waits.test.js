'use strict';
// Every wait on a peer or a credential has a bound and an abort: the abort
// signal ends it at once (the credential is told too), a timeout ends it
// otherwise, and what a peer sends cannot make the caller's own work
// unbounded (a runtime-information answer nested thousands deep).
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const hyco = require('hyco-websocket');
const { startRelay, token } = require('hyco-test-support');

/** A credential that never answers, and remembers whether it was told to stop. */
function hangingCredential() {
  const credential = {
    calls: 0,
    aborted: 0,
    getToken(_scopes, options) {
      credential.calls++;
      options?.abortSignal?.addEventListener('abort', () => credential.aborted++);
      return new Promise(() => undefined);
    },
  };
  return credential;
}

/** How long `promise` took to settle, ms, and how it did. */
async function timed(promise) {
  const start = Date.now();
  const outcome = await promise.then((value) => ({ value }), (error) => ({ error }));
  return { ...outcome, ms: Date.now() - start };
}

// Regression (issue 21, defect 10): the abort signals of getRuntimeInformation and relayedFetch were
// honoured only after the token timeout (30 s by default).
test('abort ends a wait for a token at once: getRuntimeInformation, relayedFetch, relayedConnect; the credential is told', async (t) => {
  const relay = await startRelay(t);
  const credential = hangingCredential();
  const runtime = new AbortController();
  setTimeout(() => runtime.abort(), 100);
  const info = await timed(hyco.getRuntimeInformation(relay.endpoint, 'echo', { credential, abortSignal: runtime.signal }));
  assert.equal(info.error?.code, 'ERR_HYCO_ABORTED');
  assert.ok(info.ms < 2000, `settled after ${info.ms} ms`);

  const fetchAbort = new AbortController();
  setTimeout(() => fetchAbort.abort(), 100);
  const fetched = await timed(hyco.relayedFetch(hyco.createRelayHttpsUri(relay.endpoint, 'echo'), { signal: fetchAbort.signal }, { credential }));
  assert.equal(fetched.error?.name, 'AbortError', 'as fetch rejects');
  assert.ok(fetched.ms < 2000, `settled after ${fetched.ms} ms`);
  // A function source that hangs is ended the same way.
  const fnAbort = new AbortController();
  setTimeout(() => fnAbort.abort(new Error('caller gave up')), 100);
  const viaFunction = await timed(hyco.relayedFetch(hyco.createRelayHttpsUri(relay.endpoint, 'echo'), { signal: fnAbort.signal }, { token: () => new Promise(() => undefined) }));
  assert.equal(viaFunction.error?.message, 'caller gave up');

  const connectAbort = new AbortController();
  setTimeout(() => connectAbort.abort(), 100);
  const connected = await timed(hyco.relayedConnect(hyco.createRelaySendUri(relay.endpoint, 'echo'), { credential, abortSignal: connectAbort.signal }));
  assert.equal(connected.error?.code, 'ERR_HYCO_ABORTED');
  assert.ok(connected.ms < 2000);
  assert.equal(credential.calls, 3);
  assert.equal(credential.aborted, 3, 'every getToken call was told to stop');
});

/** A plain HTTP server answering every GET with `body`. */
async function answering(t, body) {
  const server = http.createServer((req, res) => res.writeHead(200, { 'Content-Type': 'application/atom+xml;type=entry;charset=utf-8' }).end(body));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  return `ws://127.0.0.1:${server.address().port}`;
}

/** The longest the event loop was blocked while `fn` ran, ms. */
async function longestBlock(fn) {
  let last = Date.now();
  let longest = 0;
  const probe = setInterval(() => {
    const now = Date.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 5);
  try {
    return { result: await fn(), longest };
  } finally {
    clearInterval(probe);
    longest = Math.max(longest, Date.now() - last);
  }
}

// Regression (issue 21, defect 6): an answer nested 15,000 deep blocked the event loop for seconds (parsing
// is synchronous, so timeoutMs could not help), and the 1 MB cap allowed minutes.
test('a runtime-information answer nested thousands deep, or larger than an answer can be, is refused without blocking the event loop', async (t) => {
  const atom = 'xmlns="http://www.w3.org/2005/Atom"';
  const deep = await answering(t, `<entry ${atom}>${'<a>'.repeat(15000)}`);
  const nested = await longestBlock(() => hyco.getRuntimeInformation(deep, 'echo', { token: token('echo') }).catch((err) => err));
  assert.equal(nested.result.code, 'ERR_HYCO_MALFORMED_MESSAGE');
  assert.match(nested.result.message, /nest deeper/);
  assert.ok(nested.longest < 1000, `the event loop was blocked ${nested.longest} ms`);
  const large = await answering(t, `<entry ${atom}><content>${'x'.repeat(200 * 1024)}</content></entry>`);
  const big = await hyco.getRuntimeInformation(large, 'echo', { token: token('echo') }).catch((err) => err);
  assert.equal(big.code, 'ERR_HYCO_MALFORMED_MESSAGE');
  assert.match(big.message, /larger than 65536 bytes/);
  // A real answer (4 deep, with 1,024 characters of metadata) is still read.
  const relay = await startRelay(t, { hybridConnections: [{ path: 'meta', userMetadata: '<&>'.repeat(341) + 'x' }] });
  const info = await hyco.getRuntimeInformation(relay.endpoint, 'meta', { token: token('meta') });
  assert.equal(info.userMetadata, '<&>'.repeat(341) + 'x');
});

test('a relay that takes the connection and never answers: the sender gives up after connectTimeout (ERR_HYCO_CONNECTION), leaving no socket', async (t) => {
  const net = require('node:net');
  const sockets = new Set();
  const silent = net.createServer((socket) => {
    sockets.add(socket);
    socket.resume();
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => silent.close(resolve)));
  const address = hyco.createRelaySendUri(`ws://127.0.0.1:${silent.address().port}`, 'echo');
  const outcome = await timed(hyco.relayedConnect(address, { token: token('echo'), connectTimeout: 300 }));
  assert.equal(outcome.error?.code, 'ERR_HYCO_CONNECTION');
  assert.match(outcome.error.message, /did not complete within 300 ms/);
  assert.ok(outcome.ms < 3000, `${outcome.ms} ms`);
  const client = new hyco.relayedClient({ token: token('echo'), connectTimeout: 300 });
  const failed = new Promise((resolve) => client.once('connectFailed', resolve));
  client.connect(address);
  assert.equal((await failed).code, 'ERR_HYCO_CONNECTION');
  const { until } = require('hyco-test-support');
  await until(() => sockets.size === 0, 2000, 'the silent relay\'s sockets closed');
  assert.throws(() => new hyco.relayedClient({ connectTimeout: 0 }), { code: 'ERR_HYCO_INVALID_ARGUMENT', message: /"connectTimeout"/ });
});

test('close() ends the listener\'s wait for a token at once: the credential is told, close resolves, no error follows', async (t) => {
  const relay = await startRelay(t);
  const credential = hangingCredential();
  const server = new hyco.relayedServer({ server: hyco.createRelayListenUri(relay.endpoint, 'echo'), credential, connectTimeout: 60_000 });
  const errors = [];
  server.on('error', (err) => errors.push(err));
  const { until } = require('hyco-test-support');
  await until(() => credential.calls === 1, 2000, 'the token call');
  const closed = await timed(server.close());
  assert.ok(closed.ms < 1000, `close took ${closed.ms} ms`);
  assert.equal(credential.aborted, 1, 'the credential was told');
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(errors, []);
});

test('a relay that stops reading the control channel while it sends requests cannot make the answers pile up: past 4 MiB queued the channel is dropped, reported and reopened', async (t) => {
  const { FakeRelay, once, until } = require('hyco-test-support');
  const relay = await FakeRelay.start();
  t.after(() => relay.close());
  const server = new hyco.relayedServer({ server: relay.listenUri(), token: token('fake'), reconnectBackoff: [50] });
  t.after(() => server.close());
  const body = Buffer.alloc(60 * 1024, 1);
  let answered = 0;
  server.on('httpRequest', (req, res) => {
    answered++;
    res.setHeader('Content-Length', body.length);
    res.end(body);
  });
  const errors = [];
  server.on('error', (err) => errors.push(err));
  const channel = await relay.nextChannel();
  await once(server, 'online');
  relay.drop('stall');
  const reopened = relay.nextChannel();
  for (let i = 0; i < 400 && channel.readyState === 1; i++) {
    relay.sendRequest(`r${i}`, { channel });
    if (i % 20 === 19) await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await until(() => errors.some((e) => /stopped reading the control channel/.test(e.message)), 10_000, 'the overflow reported');
  assert.ok(answered < 400, `${answered} answered`);
  await reopened;
  await until(() => server.isOnline, 5000, 'online again');
});

// Regression (found by an adversarial review of issue 21's fixes): an HTTP rendezvous whose request message never
// came was neither timed out nor closed by close(), so a relay could hold the listener's sockets (and its exit) forever.
test('an HTTP rendezvous whose request never arrives is dropped after rendezvousTimeout, and close() drops those still waiting', async (t) => {
  const { FakeRelay, once, until } = require('hyco-test-support');
  const { WebSocketServer } = require('ws');
  const relay = await FakeRelay.start();
  t.after(() => relay.close());
  const silent = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(silent, 'listening');
  t.after(() => new Promise((resolve) => silent.close(resolve)));
  const held = [];
  silent.on('connection', (ws) => held.push(ws));
  const open = () => held.filter((ws) => ws.readyState === 1).length;
  const rendezvous = (id) => JSON.stringify({ request: { address: `ws://127.0.0.1:${silent.address().port}/$hc/fake?sb-hc-action=request&sb-hc-id=${id}`, id } });
  const server = new hyco.relayedServer({ server: relay.listenUri(), token: token('fake'), rendezvousTimeout: 500 });
  const errors = [];
  server.on('error', (err) => errors.push(err));
  server.on('httpRequest', (req, res) => res.end());
  const channel = await relay.nextChannel();
  await once(server, 'online');
  for (let i = 0; i < 20; i++) channel.send(rendezvous(`r${i}`));
  await until(() => held.length === 20, 5000, 'the rendezvous opened');
  await until(() => open() === 0, 5000, 'every silent rendezvous dropped');
  assert.equal(errors.filter((e) => /No request arrived on the HTTP rendezvous within 500 ms/.test(e.message)).length, 20);
  // Waiting when the listener closes: dropped by close().
  const slow = new hyco.relayedServer({ server: relay.listenUri(), token: token('fake'), rendezvousTimeout: 60_000 });
  slow.on('error', () => undefined);
  const second = await relay.nextChannel();
  await once(slow, 'online');
  for (let i = 0; i < 10; i++) second.send(rendezvous(`s${i}`));
  await until(() => held.length === 30 && open() === 10, 5000, 'ten waiting');
  await slow.close();
  await until(() => open() === 0, 2000, 'close() dropped them');
  await server.close();
});

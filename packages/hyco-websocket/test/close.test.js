'use strict';
// close() settles what is under way before it resolves: senders the
// application has not answered get 503, accepts still opening are
// abandoned with an answer, HTTP exchanges are aborted; after it, nothing
// of the listener runs.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const hyco = require('hyco-websocket');
const { startRelay, relayedServer, send, token, once, delay } = require('hyco-test-support');

test('close() answers a sender whose handler has not decided yet (503), and a late accept rejects instead of connecting', async (t) => {
  const relay = await startRelay(t);
  const server = await relayedServer(t, relay);
  let late;
  server.on('request', async (request) => {
    await delay(300);
    late = request.accept(null);
  });
  const sender = send(relay).then(
    () => 'connected',
    (err) => err.status,
  );
  await once(server, 'request');
  await server.close();
  // The sender had its answer before close() resolved.
  assert.equal(await Promise.race([sender, delay(50).then(() => 'no answer yet')]), 503);
  await delay(350);
  await assert.rejects(late, { code: 'ERR_HYCO_CLOSED' });
  assert.equal(server.connections.length, 0);
});

test('close() settles an accept still opening: its sender is answered 503 before close() resolves, and no 101 follows', async (t) => {
  const { FakeRelay } = require('hyco-test-support');
  const relay = await FakeRelay.start();
  t.after(() => relay.close());
  relay.holdAccepts = true;
  const server = new hyco.relayedServer({ server: relay.listenUri(), token: 'SharedAccessSignature sr=x&sig=y&se=9999999999&skn=z' });
  server.on('error', () => {});
  let accepting;
  server.on('request', (request) => {
    accepting = request.accept(null);
  });
  await once(server, 'online');
  relay.sendAccept('slow');
  await once(server, 'request');
  await delay(50);
  await server.close();
  assert.deepEqual(relay.answers.get('slow'), [{ kind: 'rejected', status: 503 }], 'the sender was answered before close() resolved');
  await assert.rejects(accepting, { code: 'ERR_HYCO_CLOSED' });
  relay.release('slow');
  await delay(50);
  assert.deepEqual(relay.answers.get('slow'), [{ kind: 'rejected', status: 503 }], 'one answer only: no 101 after close()');
});

test('close() aborts a streamed HTTP response: res closes unfinished, and close() resolves after', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['web'] });
  const server = await relayedServer(t, relay, {}, 'web');
  let resClosed = false;
  let timer;
  server.on('httpRequest', (req, res) => {
    res.writeHead(200);
    timer = setInterval(() => res.write('tick\n'), 10);
    res.on('close', () => {
      resClosed = true;
      clearInterval(timer);
    });
  });
  const started = new Promise((resolve) => {
    const req = http.get(`${hyco.createRelayHttpsUri(relay.endpoint, 'web')}/stream`, { headers: { ServiceBusAuthorization: token('web') } }, (res) => {
      res.once('data', () => resolve(res));
      res.on('error', () => {});
    });
    req.on('error', () => {});
  });
  const res = await started;
  const ended = new Promise((resolve) => res.on('close', () => resolve(res.complete)));
  await server.close();
  assert.equal(resClosed, true, 'the response closed before close() resolved');
  assert.equal(await ended, false, 'the HTTP client sees the response cut, not complete');
});

test('close() resolves even when the relay has stopped reading (a dead path): the control channel is cut after a bounded wait', async (t) => {
  const { FakeRelay } = require('hyco-test-support');
  const relay = await FakeRelay.start();
  t.after(() => relay.close());
  const server = new hyco.relayedServer({ server: relay.listenUri(), token: 'SharedAccessSignature sr=x&sig=y&se=9999999999&skn=z', controlChannelKeepalive: 'pong' });
  server.on('error', () => {});
  await once(server, 'online');
  relay.drop('stall');
  const outcome = await Promise.race([server.close().then(() => 'closed'), delay(8000).then(() => 'close() still pending after 8 s')]);
  assert.equal(outcome, 'closed');
  assert.equal(server.isOnline, false);
});

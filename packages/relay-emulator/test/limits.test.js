'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const { startRelay, listen, send, sendWs, onceOrError, token, delay, until, nextMessage, handshakeStatus, createRelayListenUri } = require('hyco-test-support');

test('the 26th listener on a hybrid connection is refused with 403 saying why', async (t) => {
  const relay = await startRelay(t);
  for (let i = 0; i < 25; i++) await listen(t, relay);
  const refused = await handshakeStatus(createRelayListenUri(relay.endpoint, 'echo'), { ServiceBusAuthorization: token('echo') });
  assert.equal(refused.status, 403);
  assert.match(refused.text, /QuotaExceeded: .*25 listeners/);
  assert.equal(relay.stats().hybridConnections[0].listeners, 25);
});

test('a rendezvous address is single use: a second accept gets 403', async (t) => {
  const relay = await startRelay(t);
  const channel = await listen(t, relay);
  const connection = await send(relay);
  t.after(() => connection.drop());
  const reused = await handshakeStatus(channel.accepts[0].address);
  assert.equal(reused.status, 403);
  assert.match(reused.text, /invalid, used or expired/);
});

test('a guessed rendezvous address gets 403', async (t) => {
  const relay = await startRelay(t);
  const guessed = await handshakeStatus(`${relay.endpoint}/$hc/echo?sb-hc-action=accept&sb-hc-id=x&sb-hc-rendezvous=${'0'.repeat(32)}`);
  assert.equal(guessed.status, 403);
});

test('a sender nobody accepts gets 504 when the rendezvous expires; the late address gets 403', async (t) => {
  const relay = await startRelay(t, { rendezvousTimeoutMs: 300 });
  const channel = await listen(t, relay, 'echo', { onAccept() {} });
  const started = Date.now();
  await assert.rejects(send(relay), /non-101 status: 504 GatewayTimeout/);
  assert.ok(Date.now() - started >= 250, 'not before the timeout');
  const late = await handshakeStatus(channel.accepts[0].address);
  assert.equal(late.status, 403);
  assert.equal(relay.stats().totals.sendersTimedOut, 1);
  assert.equal(relay.stats().hybridConnections[0].pendingSenders, 0);
});

test('a control channel whose token expires is closed with 1008', async (t) => {
  const relay = await startRelay(t);
  const channel = await listen(t, relay, 'echo', { token: token('echo', 'RootManageSharedAccessKey', 2) });
  const started = Date.now();
  const [code, reason] = await onceOrError(channel, 'close');
  assert.equal(code, 1008);
  assert.match(reason.toString(), /expired/);
  assert.ok(Date.now() - started >= 900, 'closed at expiry, not before');
});

test('renewToken keeps a control channel open past its first token\'s expiry', async (t) => {
  const relay = await startRelay(t);
  const channel = await listen(t, relay, 'echo', { token: token('echo', 'RootManageSharedAccessKey', 2) });
  let closed = false;
  channel.on('close', () => (closed = true));
  await delay(1000);
  channel.send(JSON.stringify({ renewToken: { token: token('echo', 'RootManageSharedAccessKey', 60) } }));
  await delay(2500);
  assert.equal(closed, false);
  const connection = await send(relay);
  connection.drop();
});

test('an invalid renewToken closes the control channel with 1008', async (t) => {
  const relay = await startRelay(t);
  const channel = await listen(t, relay);
  channel.send(JSON.stringify({ renewToken: { token: token('other') } }));
  const [code, reason] = await onceOrError(channel, 'close');
  assert.equal(code, 1008);
  assert.match(reason.toString(), /renewToken refused/);
});

test('deleting a hybrid connection closes its listeners with 1001', async (t) => {
  const relay = await startRelay(t);
  const channel = await listen(t, relay);
  const closed = onceOrError(channel, 'close');
  assert.equal(relay.deleteHybridConnection('echo'), true);
  const [code] = await closed;
  assert.equal(code, 1001);
  assert.equal(relay.deleteHybridConnection('echo'), false);
  assert.equal((await handshakeStatus(createRelayListenUri(relay.endpoint, 'echo'), { ServiceBusAuthorization: token('echo') })).status, 404);
});

test('deleting a hybrid connection closes its relayed connections with 1001 on both ends; none is orphaned', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['echo', 'other'] });
  const channel = await listen(t, relay);
  await listen(t, relay, 'other');
  const sender = await sendWs(relay);
  const survivor = await sendWs(relay, 'other');
  t.after(() => survivor.terminate());
  const rendezvous = channel.rendezvous[0];
  if (rendezvous.readyState !== WebSocket.OPEN) await onceOrError(rendezvous, 'open');
  assert.equal(relay.stats().relayedConnections, 2);
  const senderClosed = onceOrError(sender, 'close');
  const listenerClosed = onceOrError(rendezvous, 'close');
  relay.deleteHybridConnection('echo');
  assert.equal((await senderClosed)[0], 1001);
  assert.equal((await listenerClosed)[0], 1001);
  await until(() => relay.stats().relayedConnections === 1, 5000, 'the relayed count');
  // The other hybrid connection's connection is untouched, and close() ends it with 1001.
  survivor.send('still here');
  assert.equal(String(await nextMessage(survivor)), 'still here');
  const survivorClosed = onceOrError(survivor, 'close');
  await relay.close();
  assert.equal((await survivorClosed)[0], 1001);
});

test('a sender waiting when its hybrid connection is deleted gets 404', async (t) => {
  const relay = await startRelay(t);
  await listen(t, relay, 'echo', { onAccept() {} });
  const waiting = sendWs(relay).catch((err) => err);
  await until(() => relay.stats().hybridConnections[0]?.pendingSenders === 1, 5000, 'a waiting sender');
  relay.deleteHybridConnection('echo');
  const err = await waiting;
  assert.equal(err.status, 404);
});

test('createHybridConnection adds an entity and refuses a duplicate or bad path', async (t) => {
  const relay = await startRelay(t);
  assert.deepEqual(relay.createHybridConnection('fresh', { requiresClientAuthorization: false }), {
    path: 'fresh',
    requiresClientAuthorization: false,
    listeners: 0,
    listenerIds: [],
    pendingSenders: 0,
    relayedConnections: 0,
  });
  assert.throws(() => relay.createHybridConnection('fresh'), { code: 'ERR_HYCO_ENTITY_EXISTS' });
  assert.throws(() => relay.createHybridConnection('bad path!'), { name: 'TypeError' });
  await listen(t, relay, 'fresh');
});

test('close() ends listeners and relayed connections with 1001 and releases every socket', async (t) => {
  const relay = await startRelay(t);
  const channel = await listen(t, relay);
  const sender = await sendWs(relay);
  const channelClosed = onceOrError(channel, 'close');
  const senderClosed = onceOrError(sender, 'close');
  await relay.close();
  assert.equal((await channelClosed)[0], 1001);
  assert.equal((await senderClosed)[0], 1001);
  await assert.rejects(fetch(`http://127.0.0.1:${relay.port}/`));
});

test('the emulator can drop control channels on purpose (close 1011 or abrupt)', async (t) => {
  const relay = await startRelay(t);
  const a = await listen(t, relay);
  const closedA = onceOrError(a, 'close');
  assert.equal(relay.dropControlChannels('echo'), 1);
  assert.equal((await closedA)[0], 1011);
  const b = await listen(t, relay);
  const closedB = onceOrError(b, 'close');
  relay.dropControlChannels(undefined, 'destroy');
  assert.equal((await closedB)[0], 1006);
});

test('idleTimeoutMs cuts a silent control channel, pings keep it alive', async (t) => {
  const relay = await startRelay(t, { idleTimeoutMs: 400 });
  const silent = await listen(t, relay);
  const pinging = await listen(t, relay);
  const timer = setInterval(() => pinging.ping(), 100);
  t.after(() => clearInterval(timer));
  const [code] = await onceOrError(silent, 'close');
  assert.equal(code, 1006);
  assert.equal(pinging.readyState, WebSocket.OPEN);
});

'use strict';
// The listener's token source: a token function that hangs or fails is
// bounded, reported and retried; long-lived tokens never cause a storm.
const test = require('node:test');
const assert = require('node:assert/strict');
const hyco = require('hyco-websocket');
const { FakeRelay, startRelay, token, once, delay, until, FAST_BACKOFF } = require('hyco-test-support');

test('a token function that never settles is cut off after connectTimeout, reported and retried; the listener comes online when it recovers', async (t) => {
  const relay = await startRelay(t);
  let calls = 0;
  let hang = true;
  const server = new hyco.relayedServer({
    server: hyco.createRelayListenUri(relay.endpoint, 'echo'),
    token: () => {
      calls++;
      return hang ? new Promise(() => {}) : token('echo');
    },
    connectTimeout: 300,
    reconnectBackoff: FAST_BACKOFF,
  });
  t.after(() => server.close());
  const errors = [];
  server.on('error', (err) => errors.push(err));
  const connecting = [];
  server.on('connecting', (attempt) => connecting.push(attempt));
  await until(() => errors.length >= 2, 5000, 'two reported failures');
  assert.equal(errors[0].code, 'ERR_HYCO_TOKEN_PROVIDER');
  assert.match(errors[0].message, /did not settle within 300 ms/);
  assert.ok(calls >= 2, 'the token function is called again');
  assert.ok(connecting.length >= 1, 'the listener says it is reconnecting');
  hang = false;
  await once(server, 'online');
  assert.equal(server.isOnline, true);
});

test('a token function that hangs at renewal is bounded and retried before the token runs out', async (t) => {
  const relay = await FakeRelay.start();
  t.after(() => relay.close());
  let calls = 0;
  const ttl = 3;
  const server = new hyco.relayedServer({
    server: relay.listenUri(),
    token: () => {
      calls++;
      if (calls === 2) return new Promise(() => {}); // The first renewal hangs.
      return hyco.createRelayToken('http://127.0.0.1/fake', 'rule', 'key', ttl);
    },
    connectTimeout: 200,
    reconnectBackoff: FAST_BACKOFF,
  });
  t.after(() => server.close());
  const errors = [];
  server.on('error', (err) => errors.push(err));
  await once(server, 'online');
  await until(() => relay.renewals.length >= 1, 5000, 'a renewal after the hung call');
  assert.equal(errors[0]?.code, 'ERR_HYCO_TOKEN_PROVIDER');
  assert.ok(calls >= 3);
  assert.equal(server.isOnline, true);
});

test('tokens whose renewal is further off than a timer can wait (60 days) cause no renewal storm and no early warning', async (t) => {
  const relay = await FakeRelay.start();
  t.after(() => relay.close());
  // Renewal at 80% of 60 days is 48 days away: past setTimeout's 24.8-day limit.
  const sixtyDays = 60 * 24 * 3600;
  let calls = 0;
  const fn = new hyco.relayedServer({
    server: relay.listenUri(),
    token: () => {
      calls++;
      return hyco.createRelayToken('http://127.0.0.1/fake', 'rule', 'key', sixtyDays);
    },
    reconnectBackoff: FAST_BACKOFF,
  });
  t.after(() => fn.close());
  const warnings = [];
  const fixed = new hyco.relayedServer({ server: relay.listenUri(), token: hyco.createRelayToken('http://127.0.0.1/fake', 'rule', 'key', sixtyDays), reconnectBackoff: FAST_BACKOFF });
  fixed.on('warning', (w) => warnings.push(w));
  t.after(() => fixed.close());
  await Promise.all([once(fn, 'online'), once(fixed, 'online')]);
  await delay(500);
  assert.equal(calls, 1, `the token function was called ${calls} times in 500 ms`);
  assert.deepEqual(relay.renewals, []);
  assert.deepEqual(warnings, []);
});

test('options that are times refuse values a timer cannot wait for', () => {
  const base = { server: 'ws://127.0.0.1:1/$hc/x?sb-hc-action=listen', token: 't' };
  for (const name of ['controlChannelKeepaliveInterval', 'connectTimeout', 'rendezvousTimeout', 'keepaliveInterval']) {
    assert.throws(() => new hyco.relayedServer({ ...base, [name]: 2 ** 31 }), { code: 'ERR_HYCO_INVALID_ARGUMENT', message: new RegExp(name) });
  }
  assert.throws(() => new hyco.relayedServer({ ...base, reconnectBackoff: [0, 2 ** 32] }), { code: 'ERR_HYCO_INVALID_ARGUMENT' });
  assert.throws(() => new hyco.relayedServer({ ...base, controlChannelKeepalive: 'shout' }), { code: 'ERR_HYCO_INVALID_ARGUMENT' });
});

'use strict';
// The control channel's keepalive, each mode against each relay behaviour:
// a relay that answers pings, one that closes a channel that pings (the
// emulator's listenerPings: 'close'), and an intermediary that cuts idle
// sockets.
const test = require('node:test');
const assert = require('node:assert/strict');
const hyco = require('hyco-websocket');
const { FakeRelay, startRelay, token, once, delay, FAST_BACKOFF } = require('hyco-test-support');

const INTERVAL = 100;

/** A listener with `mode`, online; counts reconnects and collects warnings. */
async function listener(t, relay, mode, extra = {}) {
  const server = new hyco.relayedServer({
    server: hyco.createRelayListenUri(relay.endpoint, 'echo'),
    token: () => token('echo'),
    controlChannelKeepalive: mode,
    controlChannelKeepaliveInterval: INTERVAL,
    controlChannelKeepaliveGracePeriod: 1000,
    reconnectBackoff: FAST_BACKOFF,
    ...extra,
  });
  t.after(() => server.close());
  const seen = { onlines: 0, warnings: [], errors: [] };
  server.on('online', () => seen.onlines++);
  server.on('warning', (w) => seen.warnings.push(w));
  server.on('error', (e) => seen.errors.push(e));
  await once(server, 'online');
  return { server, seen };
}

for (const mode of ['auto', 'ping', 'pong']) {
  test(`controlChannelKeepalive '${mode}' against a relay that answers pings: online for 20 intervals, never reopened`, async (t) => {
    const relay = await startRelay(t, { listenerPings: 'answer', idleTimeoutMs: INTERVAL * 3 });
    const { server, seen } = await listener(t, relay, mode);
    await delay(INTERVAL * 20);
    assert.equal(seen.onlines, 1, 'one control channel throughout (the relay cuts channels idle for 3 intervals)');
    assert.deepEqual(seen.warnings, []);
    assert.equal(server.controlChannelKeepalive, mode);
  });
}

test('\'auto\' against a relay that closes a channel that pings: reopens once, warns once (ERR_HYCO_PING_REFUSED), then stays up with pongs', async (t) => {
  const relay = await startRelay(t, { listenerPings: 'close', idleTimeoutMs: INTERVAL * 3 });
  const { server, seen } = await listener(t, relay, 'auto');
  await delay(INTERVAL * 30);
  assert.equal(seen.onlines, 2, 'reconnected at most once');
  assert.deepEqual(seen.warnings.map((w) => w.code), ['ERR_HYCO_PING_REFUSED']);
  assert.equal(server.controlChannelKeepalive, 'pong');
  assert.equal(server.isOnline, true);
});

test('\'ping\' against a relay that closes a channel that pings: it flaps (reopened again and again), as documented', async (t) => {
  const relay = await startRelay(t, { listenerPings: 'close' });
  const { seen } = await listener(t, relay, 'ping');
  await delay(INTERVAL * 20);
  assert.ok(seen.onlines >= 4, `reopened ${seen.onlines - 1} times`);
  assert.deepEqual(seen.warnings, []);
});

test('\'pong\' against a relay that closes a channel that pings, behind an intermediary that cuts idle sockets: never reopened', async (t) => {
  const relay = await startRelay(t, { listenerPings: 'close', idleTimeoutMs: INTERVAL * 3 });
  const { server, seen } = await listener(t, relay, 'pong');
  await delay(INTERVAL * 20);
  assert.equal(seen.onlines, 1);
  assert.equal(server.controlChannelKeepalive, 'pong');
  // The control: without a keepalive that reaches the relay, the intermediary cuts the channel.
  const idle = await startRelay(t, { idleTimeoutMs: INTERVAL * 3 });
  const { seen: control } = await listener(t, idle, 'pong', { controlChannelKeepaliveInterval: INTERVAL * 50 });
  await delay(INTERVAL * 10);
  assert.ok(control.onlines >= 2, 'a silent channel is cut (the test can fail)');
});

test('\'auto\' switches after two closes in a row right after a ping (any code), and not for closes with another cause', async (t) => {
  const relay = await FakeRelay.start();
  t.after(() => relay.close());
  relay.closeOnPing = 1011;
  const server = new hyco.relayedServer({
    server: relay.listenUri(),
    token: 'SharedAccessSignature sr=x&sig=y&se=9999999999&skn=z',
    controlChannelKeepaliveInterval: INTERVAL,
    controlChannelKeepaliveGracePeriod: 1000,
    reconnectBackoff: FAST_BACKOFF,
  });
  t.after(() => server.close());
  const warnings = [];
  server.on('warning', (w) => warnings.push(w));
  server.on('error', () => {});
  let onlines = 0;
  server.on('online', () => onlines++);
  await delay(INTERVAL * 20);
  assert.equal(onlines, 3, 'closed after the first ping twice, then kept up');
  assert.deepEqual(warnings.map((w) => w.code), ['ERR_HYCO_PING_REFUSED']);
  assert.equal(server.controlChannelKeepalive, 'pong');

  // Going-away closes (1001: entity deleted, relay restarting) are never taken for a refusal.
  const other = await FakeRelay.start();
  t.after(() => other.close());
  other.closeOnPing = 1001;
  const steady = new hyco.relayedServer({ server: other.listenUri(), token: 'SharedAccessSignature sr=x&sig=y&se=9999999999&skn=z', controlChannelKeepaliveInterval: INTERVAL, reconnectBackoff: FAST_BACKOFF });
  t.after(() => steady.close());
  steady.on('error', () => {});
  const steadyWarnings = [];
  steady.on('warning', (w) => steadyWarnings.push(w));
  await delay(INTERVAL * 10);
  assert.deepEqual(steadyWarnings, []);
  assert.equal(steady.controlChannelKeepalive, 'auto');
});

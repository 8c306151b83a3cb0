'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const crypto = require('node:crypto');
const { fork } = require('node:child_process');
const hyco = require('hyco-websocket');
const { RelayEmulator } = require('hyco-relay-emulator');
const { RULES, token, childEmulator, delay } = require('hyco-test-support');

async function idleRun(t, keepaliveMs) {
  const relay = await RelayEmulator.start({ rules: RULES, hybridConnections: ['idle'], idleTimeoutMs: 1000 });
  t.after(() => relay.close());
  const server = new hyco.relayedServer({
    server: hyco.createRelayListenUri(relay.endpoint, 'idle'),
    token: () => token('idle'),
    controlChannelKeepaliveInterval: keepaliveMs,
    controlChannelKeepaliveGracePeriod: 500,
    reconnectBackoff: [0, 100],
  });
  t.after(() => server.close());
  let online = 0;
  server.on('online', () => online++);
  server.on('error', () => {});
  await new Promise((resolve) => server.once('online', resolve));
  await delay(4500);
  return online;
}

test('idle: a listener idle for longer than an intermediary\'s idle cut (1 s) stays online because of its keepalive', async (t) => {
  const online = await idleRun(t, 300);
  t.diagnostic(`idle: 4.5 s behind a 1 s idle cut with 300 ms keepalive: ${online - 1} reconnects`);
  assert.equal(online, 1, 'never cut');
});

test('idle (control): without a keepalive inside the idle cut the same listener is cut and has to reconnect', async (t) => {
  const online = await idleRun(t, 5000);
  t.diagnostic(`idle control: 4.5 s behind a 1 s idle cut with 5 s keepalive: ${online - 1} reconnects`);
  assert.ok(online >= 3, `cut repeatedly (${online - 1} reconnects)`);
});

test('backpressure: 1 GB flooded to a slow reader arrives intact, with the emulator\'s and the listener\'s memory bounded', async (t) => {
  const TOTAL = 1024 * 1024 * 1024;
  const relay = await childEmulator({ hybridConnections: ['flood'] });
  t.after(() => relay.stop());
  const baseEmulator = (await relay.usage()).rss;
  const baseListener = process.memoryUsage().rss;
  const server = new hyco.relayedServer({
    server: hyco.createRelayListenUri(relay.endpoint, 'flood'),
    token: () => token('flood'),
    autoAcceptConnections: true,
    maxReceivedFrameSize: 1024 * 1024,
  });
  t.after(() => server.close());
  await new Promise((resolve) => server.once('online', resolve));
  const hash = crypto.createHash('sha256');
  let received = 0;
  let done;
  const finished = new Promise((resolve) => (done = resolve));
  server.on('connect', (connection) => {
    let messages = 0;
    connection.on('message', (m) => {
      hash.update(m.binaryData);
      received += m.binaryData.length;
      // A slow reader: every 32 messages (2 MB) it stops reading for 10 ms.
      if (++messages % 32 === 0) {
        connection.pause();
        setTimeout(() => connection.resume(), 10);
      }
      if (received >= TOTAL) done();
    });
  });
  const sender = fork(path.join(__dirname, 'stress', 'sender-process.js'), [relay.endpoint, 'flood', token('flood'), String(TOTAL)]);
  t.after(() => sender.connected && sender.disconnect());
  const sent = new Promise((resolve, reject) =>
    sender.on('message', (m) => (m.type === 'sent' ? resolve(m) : reject(new Error(m.text)))),
  );
  let peakEmulator = 0;
  let peakListener = 0;
  const sampler = setInterval(async () => {
    peakListener = Math.max(peakListener, process.memoryUsage().rss - baseListener);
    peakEmulator = Math.max(peakEmulator, (await relay.usage()).rss - baseEmulator);
  }, 200);
  t.after(() => clearInterval(sampler));
  const started = Date.now();
  const [{ sha256, bytes }] = await Promise.all([sent, finished]);
  clearInterval(sampler);
  const seconds = (Date.now() - started) / 1000;
  const mb = (n) => (n / 2 ** 20).toFixed(1);
  t.diagnostic(
    `backpressure: ${mb(received)} MiB in ${seconds.toFixed(1)} s (${mb(received / seconds)} MiB/s) to a reader that pauses 10 ms every 2 MiB; ` +
      `peak growth: emulator ${mb(peakEmulator)} MiB, listener process ${mb(peakListener)} MiB; sha256 equal`,
  );
  assert.equal(bytes, TOTAL);
  assert.equal(received, TOTAL);
  assert.equal(hash.digest('hex'), sha256, 'every byte arrived intact and in order');
  assert.ok(peakEmulator < 64 * 2 ** 20, `emulator memory bounded (peak growth ${mb(peakEmulator)} MiB < 64 MiB)`);
  assert.ok(peakListener < 128 * 2 ** 20, `listener memory bounded (peak growth ${mb(peakListener)} MiB < 128 MiB)`);
});

'use strict';
// relayedProxy is a total entry point: hostile option values are refused
// up front with a RelayArgumentError naming the option (never its value),
// or the proxy starts and reports through its events; nothing escapes and
// close() always settles.
const test = require('node:test');
const assert = require('node:assert/strict');
const fc = require('fast-check');
const hyco = require('hyco-websocket');
const { startRelay, token, checkProperty } = require('hyco-test-support');

const SECRET = 'Zm9vU2VjcmV0S2V5MDA';

const hostile = fc.oneof(
  fc.constantFrom('', ' ', '%', '\n', '\u0000', '\ud800', `http://u:${SECRET}@127.0.0.1:1`, `http://127.0.0.1:1/?k=${SECRET}`, 'ftp://127.0.0.1', 'http://', 'https://[::1', 'ws://127.0.0.1:1', 'http://127.0.0.1:1/a b', `-----BEGIN CERTIFICATE-----\n${SECRET}`),
  fc.string({ maxLength: 30 }),
  fc.constantFrom(NaN, Infinity, -1, 0, 2 ** 31, 0.5, true, false, null, undefined, [], ['x', 1], {}, Symbol('s'), 10n, Buffer.from('x')),
);

const KEYS = ['origin', 'originCa', 'insecureOrigin', 'originTimeout', 'maxReceivedFrameSize', 'server', 'token', 'proxy'];

test('relayedProxy refuses hostile options up front (a coded TypeError naming no secret) or starts and closes; nothing escapes', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['app'] });
  const base = () => ({ server: hyco.createRelayListenUri(relay.endpoint, 'app'), token: () => token('app'), origin: 'http://127.0.0.1:1', reconnectBackoff: [50] });
  const escaped = [];
  const onEscape = (err) => escaped.push(String(err?.message ?? err).slice(0, 200));
  process.on('uncaughtException', onEscape);
  process.on('unhandledRejection', onEscape);
  t.after(() => {
    process.off('uncaughtException', onEscape);
    process.off('unhandledRejection', onEscape);
  });
  await checkProperty(
    fc.asyncProperty(fc.constantFrom(...KEYS), hostile, async (key, value) => {
      let proxy;
      try {
        proxy = hyco.relayedProxy({ ...base(), [key]: value });
      } catch (err) {
        assert.ok(err instanceof TypeError && err.code === 'ERR_HYCO_INVALID_ARGUMENT', `${key}: ${err.name} ${err.code}: ${err.message}`);
        assert.equal(err.message.includes(SECRET), false, `${key}: a secret in the message`);
        return;
      }
      proxy.on('error', (err) => assert.ok(err instanceof hyco.RelayError));
      let timer;
      const closed = await Promise.race([proxy.close().then(() => 'closed'), new Promise((resolve) => (timer = setTimeout(() => resolve('hung'), 5000)))]);
      clearTimeout(timer);
      assert.equal(closed, 'closed', `${key}: close() settles`);
    }),
    { defaultSeed: 2206, numRuns: 120 },
  );
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(escaped, [], 'nothing escaped');
  assert.throws(() => hyco.relayedProxy(), { code: 'ERR_HYCO_INVALID_ARGUMENT' });
  assert.throws(() => hyco.relayedProxy({ ...base(), origin: undefined }), { code: 'ERR_HYCO_INVALID_ARGUMENT', message: /"origin"/ });
  assert.throws(() => hyco.relayedProxy({ ...base(), origin: `http://127.0.0.1:1/?k=${SECRET}` }), (err) => err.code === 'ERR_HYCO_INVALID_ARGUMENT' && !err.message.includes(SECRET));
});

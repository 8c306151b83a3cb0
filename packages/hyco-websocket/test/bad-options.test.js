'use strict';
// Bad options are refused up front with RelayArgumentError (naming the
// option, never its secret value); what goes wrong later is the documented
// error event or rejection, never a crash.
const test = require('node:test');
const assert = require('node:assert/strict');
const hyco = require('hyco-websocket');
const { startRelay, token, once, FAST_BACKOFF } = require('hyco-test-support');

/** Fails the test if anything escapes as an uncaught exception or an unhandled rejection while `fn` runs. */
async function noEscapes(fn) {
  const escaped = [];
  const onError = (err) => escaped.push(err);
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  try {
    await fn();
    await new Promise((resolve) => setTimeout(resolve, 300));
  } finally {
    process.off('uncaughtException', onError);
    process.off('unhandledRejection', onError);
  }
  assert.deepEqual(escaped.map((e) => e?.message ?? String(e)), [], 'nothing escaped');
}

// Regression (issue 21, defect 3): each of these threw inside the listener's connect path (the process exited with
// no error event), left relayedConnect unsettled, or put the whole token in relayedFetch's error message.
test('a proxy password with a "%" that is not an escape, or a token with a newline, is refused up front naming the option, never its value', async (t) => {
  const relay = await startRelay(t);
  const server = hyco.createRelayListenUri(relay.endpoint, 'echo');
  const good = token('echo');
  await noEscapes(async () => {
    const badProxy = 'http://user:50%off@127.0.0.1:3128';
    for (const make of [
      () => new hyco.relayedServer({ server, token: good, proxy: badProxy }),
      () => new hyco.relayedClient({ token: good, proxy: badProxy }),
    ]) {
      assert.throws(make, (err) => err.code === 'ERR_HYCO_INVALID_ARGUMENT' && /"proxy"/.test(err.message) && /%25/.test(err.message) && !err.message.includes('50%off'));
    }
    for (const bad of [`${good}\n`, `${good.slice(0, 20)}\r\n${good.slice(20)}`, ` ${good}`]) {
      assert.throws(() => new hyco.relayedServer({ server, token: bad }), (err) => err.code === 'ERR_HYCO_INVALID_ARGUMENT' && /"token"/.test(err.message) && !err.message.includes(good.slice(30, 60)));
      await assert.rejects(hyco.relayedConnect(hyco.createRelaySendUri(relay.endpoint, 'echo'), { token: bad }), (err) => err.code === 'ERR_HYCO_INVALID_ARGUMENT' && !err.message.includes(good.slice(30, 60)));
      await assert.rejects(hyco.relayedFetch(hyco.createRelayHttpsUri(relay.endpoint, 'echo'), {}, { token: bad }), (err) => err.code === 'ERR_HYCO_INVALID_ARGUMENT' && !err.message.includes(good.slice(30, 60)));
      await assert.rejects(hyco.relayedFetch(hyco.createRelayHttpsUri(relay.endpoint, 'echo'), {}, { proxy: badProxy }), { code: 'ERR_HYCO_INVALID_ARGUMENT' });
      await assert.rejects(hyco.getRuntimeInformation(relay.endpoint, 'echo', { token: bad }), { code: 'ERR_HYCO_INVALID_ARGUMENT' });
    }
    // A header the app passes that Node refuses: a rejection without the value, not a crash.
    await assert.rejects(hyco.relayedFetch(hyco.createRelayHttpsUri(relay.endpoint, 'echo'), { headers: { 'X-Secret': 'abc\ndef-secret' } }, { token: good }), (err) => err.code === 'ERR_HYCO_INVALID_ARGUMENT' && !err.message.includes('def-secret'));
  });
});

test('a token function that gives a token with a newline, or an environment proxy with a bad "%", is an error event and a retry, never a crash', async (t) => {
  const relay = await startRelay(t);
  const good = token('echo');
  await noEscapes(async () => {
    let calls = 0;
    const server = new hyco.relayedServer({ server: hyco.createRelayListenUri(relay.endpoint, 'echo'), token: () => (++calls < 3 ? `${good}\n` : good), reconnectBackoff: FAST_BACKOFF });
    t.after(() => server.close());
    const errors = [];
    server.on('error', (err) => errors.push(err));
    await once(server, 'online');
    assert.equal(errors.length, 2);
    for (const err of errors) {
      assert.equal(err.code, 'ERR_HYCO_TOKEN_PROVIDER');
      assert.match(err.message, /line break/);
      assert.ok(!err.message.includes(good.slice(30, 60)));
    }
    // A sender whose token function misbehaves the same way: connectFailed, then nothing more.
    const client = new hyco.relayedClient({ token: () => `x${good}\r\nInjected: 1` });
    client.connect(hyco.createRelaySendUri(relay.endpoint, 'echo'));
    const failed = await once(client, 'connectFailed');
    assert.equal(failed.code, 'ERR_HYCO_TOKEN_PROVIDER');
  });
  // HTTPS_PROXY is read when connecting: a bad one is ERR_HYCO_PROXY naming the variable, reported, retried.
  const saved = process.env.HTTPS_PROXY;
  process.env.HTTPS_PROXY = 'http://user:50%off@127.0.0.1:9';
  t.after(() => (saved === undefined ? delete process.env.HTTPS_PROXY : (process.env.HTTPS_PROXY = saved)));
  await noEscapes(async () => {
    const viaEnv = new hyco.relayedServer({ server: 'wss://ns.example/$hc/hyco', token: good, reconnectBackoff: [50] });
    t.after(() => viaEnv.close());
    const err = await once(viaEnv, 'error');
    assert.equal(err.code, 'ERR_HYCO_PROXY');
    assert.match(err.message, /HTTPS_PROXY/);
    assert.ok(!err.message.includes('50%off'));
    await viaEnv.close();
  });
});

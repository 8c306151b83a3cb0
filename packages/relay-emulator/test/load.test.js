'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { startRelay, listen, sendWs, nextMessage } = require('hyco-test-support');

test('500 senders connecting at once to 3 listeners are all accepted and spread over the listeners', async (t) => {
  const relay = await startRelay(t);
  const listeners = [await listen(t, relay), await listen(t, relay), await listen(t, relay)];
  const senders = await Promise.all(Array.from({ length: 500 }, () => sendWs(relay)));
  t.after(() => senders.forEach((s) => s.terminate()));
  const echoes = await Promise.all(
    senders.map(async (ws, i) => {
      const reply = nextMessage(ws);
      ws.send(`sender ${i}`);
      return String(await reply);
    }),
  );
  echoes.forEach((text, i) => assert.equal(text, `sender ${i}`));
  const perListener = listeners.map((l) => l.accepts.length);
  assert.equal(perListener.reduce((a, b) => a + b, 0), 500);
  for (const count of perListener) assert.ok(count >= 50, `every listener takes a share (${perListener.join('/')})`);
  assert.equal(relay.stats().hybridConnections[0].relayedConnections, 500);
  assert.equal(relay.stats().totals.sendersAccepted, 500);
});

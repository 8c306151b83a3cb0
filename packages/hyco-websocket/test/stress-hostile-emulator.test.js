'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { runHostile, describeHostile } = require('./stress/hostile-emulator');

test('hostile input to the emulator: 10,000+ malformed inputs each get the protocol\'s answer while a good listener and sender keep working', async (t) => {
  const r = await runHostile({ count: 10500, halfOpen: 300 });
  t.diagnostic(describeHostile(r));
  for (const [kind, [tried, answered]] of Object.entries(r.byKind)) {
    assert.ok(tried > 0, kind);
    assert.equal(answered, tried, `${kind}: every input got the protocol's answer; odd answers: ${r.oddAnswers.join('; ')}`);
  }
  assert.equal(r.halfOpen[1], r.halfOpen[0], 'every half-open connection was answered 408 and closed');
  assert.ok(r.goodExchanges > 10, `the good sender kept working (${r.goodExchanges} exchanges)`);
  assert.deepEqual(r.goodFailures, []);
  assert.ok(r.peakEmulatorGrowth < 128 * 2 ** 20, `emulator memory bounded (${(r.peakEmulatorGrowth / 2 ** 20).toFixed(1)} MiB)`);
});

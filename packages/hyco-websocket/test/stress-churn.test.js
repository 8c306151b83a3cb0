'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { runChurn, describeChurn } = require('./stress/churn');

test('churn: senders come and go while the control channel drops every 2 s, tokens live 5 s and the emulator restarts once; nothing is lost', async (t) => {
  const counts = await runChurn({ seconds: 16, senders: 8, dropEveryMs: 2000, tokenTtl: 5, log: (l) => t.diagnostic(l) });
  t.diagnostic(describeChurn(counts));
  assert.equal(counts.lost, 0, counts.lostDetails.join('\n'));
  assert.equal(counts.longLived.faults, 0, counts.lostDetails.join('\n'));
  assert.ok(counts.drops >= 4, `the control channel was dropped (${counts.drops})`);
  assert.equal(counts.restarts, 1);
  assert.ok(counts.slowestRecoveryMs < 2000, `back online within 2 s of each drop (slowest ${counts.slowestRecoveryMs} ms)`);
  assert.ok(counts.completed > 100, `senders completed exchanges (${counts.completed})`);
  assert.ok(counts.longLived.survivedDrops >= 2, `long-lived connections lived through drops (${counts.longLived.survivedDrops})`);
  // While the listener reconnects: 404 (no listener); around the restart: 503
  // (waiting senders at shutdown), refused or reset connections.
  for (const status of Object.keys(counts.refused)) assert.match(status, /^(404|503|ECONNREFUSED|ECONNRESET)$/, `refusals are clear: ${status}`);
  // Only the restart ends established connections: 1001 (or 1006 for one cut mid-close).
  for (const code of Object.keys(counts.closedByRelay)) assert.match(code, /^100[16]$/, `closed by the restart: ${code}`);
  const closed = Object.values(counts.closedByRelay).reduce((a, b) => a + b, 0);
  assert.ok(closed <= counts.longLived.opened + 8 * 2, 'no more closes than the connections open at the restart');
});

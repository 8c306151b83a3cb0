'use strict';
// The model-based test of the listener (test/fixtures/model-run.js), in a
// process of its own: it must pass, and then exit by itself, which proves
// that close() left no handle or timer behind. Seeded (FC_SEED, FC_RUNS to
// explore); a failure prints its seed.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');

test('model: random control messages, drops, stalls and expiries never cross bodies, leave a sender unanswered or a listener offline; close() leaves nothing running', async () => {
  const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'model-run.js')], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const code = await new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve('killed after 90 s');
    }, 90000);
    child.on('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  assert.equal(code, 0, output);
  assert.match(output, /model: \d+ runs passed/);
});

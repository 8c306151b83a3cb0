'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const WebSocket = require('ws');
const hyco = require('hyco-websocket');
const { parseRelayToken, verifySignature } = require('hyco-websocket/protocol');
const { RelayEmulator } = require('hyco-relay-emulator');

test('signature checks go through crypto.timingSafeEqual, for right, wrong and wrong-length signatures alike', () => {
  const realEqual = crypto.timingSafeEqual;
  const calls = [];
  crypto.timingSafeEqual = (a, b) => {
    calls.push([a.length, b.length]);
    return realEqual(a, b);
  };
  try {
    const token = parseRelayToken(hyco.createRelayToken('http://ns/a', 'r', 'key'));
    assert.equal(verifySignature(token, 'key'), true);
    assert.equal(verifySignature(token, 'other-key'), false);
    assert.equal(verifySignature({ ...token, signature: 'c2hvcnQ=' }, 'key'), false);
  } finally {
    crypto.timingSafeEqual = realEqual;
  }
  assert.equal(calls.length, 3, 'every comparison is constant time');
  for (const [a, b] of calls) assert.equal(a, b);
});

test('keys and tokens appear in no log line, error message or status text (all output of a full scenario, DEBUG=*)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyco-secrets-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const secretsFile = path.join(dir, 'secrets.json');
  const child = spawn(process.execPath, [path.join(__dirname, 'stress', 'secrets-scenario.js'), secretsFile], {
    env: { ...process.env, DEBUG: '*', DEBUG_HIDE_DATE: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const code = await new Promise((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, output.slice(-2000));
  assert.match(output, /scenario complete/);
  const secrets = JSON.parse(fs.readFileSync(secretsFile, 'utf8'));
  const lines = output.split('\n');
  t.diagnostic(`secrets: ${lines.length} lines of output (debug logs of both packages, errors, status texts, activity) searched for ${secrets.length} secrets`);
  assert.ok(lines.length > 50, 'the scenario produced plenty of output');
  assert.match(output, /401|ExpiredToken|InvalidSignature/, 'failures were printed');
  for (const secret of secrets) {
    const leak = lines.find((l) => l.includes(secret));
    assert.equal(leak, undefined, `a secret leaked: ${leak && leak.replace(secret, '<secret>')}`);
  }
});

test('rendezvous addresses are unpredictable (128 random bits, never repeated) and single-use', async (t) => {
  const relay = await RelayEmulator.start({ hybridConnections: ['r'] });
  t.after(() => relay.close());
  const [rule] = relay.rules;
  const tok = hyco.createRelayToken('http://127.0.0.1/r', rule.name, rule.key);
  const control = new WebSocket(hyco.createRelayListenUri(relay.endpoint, 'r'), { headers: { ServiceBusAuthorization: tok } });
  t.after(() => control.terminate());
  const addresses = [];
  control.on('message', (d) => addresses.push(JSON.parse(d).accept.address));
  await new Promise((resolve) => control.once('open', resolve));
  const senders = [];
  for (let i = 0; i < 300; i++) {
    const s = new WebSocket(hyco.createRelaySendUri(relay.endpoint, 'r'), { headers: { ServiceBusAuthorization: tok } });
    s.on('error', () => {});
    senders.push(s);
  }
  t.after(() => senders.forEach((s) => s.terminate()));
  while (addresses.length < 300) await new Promise((r) => setTimeout(r, 10));
  const secrets = addresses.map((a) => new URL(a).searchParams.get('sb-hc-rendezvous'));
  assert.equal(new Set(secrets).size, 300, 'no address repeats');
  for (const s of secrets) assert.match(s, /^[0-9a-f]{32}$/);
  // Bits look random: each of the 128 bit positions is set in 25%–75% of 300 addresses.
  for (let bit = 0; bit < 128; bit++) {
    const set = secrets.filter((s) => (parseInt(s[bit >> 2], 16) >> (3 - (bit & 3))) & 1).length;
    assert.ok(set > 75 && set < 225, `bit ${bit} set in ${set} of 300`);
  }
  const used = await new Promise((resolve) => {
    const r = new WebSocket(addresses[0], { perMessageDeflate: false });
    r.on('open', () => {
      const again = new WebSocket(addresses[0], { perMessageDeflate: false });
      again.on('unexpected-response', (req, res) => resolve(res.statusCode));
      again.on('error', () => {});
    });
    r.on('error', () => {});
  });
  assert.equal(used, 403, 'a used address is refused');
});

test('a token for one path, or with one right, never opens another', async (t) => {
  const rules = [
    { name: 'L', key: 'bC1rZXk=', rights: ['Listen'] },
    { name: 'S', key: 'cy1rZXk=', rights: ['Send'] },
    { name: 'M', key: 'bS1rZXk=', rights: ['Manage'] },
  ];
  const relay = await RelayEmulator.start({ rules, hybridConnections: ['a', 'ab', 'a/b', 'b'] });
  t.after(() => relay.close());
  const status = (uri, tok) =>
    new Promise((resolve) => {
      const ws = new WebSocket(uri, { headers: { ServiceBusAuthorization: tok } });
      ws.on('open', () => {
        ws.terminate();
        resolve(101);
      });
      ws.on('unexpected-response', (req, res) => {
        req.destroy();
        resolve(res.statusCode);
      });
      ws.on('error', () => {});
    });
  // A listener on every path, so that a sender's 404 could only mean "no listener".
  const listeners = [];
  for (const p of ['a', 'ab', 'a/b', 'b']) {
    const ws = new WebSocket(hyco.createRelayListenUri(relay.endpoint, p), { headers: { ServiceBusAuthorization: hyco.createRelayToken(`http://127.0.0.1/${p}`, 'M', 'bS1rZXk=') } });
    // Answers every sender at once with 418, so an allowed sender is told so quickly.
    ws.on('message', (d) => {
      const r = new WebSocket(`${JSON.parse(d).accept.address}&sb-hc-statusCode=418&sb-hc-statusDescription=teapot`, { perMessageDeflate: false });
      r.on('error', () => {});
      r.on('unexpected-response', (req) => req.destroy());
    });
    listeners.push(ws);
    await new Promise((resolve) => ws.once('open', resolve));
  }
  t.after(() => listeners.forEach((l) => l.terminate()));
  let checked = 0;
  for (const rule of rules) {
    for (const tokenPath of ['a', 'b']) {
      const tok = hyco.createRelayToken(`http://127.0.0.1/${tokenPath}`, rule.name, rule.key);
      for (const target of ['a', 'ab', 'a/b', 'b']) {
        for (const action of ['listen', 'connect']) {
          const covered = target === tokenPath || target.startsWith(`${tokenPath}/`);
          const right = action === 'listen' ? 'Listen' : 'Send';
          const allowed = covered && (rule.rights.includes(right) || rule.rights.includes('Manage'));
          const uri = action === 'listen' ? hyco.createRelayListenUri(relay.endpoint, target) : hyco.createRelaySendUri(relay.endpoint, target);
          const got = await status(uri, tok);
          if (allowed) assert.equal(got, action === 'listen' ? 101 : 418, `${rule.name} token for ${tokenPath} may ${action} on ${target}`);
          else assert.ok(got === 401 || got === 403, `${rule.name} token for ${tokenPath} must not ${action} on ${target} (got ${got})`);
          checked++;
        }
      }
    }
  }
  t.diagnostic(`security: ${checked} token/path/right combinations checked`);
});

test('the emulator binds loopback unless told otherwise', async (t) => {
  const relay = await RelayEmulator.start();
  t.after(() => relay.close());
  assert.match(relay.endpoint, /^ws:\/\/127\.0\.0\.1:\d+$/);
  const reachable = await fetch(`http://127.0.0.1:${relay.port}/`).then((r) => r.status);
  assert.equal(reachable, 200);
});

'use strict';
// Security of the emulator's front door: token audiences built from a
// checked Host, autoCreate that authorizes before it creates, and logs and
// events that no client string can forge.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { startRelay, listen, send, token, until, delay, RULES, createRelayListenUri } = require('hyco-test-support');
const { rawUpgrade } = require('hyco-test-support/raw');

/** An HTTP request with exactly these headers (Host included); resolves with the status. */
function httpStatus(port, { method = 'GET', target, headers, body }) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: target, headers, setHost: false }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('a Host that is not hostname[:port] is refused with 400: a token for "a" never opens "b"', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['a', 'b'] });
  await listen(t, relay, 'b');
  const tokenForA = token('a');
  for (const host of ['127.0.0.1/a#', '127.0.0.1/a?', `127.0.0.1:${relay.port}/a#`, '127.0.0.1/a/..', 'user@127.0.0.1', '127.0.0.1 /a']) {
    const headers = { Host: host, ServiceBusAuthorization: tokenForA };
    const listenTry = await rawUpgrade(`ws://127.0.0.1:${relay.port}/$hc/b?sb-hc-action=listen`, headers);
    assert.equal(listenTry.status, 400, `listen with Host ${host}`);
    const sendTry = await rawUpgrade(`ws://127.0.0.1:${relay.port}/$hc/b?sb-hc-action=connect`, headers);
    assert.equal(sendTry.status, 400, `connect with Host ${host}`);
    assert.equal(await httpStatus(relay.port, { method: 'POST', target: '/b', headers, body: 'x' }), 400, `HTTP with Host ${host}`);
  }
  // With a proper Host, the token for "a" is the wrong audience for "b".
  const proper = { Host: `127.0.0.1:${relay.port}`, ServiceBusAuthorization: tokenForA };
  assert.equal((await rawUpgrade(`ws://127.0.0.1:${relay.port}/$hc/b?sb-hc-action=connect`, proper)).status, 403);
  assert.equal((await rawUpgrade(`ws://127.0.0.1:${relay.port}/$hc/b?sb-hc-action=listen`, proper)).status, 403);
  // Well-formed hosts of every kind still work.
  for (const host of [`127.0.0.1:${relay.port}`, '127.0.0.1', 'localhost', 'contoso.servicebus.windows.net', '[::1]:443']) {
    const ok = await rawUpgrade(`ws://127.0.0.1:${relay.port}/$hc/b?sb-hc-action=connect`, { Host: host, ServiceBusAuthorization: token('b', undefined, undefined, host.replace(/:\d+$/, '')) });
    assert.equal(ok.status, undefined, `Host ${host} should be accepted`);
    ok.socket.destroy();
  }
});

test('autoCreate authorizes first: anonymous or badly signed listen attempts create nothing', async (t) => {
  const relay = await startRelay(t, { autoCreate: true, hybridConnections: [] });
  for (let i = 0; i < 20; i++) {
    const anonymous = await rawUpgrade(createRelayListenUri(relay.endpoint, `made/${i}`));
    assert.equal(anonymous.status, 401);
    const forged = await rawUpgrade(createRelayListenUri(relay.endpoint, `forged-${i}`), { ServiceBusAuthorization: token(`forged-${i}`).replace(/sig=[^&]+/, 'sig=AAAA') });
    assert.equal(forged.status, 401);
  }
  assert.deepEqual(relay.stats().hybridConnections, []);
  // A Send-only token cannot create one either.
  const sendOnly = await rawUpgrade(createRelayListenUri(relay.endpoint, 'sneaky'), { ServiceBusAuthorization: token('sneaky', 'SendOnly') });
  assert.equal(sendOnly.status, 403);
  assert.deepEqual(relay.stats().hybridConnections, []);
  // A proper Listen token creates it.
  await listen(t, relay, 'made/here');
  assert.deepEqual(relay.stats().hybridConnections.map((h) => h.path), ['made/here']);
});

test('autoCreate never takes over the senders of an existing hybrid connection', async (t) => {
  const relay = await startRelay(t, { autoCreate: true, hybridConnections: ['hyco'] });
  await listen(t, relay, 'hyco');
  const before = await send(relay, 'hyco/rooms/7');
  before.close();
  assert.equal((await rawUpgrade(createRelayListenUri(relay.endpoint, 'hyco/rooms'))).status, 401);
  // Even an authorized listener may not create a hybrid connection inside another one.
  const nested = await rawUpgrade(createRelayListenUri(relay.endpoint, 'hyco/rooms'), { ServiceBusAuthorization: token('hyco/rooms') });
  assert.equal(nested.status, 404);
  assert.match(nested.statusMessage, /inside "hyco"/);
  assert.deepEqual(relay.stats().hybridConnections.map((h) => h.path), ['hyco']);
  const after = await send(relay, 'hyco/rooms/7');
  after.close();
});

const FORGED = '2026-01-01T00:00:00.000Z listener online    forged (evil)';

test('client-supplied strings cannot forge or break lines of the activity events', async (t) => {
  const relay = await startRelay(t);
  await listen(t, relay);
  const activity = [];
  relay.on('activity', (a) => activity.push(a));
  const nasty = `x\r\n${FORGED}\u001b[2J\u202e`;
  const id = encodeURIComponent(nasty);
  const connection = await send(relay, 'echo', { id: nasty });
  connection.close();
  await rawUpgrade(`${relay.endpoint}/$hc/echo?sb-hc-action=${id}&sb-hc-id=${id}`, { ServiceBusAuthorization: token('echo') });
  await rawUpgrade(`${relay.endpoint}/$hc/nope${encodeURIComponent('\r\n')}x?sb-hc-action=connect&sb-hc-id=${id}`, { ServiceBusAuthorization: token('echo') });
  await until(() => activity.some((a) => a.type === 'connection-closed') && activity.filter((a) => a.type === 'refused').length >= 2, 5000, 'activity');
  for (const a of activity) {
    for (const value of Object.values(a)) {
      if (typeof value !== 'string') continue;
      for (const unsafe of ['\r', '\n', '\u001b', '\u202e']) assert.ok(!value.includes(unsafe), `${a.type}: ${JSON.stringify(value)}`);
      assert.ok(value.length <= 310, `${a.type} field is bounded`);
    }
  }
  assert.ok(activity.some((a) => a.id.includes('\\x0d\\x0a')), 'the tracking id is shown escaped, not dropped');
});

test('the CLI log and its debug output show client strings escaped, never as new lines', async (t) => {
  const cli = path.join(__dirname, '..', 'dist', 'cli.js');
  const child = spawn(process.execPath, [cli, '-p', '0', '--hybrid-connection', 'echo', '--key', RULES[0].key], {
    env: { ...process.env, DEBUG: 'hyco-relay-emulator:*', DEBUG_COLORS: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill());
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  await until(() => /listening on (ws:\/\/\S+)/.test(stdout), 10000, 'the CLI');
  const endpoint = /listening on (ws:\/\/\S+)/.exec(stdout)[1];
  const id = encodeURIComponent(`x\r\n${FORGED}`);
  await rawUpgrade(`${endpoint}/$hc/echo?sb-hc-action=${id}&sb-hc-id=${id}`, { ServiceBusAuthorization: token('echo') });
  await rawUpgrade(`${endpoint}/$hc/echo?sb-hc-action=listen&sb-hc-id=${id}`);
  await until(() => (stdout.match(/refused/g) ?? []).length >= 2, 5000, 'two refusals logged');
  await delay(100);
  for (const line of `${stdout}\n${stderr}`.split('\n')) {
    assert.ok(!line.startsWith('2026-01-01T00:00:00.000Z'), `a forged line: ${line}`);
    assert.ok(!/^\s*2026-01-01T00:00:00\.000Z listener online/.test(line.replace(/^\S+ hyco-relay-emulator:\S+ /, '')), `a forged debug line: ${line}`);
  }
  assert.match(stdout, /\\x0d\\x0a2026-01-01/, 'the forged text is there, escaped, on the line of the refusal');
});

'use strict';
// Each row of the CLI's failure table (src/cli/failures.ts), produced for real: its line, its fix, its exit code
// (2 usage, 3 auth, 4 not found, 5 network); tracking ids only with --verbose; never a key.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const path = require('node:path');
const crypto = require('node:crypto');
const { relayedServer: RelayedServer, createRelayListenUri } = require('hyco-websocket');
const { startRelay, KEY, token } = require('hyco-test-support');
const { startProxy } = require('hyco-test-support');
const { runToExit } = require('hyco-test-support/processes');

const CLI = path.join(__dirname, '..', 'bin', 'hyco-websocket.js');
const env = { ...process.env };
for (const name of ['HYCO_CONNECTION_STRING', 'HTTPS_PROXY', 'HTTP_PROXY', 'https_proxy', 'http_proxy', 'NO_PROXY', 'no_proxy']) delete env[name];

/** Runs the CLI to its end (killed after `ms`): { code, stdout, stderr }. */
function run(args, ms = 15000) {
  return runToExit(CLI, args, { env, ms });
}

function freePort() {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** A SAS token for `resource` that expired a minute ago. */
function expiredToken(resource, rule, key) {
  const expiry = Math.floor(Date.now() / 1000) - 60;
  const sr = encodeURIComponent(resource);
  const sig = crypto.createHmac('sha256', key).update(`${sr}\n${expiry}`).digest('base64');
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${expiry}&skn=${rule}`;
}

function oneLine(result, pattern, exitCode) {
  assert.equal(result.code, exitCode, `exit ${exitCode}: ${result.stderr}`);
  assert.match(result.stderr, pattern);
  assert.equal(result.stderr.trim().split('\n').length, 1, `one line: ${result.stderr}`);
  assert.doesNotMatch(result.stderr, /TrackingId|tracking id|Timestamp/, 'no tracking id without --verbose');
  assert.equal(result.stderr.includes(KEY), false, 'never a key');
}

test('nothing listening on a loopback port: is the emulator running, the command that starts it, exit 5 (send and status)', async () => {
  const port = await freePort();
  const args = ['--namespace', `ws://127.0.0.1:${port}`, '--key-name', 'R', '--key', KEY, '--path', 'echo'];
  for (const command of [['send', '-m', 'hi'], ['status']]) {
    oneLine(await run([...command, ...args]), new RegExp(`nothing answers at ws://127\\.0\\.0\\.1:${port}: is the emulator running on ${port}\\?; fix: npx hyco-relay-emulator --port ${port}`), 5);
  }
});

test('a host name that does not resolve: the DNS row, exit 5', async () => {
  oneLine(await run(['send', '-m', 'hi', '--namespace', 'ws://no-such-host.invalid:9030', '--key-name', 'R', '--key', KEY, '--path', 'echo']), /no such host no-such-host\.invalid \(DNS\); fix: check --namespace/, 5);
});

test('401 by cause: wrong key, expired token, unreadable token; exit 3, with what to check', async (t) => {
  const relay = await startRelay(t);
  const address = `ws://127.0.0.1:${relay.port}`;
  oneLine(await run(['send', '-m', 'hi', '--namespace', address, '--key-name', 'RootManageSharedAccessKey', '--key', 'd3Jvbmcta2V5', '--path', 'echo']), /the relay refused the key \(401\): wrong key or unknown rule name; fix: check --key-name and --key/, 3);
  const expired = `Endpoint=sb://127.0.0.1:${relay.port}/;SharedAccessSignature=${expiredToken('http://127.0.0.1/echo', 'RootManageSharedAccessKey', KEY)};UseDevelopmentEmulator=true;EntityPath=echo`;
  oneLine(await run(['send', '-m', 'hi', '-c', expired]), /it has expired \(401\); fix: a longer --ttl, or check this machine's clock/, 3);
  const garbage = `Endpoint=sb://127.0.0.1:${relay.port}/;SharedAccessSignature=SharedAccessSignature sr=x;UseDevelopmentEmulator=true;EntityPath=echo`;
  oneLine(await run(['status', '-c', garbage]), /the relay could not read the token \(401\)/, 3);
});

test('403 by the right the rule lacks: Listen for listen, Send for send; exit 3', async (t) => {
  const relay = await startRelay(t);
  const cs = (rule) => `${relay.connectionString(rule)};EntityPath=echo`;
  oneLine(await run(['listen', '-c', cs('SendOnly')]), /the rule or role lacks the Listen right on "echo" \(403\); fix: use a rule with Listen/, 3);
  oneLine(await run(['send', '-m', 'hi', '-c', cs('ListenOnly')]), /lacks the Send right on "echo" \(403\)/, 3);
});

test('404: no such hybrid connection (with the command that creates it) vs no listener (with the one that starts it); exit 4; --verbose adds the tracking id', async (t) => {
  const relay = await startRelay(t);
  const cs = (p) => `${relay.connectionString()};EntityPath=${p}`;
  oneLine(await run(['send', '-m', 'hi', '-c', cs('nosuch')]), /there is no hybrid connection "nosuch" in 127\.0\.0\.1 \(404\); fix: npx hyco-relay-emulator hc create nosuch/, 4);
  oneLine(await run(['status', '-c', cs('nosuch')]), /there is no hybrid connection "nosuch"/, 4);
  oneLine(await run(['send', '-m', 'hi', '-c', cs('echo')]), /no listener is online for "echo" \(404\); fix: start one: npx hyco-websocket listen --path echo/, 4);
  const verbose = await run(['send', '-m', 'hi', '-v', '-c', cs('echo')]);
  assert.equal(verbose.code, 4);
  assert.match(verbose.stderr, /no listener is online .*\[tracking id [^\]]+; Connecting through the relay/);
});

test('502 and 504: the listener refused or did not answer in time; exit 5', async (t) => {
  const relay = await startRelay(t, { rendezvousTimeoutMs: 1500 });
  const server = new RelayedServer({ server: createRelayListenUri(relay.endpoint ?? `ws://127.0.0.1:${relay.port}`, 'echo'), token: () => token('echo') });
  t.after(() => server.close());
  let mode = 'ignore';
  server.on('request', (request) => {
    if (mode === 'reject') request.reject(502, 'Bad Gateway');
    // 'ignore': never answered, so the relay answers the sender 504.
  });
  await new Promise((resolve) => server.once('online', resolve));
  const cs = `${relay.connectionString()};EntityPath=echo`;
  oneLine(await run(['send', '-m', 'hi', '-c', cs]), /the listener of "echo" did not answer in time \(504\)/, 5);
  mode = 'reject';
  oneLine(await run(['send', '-m', 'hi', '-c', cs]), /the listener of "echo" did not take the connection \(502\)/, 5);
});

test('a proxy that wants credentials (407): the row and its --proxy fix, exit 3, the password never printed', async (t) => {
  const relay = await startRelay(t);
  const proxy = await startProxy(t, { auth: { user: 'u', password: 'right-password' } });
  const cs = `${relay.connectionString()};EntityPath=echo`;
  const result = await run(['send', '-m', 'hi', '-c', cs, '--proxy', proxy.url('u', 'wrong-password')]);
  oneLine(result, /the proxy asks for credentials \(407\); fix: --proxy http:\/\/user:password@host:port/, 3);
  assert.equal(result.stderr.includes('wrong-password'), false);
});

// Found by a newcomer's run of the README: a connection string without UseDevelopmentEmulator=true against the
// plain emulator printed OpenSSL's "wrong version number" and nothing a newcomer could act on.
test('a wss:// address meeting the plain (ws://) emulator: what it means and the UseDevelopmentEmulator fix, exit 5', async (t) => {
  const relay = await startRelay(t);
  const cs = relay.connectionString().replace(/;?UseDevelopmentEmulator=true/i, '');
  for (const command of [['send', '-m', 'hi'], ['status']]) {
    oneLine(await run([...command, '-c', cs, '--path', 'echo']), /does not speak TLS on that port .*; fix: for the local emulator add ;UseDevelopmentEmulator=true/, 5);
  }
});

'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const fs = require('node:fs');
const os = require('node:os');
const { spawn, spawnSync } = require('node:child_process');
const WebSocket = require('ws');
const { parseConnectionString, createRelayToken, createRelayListenUri, createRelaySendUri } = require('hyco-websocket');
const { onceOrError, nextMessage } = require('hyco-test-support');
const { DEVELOPMENT_KEY, RelayEmulator } = require('hyco-relay-emulator');

const CLI = path.join(__dirname, '..', 'bin', 'hyco-relay-emulator.js');

/** Starts the CLI and resolves once it is ready, with the connection string it printed. */
function startCli(t, args) {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  child.output = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => (child.output += d));
  child.stderr.on('data', (d) => (child.output += d));
  return new Promise((resolve, reject) => {
    const check = () => {
      const m = /connection string:\s+(\S+)/.exec(child.output);
      if (m && /hyco-relay-emulator ready on/.test(child.output)) resolve({ child, connectionString: m[1] });
    };
    child.stdout.on('data', check);
    child.once('exit', (code) => reject(new Error(`CLI exited with ${code}: ${child.output}`)));
  });
}

test('the CLI prints its address and connection string, relays, logs connections without secrets, and stops on SIGINT', async (t) => {
  const key = 'Y2xpLXRlc3Qta2V5';
  const { child, connectionString } = await startCli(t, ['--port', '0', '--hybrid-connection', 'echo', '--key', key]);
  assert.match(child.output, /listening on ws:\/\/127\.0\.0\.1:\d+/);
  assert.match(child.output, /hybrid connection:\s+echo/);
  const cs = parseConnectionString(connectionString);
  assert.equal(cs.useDevelopmentEmulator, true);
  assert.equal(cs.sharedAccessKey, key);
  const tok = createRelayToken(`http://${cs.namespace}/echo`, cs.sharedAccessKeyName, cs.sharedAccessKey);
  const listener = new WebSocket(createRelayListenUri(cs.address, 'echo'), { headers: { ServiceBusAuthorization: tok } });
  t.after(() => listener.terminate());
  listener.on('message', (m) => {
    const r = new WebSocket(JSON.parse(m).accept.address, { perMessageDeflate: false });
    r.on('message', (d, isBinary) => r.send(d, { binary: isBinary }));
  });
  await onceOrError(listener, 'open');
  const sender = new WebSocket(createRelaySendUri(cs.address, 'echo', tok), { perMessageDeflate: false });
  await onceOrError(sender, 'open');
  sender.send('via cli');
  assert.equal(String(await nextMessage(sender)), 'via cli');
  sender.close();
  await onceOrError(sender, 'close');
  // The key is in the banner's connection strings, and nowhere after the ready line.
  const logStart = child.output.indexOf('hyco-relay-emulator ready on');
  assert.ok(logStart > 0);
  const log = child.output.slice(child.output.indexOf('\n', logStart));
  assert.match(log, /listener online\s+echo/);
  assert.match(log, /connection open\s+echo/);
  assert.equal(log.includes(key), false, 'the key appears only in the connection string line');
  assert.equal(log.includes('SharedAccessSignature'), false);
  child.kill('SIGINT');
  const [code] = await onceOrError(child, 'exit');
  assert.equal(code, 0);
  assert.match(child.output, /shutting down/);
});

/** Resolves once `pattern` has appeared in the child's output (lines may arrive in separate chunks). */
function outputMatches(child, pattern, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${pattern} in: ${child.output}`)), ms);
    const check = () => {
      if (!pattern.test(child.output)) return;
      clearTimeout(timer);
      child.stdout.off('data', check);
      resolve();
    };
    child.stdout.on('data', check);
    check();
  });
}

test('without --key the CLI takes the well-known development key, the same at every start; --random-key makes a fresh one each time', async (t) => {
  const { child, connectionString } = await startCli(t, ['-p', '0']);
  await outputMatches(child, /the well-known development key/);
  const cs = parseConnectionString(connectionString);
  assert.equal(cs.sharedAccessKeyName, 'RootManageSharedAccessKey');
  assert.equal(cs.sharedAccessKey, DEVELOPMENT_KEY);
  assert.equal(DEVELOPMENT_KEY, 'aHljby1yZWxheS1lbXVsYXRvci1kZXZlbG9wbWVudC1rZXk=');
  const keys = [];
  for (let i = 0; i < 2; i++) {
    const random = await startCli(t, ['-p', '0', '--random-key']);
    keys.push(parseConnectionString(random.connectionString).sharedAccessKey);
    await outputMatches(random.child, /key:\s+given, or random/);
  }
  assert.notEqual(keys[0], keys[1]);
  for (const key of keys) {
    assert.notEqual(key, DEVELOPMENT_KEY);
    assert.equal(Buffer.from(key, 'base64').length, 32);
  }
  const both = spawnSync(process.execPath, [CLI, '-p', '0', '--random-key', '--key', 'eA=='], { encoding: 'utf8' });
  assert.equal(both.status, 1);
  assert.match(both.stderr, /--key or --random-key, not both/);
});

test('--config reads options from JSON; flags win', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyco-cli-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'relay.json');
  fs.writeFileSync(file, JSON.stringify({ port: 1, hybridConnections: ['a', { path: 'b', requiresClientAuthorization: false }] }));
  const { child } = await startCli(t, ['--config', file, '--port', '0']);
  assert.match(child.output, /hybrid connection:\s+a\n/);
  assert.match(child.output, /hybrid connection:\s+b \(anonymous senders\)/);
});

test('--help describes every flag; bad flags fail with one line (did you mean), a pointer to --help and exit 2, not the whole help', () => {
  const help = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  for (const flag of ['--port', '--host', '--hybrid-connection', '--key-name', '--key', '--auto-create', '--tls-cert', '--tls-key', '--tls-self-signed', '--listener-pings', '--config']) {
    assert.ok(help.stdout.includes(flag), flag);
  }
  const bad = spawnSync(process.execPath, [CLI, '--port', 'eighty'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--port must be a whole number/);
  const lonely = spawnSync(process.execPath, [CLI, '--tls-cert', 'x.pem', '-p', '0'], { encoding: 'utf8' });
  assert.equal(lonely.status, 1);
  assert.match(lonely.stderr, /--tls-cert and --tls-key go together/);
  const pings = spawnSync(process.execPath, [CLI, '--listener-pings', 'ignore', '-p', '0'], { encoding: 'utf8' });
  assert.equal(pings.status, 2);
  assert.match(pings.stderr, /--listener-pings.*answer, close/);
  const missing = spawnSync(process.execPath, [CLI, '--config', '/nonexistent/relay.json'], { encoding: 'utf8' });
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /cannot read --config/);
  const misspelt = spawnSync(process.execPath, [CLI, '--prot', '0'], { encoding: 'utf8' });
  assert.equal(misspelt.status, 2);
  assert.match(misspelt.stderr, /unknown option '--prot'\n\(Did you mean --port\?\)\n\(see hyco-relay-emulator --help\)\n$/);
  assert.equal(misspelt.stdout, '');
  assert.ok(misspelt.stderr.split('\n').length <= 4, 'a few lines, not the help');
  const stray = spawnSync(process.execPath, [CLI, 'hc', 'creat', 'x'], { encoding: 'utf8' });
  assert.equal(stray.status, 2);
  assert.match(stray.stderr, /Did you mean create\?/);
});

test('a port in use: one line with the --port 0 fix and exit 5; --verbose says where each setting came from (flag, --config, default)', async (t) => {
  const net = require('node:net');
  const busy = net.createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => busy.once('listening', resolve));
  t.after(() => busy.close());
  const taken = spawnSync(process.execPath, [CLI, '--port', String(busy.address().port)], { encoding: 'utf8', timeout: 20000 });
  assert.equal(taken.status, 5);
  assert.match(taken.stderr, new RegExp(`port ${busy.address().port} is in use .*fix: --port 0 for any free port`));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyco-cli-verbose-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const config = path.join(dir, 'relay.json');
  fs.writeFileSync(config, JSON.stringify({ Emulator: { Port: busy.address().port, AutoCreate: true } }));
  // The flag beats the file's port (which is taken): the emulator starts.
  const { child } = await startCli(t, ['--config', config, '--port', '0', '--verbose', '--key', 'dmVyYm9zZS1rZXk=']);
  assert.match(child.output, /port: 0 \(from flag\)/);
  assert.match(child.output, /auto-create: on \(from --config /);
  assert.match(child.output, /host: 127\.0\.0\.1 \(from default\)/);
  assert.match(child.output, /key: \(set\) \(from flag\)/);
  assert.equal(child.output.slice(0, child.output.indexOf('listening on')).includes('dmVyYm9zZS1rZXk='), false, '--verbose never prints the key');
});

test('a closed stdout (piped into head) ends the CLI quietly, with no stack trace', async (t) => {
  const { child, connectionString } = await startCli(t, ['--port', '0', '--hybrid-connection', 'echo', '--key', 'cGlwZS1rZXk=']);
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.destroy();
  // Activity makes the CLI write to the closed pipe.
  const cs = parseConnectionString(connectionString);
  const tok = createRelayToken(`http://${cs.namespace}/echo`, cs.sharedAccessKeyName, cs.sharedAccessKey);
  const listener = new WebSocket(createRelayListenUri(cs.address, 'echo'), { headers: { ServiceBusAuthorization: tok } });
  listener.on('error', () => {});
  t.after(() => listener.terminate());
  const [code] = await onceOrError(child, 'exit');
  assert.equal(code, 0);
  assert.equal(stderr.includes('EPIPE'), false, stderr);
});

test('--listener-pings close: a listener that pings its control channel is closed with 1008', async (t) => {
  const { connectionString } = await startCli(t, ['--port', '0', '--hybrid-connection', 'echo', '--key', 'cGluZy1rZXk=', '--listener-pings', 'close']);
  const cs = parseConnectionString(connectionString);
  const tok = createRelayToken(`http://${cs.namespace}/echo`, cs.sharedAccessKeyName, cs.sharedAccessKey);
  const listener = new WebSocket(createRelayListenUri(cs.address, 'echo'), { headers: { ServiceBusAuthorization: tok } });
  t.after(() => listener.terminate());
  await onceOrError(listener, 'open');
  const closed = onceOrError(listener, 'close');
  listener.ping();
  const [code, reason] = await closed;
  assert.equal(code, 1008);
  assert.match(String(reason), /Pings are not accepted/);
});

test('RelayEmulator.start without rules takes the development key; randomKey a fresh one; randomKey with rules is refused', async (t) => {
  const relay = await RelayEmulator.start();
  t.after(() => relay.close());
  assert.deepEqual(relay.rules, [{ name: 'RootManageSharedAccessKey', key: DEVELOPMENT_KEY, rights: ['Listen', 'Send', 'Manage'] }]);
  assert.equal(relay.usesDevelopmentKey, true);
  const random = await RelayEmulator.start({ randomKey: true });
  t.after(() => random.close());
  assert.notEqual(random.rules[0].key, DEVELOPMENT_KEY);
  assert.equal(random.usesDevelopmentKey, false);
  await assert.rejects(RelayEmulator.start({ randomKey: true, rules: [{ name: 'r', key: 'k', rights: ['Listen'] }] }), {
    code: 'ERR_HYCO_INVALID_ARGUMENT',
    message: /randomKey is for the default rule/,
  });
});

'use strict';
// The configuration file: the Service Bus emulator's shape (UserConfig) and
// the emulator's own settings (Emulator), checked against the JSON Schema
// the package ships; flags win over it.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const WebSocket = require('ws');
const { createRelayToken, createRelayListenUri, parseConnectionString } = require('hyco-websocket');
const { optionsFromConfig, RelayEmulator, CONFIG_SCHEMA_PATH } = require('hyco-relay-emulator');
const { onceOrError, send, sendWs } = require('hyco-test-support');
const { startJsonProcess } = require('hyco-test-support/processes');

const CLI = path.join(__dirname, '..', 'bin', 'hyco-relay-emulator.js');
const PACKAGE = path.join(__dirname, '..');

function writeConfig(t, value) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyco-config-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'relay.json');
  fs.writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
  return file;
}

function freePort() {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Starts the CLI with --json; resolves with the summary it printed. */
function startJson(t, args) {
  return startJsonProcess(t, CLI, ['--json', ...args]);
}

const RULE = { KeyName: 'RootManageSharedAccessKey', PrimaryKey: 'cHJpbWFyeS1rZXk=', SecondaryKey: 'c2Vjb25kYXJ5LWtleQ==', Rights: ['Listen', 'Send', 'Manage'] };

test('a misspelt key, a wrong type or a wrong value stops start-up, naming the JSON path, the keys accepted there and what was probably meant', async (t) => {
  const file = writeConfig(t, {
    UserConfig: {
      Namespaces: [{ Name: 'ns', AuthorisationRules: [RULE], HybridConnections: [{ Name: 'echo', RequiresClientAuthorisation: false }, { Name: 'x', AuthorizationRules: [{ ...RULE, Rights: ['Listen', 'Read'] }] }] }],
    },
    Emulator: { Port: '9030', ListenerPings: 'ignore' },
  });
  const run = spawnSync(process.execPath, [CLI, '--config', file, '-p', '0'], { encoding: 'utf8' });
  assert.equal(run.status, 1);
  assert.equal(run.stdout, '', 'nothing started');
  const lines = run.stderr.split('\n');
  assert.match(lines[0], /relay\.json does not match the configuration schema/);
  const expected = [
    '  $.UserConfig.Namespaces[0].AuthorisationRules: unknown key (did you mean "AuthorizationRules"?); the keys accepted in $.UserConfig.Namespaces[0] are Name, AuthorizationRules, HybridConnections',
    '  $.UserConfig.Namespaces[0].HybridConnections[0].RequiresClientAuthorisation: unknown key (did you mean "RequiresClientAuthorization"?); the keys accepted in $.UserConfig.Namespaces[0].HybridConnections[0] are Name, RequiresClientAuthorization, UserMetadata, AuthorizationRules',
    '  $.UserConfig.Namespaces[0].HybridConnections[1].AuthorizationRules[0].Rights[1]: must be one of "Listen", "Send", "Manage"',
    '  $.Emulator.Port: must be integer',
    '  $.Emulator.ListenerPings: must be one of "answer", "close"',
  ];
  for (const line of expected) assert.ok(lines.includes(line), `${line}\nin\n${run.stderr}`);
  // No secret of the file in the message.
  assert.equal(run.stderr.includes(RULE.PrimaryKey), false);
  // The earlier format is checked the same way.
  const old = spawnSync(process.execPath, [CLI, '--config', writeConfig(t, { hybridConnection: ['echo'] }), '-p', '0'], { encoding: 'utf8' });
  assert.equal(old.status, 1);
  assert.match(old.stderr, /\$\.hybridConnection: unknown key \(did you mean "hybridConnections"\?\)/);
  // And from code: a coded error.
  assert.throws(() => optionsFromConfig({ UserConfig: { Namespaces: [] } }), { code: 'ERR_HYCO_INVALID_CONFIG', message: /\$\.UserConfig\.Namespaces: must NOT have fewer than 1 items/ });
});

test('the file\'s rules (both keys sign valid tokens), hybrid connections (one anonymous) and Emulator.Port are honoured', async (t) => {
  const port = await freePort();
  const file = writeConfig(t, {
    UserConfig: {
      Namespaces: [
        {
          Name: 'relayemulatorns',
          AuthorizationRules: [RULE],
          HybridConnections: [{ Name: 'echo', UserMetadata: 'from the file' }, { Name: 'open', RequiresClientAuthorization: false }],
        },
      ],
    },
    Emulator: { Port: port, HandshakeTimeoutMs: 5000 },
  });
  const { summary } = await startJson(t, ['--config', file]);
  assert.equal(summary.port, port, 'the file\'s port');
  assert.equal(parseConnectionString(summary.connectionString).sharedAccessKey, RULE.PrimaryKey);
  assert.deepEqual(summary.hybridConnections.map((h) => [h.name, h.requiresClientAuthorization]), [['echo', true], ['open', false]]);
  // A listener with a token of the secondary key, a sender with one of the primary key.
  for (const [hc, key] of [['echo', RULE.SecondaryKey], ['open', RULE.PrimaryKey]]) {
    const listener = new WebSocket(createRelayListenUri(summary.endpoint, hc), { headers: { ServiceBusAuthorization: createRelayToken(`http://127.0.0.1/${hc}`, RULE.KeyName, key) }, perMessageDeflate: false });
    t.after(() => listener.terminate());
    listener.on('message', (m) => {
      const r = new WebSocket(JSON.parse(m).accept.address, { perMessageDeflate: false });
      r.on('message', (d) => r.send(d));
      t.after(() => r.terminate());
    });
    await onceOrError(listener, 'open');
  }
  const secondary = await send(summary.endpoint, 'echo', { token: createRelayToken('http://127.0.0.1/echo', RULE.KeyName, RULE.SecondaryKey) });
  secondary.drop();
  // The anonymous one takes a sender with no token at all; the other does not.
  const anonymous = await sendWs(summary.endpoint, 'open', { token: null });
  anonymous.terminate();
  await assert.rejects(sendWs(summary.endpoint, 'echo', { token: null }), { status: 401 });
  const wrongKey = createRelayToken('http://127.0.0.1/echo', RULE.KeyName, 'bm90LWEta2V5');
  await assert.rejects(send(summary.endpoint, 'echo', { token: wrongKey }), { status: 401 });
});

test('flags win over the file: --port, --host, --key and --hybrid-connection over Emulator.Port, the rules and the list', async (t) => {
  const filePort = await freePort();
  const file = writeConfig(t, {
    UserConfig: { Namespaces: [{ Name: 'ns', AuthorizationRules: [RULE], HybridConnections: [{ Name: 'echo' }] }] },
    Emulator: { Port: filePort, Host: 'localhost' },
  });
  const { summary } = await startJson(t, ['--config', file, '--port', '0', '--host', '127.0.0.1', '--key-name', 'FromFlags', '--key', 'ZmxhZy1rZXk=', '--hybrid-connection', 'more']);
  assert.notEqual(summary.port, filePort);
  assert.match(summary.endpoint, /^ws:\/\/127\.0\.0\.1:/);
  const cs = parseConnectionString(summary.connectionString);
  assert.deepEqual([cs.sharedAccessKeyName, cs.sharedAccessKey], ['FromFlags', 'ZmxhZy1rZXk=']);
  assert.deepEqual(summary.hybridConnections.map((h) => h.name), ['echo', 'more']);
  // The file's port was left alone.
  const probe = net.createServer();
  await new Promise((resolve, reject) => probe.once('error', reject).listen(filePort, '127.0.0.1', resolve));
  probe.close();
});

test('the earlier format (RelayEmulator.start options) is still read, with a note; its port is honoured too', async (t) => {
  const port = await freePort();
  const file = writeConfig(t, { port, hybridConnections: ['a', { path: 'b', requiresClientAuthorization: false }] });
  const { summary, stderr } = await startJson(t, ['--config', file]);
  assert.equal(summary.port, port);
  assert.deepEqual(summary.hybridConnections.map((h) => [h.name, h.requiresClientAuthorization]), [['a', true], ['b', false]]);
  assert.match(stderr(), /read as RelayEmulator\.start options \(the earlier format\)/);
});

test('the schema ships in the package (files, exports) and the README\'s example file passes it', async (t) => {
  const manifest = JSON.parse(fs.readFileSync(path.join(PACKAGE, 'package.json'), 'utf8'));
  assert.ok(manifest.files.includes('config.schema.json'));
  assert.equal(require.resolve('hyco-relay-emulator/config.schema.json'), CONFIG_SCHEMA_PATH);
  const schema = JSON.parse(fs.readFileSync(CONFIG_SCHEMA_PATH, 'utf8'));
  assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
  const readme = fs.readFileSync(path.join(PACKAGE, 'README.md'), 'utf8');
  const example = /<!-- config-example -->\s*```json\n([\s\S]*?)```/.exec(readme);
  assert.ok(example, 'the README has an example configuration');
  const { options, format } = optionsFromConfig(JSON.parse(example[1]), 'README example', PACKAGE);
  assert.equal(format, 'UserConfig');
  const relay = await RelayEmulator.start({ ...options, port: 0 });
  t.after(() => relay.close());
  assert.ok(relay.stats().hybridConnections.length >= 1);
});

'use strict';
// The CLI's settings: flags > configuration file (forward -f) > environment (HYCO_CONNECTION_STRING) > defaults;
// a flag overrides its part of a connection string; --verbose says where each came from; unknown flags are errors.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { parseRelayToken } = require('hyco-websocket');
const { verifySignature } = require('hyco-websocket/protocol');

const ROOT = path.join(__dirname, '..', '..', '..');
const CLI = path.join(__dirname, '..', 'bin', 'hyco-websocket.js');
const ENV_KEY = 'ZW52aXJvbm1lbnQta2V5';
const FLAG_KEY = 'ZmxhZy1rZXk=';
const FILE_KEY = 'ZmlsZS1rZXk=';
const ENV_CS = `Endpoint=sb://env.example/;SharedAccessKeyName=EnvRule;SharedAccessKey=${ENV_KEY};EntityPath=envpath`;
const FLAG_CS = `Endpoint=sb://flag.example/;SharedAccessKeyName=FlagRule;SharedAccessKey=${FLAG_KEY};EntityPath=flagpath`;

const base = { ...process.env };
delete base.HYCO_CONNECTION_STRING;
delete base.HTTPS_PROXY;
delete base.HTTP_PROXY;
delete base.https_proxy;
delete base.http_proxy;

function cli(args, env = {}, options = {}) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...base, ...env }, ...options });
}

/** The token a `token --json` run printed, parsed. */
function tokenOf(run) {
  assert.equal(run.status, 0, run.stderr);
  const line = JSON.parse(run.stdout);
  assert.equal(line.type, 'token');
  return { ...parseRelayToken(line.token), path: line.path };
}

test('token: the environment\'s connection string is used when no flag gives one', () => {
  const t = tokenOf(cli(['token', '--json'], { HYCO_CONNECTION_STRING: ENV_CS }));
  assert.equal(t.resource, 'http://env.example/envpath');
  assert.equal(t.keyName, 'EnvRule');
  assert.ok(verifySignature(t, ENV_KEY));
});

test('explicit --key-name/--key beat an exported HYCO_CONNECTION_STRING\'s key (the rest of it still applies)', () => {
  const t = tokenOf(cli(['token', '--json', '--key-name', 'FlagRule', '--key', FLAG_KEY], { HYCO_CONNECTION_STRING: ENV_CS }));
  assert.equal(t.keyName, 'FlagRule');
  assert.ok(verifySignature(t, FLAG_KEY), 'signed with the key given on the command line');
  assert.equal(t.resource, 'http://env.example/envpath');
});

test('-c beats the environment; --key given with -c overrides the string\'s key; --path its EntityPath', () => {
  const flagCs = tokenOf(cli(['token', '--json', '-c', FLAG_CS], { HYCO_CONNECTION_STRING: ENV_CS }));
  assert.equal(flagCs.resource, 'http://flag.example/flagpath');
  assert.ok(verifySignature(flagCs, FLAG_KEY));
  const withKey = tokenOf(cli(['token', '--json', '-c', FLAG_CS, '--key', ENV_KEY]));
  assert.equal(withKey.keyName, 'FlagRule', 'the name still comes from the string');
  assert.ok(verifySignature(withKey, ENV_KEY), '--key is no longer ignored');
  const withPath = tokenOf(cli(['token', '--json', '--path', 'other'], { HYCO_CONNECTION_STRING: ENV_CS }));
  assert.equal(withPath.resource, 'http://env.example/other');
});

test('--namespace of another host does not borrow the environment string\'s key: a usage error, exit 2', () => {
  const run = cli(['token', '--namespace', 'elsewhere.example'], { HYCO_CONNECTION_STRING: ENV_CS });
  assert.equal(run.status, 2);
  assert.match(run.stderr, /give --key-name and --key/);
  const uri = cli(['uri', '--json', '--namespace', 'ws://127.0.0.1:9030', '--key-name', 'R', '--key', FLAG_KEY], { HYCO_CONNECTION_STRING: ENV_CS });
  assert.equal(JSON.parse(uri.stdout).uri, 'ws://127.0.0.1:9030/$hc/envpath?sb-hc-action=connect', 'the namespace from the flag, the path from the environment');
});

test('--ttl: the flag over the default', () => {
  const lifetime = (run) => tokenOf(run).expiry - Math.floor(Date.now() / 1000);
  const byDefault = lifetime(cli(['token', '--json'], { HYCO_CONNECTION_STRING: ENV_CS }));
  assert.ok(byDefault > 3500 && byDefault <= 3600, String(byDefault));
  const byFlag = lifetime(cli(['token', '--json', '--ttl', '60'], { HYCO_CONNECTION_STRING: ENV_CS }));
  assert.ok(byFlag > 40 && byFlag <= 60, String(byFlag));
});

test('--verbose says where each effective setting came from, on stderr, and never prints a key', () => {
  const run = cli(['token', '--json', '--verbose', '--key-name', 'FlagRule', '--key', FLAG_KEY, '--ttl', '60'], { HYCO_CONNECTION_STRING: ENV_CS, HTTPS_PROXY: 'http://user:hunter2@proxy.example:3128' });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stderr, /namespace: wss:\/\/env\.example:443 \(from \$HYCO_CONNECTION_STRING\)/);
  assert.match(run.stderr, /path: envpath \(from \$HYCO_CONNECTION_STRING \(EntityPath\)\)/);
  assert.match(run.stderr, /key name: FlagRule \(from --key-name\)/);
  assert.match(run.stderr, /key: \(set\) \(from --key\)/);
  assert.match(run.stderr, /token lifetime: 60 s \(from --ttl\)/);
  assert.match(run.stderr, /proxy: http:\/\/user:\*\*\*@proxy\.example:3128\/ \(from \$HTTPS_PROXY/);
  for (const secret of [FLAG_KEY, ENV_KEY, 'hunter2']) assert.equal(run.stderr.includes(secret), false, `${secret} is never printed`);
  assert.equal(JSON.parse(run.stdout).type, 'token', 'stdout holds the JSON alone');
});

test('forward: flags > -f configuration file > HYCO_CONNECTION_STRING, said by --verbose', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyco-settings-'));
  try {
    const file = path.join(dir, 'azbridge.yml');
    fs.writeFileSync(file, `AzureRelayConnectionString: Endpoint=sb://file.example/;SharedAccessKeyName=FileRule;SharedAccessKey=${FILE_KEY}\n`);
    // -L listens locally only (the relay is reached per connection): the settings are printed, then it is stopped.
    const forward = (args, env) => cli(['forward', '--verbose', '-L', '127.0.0.1:0:r', ...args], env, { timeout: 2500 });
    const fileOverEnv = forward(['-f', file], { HYCO_CONNECTION_STRING: ENV_CS });
    assert.match(fileOverEnv.stderr, /namespace: wss:\/\/file\.example:443 \(from -f .*azbridge\.yml \(ConnectionString\)\)/);
    assert.match(fileOverEnv.stderr, /key name: FileRule \(from -f /);
    const envAlone = forward([], { HYCO_CONNECTION_STRING: ENV_CS });
    assert.match(envAlone.stderr, /namespace: wss:\/\/env\.example:443 \(from \$HYCO_CONNECTION_STRING\)/);
    const flagsOverFile = forward(['-f', file, '-x', FLAG_CS, '-K', 'Explicit', '-k', ENV_KEY], { HYCO_CONNECTION_STRING: ENV_CS });
    assert.match(flagsOverFile.stderr, /namespace: wss:\/\/flag\.example:443 \(from -x\/--connection-string\)/);
    assert.match(flagsOverFile.stderr, /key name: Explicit \(from -K\/--key-name\)/);
    assert.match(flagsOverFile.stderr, /key: \(set\) \(from -k\/--key\)/);
    const endpointOverFile = forward(['-f', file, '-e', 'sb://endpoint.example/']);
    assert.match(endpointOverFile.stderr, /namespace: wss:\/\/endpoint\.example:443 \(from -e\/--endpoint\)/);
    assert.match(endpointOverFile.stderr, /key name: FileRule \(from -f /, 'the key still from the file');
    for (const run of [fileOverEnv, envAlone, flagsOverFile, endpointOverFile]) {
      for (const secret of [FLAG_KEY, ENV_KEY, FILE_KEY]) assert.equal(run.stderr.includes(secret), false);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('unknown flags and arguments: one line with "did you mean", a pointer to the command\'s --help, exit 2, nothing on stdout', () => {
  const misspelt = cli(['send', '--mesage', 'hi']);
  assert.equal(misspelt.status, 2);
  assert.equal(misspelt.stdout, '');
  assert.equal(misspelt.stderr, "hyco-websocket: unknown option '--mesage'\n(Did you mean --message?)\n(see hyco-websocket send --help)\n");
  const stray = cli(['token', 'extra']);
  assert.equal(stray.status, 2);
  assert.match(stray.stderr, /too many arguments for 'token'/);
  assert.ok(stray.stderr.trim().split('\n').length <= 3);
  const command = cli(['lisen']);
  assert.equal(command.status, 2);
  assert.match(command.stderr, /Did you mean listen\?/);
  const forward = cli(['forward', '--local-forwrd', '1:r']);
  assert.equal(forward.status, 2);
  assert.match(forward.stderr, /Did you mean --local-forward\?/);
  const badValue = cli(['send', '--wait', 'soon']);
  assert.equal(badValue.status, 2);
});

test('npm start and the examples refuse unknown flags and stray arguments (did you mean), exit 2, and start nothing', () => {
  const run = (script, args) => spawnSync(process.execPath, [path.join(ROOT, script), ...args], { encoding: 'utf8', env: base, timeout: 10000 });
  const start = run('scripts/start.js', ['--conection-string', 'x']);
  assert.equal(start.status, 2);
  assert.equal(start.stdout, '', 'the demo did not start');
  assert.match(start.stderr, /unknown option '--conection-string' \(did you mean --connection-string\?\)\nnpm start: \(see npm start -- --help\)/);
  const bogus = run('scripts/start.js', ['--bogus']);
  assert.equal(bogus.status, 2);
  assert.doesNotMatch(bogus.stderr, /did you mean/, 'no suggestion when nothing is close');
  const help = run('scripts/start.js', ['--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--sender-connection-string/);
  for (const [script, args, pattern] of [
    ['examples/sender.js', ['--mesage', 'hi'], /did you mean --message\?/],
    ['examples/listener.js', ['stray'], /unexpected argument 'stray'/],
    ['examples/hybrid.js', ['--http-prot', '1'], /did you mean --http-port\?/],
  ]) {
    const r = run(script, args);
    assert.equal(r.status, 2, `${script}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
  }
});

test('npm start --verbose: the flag over the environment over the default, said per setting, never a key', () => {
  const run = (args, extraEnv) => spawnSync(process.execPath, [path.join(ROOT, 'scripts/start.js'), '--verbose', ...args], { encoding: 'utf8', env: { ...base, ...extraEnv }, timeout: 3000 });
  // Both strings name a closed port: the settings are said first, then it is stopped while it retries.
  const closed = 'Endpoint=sb://127.0.0.1:1/;SharedAccessKeyName=R;SharedAccessKey=';
  const both = run(['--connection-string', `${closed}${FLAG_KEY}`, '--http-port', '0'], { HYCO_CONNECTION_STRING: `${closed}${ENV_KEY}` });
  assert.match(both.stderr, /connection string: from --connection-string/);
  assert.match(both.stderr, /http port: 0 \(from --http-port\)/);
  assert.match(both.stderr, /path: from the connection string's EntityPath, else chat \(default\)/);
  const envOnly = run(['--http-port', '0'], { HYCO_CONNECTION_STRING: `${closed}${ENV_KEY}` });
  assert.match(envOnly.stderr, /connection string: from \$HYCO_CONNECTION_STRING/);
  assert.match(envOnly.stderr, /emulator port: 9030 \(from default\)/);
  for (const r of [both, envOnly]) for (const key of [FLAG_KEY, ENV_KEY]) assert.equal(r.stderr.includes(key), false);
});

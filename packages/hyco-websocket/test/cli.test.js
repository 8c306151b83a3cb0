'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { parseRelayToken } = require('hyco-websocket');
const { verifySignature } = require('hyco-websocket/protocol');
const { startRelay, KEY } = require('hyco-test-support');

const CLI = path.join(__dirname, '..', 'bin', 'hyco-websocket.js');
const env = { ...process.env };
delete env.HYCO_CONNECTION_STRING;

function cli(args, extraEnv = {}) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...env, ...extraEnv } });
}

test('token: a SAS token for the path from a key, or from a connection string in the environment', () => {
  const fromFlags = cli(['token', '--namespace', 'contoso.servicebus.windows.net', '--key-name', 'Rule', '--key', KEY, '--path', 'hyco', '--ttl', '120']);
  assert.equal(fromFlags.status, 0, fromFlags.stderr);
  const parsed = parseRelayToken(fromFlags.stdout.trim());
  assert.equal(parsed.resource, 'http://contoso.servicebus.windows.net/hyco');
  assert.equal(parsed.keyName, 'Rule');
  assert.ok(verifySignature(parsed, KEY));
  const lifetime = parsed.expiry - Math.floor(Date.now() / 1000);
  assert.ok(lifetime > 100 && lifetime <= 120, `ttl honoured (${lifetime})`);
  const fromEnv = cli(['token'], { HYCO_CONNECTION_STRING: `Endpoint=sb://ns.example/;SharedAccessKeyName=R;SharedAccessKey=${KEY};EntityPath=chat` });
  assert.equal(parseRelayToken(fromEnv.stdout.trim()).resource, 'http://ns.example/chat');
});

test('uri: listen and send addresses, with an embedded token on request', () => {
  const cs = `Endpoint=sb://127.0.0.1:9030/;SharedAccessKeyName=R;SharedAccessKey=${KEY};UseDevelopmentEmulator=true;EntityPath=echo`;
  assert.equal(cli(['uri', '-c', cs]).stdout.trim(), 'ws://127.0.0.1:9030/$hc/echo?sb-hc-action=connect');
  assert.equal(cli(['uri', '-c', cs, '--action', 'listen', '--id', 'x1']).stdout.trim(), 'ws://127.0.0.1:9030/$hc/echo?sb-hc-action=listen&sb-hc-id=x1');
  const withToken = new URL(cli(['uri', '-c', cs, '--with-token']).stdout.trim());
  assert.equal(parseRelayToken(withToken.searchParams.get('sb-hc-token')).resource, 'http://127.0.0.1/echo');
  const bad = cli(['uri', '-c', cs, '--action', 'dance']);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /dance/);
});

test('missing settings fail with a message, never a stack or a key', () => {
  const none = cli(['token']);
  assert.equal(none.status, 1);
  assert.match(none.stderr, /give --connection-string/);
  const noKey = cli(['token', '--namespace', 'ns.example']);
  assert.match(noKey.stderr, /--key-name and --key/);
  const badCs = cli(['token', '-c', `Endpoint=ftp://x/;SharedAccessKeyName=R;SharedAccessKey=${KEY}`]);
  assert.match(badCs.stderr, /unknown scheme "ftp"/);
  assert.equal(badCs.stderr.includes(KEY), false);
  assert.equal(/\n\s+at /.test(badCs.stderr), false, 'no stack trace');
});

test('--help on each command', () => {
  for (const command of ['token', 'uri', 'listen', 'send']) {
    const help = cli([command, '--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, new RegExp(`Usage: hyco-websocket ${command}`));
    assert.match(help.stdout, /--connection-string/);
  }
});

test('listen and send talk through the emulator; listen stops on Ctrl-C', async (t) => {
  const relay = await startRelay(t);
  const cs = `${relay.connectionString()};EntityPath=echo`;
  const listener = spawn(process.execPath, [CLI, 'listen', '-c', cs], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => listener.exitCode === null && listener.kill('SIGKILL'));
  let output = '';
  await new Promise((resolve, reject) => {
    listener.stdout.on('data', (d) => {
      output += d;
      if (/listening on "echo"/.test(output)) resolve();
    });
    listener.once('exit', () => reject(new Error(output)));
  });
  const sent = await new Promise((resolve) => {
    const sender = spawn(process.execPath, [CLI, 'send', '-c', cs, '--message', 'hello cli'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    sender.stdout.on('data', (d) => (text += d));
    sender.on('exit', (code) => resolve({ code, text }));
  });
  assert.equal(sent.code, 0);
  assert.equal(sent.text.trim(), 'hello cli');
  assert.match(output, /< hello cli/);
  listener.kill('SIGINT');
  const code = await new Promise((resolve) => listener.once('exit', resolve));
  assert.equal(code, 0);
});

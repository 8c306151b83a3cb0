'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { parseRelayToken } = require('hyco-websocket');
const { verifySignature } = require('hyco-websocket/protocol');
const { startRelay, KEY, send, until } = require('hyco-test-support');
const { runToExit } = require('hyco-test-support/processes');

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
  assert.equal(none.status, 2, 'a usage error');
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

/** Runs a CLI command until it exits (or `ms` passes: then it is killed); resolves with its code and output. */
function runFor(args, ms) {
  return runToExit(CLI, args, { env, ms });
}

test('listen stops with a clear message and exit 3 (auth) when the relay refuses its key (401), said once', async (t) => {
  const relay = await startRelay(t);
  const wrong = relay.connectionString().replace(/SharedAccessKey=[^;]+/, 'SharedAccessKey=d3Jvbmcta2V5');
  const run = await runFor(['listen', '-c', `${wrong};EntityPath=echo`], 10000);
  assert.equal(run.code, 3, `exited by itself (${run.signal ?? run.code})`);
  assert.match(run.stderr, /the relay refused the key \(401\): wrong key or unknown rule name; fix: check --key-name and --key/);
  assert.equal(run.stderr.match(/refused the key/g).length, 1);
  assert.equal(run.stderr.includes('d3Jvbmcta2V5'), false, 'the key is never printed');
});

test('listen against a loopback port where nothing listens asks whether the emulator is running, once, and keeps trying', async () => {
  const net = require('node:net');
  const port = await new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port: p } = probe.address();
      probe.close(() => resolve(p));
    });
  });
  const run = await runFor(['listen', '--namespace', `ws://127.0.0.1:${port}`, '--key-name', 'R', '--key', KEY, '--path', 'echo'], 3000);
  assert.equal(run.signal, 'SIGKILL', 'it keeps retrying (the emulator may start later)');
  assert.match(run.stderr, new RegExp(`is the emulator running on ${port}\\?`));
  assert.equal(run.stderr.match(/is the emulator running/g).length, 1, 'said once, not on every retry');
});

test('listen on a hybrid connection that does not exist says so once, with the command that creates it, and exits 4', async (t) => {
  const relay = await startRelay(t);
  const run = await runFor(['listen', '-c', `${relay.connectionString()};EntityPath=nosuch`], 10000);
  assert.equal(run.code, 4);
  assert.equal(run.stderr.match(/there is no hybrid connection "nosuch"/g)?.length, 1, run.stderr);
  assert.match(run.stderr, /fix: npx hyco-relay-emulator hc create nosuch/);
});

test('--version prints the package version; --key without --key-name says which is missing', () => {
  const version = cli(['--version']);
  assert.equal(version.status, 0);
  assert.equal(version.stdout.trim(), require('hyco-websocket/package.json').version);
  assert.match(cli(['token', '--namespace', 'ns.example', '--key', KEY]).stderr, /--key is given without --key-name/);
  assert.match(cli(['token', '--namespace', 'ns.example', '--key-name', 'R']).stderr, /--key-name is given without --key/);
  const emulator = spawnSync(process.execPath, [path.join(__dirname, '..', '..', 'relay-emulator', 'bin', 'hyco-relay-emulator.js'), '--version'], { encoding: 'utf8' });
  assert.equal(emulator.stdout.trim(), require('hyco-relay-emulator/package.json').version);
});

// Regression (issue 21, defect 9): the sender's sb-hc-id was printed raw, so CR/LF and ESC let a sender forge
// log lines or drive the terminal of whoever watches the listener.
test('listen escapes every value a sender chose (its tracking id, path and messages): no forged line, no terminal escape', async (t) => {
  const relay = await startRelay(t);
  const cs = `${relay.connectionString()};EntityPath=echo`;
  const listener = spawn(process.execPath, [CLI, 'listen', '-c', cs], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => listener.exitCode === null && listener.kill('SIGKILL'));
  let output = '';
  listener.stdout.on('data', (d) => (output += d));
  await until(() => /listening on "echo"/.test(output), 10_000, 'the listener online');
  const forgedId = 'abc\r\nlistening on "echo" through FORGED\x1b[31m';
  const connection = await send(relay, 'echo/room\x1b]0;x\x07?q=1', { id: forgedId });
  connection.sendUTF('hi\nconnection FORGED closed (1000)\x1b[2J');
  await until(() => output.includes('FORGED closed'), 5000, 'the message printed');
  connection.close();
  await until(() => /closed \(1000\)\n$/.test(output), 5000, 'the close printed');
  listener.kill('SIGINT');
  await new Promise((resolve) => listener.once('exit', resolve));
  // eslint-disable-next-line no-control-regex
  assert.doesNotMatch(output, /[\x00-\x09\x0b-\x1f\x7f]/, 'no control character but the line ends');
  assert.equal(output.match(/^listening on "echo"/gm).length, 1, 'no forged "listening" line');
  assert.equal(output.match(/^connection .* closed/gm).length, 1, 'no forged "closed" line');
  assert.match(output, /abc\\x0d\\x0alistening/);
});

'use strict';
// Each example runs as a user would run it, as a child process.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');
const hyco = require('hyco-websocket');
const { within } = require('hyco-test-support');

const ROOT = path.join(__dirname, '..', '..');

const LATE = Symbol('late');

/** `promise`, or a failure naming `what` (and the output so far) after `ms`: no wait in these tests is unbounded. */
async function bounded(promise, what, output = () => '', ms = 30000) {
  const value = await within(promise, ms, LATE);
  if (value === LATE) throw new Error(`${what}: nothing after ${ms} ms\n${output()}`);
  return value;
}

/** Starts a script; resolves once `pattern` appears in its output (within 30 s). */
function run(t, script, args, pattern) {
  const env = { ...process.env };
  delete env.HYCO_CONNECTION_STRING;
  const child = spawn(process.execPath, [path.join(ROOT, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  child.output = '';
  t.after(() => child.exitCode === null && child.kill('SIGKILL'));
  const seen = new Promise((resolve, reject) => {
    const check = () => {
      const match = pattern && pattern.exec(child.output);
      if (match) resolve(match);
    };
    child.stdout.on('data', (d) => {
      child.output += d;
      check();
    });
    child.stderr.on('data', (d) => (child.output += d));
    child.once('exit', (code) => (pattern ? reject(new Error(`${script} exited (${code}) early:\n${child.output}`)) : resolve(code)));
  });
  return { child, seen: bounded(seen, `${script} ${pattern ? `to print ${pattern}` : 'to exit'}`, () => child.output) };
}

function exited(child) {
  const exit = new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));
  return bounded(exit, 'the process to exit', () => child.output ?? '');
}

test('listener.js and sender.js: the two halves talk over the relay; the listener stops on Ctrl-C', async (t) => {
  const listener = run(t, 'examples/listener.js', ['--emulator-port', '0'], /connection string: (\S+)/);
  const [, connectionString] = await listener.seen;
  const sender = run(t, 'examples/sender.js', ['--connection-string', connectionString, '--path', 'echo', '--message', 'over the relay'], null);
  assert.equal(await sender.seen, 0, sender.child.output);
  assert.match(sender.child.output, /received: over the relay/);
  await new Promise((r) => setTimeout(r, 100));
  assert.match(listener.child.output, /connection from 127\.0\.0\.1/);
  listener.child.kill('SIGINT');
  assert.equal(await exited(listener.child), 0, 'the listener exits on its own after Ctrl-C');
});

test('sender.js reports a clear error when nobody listens', async (t) => {
  const { RelayEmulator } = require('hyco-relay-emulator');
  const relay = await RelayEmulator.start({ autoCreate: true, hybridConnections: ['echo'] });
  t.after(() => relay.close());
  const sender = run(t, 'examples/sender.js', ['--connection-string', relay.connectionString(), '--path', 'echo'], null);
  assert.equal(await sender.seen, 1);
  assert.match(sender.child.output, /404 Endpoint does not exist \(EndpointNotFound\): there is no listener online/);
  assert.equal(sender.child.output.includes(relay.rules[0].key), false, 'no key in the error');
});

test('hybrid.js (and npm start): local and relayed clients share one chat; the printed send line works; Ctrl-C stops everything', async (t) => {
  for (const script of ['examples/hybrid.js', 'scripts/start.js']) {
    const app = run(t, script, ['--emulator-port', '0', '--http-port', '0'], /local WebSocket:\s+(\S+)[\s\S]*npx hyco-websocket send --connection-string '([^']+)' --path (\S+)/);
    const [, localUri, senderCs, hcPath] = await app.seen;
    assert.match(app.child.output, /web page:\s+http:\/\/127\.0\.0\.1:\d+\//);
    assert.match(app.child.output, /relay dashboard:\s+http:\/\/127\.0\.0\.1:\d+\//);
    assert.doesNotMatch(app.child.output, /wscat/);
    const local = await connect(localUri);
    const heard = nextText(local);
    // The line the banner prints, as a user would run it (the CLI from this repository).
    const cli = run(t, 'packages/hyco-websocket/bin/hyco-websocket.js', ['send', '--connection-string', senderCs, '--path', hcPath, '--message', `via the relay (${script})`], null);
    assert.equal(await cli.seen, 0, cli.child.output);
    const message = await heard;
    assert.equal(message.text, `via the relay (${script})`);
    assert.equal(message.via, 'relay');
    local.drop();
    app.child.kill('SIGINT');
    assert.equal(await exited(app.child), 0, `${script} exits on its own after Ctrl-C`);
    assert.match(app.child.output, /shutting down/);
  }
});

test('the page gets a Send-only token that cannot listen; without a Send-only connection string it gets none, and says why', async (t) => {
  const { startLocalRelay } = require('../local-relay');
  const { startHybrid } = require('../hybrid');
  const { relay, connectionString, senderConnectionString } = await startLocalRelay({ port: 0 });
  t.after(() => relay.close());
  const settings = hyco.parseConnectionString(connectionString);
  const app = await startHybrid({ settings, senderSettings: hyco.parseConnectionString(senderConnectionString), path: 'chat', httpPort: 0 });
  t.after(() => app.close());
  const page = await (await fetch(`${app.pageUrl}relay.json`)).json();
  // The page has its icon (no 404 in the browser's console).
  assert.match(await (await fetch(app.pageUrl)).text(), /<link rel="icon" href="\/favicon\.svg" type="image\/svg\+xml">/);
  for (const icon of ['favicon.svg', 'favicon.ico']) {
    const res = await fetch(`${app.pageUrl}${icon}`);
    assert.equal(res.status, 200, icon);
    assert.equal(res.headers.get('content-type'), 'image/svg+xml');
    assert.match(await res.text(), /^<svg /);
  }
  const pageToken = new URL(page.sendUri).searchParams.get('sb-hc-token');
  assert.equal(hyco.parseRelayToken(pageToken).keyName, 'SendOnly');
  const relayed = await connect(page.sendUri);
  relayed.drop();
  // The same token used to listen: refused.
  const listenAttempt = new hyco.relayedServer({ server: hyco.createRelayListenUri(settings.address, 'chat'), token: pageToken });
  t.after(() => listenAttempt.close());
  const err = await new Promise((resolve) => listenAttempt.once('error', resolve));
  assert.equal(err.statusCode, 403);
  // As on Azure with only the listener's (Listen/Manage) connection string: no token for the page.
  const bare = await startHybrid({ settings, path: 'lobby', httpPort: 0 });
  t.after(() => bare.close());
  const none = await (await fetch(`${bare.pageUrl}relay.json`)).json();
  assert.equal(none.sendUri, null);
  assert.match(none.reason, /No Send-only connection string was given/);
  const body = JSON.stringify(none);
  assert.equal(body.includes(settings.sharedAccessKey), false);
});

test('listener.js and sender.js against an emulator already on the port with another key: a clear hint, exit 1, no retry loop', async (t) => {
  const { RelayEmulator } = require('hyco-relay-emulator');
  // Another key: the emulator's own default is the examples' development key, so this one asks for a random one.
  const other = await RelayEmulator.start({ hybridConnections: ['echo'], randomKey: true });
  t.after(() => other.close());
  const listener = run(t, 'examples/listener.js', ['--emulator-port', String(other.port)], null);
  assert.equal(await listener.seen, 1, listener.child.output);
  assert.match(listener.child.output, new RegExp(`emulator on port ${other.port} was not started with the examples' development key`));
  assert.match(listener.child.output, /HYCO_CONNECTION_STRING/);
  assert.equal(listener.child.output.match(/development key/g).length, 1, 'said once');
  const sender = run(t, 'examples/sender.js', ['--emulator-port', String(other.port), '--path', 'echo'], null);
  assert.equal(await sender.seen, 1);
  assert.match(sender.child.output, /401/);
  assert.match(sender.child.output, new RegExp(`emulator on port ${other.port} was not started with the examples' development key`));
});

function connect(uri) {
  const client = new hyco.client();
  const connected = new Promise((resolve, reject) => {
    client.once('connect', resolve);
    client.once('connectFailed', reject);
    client.connect(uri);
  });
  return bounded(connected, `a WebSocket connection to ${uri}`);
}

function nextText(connection) {
  const text = new Promise((resolve) =>
    connection.on('message', (m) => {
      const message = JSON.parse(m.utf8Data);
      if (message.text) resolve(message);
    }),
  );
  return bounded(text, 'a chat message');
}

test('with HYCO_CONNECTION_STRING (EntityPath naming the hybrid connection) the chat uses that relay, as it would Azure', async (t) => {
  const { RelayEmulator } = require('hyco-relay-emulator');
  const relay = await RelayEmulator.start({ hybridConnections: ['team-chat'] });
  t.after(() => relay.close());
  const env = { ...process.env, HYCO_CONNECTION_STRING: `${relay.connectionString()};EntityPath=team-chat` };
  const child = spawn(process.execPath, [path.join(ROOT, 'examples/hybrid.js'), '--http-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'], env });
  t.after(() => child.exitCode === null && child.kill('SIGKILL'));
  let output = '';
  const banner = new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      output += d;
      if (/through the relay:/.test(output)) resolve();
    });
    child.stderr.on('data', (d) => (output += d));
    child.once('exit', () => reject(new Error(output)));
  });
  await bounded(banner, 'hybrid.js to print its banner', () => output);
  assert.match(output, /relay:\s+ws:\/\/127\.0\.0\.1:\d+ \(from the connection string\)/);
  assert.match(output, /hybrid connection:\s+team-chat/);
  assert.equal(relay.stats().hybridConnections[0].listeners, 1);
  assert.equal(output.includes(relay.rules[0].key), false, 'the key from the environment is not printed');
  child.kill('SIGINT');
  assert.equal(await exited(child), 0);
});

// Found by a newcomer's run of the README: next to an emulator started apart (npx hyco-relay-emulator, which has
// the Root rule only), hybrid.js printed a Send-only send command and handed the page a token that both got 401.
test('hybrid.js next to an emulator without the SendOnly rule says so, and hands out no Send-only token that would fail', async (t) => {
  const { RelayEmulator } = require('hyco-relay-emulator');
  const apart = await RelayEmulator.start({ hybridConnections: ['chat'] });
  t.after(() => apart.close());
  const hybrid = run(t, 'examples/hybrid.js', ['--emulator-port', String(apart.port), '--http-port', '0'], /Ctrl-C stops everything/);
  await hybrid.seen;
  assert.match(hybrid.child.output, new RegExp(`emulator already on port ${apart.port} has no SendOnly rule`));
  assert.doesNotMatch(hybrid.child.output, /SharedAccessKeyName=SendOnly/, 'no Send-only command that would get 401');
  hybrid.child.kill('SIGINT');
  await exited(hybrid.child);
});

'use strict';
// What the CLI prints once it is ready: a banner to copy from (a connection
// string with EntityPath and ready listen/send commands per hybrid
// connection, what to do without one, a stable ready line) and, with
// --json, exactly one JSON object on stdout.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { parseConnectionString } = require('hyco-websocket');
const { onceOrError } = require('hyco-test-support');

const CLI = path.join(__dirname, '..', 'bin', 'hyco-relay-emulator.js');
const LIBRARY_CLI = path.join(__dirname, '..', '..', 'hyco-websocket', 'bin', 'hyco-websocket.js');

/** Runs a program; `stdout` and `stderr` collect; resolves `ready` once `pattern` is in `stream`. */
function run(t, file, args, pattern, stream = 'stdout') {
  const child = spawn(process.execPath, [file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  child.out = { stdout: '', stderr: '' };
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${pattern} in ${JSON.stringify(child.out)}`)), 20000);
    for (const name of ['stdout', 'stderr']) {
      child[name].setEncoding('utf8');
      child[name].on('data', (d) => {
        child.out[name] += d;
        if (name === stream && pattern.test(child.out[name])) {
          clearTimeout(timer);
          resolve(child.out[name]);
        }
      });
    }
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${path.basename(file)} exited with ${code}: ${JSON.stringify(child.out)}`));
    });
  });
  return { child, ready };
}

/** The shell words of a printed command line (double- or single-quoted words taken as one). */
function words(line) {
  return [...line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
}

test('the banner gives, per hybrid connection, a connection string with EntityPath and listen/send commands that work as printed; then a stable ready line', async (t) => {
  const emulator = run(t, CLI, ['-p', '0', '--hybrid-connection', 'echo', '--anonymous-hybrid-connection', 'open'], /hyco-relay-emulator ready on ws:\/\/127\.0\.0\.1:\d+\n/);
  const banner = await emulator.ready;
  const lines = banner.split('\n');
  const block = (name) => {
    const start = lines.findIndex((l) => new RegExp(`^hybrid connection:\\s+${name}\\b`).test(l));
    assert.ok(start >= 0, `a block for ${name}`);
    return {
      head: lines[start],
      connectionString: /^ {2}connection string:\s+(\S+)$/.exec(lines[start + 1])[1],
      listen: /^ {2}listen:\s+(.+)$/.exec(lines[start + 2])[1],
      send: /^ {2}send:\s+(.+)$/.exec(lines[start + 3])[1],
    };
  };
  const echo = block('echo');
  assert.equal(parseConnectionString(echo.connectionString).entityPath, 'echo');
  assert.match(block('open').head, /open \(anonymous senders\)$/);
  assert.equal(parseConnectionString(block('open').connectionString).entityPath, 'open');
  assert.match(banner, /^health:\s+http:\/\/127\.0\.0\.1:\d+\/health$/m);
  assert.match(banner, /^dashboard:\s+http:\/\/127\.0\.0\.1:\d+\/$/m);
  // The commands, run as printed (npx hyco-websocket is the library's CLI).
  const listenWords = words(echo.listen);
  assert.deepEqual(listenWords.slice(0, 3), ['npx', 'hyco-websocket', 'listen']);
  const listener = run(t, LIBRARY_CLI, listenWords.slice(2), /listening on "echo"/);
  await listener.ready;
  const sendWords = words(echo.send);
  assert.deepEqual(sendWords.slice(0, 3), ['npx', 'hyco-websocket', 'send']);
  const sender = spawn(process.execPath, [LIBRARY_CLI, ...sendWords.slice(2), '--message', 'copied from the banner'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let reply = '';
  sender.stdout.on('data', (d) => (reply += d));
  const [code] = await onceOrError(sender, 'exit');
  assert.equal(code, 0);
  assert.equal(reply, 'copied from the banner\n');
});

test('with no hybrid connection the banner says how to add one', async (t) => {
  const emulator = run(t, CLI, ['-p', '0'], /ready on/);
  const banner = await emulator.ready;
  assert.match(banner, /^hybrid connections:\s+none yet: start with --hybrid-connection NAME \(or --auto-create, or a --config file\), or add one now: npx hyco-relay-emulator hc create NAME --endpoint http:\/\/127\.0\.0\.1:\d+$/m);
  const auto = run(t, CLI, ['-p', '0', '--auto-create'], /ready on/);
  assert.match(await auto.ready, /^hybrid connections:\s+created on first listen \(--auto-create\): add ;EntityPath=NAME/m);
});

test('--json: exactly one JSON object on stdout once ready (endpoint, dashboard, health, connection strings per hybrid connection); the banner and the log go to stderr', async (t) => {
  const emulator = run(t, CLI, ['-p', '0', '--json', '--hybrid-connection', 'echo', '--anonymous-hybrid-connection', 'open'], /\n/);
  const stdout = await emulator.ready;
  const summary = JSON.parse(stdout);
  assert.equal(summary.status, 'ready');
  assert.equal(summary.service, 'hyco-relay-emulator');
  assert.match(summary.endpoint, /^ws:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(summary.endpoint, `ws://127.0.0.1:${summary.port}`);
  assert.equal(summary.dashboard, `http://127.0.0.1:${summary.port}/`);
  assert.equal(summary.health, `http://127.0.0.1:${summary.port}/health`);
  assert.equal(summary.developmentKey, true);
  assert.equal(summary.tls, null);
  assert.deepEqual(
    summary.hybridConnections.map((h) => [h.name, h.requiresClientAuthorization, parseConnectionString(h.connectionString).entityPath]),
    [['echo', true, 'echo'], ['open', false, 'open']],
  );
  assert.equal(parseConnectionString(summary.connectionString).entityPath, undefined);
  // What it names answers.
  assert.deepEqual(await (await fetch(summary.health)).json(), { status: 'healthy' });
  assert.equal((await (await fetch(`${summary.dashboard}$status`)).json()).service, 'hyco-relay-emulator');
  // The banner went to stderr, and so does the activity log; stdout holds the object alone.
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.match(emulator.child.out.stderr, /hyco-relay-emulator ready on ws:/);
  await fetch(`http://127.0.0.1:${summary.port}/nosuch`);
  const until = Date.now() + 5000;
  while (!/refused 404/.test(emulator.child.out.stderr) && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.match(emulator.child.out.stderr, /refused 404/);
  emulator.child.kill('SIGINT');
  await onceOrError(emulator.child, 'exit');
  assert.equal(emulator.child.out.stdout.trim().split('\n').length, 1, 'one line on stdout');
  assert.deepEqual(JSON.parse(emulator.child.out.stdout), summary);
});

'use strict';
// --json on every subcommand: one JSON object per line on stdout with stable field names, nothing else there.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { startRelay, KEY, send, until, token } = require('hyco-test-support');

const CLI = path.join(__dirname, '..', 'bin', 'hyco-websocket.js');
const env = { ...process.env };
delete env.HYCO_CONNECTION_STRING;

/** Every stdout line parsed as JSON (fails on any line that is not). */
function objects(stdout) {
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));
}

/** Runs the CLI to its end, without blocking this process (the emulator runs in it): { code, stdout }. */
function run(args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'ignore'] });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.on('exit', (code) => resolve({ status: code, stdout }));
  });
}

/** A long-running CLI process; `lines()` is what it has printed so far, parsed. */
function start(t, args) {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.exitCode === null && child.kill('SIGKILL'));
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  return { child, lines: () => objects(stdout.slice(0, stdout.lastIndexOf('\n') + 1)) };
}

test('token, uri and status --json: one object each', async (t) => {
  const relay = await startRelay(t);
  const cs = `${relay.connectionString()};EntityPath=echo`;
  const tok = objects(spawnSync(process.execPath, [CLI, 'token', '-c', cs, '--json'], { env, encoding: 'utf8' }).stdout);
  assert.equal(tok.length, 1);
  assert.deepEqual(Object.keys(tok[0]), ['type', 'token', 'path', 'expiresAt']);
  const uri = objects(spawnSync(process.execPath, [CLI, 'uri', '-c', cs, '--json', '-a', 'listen'], { env, encoding: 'utf8' }).stdout);
  assert.deepEqual(uri, [{ type: 'uri', action: 'listen', path: 'echo', uri: `ws://127.0.0.1:${relay.port}/$hc/echo?sb-hc-action=listen` }]);
  const status = objects((await run(['status', '-c', cs, '--json'])).stdout);
  assert.equal(status.length, 1);
  assert.equal(status[0].type, 'status');
  assert.equal(status[0].path, 'echo');
  assert.equal(status[0].listenerCount, 0);
  const failed = await run(['status', '-c', `${relay.connectionString()};EntityPath=nosuch`, '--json']);
  assert.equal(failed.status, 4);
  assert.deepEqual(Object.keys(objects(failed.stdout)[0]), ['type', 'code', 'statusCode', 'message', 'exitCode']);
});

test('listen --json: online, connection, message and closed objects', async (t) => {
  const relay = await startRelay(t);
  const listen = start(t, ['listen', '-c', `${relay.connectionString()};EntityPath=echo`, '--json']);
  await until(() => listen.lines().some((l) => l.type === 'online'), 10000, 'online');
  const online = listen.lines()[0];
  assert.equal(online.path, 'echo');
  assert.equal(typeof online.listenerId, 'string');
  const connection = await send(relay, 'echo');
  connection.sendUTF('hi json');
  await until(() => listen.lines().some((l) => l.type === 'message'), 5000, 'message');
  connection.close();
  await until(() => listen.lines().some((l) => l.type === 'closed'), 5000, 'closed');
  const types = listen.lines().map((l) => l.type);
  assert.deepEqual(types, ['online', 'connection', 'message', 'closed']);
  assert.equal(listen.lines()[2].text, 'hi json');
  assert.equal(listen.lines()[3].code, 1000);
});

test('expose --json: online (with its addresses) and one exchange object per request', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['app'] });
  const origin = http.createServer((req, res) => res.end('ok'));
  await new Promise((resolve) => origin.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => origin.close(resolve)));
  const expose = start(t, ['expose', `http://127.0.0.1:${origin.address().port}`, '-c', `${relay.connectionString()};EntityPath=app`, '--json']);
  await until(() => expose.lines().some((l) => l.type === 'online'), 10000, 'online');
  const online = expose.lines()[0];
  assert.equal(online.path, 'app');
  assert.match(online.httpUrl, /^http:\/\/127\.0\.0\.1:\d+\/app/);
  const status = await new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: relay.port, path: '/app/x', headers: { ServiceBusAuthorization: token('app') } }, (res) => res.resume().on('end', () => resolve(res.statusCode))).on('error', reject);
  });
  assert.equal(status, 200);
  await until(() => expose.lines().some((l) => l.type === 'exchange'), 5000, 'exchange');
  const exchange = expose.lines().find((l) => l.type === 'exchange');
  assert.deepEqual(Object.keys(exchange), ['type', 'kind', 'method', 'path', 'status', 'durationMs', 'bytesIn', 'bytesOut', 'closeCode', 'error']);
  assert.equal(exchange.status, 200);
  assert.equal(exchange.path, '/x');
});

test('forward --json: forwarding, online and connection objects', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['fwd'] });
  const target = net.createServer((s) => s.pipe(s));
  await new Promise((resolve) => target.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => target.close(resolve)));
  const cs = relay.connectionString();
  const remote = start(t, ['forward', '-x', cs, '-T', `fwd:127.0.0.1:${target.address().port}`, '--json']);
  await until(() => remote.lines().some((l) => l.type === 'online'), 10000, 'remote online');
  assert.equal(remote.lines()[0].relayName, 'fwd');
  const port = await new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const p = probe.address().port;
      probe.close(() => resolve(p));
    });
  });
  const local = start(t, ['forward', '-x', cs, '-L', `127.0.0.1:${port}:fwd`, '--json']);
  await until(() => local.lines().some((l) => l.type === 'forwarding'), 10000, 'local forwarding');
  assert.deepEqual(local.lines()[0], { type: 'forwarding', relayName: 'fwd', portName: String(port), protocol: 'tcp', address: '127.0.0.1', port });
  const socket = net.connect(port, '127.0.0.1');
  socket.write('ping');
  await new Promise((resolve) => socket.once('data', resolve));
  socket.end();
  await until(() => local.lines().some((l) => l.type === 'connectionClosed'), 5000, 'closed');
  const closed = local.lines().find((l) => l.type === 'connectionClosed');
  assert.equal(closed.bytesToRelay, 4);
  assert.ok(remote.lines().some((l) => l.type === 'connection'));
  assert.equal(KEY.length > 0 && JSON.stringify(local.lines()).includes(KEY), false, 'never a key');
});

'use strict';
// `hyco-websocket expose` as a process: what it prints, the sender command
// it prints working as pasted, a line per request, and memory that stays
// flat while 1 GB streams through it.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { startRelay, KEY, token, send, until } = require('hyco-test-support');

const CLI = path.join(__dirname, '..', 'bin', 'hyco-websocket.js');
const CURL = '/usr/bin/curl';
const BIN = path.join(__dirname, '..', '..', '..', 'node_modules', '.bin');
const env = { ...process.env };
delete env.HYCO_CONNECTION_STRING;

/** The emulator's connection string (the root rule's key). */
function connectionString(relay) {
  return `Endpoint=sb://127.0.0.1:${relay.port}/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=${KEY};UseDevelopmentEmulator=true`;
}

/** An origin on a loopback port, closed after the test. */
async function startOrigin(t, handler) {
  const origin = http.createServer(handler);
  await new Promise((resolve) => origin.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    origin.closeAllConnections();
    origin.close();
  });
  return `http://127.0.0.1:${origin.address().port}`;
}

/** Starts `hyco-websocket expose`, stopped (SIGINT) after the test; resolves once it has printed its addresses. */
async function expose(t, args, extraEnv = {}) {
  const child = spawn(process.execPath, [CLI, 'expose', ...args], { env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '' };
  child.stdout.on('data', (d) => (output.stdout += d));
  child.stderr.on('data', (d) => (output.stderr += d));
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(async () => {
    child.kill('SIGINT');
    await exited;
  });
  await until(() => output.stdout.includes('WebSocket:') || child.exitCode !== null, 15000, 'expose to print its addresses');
  return { child, output, exited };
}

/** Runs a shell command line as a user pastes it; resolves with its exit code and output. */
function shell(line, extraEnv) {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', line], { env: { ...env, PATH: `${BIN}:${process.env.PATH}`, ...extraEnv } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('expose prints the https and wss addresses and a sender command that works as pasted; then a line per request and connection, never a token', async (t) => {
  assert.ok(fs.existsSync(CURL), `${CURL} is required (apt-get install -y curl)`);
  const relay = await startRelay(t, { hybridConnections: ['app'] });
  // An HTTP-only origin: it answers an upgrade as a plain request (200), which is no upgrade.
  const origin = await startOrigin(t, (req, res) => res.end(`hello from ${req.url}`));
  const cs = connectionString(relay);
  const { output } = await expose(t, [origin, '--path', 'app'], { HYCO_CONNECTION_STRING: cs });
  const lines = output.stdout.split('\n');
  assert.match(lines[0], new RegExp(`^exposing ${origin} on "app" through ws://127\\.0\\.0\\.1:${relay.port} \\(listener id [0-9a-f-]{36}\\)$`));
  assert.equal(lines[1], `  http:       http://127.0.0.1:${relay.port}/app/`, 'labelled by its own scheme');
  assert.equal(lines[2], `  ws:         ws://127.0.0.1:${relay.port}/$hc/app`);
  const tryLine = /^ {2}try: {8}(curl .*)$/.exec(lines[3]);
  assert.ok(tryLine, lines[3]);
  assert.equal(lines[4], '  WebSocket:  npx hyco-websocket send --path app');
  assert.match(lines[5], /HYCO_CONNECTION_STRING/);
  // Pasted into a shell where the sender has the connection string, the command is answered by the origin.
  const pasted = await shell(`${tryLine[1]}?x=1`, { HYCO_CONNECTION_STRING: cs });
  assert.equal(pasted.code, 0, pasted.stderr);
  assert.equal(pasted.stdout, 'hello from /?x=1');
  await until(() => /^GET \/\?x=1 {2}200 {2}\d+ ms {2}0 B in {2}16 B out$/m.test(output.stdout), 5000, `the request line in:\n${output.stdout}`);
  // A WebSocket to an origin that does not take it: a line with the status the sender got.
  await assert.rejects(send(relay, 'app/ws', { token: token('app') }), (err) => err.status === 502);
  await until(() => /^WS \/ws {2}502 {2}\d+ ms {2}0 B in {2}0 B out {2}\(The origin/m.test(output.stdout), 5000, `the connection line in:\n${output.stdout}`);
  assert.equal(output.stdout.includes('SharedAccessSignature'), false, 'no token printed');
  assert.equal(output.stdout.includes(KEY), false, 'no key printed');
  assert.equal(output.stderr, '');
});

test('expose checks its origin and flags before connecting: a message and exit 2 (usage), never a stack', () => {
  const cs = `Endpoint=sb://127.0.0.1:1/;SharedAccessKeyName=R;SharedAccessKey=${KEY};UseDevelopmentEmulator=true;EntityPath=app`;
  const run = (args) => spawnSync(process.execPath, [CLI, 'expose', ...args], { encoding: 'utf8', env: { ...env, HYCO_CONNECTION_STRING: cs } });
  const ftp = run(['ftp://127.0.0.1:21']);
  assert.equal(ftp.status, 2);
  assert.match(ftp.stderr, /must be an http:\/\/ or https:\/\/ URL/);
  const insecureHttp = run(['http://127.0.0.1:3000', '--insecure-origin']);
  assert.equal(insecureHttp.status, 2);
  assert.match(insecureHttp.stderr, /for https:\/\/ origins only/);
  const noCa = run(['https://127.0.0.1:3000', '--origin-ca', '/nonexistent/ca.pem']);
  assert.equal(noCa.status, 2);
  assert.match(noCa.stderr, /cannot read --origin-ca \/nonexistent\/ca\.pem: ENOENT/);
  for (const r of [ftp, insecureHttp, noCa]) {
    assert.equal(/\n\s+at /.test(r.stderr), false, 'no stack trace');
    assert.equal(r.stderr.includes(KEY), false);
  }
  const help = spawnSync(process.execPath, [CLI, 'expose', '--help'], { encoding: 'utf8', env });
  assert.equal(help.status, 0);
  for (const flag of ['--connection-string', '--path', '--namespace', '--key-name', '--key', '--entra', '--proxy', '--origin-ca', '--insecure-origin']) assert.ok(help.stdout.includes(flag), flag);
});

/** The resident set of a process, bytes (Linux). */
function rss(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)[1]) * 1024;
}

test('memory stays flat while 1 GB streams through expose (its resident set grows by less than 64 MB)', async (t) => {
  assert.ok(fs.existsSync(CURL), `${CURL} is required (apt-get install -y curl)`);
  // The emulator's deadline covers the whole response: room for a slow machine.
  const relay = await startRelay(t, { hybridConnections: ['app'], httpResponseTimeoutMs: 170_000 });
  const CHUNK = Buffer.alloc(64 * 1024, 0x61);
  const origin = await startOrigin(t, (req, res) => {
    const total = Number(new URL(req.url, 'http://x').searchParams.get('bytes'));
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': total });
    let sent = 0;
    const pump = () => {
      while (sent < total) {
        const piece = total - sent >= CHUNK.length ? CHUNK : CHUNK.subarray(0, total - sent);
        sent += piece.length;
        if (!res.write(piece)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  const { child, output } = await expose(t, [origin, '--path', 'app'], { HYCO_CONNECTION_STRING: connectionString(relay) });
  const url = `http://127.0.0.1:${relay.port}/app/blob`;
  const download = (bytes) =>
    new Promise((resolve) => {
      const c = spawn(CURL, ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', '-H', `ServiceBusAuthorization: ${token('app')}`, `${url}?bytes=${bytes}`]);
      let out = '';
      c.stdout.on('data', (d) => (out += d));
      c.on('close', (code) => resolve({ code, out }));
    });
  // Warm up: buffers, code paths and the heap settle at their working size first.
  assert.deepEqual(await download(64 * 1024 * 1024), { code: 0, out: `200 ${64 * 1024 * 1024}` });
  const baseline = rss(child.pid);
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, rss(child.pid))), 100);
  const started = Date.now();
  const GB = 1024 * 1024 * 1024;
  const result = await download(GB);
  clearInterval(sampler);
  const seconds = (Date.now() - started) / 1000;
  assert.deepEqual(result, { code: 0, out: `200 ${GB}` });
  const growth = peak - baseline;
  t.diagnostic(`1 GiB through expose in ${seconds.toFixed(1)} s (${(1024 / seconds).toFixed(0)} MiB/s); RSS ${(baseline / 2 ** 20).toFixed(0)} MiB before, peak ${(peak / 2 ** 20).toFixed(0)} MiB (+${(growth / 2 ** 20).toFixed(1)} MiB)`);
  assert.ok(growth < 64 * 1024 * 1024, `RSS grew by ${(growth / 2 ** 20).toFixed(1)} MiB`);
  await until(() => output.stdout.includes(`GET /blob?bytes=${GB}  200`), 5000, 'the request line');
  assert.match(output.stdout, /^GET \/blob\?bytes=1073741824 {2}200 {2}\d+ ms {2}0 B in {2}1\.07 GB out$/m);
});

test('a request line escapes what came from the network: no forged line, no terminal escape, long paths cut', () => {
  const { exchangeLine } = require('../dist/cli/expose.js');
  const line = exchangeLine({ kind: 'http', method: 'GET', path: `/a\x1b[2J\r\nGET /forged 200\u202e${'x'.repeat(500)}`, status: 200, durationMs: 3.4, bytesIn: 0, bytesOut: 1500, complete: true, remoteAddress: '' });
  assert.equal([...line].some((ch) => ch.charCodeAt(0) < 0x20 || ch === '\x7f' || ch === '\u202e'), false, line);
  assert.match(line, /^GET \/a\\x1b\[2J\\x0d\\x0aGET \/forged 200\\u202ex+… {2}200 {2}3 ms {2}0 B in {2}1\.5 kB out$/);
});

'use strict';
// `hyco-websocket forward`: azbridge's flags and configuration file, their
// errors, and two forward processes (one with -T or -f, one with -L)
// carrying TCP and UDP through the emulator.
const test = require('node:test');
const assert = require('node:assert/strict');
const dgram = require('node:dgram');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { startRelay, KEY, token, until } = require('hyco-test-support');
const { tcpServer, freePort, connect, receiveAll } = require('./fixtures/forward');

const CLI = path.join(__dirname, '..', 'bin', 'hyco-websocket.js');
const env = { ...process.env };
delete env.HYCO_CONNECTION_STRING;
const SECRET_KEY = 'c2VjcmV0LWtleS1uZXZlci1wcmludGVk';

function cli(args) {
  return spawnSync(process.execPath, [CLI, 'forward', ...args], { encoding: 'utf8', env, timeout: 20000 });
}

function connectionString(relay) {
  return `Endpoint=sb://127.0.0.1:${relay.port}/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=${KEY};UseDevelopmentEmulator=true`;
}

/** Starts `hyco-websocket forward ...`; its output lines are collected; stopped (SIGTERM) after the test. */
function forwardProcess(t, args) {
  const child = spawn(process.execPath, [CLI, 'forward', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const proc = { child, lines: [], errors: [], exit: new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))) };
  let out = '';
  child.stdout.on('data', (chunk) => {
    out += chunk;
    const parts = out.split('\n');
    out = parts.pop();
    proc.lines.push(...parts);
  });
  child.stderr.on('data', (chunk) => proc.errors.push(chunk.toString()));
  proc.waitFor = (pattern, what) => until(() => proc.lines.some((l) => pattern.test(l)), 15000, `${what}: ${proc.lines.join(' | ')} ${proc.errors.join('')}`);
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return proc;
}

test('forward: flag and expression errors exit 2 (usage) with a message, never a stack or a key', () => {
  const cases = [
    [[], /nothing to forward: give -L, -T or -H/],
    [['-L', '2222'], /Invalid -L expression "2222": it has no ":relay_name" at its end/],
    [['-L', '1:2:3:r'], /more than one ":"/],
    [['-T', 'ssh'], /Invalid -T expression "ssh": it has no "relay_name:" at its start/],
    [['-T', 'ssh:host:http'], /"http" is not a port number/],
    [['-H', 'web:ftp/x:21'], /Invalid -H expression/],
    [['-L', '2222:ssh'], /give -x\/--connection-string .*-e\/--endpoint/],
    [['-e', 'sb://ns.example/', '-T', 'ssh:22'], /-T and -H listen on the relay, which needs a key/],
    [['-e', 'sb://ns.example/', '-K', 'Rule', '-T', 'ssh:22'], /-K \(key name\) is given without -k/],
    [['-e', 'sb://ns.example/', '-k', SECRET_KEY, '-T', 'ssh:22'], /-k \(key\) is given without -K/],
    [['-x', `Endpoint=ftp://x/;SharedAccessKeyName=R;SharedAccessKey=${SECRET_KEY}`, '-L', '1:r'], /unknown scheme "ftp"/],
    [['-f', '/nonexistent/azbridge.yml'], /Cannot read the configuration file \/nonexistent\/azbridge\.yml: ENOENT/],
    [['--udp-idle-timeout', 'soon', '-L', '1:r'], /must be a positive whole number of milliseconds/],
  ];
  for (const [args, pattern] of cases) {
    const result = cli(args);
    assert.equal(result.status, 2, `${args.join(' ')}: exit 2, a usage error (${result.stderr})`);
    assert.match(result.stderr, pattern, args.join(' '));
    assert.equal(result.stderr.includes(SECRET_KEY), false, 'the key is never printed');
    assert.equal(/\n\s+at /.test(result.stderr), false, 'no stack trace');
  }
});

test('forward -f: an azbridge configuration file with an unknown key fails naming its path', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyco-forward-cli-'));
  try {
    const file = path.join(dir, 'azbridge.yml');
    fs.writeFileSync(file, `AzureRelayConnectionString: Endpoint=sb://ns.example/;SharedAccessKeyName=R;SharedAccessKey=${SECRET_KEY}\nRemoteForward:\n  - RelayName: ssh\n    Bindings:\n      - Host: localhost\n        HostPrt: 22\n`);
    const result = cli(['-f', file]);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /unknown key "RemoteForward\[0\]\.Bindings\[0\]\.HostPrt"/);
    assert.equal(result.stderr.includes(SECRET_KEY), false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('forward --help lists azbridge\'s flags', () => {
  const result = spawnSync(process.execPath, [CLI, 'forward', '--help'], { encoding: 'utf8', env });
  assert.equal(result.status, 0);
  for (const flag of ['-L, --local-forward', '-T, --remote-forward', '-H, --remote-http-forward', '-x, --connection-string', '-e, --endpoint', '-K, --key-name', '-k, --key', '-s, --signature', '-f, --config-file', '--entra', '--proxy']) {
    assert.ok(result.stdout.includes(flag), flag);
  }
});

test('two forward processes: -f (RemoteForward) on one side, -L with a key on the other, TCP and UDP, one line per connection', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['fwd'] });
  const server = await tcpServer(t, (socket) => {
    const chunks = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('end', () => socket.end(`${Buffer.concat(chunks).length} bytes, then EOF`));
  });
  const echo = dgram.createSocket('udp4');
  echo.on('message', (m, from) => echo.send(m, from.port, from.address));
  await new Promise((resolve) => echo.bind(0, '127.0.0.1', resolve));
  t.after(() => echo.close());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyco-forward-cli-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const config = path.join(dir, 'azbridge.yml');
  fs.writeFileSync(
    config,
    [
      `AzureRelayConnectionString: "${connectionString(relay)}"`,
      'RemoteForward:',
      '  - RelayName: fwd',
      '    Bindings:',
      `      - { Host: 127.0.0.1, HostPort: ${server.port}, PortName: app }`,
      `      - { Host: 127.0.0.1, HostPort: -${echo.address().port}, PortName: dns }`,
      '',
    ].join('\n'),
  );
  const remote = forwardProcess(t, ['-f', config]);
  await remote.waitFor(/^relay "fwd" online \(listener id [^)]+\)$/, 'the remote side online');
  assert.ok(remote.lines.includes(`  port name "app" -> tcp 127.0.0.1:${server.port}`));
  assert.ok(remote.lines.includes(`  port name "dns" -> udp 127.0.0.1:${echo.address().port}`));

  const [tcpPort, udpPort] = [await freePort(), await freePort()];
  const local = forwardProcess(t, ['-e', `ws://127.0.0.1:${relay.port}`, '-K', 'RootManageSharedAccessKey', '-k', KEY, '-L', `127.0.0.1:${tcpPort}/app;127.0.0.1:${udpPort}U/dns:fwd`]);
  await local.waitFor(new RegExp(`^forwarding udp 127\\.0\\.0\\.1:${udpPort} to relay "fwd" port name "dns"$`), 'the local side listening');
  assert.ok(local.lines.includes(`forwarding tcp 127.0.0.1:${tcpPort} to relay "fwd" port name "app"`));

  const client = await connect(tcpPort);
  const answer = [];
  client.on('data', (c) => answer.push(c));
  const done = receiveAll(client);
  client.end(Buffer.alloc(123456));
  await done;
  assert.equal(Buffer.concat(answer).toString(), '123456 bytes, then EOF');

  const udp = dgram.createSocket('udp4');
  t.after(() => udp.close());
  const got = [];
  udp.on('message', (m) => got.push(m.toString()));
  udp.send('who is there?', udpPort, '127.0.0.1');
  await until(() => got.length === 1);
  assert.equal(got[0], 'who is there?');

  await local.waitFor(/ tcp 127\.0\.0\.1:\d+ -> "fwd" port name "app": closed after [\d.]+ s \(123456 bytes sent, 22 received\)$/, 'the local side\'s line for the TCP connection');
  assert.ok(local.lines.some((l) => /^\[[0-9a-f-]{36}\] tcp 127\.0\.0\.1:\d+ -> "fwd" port name "app": open$/.test(l)), local.lines.join('\n'));
  await remote.waitFor(new RegExp(`-> "127\\.0\\.0\\.1:${server.port}" port name "app": closed after [\\d.]+ s \\(22 bytes sent, 123456 received\\)$`), 'the remote side\'s line');
  assert.ok(local.lines.some((l) => / udp 127\.0\.0\.1:\d+ -> "fwd" port name "dns": open$/.test(l)));
  const output = [...local.lines, ...remote.lines, ...local.errors, ...remote.errors].join('\n');
  assert.equal(output.includes(KEY), false, 'no key in the output');
  assert.equal(output.includes('SharedAccessSignature'), false, 'no token in the output');

  local.child.kill('SIGTERM');
  remote.child.kill('SIGTERM');
  assert.deepEqual(await local.exit, { code: 0, signal: null }, 'SIGTERM closes and exits');
  assert.deepEqual(await remote.exit, { code: 0, signal: null });
});

test('forward -L exits 5 (network) when its port is taken (azbridge\'s ExitOnForwardFailure), with the --port 0 style hint', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['fwd'] });
  const busy = await tcpServer(t, () => {});
  const proc = forwardProcess(t, ['-x', connectionString(relay), '-L', `127.0.0.1:${busy.port}:fwd`]);
  assert.deepEqual(await proc.exit, { code: 5, signal: null });
  assert.match(proc.errors.join(''), /port 0 for any free one/);
  assert.match(proc.errors.join(''), new RegExp(`Cannot listen on tcp 127\\.0\\.0\\.1:${busy.port} \\(port name "${busy.port}"\\): EADDRINUSE`));
});

test('forward -H: the relay\'s HTTP requests go to a local origin (through relayedProxy)', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['web'] });
  const origin = http.createServer((req, res) => res.end(`origin saw ${req.method} ${req.url}`));
  await new Promise((resolve) => origin.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => origin.close(resolve)));
  const proc = forwardProcess(t, ['-x', connectionString(relay), '-H', `web:http/127.0.0.1:${origin.address().port}`]);
  await proc.waitFor(/^relay "web" online: HTTP to http:\/\/127\.0\.0\.1:\d+\/$/, 'the HTTP forward online');
  const body = await new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: relay.port, path: '/web/hello?x=1', headers: { ServiceBusAuthorization: token('web') } }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve(`${res.statusCode} ${Buffer.concat(chunks)}`));
      })
      .on('error', reject);
  });
  assert.equal(body, '200 origin saw GET /hello?x=1');
});

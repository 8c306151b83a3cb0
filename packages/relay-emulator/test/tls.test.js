'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const dns = require('node:dns');
const WebSocket = require('ws');
const websocket = require('websocket');
const { RelayEmulator, selfSignedCertificate } = require('hyco-relay-emulator');
const { createRelayToken, createRelayListenUri, createRelaySendUri, parseConnectionString } = require('hyco-websocket');
const { RULES, onceOrError } = require('hyco-test-support');
const { startJsonProcess } = require('hyco-test-support/processes');

const NAMESPACE = 'contoso.servicebus.windows.net';
// Resolves the namespace to loopback, as a hosts-file entry would.
const lookup = (host, options, callback) => dns.lookup('127.0.0.1', options, callback);

test('with a self-signed certificate the emulator serves wss:// and hands out addresses under the name the listener used', async (t) => {
  const relay = await RelayEmulator.start({ rules: RULES, hybridConnections: ['echo'], tls: 'self-signed', namespace: NAMESPACE });
  t.after(() => relay.close());
  assert.match(relay.endpoint, /^wss:\/\/127\.0\.0\.1:\d+$/);
  assert.match(relay.certificate, /BEGIN CERTIFICATE/);
  const cs = parseConnectionString(relay.connectionString());
  assert.equal(cs.scheme, 'wss');
  assert.equal(cs.port, relay.port);

  const namespaceUri = `wss://${NAMESPACE}:${relay.port}`;
  const tok = createRelayToken(`http://${NAMESPACE}/echo`, RULES[0].name, RULES[0].key);
  const tlsOptions = { ca: relay.certificate, lookup };
  const listener = new WebSocket(createRelayListenUri(namespaceUri, 'echo'), { headers: { ServiceBusAuthorization: tok }, ...tlsOptions });
  t.after(() => listener.terminate());
  let address;
  listener.on('message', (m) => {
    address = JSON.parse(m).accept.address;
    const r = new WebSocket(address, { perMessageDeflate: false, ...tlsOptions });
    t.after(() => r.terminate());
    r.on('message', (d, isBinary) => r.send(d, { binary: isBinary }));
  });
  await onceOrError(listener, 'open');

  const client = new websocket.client({ tlsOptions });
  const connected = onceOrError(client, 'connect');
  client.connect(createRelaySendUri(namespaceUri, 'echo'), null, null, { ServiceBusAuthorization: tok });
  const connection = await connected;
  t.after(() => connection.drop());
  assert.ok(address.startsWith(`wss://${NAMESPACE}:${relay.port}/$hc/echo?`), address);
  connection.sendUTF('over TLS');
  assert.equal((await onceOrError(connection, 'message')).utf8Data, 'over TLS');
});

test('an emulator with a namespace refuses other host names with 404', async (t) => {
  const relay = await RelayEmulator.start({ rules: RULES, hybridConnections: ['echo'], namespace: NAMESPACE });
  t.after(() => relay.close());
  const tok = createRelayToken('http://127.0.0.1/echo', RULES[0].name, RULES[0].key);
  const ws = new WebSocket(createRelayListenUri(relay.endpoint, 'echo'), { headers: { ServiceBusAuthorization: tok } });
  const [, res] = await onceOrError(ws, 'unexpected-response');
  assert.equal(res.statusCode, 404);
  assert.match(res.statusMessage, /NamespaceNotFound/);
  ws.on('error', () => {});
  res.destroy();
});

test('bad options are refused with a TypeError naming the option', async () => {
  await assert.rejects(RelayEmulator.start({ port: -1 }), { name: 'TypeError', message: /port/ });
  await assert.rejects(RelayEmulator.start({ rules: [{ name: 'x', key: '', rights: ['Listen'] }] }), { message: /rules\[0\]\.key/ });
  await assert.rejects(RelayEmulator.start({ rules: [{ name: 'x', key: 'k', rights: ['Fly'] }] }), { message: /rights/ });
  await assert.rejects(RelayEmulator.start({ hybridConnections: ['no spaces'] }), { message: /not a valid hybrid connection path/ });
  await assert.rejects(RelayEmulator.start({ tls: { cert: 'x' } }), { message: /tls/ });
});

test('binding a non-loopback address emits a loud warning', async (t) => {
  const warnings = [];
  const onWarning = (w) => warnings.push(w);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  const relay = await RelayEmulator.start({ host: '0.0.0.0' });
  t.after(() => relay.close());
  await new Promise((r) => setImmediate(r));
  assert.ok(warnings.some((w) => w.code === 'HYCO_EMULATOR_NOT_LOOPBACK' && /not a loopback address/.test(w.message)));
  assert.equal(relay.endpoint, `ws://127.0.0.1:${relay.port}`);
});

// ---------------------------------------------------------------------------
// --tls: the development CA, which clients that cannot be told "trust this
// certificate" (.NET, Java, curl) trust once.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { X509Certificate } = require('node:crypto');
const { spawn, spawnSync } = require('node:child_process');

const CLI = path.join(__dirname, '..', 'bin', 'hyco-relay-emulator.js');
const LIBRARY_CLI = path.join(__dirname, '..', '..', 'hyco-websocket', 'bin', 'hyco-websocket.js');
/** Debian's curl: the TLS tests need it (CI installs it); they fail, never skip, without it. */
const CURL = '/usr/bin/curl';

function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyco-tls-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The CLI with --tls and --json; resolves with the summary once it is ready. */
function startTlsCli(t, caDir, extra = []) {
  return startJsonProcess(t, CLI, ['-p', '0', '--tls', '--ca-dir', caDir, '--json', ...extra]);
}

function curl(args) {
  return spawnSync(CURL, ['-sS', '--max-time', '10', ...args], { encoding: 'utf8' });
}

test('development CA: made once in its folder (key readable by its owner only) and reused; the server certificate covers localhost, 127.0.0.1, ::1 and the namespace, signed by it', async (t) => {
  const caDir = path.join(tempDir(t), 'ca');
  const first = await RelayEmulator.start({ rules: RULES, tls: 'development-ca', caDirectory: caDir, namespace: NAMESPACE });
  t.after(() => first.close());
  assert.equal(first.caCertificatePath, path.join(caDir, 'ca.pem'));
  assert.equal(fs.statSync(caDir).mode & 0o777, 0o700);
  assert.equal(fs.statSync(path.join(caDir, 'ca-key.pem')).mode & 0o777, 0o600);
  const ca = new X509Certificate(fs.readFileSync(first.caCertificatePath));
  assert.equal(ca.ca, true);
  assert.equal(first.caCertificate, fs.readFileSync(first.caCertificatePath, 'utf8'));
  const server = new X509Certificate(first.certificate);
  assert.equal(server.ca, false);
  assert.ok(server.verify(ca.publicKey), 'signed by the CA');
  assert.ok(server.checkIssued(ca));
  for (const name of ['localhost', NAMESPACE]) assert.equal(server.checkHost(name), name);
  for (const ip of ['127.0.0.1', '::1']) assert.equal(server.checkIP(ip), ip);
  assert.equal(server.checkHost('other.example'), undefined);
  assert.deepEqual(server.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'for TLS servers (serverAuth)');
  // A second start (another process would do the same) takes the same CA and signs a new server certificate.
  const second = await RelayEmulator.start({ rules: RULES, tls: 'development-ca', caDirectory: caDir });
  t.after(() => second.close());
  assert.equal(second.caCertificate, first.caCertificate);
  assert.notEqual(new X509Certificate(second.certificate).serialNumber, server.serialNumber);
  // Two emulators making a CA in the same new folder at once end up with one CA.
  const racing = path.join(tempDir(t), 'ca');
  const both = await Promise.all([0, 1].map(() => RelayEmulator.start({ rules: RULES, tls: 'development-ca', caDirectory: racing })));
  t.after(() => Promise.all(both.map((r) => r.close())));
  assert.equal(both[0].caCertificate, both[1].caCertificate);
  assert.deepEqual(fs.readdirSync(path.dirname(racing)), ['ca'], 'no staging folder left behind');
});

test('curl (Debian\'s, with --cacert) reaches the --tls emulator with full verification by host name: health, runtime information, management; a name outside the certificate or no CA fails', async (t) => {
  assert.ok(fs.existsSync(CURL), `${CURL} is needed (apt-get install curl)`);
  const caDir = path.join(tempDir(t), 'ca');
  const { summary } = await startTlsCli(t, caDir, ['--namespace', NAMESPACE, '--hybrid-connection', 'echo']);
  assert.match(summary.endpoint, /^wss:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(summary.tls.caCertificate, path.join(caDir, 'ca.pem'));
  const ca = summary.tls.caCertificate;
  const port = summary.port;
  const resolveTo = (name) => ['--resolve', `${name}:${port}:127.0.0.1`];
  // By name: localhost and the namespace, each checked against the certificate.
  for (const host of ['localhost', NAMESPACE]) {
    const health = curl(['--cacert', ca, ...resolveTo(host), `https://${host}:${port}/health`]);
    assert.equal(health.status, 0, `${host}: ${health.stderr}`);
    assert.deepEqual(JSON.parse(health.stdout), { status: 'healthy' });
  }
  const info = curl(['--cacert', ca, ...resolveTo(NAMESPACE), '-H', 'X-PROCESS-AT: ServiceBus', '-H', `Authorization: ${createRelayToken(`http://${NAMESPACE}/echo`, 'RootManageSharedAccessKey', 'aHljby1yZWxheS1lbXVsYXRvci1kZXZlbG9wbWVudC1rZXk=')}`, `https://${NAMESPACE}:${port}/echo?api-version=2016-07`]);
  assert.equal(info.status, 0, info.stderr);
  assert.match(info.stdout, /<ListenerCount>0<\/ListenerCount>/);
  const outside = curl(['--cacert', ca, ...resolveTo('other.example'), `https://other.example:${port}/health`]);
  assert.equal(outside.status, 60, 'the certificate does not name other.example');
  assert.match(outside.stderr, /subject name|does not match/i);
  const untrusted = curl([`https://localhost:${port}/health`]);
  assert.equal(untrusted.status, 60, 'without the CA, the certificate is not trusted');
});

test('Node with NODE_EXTRA_CA_CERTS (a child process, no ca option anywhere) listens, sends and reads runtime information through the --tls emulator, verifying the host name; the hyco-websocket CLI takes --ca, and without it says how to trust the CA (exit 5)', async (t) => {
  const caDir = path.join(tempDir(t), 'ca');
  const { summary } = await startTlsCli(t, caDir, ['--hybrid-connection', 'echo']);
  const cs = summary.hybridConnections[0].connectionString.replace('sb://127.0.0.1:', 'sb://localhost:');
  const script = `
    const hyco = require('hyco-websocket');
    (async () => {
      const health = await (await fetch(${JSON.stringify(`https://localhost:${summary.port}/health`)})).json();
      const server = hyco.relayedServer.fromConnectionString(${JSON.stringify(cs)}, { autoAcceptConnections: true });
      server.on('connect', (c) => c.on('message', (m) => c.sendUTF('echo: ' + m.utf8Data)));
      await new Promise((resolve, reject) => { server.once('online', resolve); server.once('error', reject); });
      const client = hyco.relayedClient.fromConnectionString(${JSON.stringify(cs)});
      const connection = await new Promise((resolve, reject) => { client.once('connect', resolve); client.once('connectFailed', reject); client.connect(client.address); });
      const reply = await new Promise((resolve) => { connection.once('message', (m) => resolve(m.utf8Data)); connection.sendUTF('over verified TLS'); });
      const info = await hyco.getRuntimeInformation(${JSON.stringify(`wss://localhost:${summary.port}`)}, 'echo', { token: hyco.createRelayToken('http://localhost/echo', 'RootManageSharedAccessKey', ${JSON.stringify(parseConnectionString(cs).sharedAccessKey)}) });
      process.stdout.write(JSON.stringify({ health, reply, listeners: info.listenerCount }));
      connection.close();
      await server.close();
    })().catch((err) => { process.stderr.write(String(err && err.stack || err) + ' ' + String(err && err.cause && err.cause.message)); process.exit(1); });`;
  const env = { ...process.env, NODE_EXTRA_CA_CERTS: summary.tls.caCertificate };
  delete env.NODE_TLS_REJECT_UNAUTHORIZED;
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env, cwd: __dirname, timeout: 30000 });
  assert.equal(child.status, 0, child.stderr);
  assert.deepEqual(JSON.parse(child.stdout), { health: { status: 'healthy' }, reply: 'echo: over verified TLS', listeners: 1 });
  // Without the CA the same client fails verification.
  const plain = { ...env };
  delete plain.NODE_EXTRA_CA_CERTS;
  const refused = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: plain, cwd: __dirname, timeout: 30000 });
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /self[- ]signed|unable to (get|verify)|certificate/i);
  // The hyco-websocket CLI: status, listen and send with --ca.
  const ca = summary.tls.caCertificate;
  const status = spawnSync(process.execPath, [LIBRARY_CLI, 'status', '-c', cs, '--ca', ca, '--json'], { encoding: 'utf8', timeout: 20000 });
  assert.equal(status.status, 0, status.stderr);
  assert.equal(JSON.parse(status.stdout).listenerCount, 0);
  const listener = spawn(process.execPath, [LIBRARY_CLI, 'listen', '-c', cs, '--ca', ca], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => listener.kill('SIGKILL'));
  let listened = '';
  await new Promise((resolve, reject) => {
    listener.stdout.on('data', (d) => {
      listened += d;
      if (/listening on "echo"/.test(listened)) resolve();
    });
    listener.once('exit', (code) => reject(new Error(`listen exited with ${code}`)));
  });
  const sent = spawnSync(process.execPath, [LIBRARY_CLI, 'send', '-c', cs, '--ca', ca, '--message', 'with --ca'], { encoding: 'utf8', timeout: 20000 });
  assert.equal(sent.status, 0, sent.stderr);
  assert.equal(sent.stdout, 'with --ca\n');
  // Without --ca: the failure table's TLS row, its fix, and the network exit code.
  const noCa = spawnSync(process.execPath, [LIBRARY_CLI, 'status', '-c', cs], { encoding: 'utf8', timeout: 20000 });
  assert.equal(noCa.status, 5);
  assert.match(noCa.stderr, /the certificate of \S+ is not trusted \([A-Z_]+\); fix: --ca <file> with the emulator's development CA/);
});

test('trust: prints the CA\'s path and how each kind of client trusts it; --pem the certificate alone; --install java imports it into a trust store with keytool', async (t) => {
  const dir = tempDir(t);
  const caDir = path.join(dir, 'ca');
  const env = { ...process.env, HYCO_RELAY_EMULATOR_CA_DIR: caDir };
  const told = spawnSync(process.execPath, [CLI, 'trust'], { encoding: 'utf8', env });
  assert.equal(told.status, 0, told.stderr);
  const caPath = path.join(caDir, 'ca.pem');
  assert.match(told.stdout, new RegExp(`^development CA:\\s+${caPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
  for (const word of ['NODE_EXTRA_CA_CERTS=', 'curl --cacert', 'update-ca-certificates', 'SSL_CERT_FILE=', 'keytool', 'certutil', 'security add-trusted-cert']) assert.ok(told.stdout.includes(word), word);
  const pem = spawnSync(process.execPath, [CLI, 'trust', '--pem', '--ca-dir', caDir], { encoding: 'utf8' });
  assert.equal(pem.stdout, fs.readFileSync(caPath, 'utf8'));
  assert.equal(new X509Certificate(pem.stdout).ca, true);
  // Java's trust store, with the JDK's keytool.
  const keystore = path.join(dir, 'truststore.p12');
  const installed = spawnSync(process.execPath, [CLI, 'trust', '--ca-dir', caDir, '--install', 'java', '--keystore', keystore, '--storepass', 'changeit'], { encoding: 'utf8' });
  assert.equal(installed.status, 0, installed.stderr);
  assert.match(installed.stdout, /installed: the development CA .* in the Java trust store/);
  const listed = spawnSync('keytool', ['-list', '-keystore', keystore, '-storepass', 'changeit', '-alias', 'hyco-relay-emulator'], { encoding: 'utf8' });
  assert.equal(listed.status, 0, listed.stderr);
  assert.match(listed.stdout, /trustedCertEntry/);
  const removed = spawnSync(process.execPath, [CLI, 'trust', '--ca-dir', caDir, '--uninstall', 'java', '--keystore', keystore], { encoding: 'utf8' });
  assert.equal(removed.status, 0, removed.stderr);
  assert.notEqual(spawnSync('keytool', ['-list', '-keystore', keystore, '-storepass', 'changeit', '-alias', 'hyco-relay-emulator']).status, 0);
});

test('--tls-cert and --tls-key still serve one\'s own certificate', async (t) => {
  const dir = tempDir(t);
  const own = await selfSignedCertificate(['localhost', '127.0.0.1']);
  fs.writeFileSync(path.join(dir, 'cert.pem'), own.cert);
  fs.writeFileSync(path.join(dir, 'key.pem'), own.key);
  const child = spawn(process.execPath, [CLI, '-p', '0', '--json', '--tls-cert', path.join(dir, 'cert.pem'), '--tls-key', path.join(dir, 'key.pem')], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let stdout = '';
  await new Promise((resolve) => child.stdout.on('data', (d) => (stdout += d).includes('\n') && resolve()));
  const summary = JSON.parse(stdout);
  assert.deepEqual(summary.tls, { caCertificate: null });
  const health = curl(['--cacert', path.join(dir, 'cert.pem'), `https://localhost:${summary.port}/health`]);
  assert.equal(health.status, 0, health.stderr);
});

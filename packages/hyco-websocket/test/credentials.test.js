'use strict';
// Keyless and credential-based auth, against the emulator as a development
// identity provider: TokenCredentials (Entra ID JWTs), AzureNamedKeyCredential
// and AzureSASCredential, renewal, fromConnectionString, and the CLI's --entra.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { AzureNamedKeyCredential, AzureSASCredential } = require('@azure/core-auth');
const hyco = require('hyco-websocket');
const { startRelay, FakeRelay, RULES, once, delay, until, send, FAST_BACKOFF } = require('hyco-test-support');

const CLI = path.join(__dirname, '..', 'bin', 'hyco-websocket.js');
const HIDE_IDENTITY = path.join(__dirname, 'fixtures', 'without-azure-identity.js');

function listener(t, relay, source, hcPath = 'echo', extra = {}) {
  const server = new hyco.relayedServer({ server: hyco.createRelayListenUri(relay.endpoint, hcPath), credential: source, reconnectBackoff: FAST_BACKOFF, ...extra });
  t.after(() => server.close());
  return server;
}

/** A sender with an Entra ID token (raw JWT in ServiceBusAuthorization) that echoes one message. */
async function exchange(relay, jwt, hcPath = 'echo') {
  const connection = await send(relay, hcPath, { token: jwt });
  const echoed = once(connection, 'message');
  connection.sendUTF('keyless hello');
  const reply = (await echoed).utf8Data;
  connection.close();
  return reply;
}

function echo(server) {
  server.on('request', (request) => request.accept(null).then((c) => c.on('message', (m) => c.sendUTF(m.utf8Data)), () => {}));
}

test('a listener with a TokenCredential (role Listener) and a sender with one (role Sender) exchange messages; the JWT goes raw', async (t) => {
  const relay = await startRelay(t);
  const listenCred = relay.createTokenCredential({ principal: 'listener-app', roles: [{ role: 'Azure Relay Listener', scope: 'echo' }] });
  const sendCred = relay.createTokenCredential({ principal: 'sender-app', roles: [{ role: 'Azure Relay Sender' }] });
  const server = listener(t, relay, listenCred);
  echo(server);
  await once(server, 'online');
  const { token } = await sendCred.getToken(hyco.RELAY_SCOPE);
  assert.doesNotMatch(token, /^Bearer /);
  assert.equal(await exchange(relay, token), 'keyless hello');
});

test('an AzureNamedKeyCredential (SAS tokens minted for the listen URI) and an AzureSASCredential work as token sources', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['echo', 'other'] });
  const named = listener(t, relay, new AzureNamedKeyCredential(RULES[1].name, RULES[1].key));
  echo(named);
  await once(named, 'online');
  const sas = new AzureSASCredential(hyco.createRelayToken(hyco.createRelayListenUri(relay.endpoint, 'other'), RULES[0].name, RULES[0].key, 3600));
  const fixed = listener(t, relay, sas, 'other');
  echo(fixed);
  await once(fixed, 'online');
  for (const hcPath of ['echo', 'other']) {
    const connection = await send(relay, hcPath);
    const echoed = once(connection, 'message');
    connection.sendUTF(`through ${hcPath}`);
    assert.equal((await echoed).utf8Data, `through ${hcPath}`);
    connection.close();
  }
});

test('senders take the same credentials: relayedConnect with a TokenCredential (role Sender), an AzureNamedKeyCredential and an AzureSASCredential', async (t) => {
  const relay = await startRelay(t);
  const server = listener(t, relay, relay.createTokenCredential({ principal: 'listener-app', roles: [{ role: 'Listener', scope: 'echo' }] }));
  echo(server);
  await once(server, 'online');
  const address = hyco.createRelaySendUri(relay.endpoint, 'echo');
  const credentials = [
    relay.createTokenCredential({ principal: 'sender-app', roles: [{ role: 'Azure Relay Sender', scope: 'echo' }] }),
    new AzureNamedKeyCredential(RULES[2].name, RULES[2].key),
    new AzureSASCredential(hyco.createRelayToken(address, RULES[2].name, RULES[2].key, 600)),
  ];
  for (const credential of credentials) {
    const connection = await hyco.relayedConnect(address, { credential });
    const echoed = once(connection, 'message');
    connection.sendUTF(credential.constructor.name);
    assert.equal((await echoed).utf8Data, credential.constructor.name);
    connection.close();
  }
  // A Listener role does not send.
  const listenOnly = relay.createTokenCredential({ principal: 'listener-app' });
  await assert.rejects(hyco.relayedConnect(address, { credential: listenOnly }), { code: 'ERR_HYCO_FORBIDDEN', statusCode: 403 });
});

test('credentials whose tokens live 3 s keep a listener online for 20 s with no drop', async (t) => {
  const relay = await startRelay(t);
  const cred = relay.createTokenCredential({ principal: 'short-lived', roles: [{ role: 'Listener' }], lifetimeSeconds: 3 });
  let calls = 0;
  const counting = { getToken: (...args) => (calls++, cred.getToken(...args)) };
  const server = listener(t, relay, counting);
  let onlines = 0;
  server.on('online', () => onlines++);
  const errors = [];
  server.on('error', (e) => errors.push(e.code));
  await once(server, 'online');
  await delay(20000);
  assert.equal(onlines, 1, 'never dropped');
  assert.deepEqual(errors, []);
  assert.ok(calls >= 8, `renewed ${calls - 1} times`);
  assert.equal(server.isOnline, true);
});

test('refreshAfterTimestamp is honoured: a token good for a minute is renewed when the credential says, not at 80% of its life', async (t) => {
  const relay = await FakeRelay.start();
  t.after(() => relay.close());
  const credential = {
    async getToken() {
      const now = Date.now();
      return { token: `a.${Buffer.from(String(now)).toString('base64url')}.b`, expiresOnTimestamp: now + 60000, refreshAfterTimestamp: now + 1000 };
    },
  };
  const server = new hyco.relayedServer({ server: relay.listenUri(), credential });
  t.after(() => server.close());
  await once(server, 'online');
  await until(() => relay.renewals.length >= 2, 5000, 'two renewals within 5 s');
  assert.ok(relay.renewals.every((tok) => !tok.startsWith('Bearer')));
});

test('a credential that starts failing is reported and retried; the listener recovers when the credential does', async (t) => {
  const relay = await startRelay(t);
  const cred = relay.createTokenCredential({ principal: 'flaky', roles: [{ role: 'Listener' }], lifetimeSeconds: 3 });
  let failing = false;
  const flaky = {
    getToken: (...args) => (failing ? Promise.reject(new Error('the identity endpoint is down')) : cred.getToken(...args)),
  };
  const server = listener(t, relay, flaky);
  const errors = [];
  server.on('error', (e) => errors.push(e));
  await once(server, 'online');
  failing = true;
  await until(() => errors.filter((e) => e.code === 'ERR_HYCO_TOKEN_PROVIDER').length >= 2, 10000, 'failures reported');
  assert.match(errors.find((e) => e.code === 'ERR_HYCO_TOKEN_PROVIDER').message, /credential failed: the identity endpoint is down/);
  failing = false;
  // Back: renewed (or, if the token ran out meanwhile, online again).
  await until(() => server.isOnline, 10000, 'online again');
  const before = errors.length;
  await delay(4000);
  assert.equal(server.isOnline, true);
  assert.equal(errors.length, before, 'no more failures once the credential recovered');
});

test('fromConnectionString: a key (renewing SAS), a SharedAccessSignature (fixed), and Authentication=Managed Identity (ManagedIdentityCredential, from the emulator\'s managed identity endpoint)', async (t) => {
  const relay = await startRelay(t, { managedIdentity: { principal: 'app-identity' }, roleAssignments: [{ principal: 'app-identity', role: 'Azure Relay Listener', scope: 'echo' }] });
  const withKey = hyco.relayedServer.fromConnectionString(`${relay.connectionString()};EntityPath=echo`, { reconnectBackoff: FAST_BACKOFF });
  t.after(() => withKey.close());
  await once(withKey, 'online');
  const sas = hyco.createRelayToken(hyco.createRelayListenUri(relay.endpoint, 'echo'), RULES[0].name, RULES[0].key);
  const withSas = hyco.relayedServer.fromConnectionString(`Endpoint=sb://127.0.0.1:${relay.port}/;SharedAccessSignature=${sas};UseDevelopmentEmulator=true`, { path: 'echo' });
  t.after(() => withSas.close());
  await once(withSas, 'online');
  assert.equal(withSas.config.token, sas);
  const cs = `Endpoint=sb://127.0.0.1:${relay.port}/;Authentication=Managed Identity;EntityPath=echo;UseDevelopmentEmulator=true`;
  assert.equal(hyco.parseConnectionString(cs).authentication, 'Managed Identity');
  // As on App Service: the identity endpoint comes from the environment (here, the emulator's).
  const saved = { IDENTITY_ENDPOINT: process.env.IDENTITY_ENDPOINT, IDENTITY_HEADER: process.env.IDENTITY_HEADER };
  Object.assign(process.env, relay.managedIdentityEnvironment);
  t.after(() => {
    for (const [name, value] of Object.entries(saved)) if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  });
  const withMi = hyco.relayedServer.fromConnectionString(cs);
  t.after(() => withMi.close());
  assert.equal(withMi.config.token.constructor.name, 'ManagedIdentityCredential');
  echo(withMi);
  await once(withMi, 'online');
  await withKey.close();
  await withSas.close();
  const connection = await send(relay, 'echo');
  const echoed = once(connection, 'message');
  connection.sendUTF('via the managed identity');
  assert.equal((await echoed).utf8Data, 'via the managed identity');
  connection.close();
  assert.throws(() => hyco.relayedServer.fromConnectionString(`${relay.connectionString()}`), { code: 'ERR_HYCO_INVALID_ARGUMENT', message: /EntityPath/ });
  assert.throws(() => hyco.relayedServer.fromConnectionString(`${relay.connectionString()};EntityPath=echo`, { path: 'other' }), {
    code: 'ERR_HYCO_INVALID_ARGUMENT',
    message: /for the hybrid connection "echo" \(EntityPath\), not "other"/,
  });
  assert.throws(() => hyco.relayedServer.fromConnectionString(`${relay.connectionString()};EntityPath=echo`, { token: 't', credential: { signature: 's' } }), { message: /not both/ });
  assert.throws(() => new hyco.relayedServer({ server: hyco.createRelayListenUri(relay.endpoint, 'echo'), token: 't', credential: { signature: 's' } }), { message: /either the "token" option or the "credential" option/ });
});

test('without @azure/identity, Authentication=Managed Identity and --entra fail with a clear error naming the package', async () => {
  const script = `const hyco = require('hyco-websocket');
    try { hyco.relayedServer.fromConnectionString('Endpoint=sb://ns.example/;Authentication=Managed Identity;EntityPath=x'); }
    catch (e) { console.log(e.code + ' ' + e.message); }`;
  const fromCode = await run(process.execPath, ['-r', HIDE_IDENTITY, '-e', script]);
  assert.match(fromCode.stdout, /ERR_HYCO_MISSING_PACKAGE Authentication=Managed Identity needs the package "@azure\/identity".*npm install @azure\/identity/);
  const cli = await run(process.execPath, ['-r', HIDE_IDENTITY, CLI, 'token', '--entra', '--namespace', 'ns.example']);
  assert.equal(cli.code, 1);
  assert.match(cli.stderr, /--entra needs the package "@azure\/identity"/);
});

test('the CLI\'s --entra: DefaultAzureCredential gets tokens from the emulator\'s token endpoint (as from Entra ID) and the listener comes online', async (t) => {
  const relay = await startRelay(t, {
    tls: 'self-signed',
    applications: [{ clientId: 'cli-app', clientSecret: 'cli-secret-value' }],
    roleAssignments: [{ principal: 'cli-app', role: 'Azure Relay Listener', scope: 'echo' }],
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyco-entra-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'ca.pem'), relay.certificate);
  const env = {
    ...process.env,
    NODE_EXTRA_CA_CERTS: path.join(dir, 'ca.pem'),
    AZURE_TENANT_ID: relay.tenantId,
    AZURE_CLIENT_ID: 'cli-app',
    AZURE_CLIENT_SECRET: 'cli-secret-value',
    AZURE_AUTHORITY_HOST: `https://127.0.0.1:${relay.port}`,
  };
  delete env.HYCO_CONNECTION_STRING;
  const token = await run(process.execPath, [CLI, 'token', '--entra', '--namespace', relay.endpoint], env);
  assert.equal(token.code, 0, token.stderr);
  const jwt = token.stdout.trim();
  assert.match(jwt, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  const listen = await run(process.execPath, [CLI, 'listen', '--entra', '--namespace', relay.endpoint, '--path', 'echo'], env, /listening on "echo"/);
  assert.match(listen.stdout, /listening on "echo"/);
  for (const out of [token.stderr, listen.stdout, listen.stderr]) assert.equal(out.includes('cli-secret-value'), false);
});

/** Runs a command; resolves with its code and output (killed once `until` shows in stdout). */
function run(command, args, env = process.env, untilOutput) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
    child.stdout.on('data', (d) => {
      stdout += d;
      if (untilOutput && untilOutput.test(stdout)) child.kill('SIGINT');
    });
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

// Regression (issue 21, defect 7): a refreshAfterTimestamp in the past (or 0), or a token already expired,
// made the listener renew every 100 ms forever (29 calls in 3 s).
test('renewals have a floor and a backoff: a credential whose refresh time is always past is not called in a loop; an expired token is an error, reported once, never sent', async (t) => {
  const relay = await FakeRelay.start();
  t.after(() => relay.close());
  let calls = 0;
  const eager = {
    async getToken() {
      calls++;
      const now = Date.now();
      return { token: `a.${Buffer.from(String(now + calls)).toString('base64url')}.b`, expiresOnTimestamp: now + 60_000, refreshAfterTimestamp: calls % 2 ? 0 : now - 1000 };
    },
  };
  const server = new hyco.relayedServer({ server: relay.listenUri(), credential: eager });
  t.after(() => server.close());
  await once(server, 'online');
  await delay(3000);
  assert.ok(calls <= 2, `${calls} calls in 3 s`);
  await server.close();

  // Online with a short token; every renewal then gives one that has already expired.
  let expiredCalls = 0;
  const stale = {
    async getToken() {
      const now = Date.now();
      if (expiredCalls++ === 0) return { token: 'a.Zmlyc3Q.b', expiresOnTimestamp: now + 4000 };
      return { token: `a.${Buffer.from(String(now)).toString('base64url')}.b`, expiresOnTimestamp: now - 1000 };
    },
  };
  const renewalsBefore = relay.renewals.length;
  const second = new hyco.relayedServer({ server: relay.listenUri(), credential: stale, reconnectBackoff: FAST_BACKOFF });
  t.after(() => second.close());
  const errors = [];
  second.on('error', (err) => errors.push(err));
  await once(second, 'online');
  await delay(4000);
  assert.equal(relay.renewals.length, renewalsBefore, 'an expired token is never sent as a renewal');
  const expired = errors.filter((e) => e.code === 'ERR_HYCO_INVALID_TOKEN');
  assert.equal(expired.length, 1, `reported once (${errors.map((e) => e.code).join(', ')})`);
  assert.match(expired[0].message, /already expired/);
  // Before expiry the tries halve the time left (a handful); after it, only the backoff paces them.
  const byExpiry = expiredCalls;
  assert.ok(byExpiry <= 12, `${byExpiry} calls in 4 s`);
  await delay(4000);
  assert.ok(expiredCalls - byExpiry <= 2, `${expiredCalls - byExpiry} calls in the 4 s after expiry`);
  assert.equal(errors.filter((e) => e.code === 'ERR_HYCO_INVALID_TOKEN').length, 1, 'still reported once');
});

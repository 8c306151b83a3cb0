'use strict';
// The emulator checks Microsoft Entra ID tokens as the service does: a JWT
// for https://relay.azure.net, within exp/nbf, whose principal holds a
// role (Owner, Listener, Sender) on the namespace or the hybrid connection.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { randomUUID } = require('node:crypto');
const { spawn } = require('node:child_process');
const { RelayEmulator } = require('hyco-relay-emulator');
const { startRelay, listen, handshakeStatus, onceOrError, until, createRelayListenUri, createRelaySendUri } = require('hyco-test-support');

const SCOPE = 'https://relay.azure.net/.default';

async function jwtFor(relay, principal, roles, lifetimeSeconds) {
  const cred = relay.createTokenCredential({ principal, roles, lifetimeSeconds });
  return (await cred.getToken(SCOPE)).token;
}

/** A token as Entra ID issues them, signed with a key of the test's own (so: not the emulator's). */
async function foreignToken(claims) {
  const { SignJWT, generateKeyPair } = await import('jose');
  const { privateKey } = await generateKeyPair('RS256');
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ oid: randomUUID(), tid: randomUUID(), ...claims })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: 'real-looking' })
    .setIssuer(claims.iss ?? `https://sts.windows.net/${randomUUID()}/`)
    .setAudience(claims.aud ?? 'https://relay.azure.net')
    .setIssuedAt(now - 10)
    .setNotBefore(now - 10)
    .setExpirationTime(claims.exp ?? now + 3600)
    .sign(privateKey);
}

test('refusals: expired 401, wrong audience 401, another key 401, a role on another entity or without the right 403; Owner at the namespace opens everything', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['a', 'b'] });
  const listenA = createRelayListenUri(relay.endpoint, 'a');
  const listenB = createRelayListenUri(relay.endpoint, 'b');
  const status = (uri, token) => handshakeStatus(uri, { ServiceBusAuthorization: token });

  // Expired (signed 2 hours ago for 1 minute: past the 5 minutes of clock skew).
  const realNow = Date.now;
  Date.now = () => realNow() - 2 * 3600 * 1000;
  let expired;
  try {
    expired = await jwtFor(relay, 'old', [{ role: 'Owner' }], 60);
  } finally {
    Date.now = realNow;
  }
  let r = await status(listenA, expired);
  assert.equal(r.status, 401);
  assert.match(r.text, /ExpiredToken/);
  // Wrong audience: the same emulator's token, for another resource.
  const other = relay.createTokenCredential({ principal: 'owner-elsewhere', roles: [{ role: 'Owner' }] });
  r = await status(listenA, (await other.getToken('https://management.azure.com/.default')).token);
  assert.equal(r.status, 401);
  assert.match(r.text, /InvalidAudience/);
  // Signed by another key, with the emulator's issuer.
  const forged = await foreignToken({ iss: `https://login.microsoftonline.com/${relay.tenantId}/v2.0`, oid: 'owner-elsewhere' });
  r = await status(listenA, forged);
  assert.equal(r.status, 401);
  assert.match(r.text, /InvalidSignature/);
  // Garbage that looks like a JWT.
  assert.equal((await status(listenA, 'abc.def.ghi')).status, 401);
  // Sender role used to listen: 403. Listener role scoped to a, used on b: 403.
  assert.equal((await status(listenA, await jwtFor(relay, 'sender', [{ role: 'Azure Relay Sender' }]))).status, 403);
  const onlyA = await jwtFor(relay, 'listener-a', [{ role: 'Azure Relay Listener', scope: 'a' }]);
  r = await status(listenB, onlyA);
  assert.equal(r.status, 403);
  assert.match(r.text, /no role granting Listen on "b"/);
  // The same token on a works; an Owner at the namespace opens everything, both ways.
  await listen(t, relay, 'a', { token: onlyA });
  const owner = await jwtFor(relay, 'owner', [{ role: 'Azure Relay Owner' }]);
  await listen(t, relay, 'b', { token: owner });
  for (const hc of ['a', 'b']) {
    const sender = await new Promise((resolve, reject) => {
      const ws = new (require('ws'))(createRelaySendUri(relay.endpoint, hc), { headers: { ServiceBusAuthorization: owner } });
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    });
    sender.close();
  }
});

test('a listener whose JWT expires without renewal is closed with 1008; a renewToken with a new JWT keeps it open', async (t) => {
  const relay = await startRelay(t);
  const cred = relay.createTokenCredential({ principal: 'l', roles: [{ role: 'Listener' }], lifetimeSeconds: 2 });
  const short = (await cred.getToken(SCOPE)).token;
  const lapsing = await listen(t, relay, 'echo', { token: short });
  const closed = onceOrError(lapsing, 'close');
  const renewing = await listen(t, relay, 'echo', { token: (await cred.getToken(SCOPE)).token });
  let renewingClosed = false;
  renewing.on('close', () => (renewingClosed = true));
  setTimeout(async () => renewing.send(JSON.stringify({ renewToken: { token: (await relay.createTokenCredential({ principal: 'l', lifetimeSeconds: 60 }).getToken(SCOPE)).token } })), 800);
  const [code, reason] = await closed;
  assert.equal(code, 1008);
  assert.match(String(reason), /expired/);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(renewingClosed, false, 'the renewed channel stays open');
});

test('entraTokens "unverified": a real-looking Entra token is taken only when its oid holds a role; never on a non-loopback bind', async (t) => {
  const oid = randomUUID();
  const relay = await startRelay(t, { entraTokens: 'unverified', roleAssignments: [{ principal: oid, role: 'Listener', scope: 'echo' }] });
  const uri = createRelayListenUri(relay.endpoint, 'echo');
  for (const iss of [`https://sts.windows.net/${randomUUID()}/`, `https://login.microsoftonline.com/${randomUUID()}/v2.0`]) {
    await listen(t, relay, 'echo', { token: await foreignToken({ iss, oid }) });
  }
  assert.equal((await handshakeStatus(uri, { ServiceBusAuthorization: await foreignToken({ oid: randomUUID() }) })).status, 403, 'no role: refused');
  assert.equal((await handshakeStatus(uri, { ServiceBusAuthorization: await foreignToken({ oid, iss: 'https://evil.example/' }) })).status, 401, 'not from Entra ID');
  assert.equal((await handshakeStatus(uri, { ServiceBusAuthorization: await foreignToken({ oid, aud: 'https://management.azure.com' }) })).status, 401);
  assert.equal((await handshakeStatus(uri, { ServiceBusAuthorization: await foreignToken({ oid, exp: Math.floor(Date.now() / 1000) - 3600 }) })).status, 401);
  await assert.rejects(RelayEmulator.start({ host: '0.0.0.0', entraTokens: 'unverified' }), { code: 'ERR_HYCO_INVALID_ARGUMENT', message: /loopback host only/ });
  // In the default mode the same real-looking token is refused (its signature is not the emulator's).
  const strict = await startRelay(t, { roleAssignments: [{ principal: oid, role: 'Listener' }] });
  assert.equal((await handshakeStatus(createRelayListenUri(strict.endpoint, 'echo'), { ServiceBusAuthorization: await foreignToken({ oid }) })).status, 401);
});

test('the OAuth token endpoint: client credentials for registered applications only, tokens for the relay scope', async (t) => {
  const relay = await startRelay(t, { applications: [{ clientId: 'app', clientSecret: 'right-secret', objectId: 'app-object' }], roleAssignments: [{ principal: 'app-object', role: 'Listener' }] });
  const base = `http://127.0.0.1:${relay.port}/${relay.tenantId}`;
  const meta = await (await fetch(`${base}/v2.0/.well-known/openid-configuration`)).json();
  assert.equal(meta.token_endpoint, `${base}/oauth2/v2.0/token`);
  const ask = (fields) => fetch(meta.token_endpoint, { method: 'POST', body: new URLSearchParams({ grant_type: 'client_credentials', scope: SCOPE, ...fields }) });
  assert.equal((await ask({ client_id: 'app', client_secret: 'wrong' })).status, 401);
  assert.equal((await ask({ client_id: 'nobody', client_secret: 'right-secret' })).status, 401);
  assert.equal((await ask({ client_id: 'app', client_secret: 'right-secret', grant_type: 'password' })).status, 400);
  assert.equal((await ask({ client_id: 'app', client_secret: 'right-secret', scope: 'https://graph.microsoft.com/.default' })).status, 400);
  const ok = await ask({ client_id: 'app', client_secret: 'right-secret' });
  assert.equal(ok.status, 200);
  const body = await ok.json();
  assert.equal(body.token_type, 'Bearer');
  await listen(t, relay, 'echo', { token: body.access_token });
  // Other tenants' paths are the HTTP gateway's, as before.
  assert.equal((await fetch(`http://127.0.0.1:${relay.port}/${randomUUID()}/oauth2/v2.0/token`, { method: 'POST' })).status, 404);
});

test('the managed identity endpoint (App Service protocol): the secret header, the API version and the relay resource, or a clear JSON error', async (t) => {
  const relay = await startRelay(t, { managedIdentity: { principal: 'app-identity' }, roleAssignments: [{ principal: 'app-identity', role: 'Listener', scope: 'echo' }] });
  const { IDENTITY_ENDPOINT, IDENTITY_HEADER } = relay.managedIdentityEnvironment;
  assert.match(IDENTITY_ENDPOINT, new RegExp(`^http://127\\.0\\.0\\.1:${relay.port}/\\$managed-identity/token$`));
  const ask = (query, header = IDENTITY_HEADER) =>
    fetch(`${IDENTITY_ENDPOINT}?${new URLSearchParams({ 'api-version': '2019-08-01', resource: 'https://relay.azure.net', ...query })}`, { headers: header ? { 'X-IDENTITY-HEADER': header } : {} });
  const refused = await ask({}, 'wrong-secret');
  assert.equal(refused.status, 401);
  assert.match((await refused.json()).error.message, /X-IDENTITY-HEADER/);
  assert.equal((await ask({}, null)).status, 401);
  assert.equal((await ask({ 'api-version': '2017-09-01' })).status, 400);
  const graph = await ask({ resource: 'https://graph.microsoft.com' });
  assert.equal(graph.status, 400);
  assert.equal((await graph.json()).error.code, 'invalid_resource');
  const ok = await ask({});
  assert.equal(ok.status, 200);
  const body = await ok.json();
  assert.equal(body.token_type, 'Bearer');
  assert.equal(body.client_id, 'app-identity');
  assert.ok(Number(body.expires_on) > Date.now() / 1000 + 3500, 'expires_on in Unix seconds, an hour ahead');
  await listen(t, relay, 'echo', { token: body.access_token });
  // An identity that is not assigned to the app gets no token (see the test below).
  assert.equal((await ask({ client_id: 'other-identity' })).status, 400);
  // An emulator without the option says how to turn it on.
  const plain = await startRelay(t);
  assert.equal(plain.managedIdentityEnvironment, undefined);
  const none = await fetch(`http://127.0.0.1:${plain.port}/$managed-identity/token?api-version=2019-08-01&resource=https://relay.azure.net`);
  assert.equal(none.status, 404);
  assert.match((await none.json()).error.message, /managedIdentity/);
  await assert.rejects(RelayEmulator.start({ managedIdentity: { lifetimeSeconds: 60 } }), /managedIdentity must be \{ principal/);
});

/** The claims of a JWT (not checked: the emulator checks them when the token is used). */
function claimsOf(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
}

test('the managed identity endpoint serves only the identities assigned to the app (system-assigned and configured user-assigned); any other client_id, principal_id, object_id or mi_res_id is a 400 with no token', async (t) => {
  const uami = { clientId: 'uami-client', principalId: 'uami-object', resourceId: '/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uami' };
  const relay = await startRelay(t, {
    hybridConnections: ['echo', 'admin-only'],
    managedIdentity: { principal: 'app-identity', userAssigned: [uami] },
    roleAssignments: [
      { principal: 'uami-object', role: 'Listener', scope: 'echo' },
      // A principal with more rights than the app's identities: the app must not be able to become it.
      { principal: 'admin', role: 'Owner' },
    ],
  });
  const { IDENTITY_ENDPOINT, IDENTITY_HEADER } = relay.managedIdentityEnvironment;
  // `query`: an object, or [name, value] pairs (a name may repeat).
  const ask = (query) => {
    const params = new URLSearchParams({ 'api-version': '2019-08-01', resource: 'https://relay.azure.net' });
    for (const [name, value] of Array.isArray(query) ? query : Object.entries(query)) params.append(name, value);
    return fetch(`${IDENTITY_ENDPOINT}?${params}`, { headers: { 'X-IDENTITY-HEADER': IDENTITY_HEADER } });
  };
  const notAssigned = [
    { client_id: 'admin' },
    { principal_id: 'admin' },
    { object_id: 'admin' },
    { mi_res_id: '/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/admin' },
    // A principal id is not a client id, and two parameters must name the same identity.
    { client_id: 'uami-object' },
    { client_id: 'uami-client', principal_id: 'admin' },
    { client_id: 'uami-client', principal_id: 'app-identity' },
    [['client_id', 'uami-client'], ['client_id', 'admin']],
  ];
  for (const query of notAssigned) {
    const res = await ask(query);
    assert.equal(res.status, 400, JSON.stringify(query));
    const body = await res.json();
    assert.equal(body.access_token, undefined, JSON.stringify(query));
    assert.equal(body.error.code, 'IdentityNotFound');
    assert.match(body.error.message, /No User Assigned or Delegated Managed Identity found.*not assigned to this app/);
  }
  // The user-assigned identity, by any of its names: tokens for its principal id (and client id as appid).
  let uamiToken;
  for (const query of [{ client_id: 'uami-client' }, { principal_id: 'uami-object' }, { object_id: 'uami-object' }, { mi_res_id: uami.resourceId.toUpperCase() }, { client_id: 'uami-client', mi_res_id: uami.resourceId }]) {
    const res = await ask(query);
    assert.equal(res.status, 200, JSON.stringify(query));
    const body = await res.json();
    assert.equal(body.client_id, 'uami-client');
    assert.deepEqual([claimsOf(body.access_token).oid, claimsOf(body.access_token).appid], ['uami-object', 'uami-client']);
    uamiToken = body.access_token;
  }
  await listen(t, relay, 'echo', { token: uamiToken });
  assert.equal((await handshakeStatus(createRelayListenUri(relay.endpoint, 'admin-only'), { ServiceBusAuthorization: uamiToken })).status, 403);
  // The system-assigned identity: with no parameter, or named by its own id.
  for (const query of [{}, { client_id: 'app-identity' }, { principal_id: 'app-identity' }]) {
    const res = await ask(query);
    assert.equal(res.status, 200, JSON.stringify(query));
    assert.equal(claimsOf((await res.json()).access_token).oid, 'app-identity');
  }
  await assert.rejects(RelayEmulator.start({ managedIdentity: { principal: 'p', userAssigned: [{ principalId: 'x' }] } }), /managedIdentity\.userAssigned\[0\] must be \{ clientId/);
});

/** A token of the emulator's signed as if the clock read `shiftSeconds` from now. */
async function shiftedJwt(relay, principal, roles, lifetimeSeconds, shiftSeconds) {
  const realNow = Date.now;
  Date.now = () => realNow() + shiftSeconds * 1000;
  try {
    return await jwtFor(relay, principal, roles, lifetimeSeconds);
  } finally {
    Date.now = realNow;
  }
}

test('a JWT past its exp is refused up front (401 ExpiredToken), even within the clock skew, on listen, connect and renewToken; a channel lives until exp and is then closed with 1008', async (t) => {
  const relay = await startRelay(t);
  // Expired a minute ago: inside the five minutes of skew, yet spent.
  const spent = await shiftedJwt(relay, 'spent', [{ role: 'Owner' }], 60, -120);
  assert.ok(claimsOf(spent).exp < Date.now() / 1000 - 50);
  for (const uri of [createRelayListenUri(relay.endpoint, 'echo'), createRelaySendUri(relay.endpoint, 'echo')]) {
    const r = await handshakeStatus(uri, { ServiceBusAuthorization: spent });
    assert.equal(r.status, 401, uri);
    assert.match(r.text, /ExpiredToken/);
  }
  // Renewing with it: refused as a renewal, not taken and then found expired.
  const owner = await jwtFor(relay, 'owner', [{ role: 'Owner' }]);
  const renewing = await listen(t, relay, 'echo', { token: owner });
  const renewClosed = onceOrError(renewing, 'close');
  renewing.send(JSON.stringify({ renewToken: { token: spent } }));
  const [renewCode, renewReason] = await renewClosed;
  assert.equal(renewCode, 1008);
  assert.match(String(renewReason), /renewToken refused: ExpiredToken/);
  // The skew still applies to nbf: a token from an issuer whose clock runs a minute ahead is taken.
  await listen(t, relay, 'echo', { token: await shiftedJwt(relay, 'ahead', [{ role: 'Listener' }], 3600, 60) });
  // A channel lives until its token's exp, not until exp + skew.
  const short = await jwtFor(relay, 'short', [{ role: 'Listener' }], 2);
  const opened = Date.now();
  const lapsing = await listen(t, relay, 'echo', { token: short });
  const [code] = await onceOrError(lapsing, 'close');
  assert.equal(code, 1008);
  const lived = Date.now() - opened;
  assert.ok(lived > 500 && lived < 4000, `closed after ${lived} ms, at the token's exp`);
});

/** Basic credentials as RFC 6749, section 2.3.1 makes them: each part form-urlencoded. */
function basic(id, secret, encode = (v) => encodeURIComponent(v).replace(/%20/g, '+')) {
  return `Basic ${Buffer.from(`${encode(id)}:${encode(secret)}`, 'utf8').toString('base64')}`;
}

test('client_secret_basic follows RFC 6749 2.3.1: form-urlencoded id and secret, split at the first colon; a bad escape or malformed credentials are 401 invalid_client, never 500', async (t) => {
  const apps = [
    { clientId: 'app one+1', clientSecret: 'p:a%ss w+rd:é', objectId: 'app-one' },
    { clientId: 'plain', clientSecret: 'left:right', objectId: 'plain-object' },
  ];
  const relay = await startRelay(t, { applications: apps, roleAssignments: [{ principal: 'app-one', role: 'Listener' }] });
  const endpoint = `http://127.0.0.1:${relay.port}/${relay.tenantId}/oauth2/v2.0/token`;
  const ask = (authorization) =>
    fetch(endpoint, { method: 'POST', headers: { Authorization: authorization }, body: new URLSearchParams({ grant_type: 'client_credentials', scope: SCOPE }) });
  // Encoded as the RFC says: spaces as +, colons and % escaped.
  const ok = await ask(basic(apps[0].clientId, apps[0].clientSecret));
  assert.equal(ok.status, 200);
  assert.equal(claimsOf((await ok.json()).access_token).oid, 'app-one');
  // A client that does not encode: the secret's own colons stay in the secret.
  assert.equal((await ask(basic('plain', 'left:right', (v) => v))).status, 200);
  assert.equal((await ask(basic('plain', 'left', (v) => v))).status, 401, 'a prefix of the secret is not the secret');
  for (const [what, authorization] of [
    ['a bad % escape in the secret', basic('plain', 'left%zz', (v) => v)],
    ['a bad % escape in the id', basic('pl%4', 'left:right', (v) => v)],
    ['an escape that is not UTF-8', basic('plain', 'left%C3%28', (v) => v)],
    ['no colon', `Basic ${Buffer.from('plain').toString('base64')}`],
    ['not base64', 'Basic !!!not-base64!!!'],
    ['nothing', 'Basic'],
    ['a wrong secret', basic('plain', 'left:wrong')],
  ]) {
    const res = await ask(authorization);
    assert.equal(res.status, 401, what);
    assert.equal((await res.json()).error, 'invalid_client', what);
  }
});

test('--print-entra-token gives each (role, scope) its own principal: a token for Listener@a.b does not open a-b, nor the other way round', async (t) => {
  const cli = path.join(__dirname, '..', 'bin', 'hyco-relay-emulator.js');
  const specs = ['Listener@a.b', 'Listener@a-b', 'Listener@a_b', 'Sender@a.b', 'Listener'];
  const args = ['-p', '0', '--hybrid-connection', 'a.b', '--hybrid-connection', 'a-b', '--hybrid-connection', 'a_b', ...specs.flatMap((s) => ['--print-entra-token', s])];
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill());
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const pattern = /entra token:.*\(principal (.+), 1 hour\): (\S+)\n/g;
  await until(() => (out.match(pattern) ?? []).length === specs.length, 10000, 'the printed tokens');
  const printed = [...out.matchAll(pattern)].map((m) => ({ principal: m[1], token: m[2] }));
  assert.equal(new Set(printed.map((p) => p.principal)).size, specs.length, `distinct principals: ${printed.map((p) => p.principal).join(', ')}`);
  const endpoint = /listening on (\S+)/.exec(out)[1];
  // 101 when the listener opens, else the refusal's status.
  const status = (hc, tok) => handshakeStatus(createRelayListenUri(endpoint, hc), { ServiceBusAuthorization: tok }).then((r) => r.status, () => 101);
  const [dot, dash, underscore, sender, everywhere] = printed.map((p) => p.token);
  assert.deepEqual([await status('a.b', dot), await status('a-b', dot), await status('a_b', dot)], [101, 403, 403], 'Listener@a.b');
  assert.deepEqual([await status('a.b', dash), await status('a-b', dash), await status('a_b', dash)], [403, 101, 403], 'Listener@a-b');
  assert.deepEqual([await status('a.b', underscore), await status('a-b', underscore), await status('a_b', underscore)], [403, 403, 101], 'Listener@a_b');
  assert.equal(await status('a.b', sender), 403, 'a Sender token does not listen');
  assert.deepEqual([await status('a.b', everywhere), await status('a-b', everywhere)], [101, 101], 'Listener on the namespace');
});

test('CLI: --role-assignment, --print-entra-token and --entra-tokens', async (t) => {
  const cli = path.join(__dirname, '..', 'bin', 'hyco-relay-emulator.js');
  const child = spawn(process.execPath, [cli, '-p', '0', '--hybrid-connection', 'echo', '--role-assignment', 'ops=Owner', '--role-assignment', 'svc=Azure Relay Listener@echo', '--print-entra-token', 'Listener@echo', '--managed-identity', 'svc'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill());
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  await until(() => /entra token:.*: (\S+)\n/.test(out), 10000, 'the printed token');
  const token = /entra token:.*: (\S+)\n/.exec(out)[1];
  const endpoint = /listening on (\S+)/.exec(out)[1];
  await new Promise((resolve, reject) => {
    const ws = new (require('ws'))(createRelayListenUri(endpoint, 'echo'), { headers: { ServiceBusAuthorization: token } });
    ws.once('open', () => {
      ws.close();
      resolve();
    });
    ws.once('error', reject);
  });
  // --managed-identity prints the two variables an app's ManagedIdentityCredential reads; they give tokens of svc.
  await until(() => /IDENTITY_HEADER=(\S+)/.test(out), 10000, 'the managed identity environment');
  const identityEndpoint = /IDENTITY_ENDPOINT=(\S+)/.exec(out)[1];
  const identityHeader = /IDENTITY_HEADER=(\S+)/.exec(out)[1];
  const identity = await fetch(`${identityEndpoint}?api-version=2019-08-01&resource=https://relay.azure.net`, { headers: { 'X-IDENTITY-HEADER': identityHeader } });
  assert.equal((await identity.json()).client_id, 'svc');
  const bad = spawn(process.execPath, [cli, '-p', '0', '--role-assignment', 'nobody'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  bad.stderr.on('data', (d) => (err += d));
  assert.equal(await new Promise((r) => bad.on('exit', r)), 2, 'a bad flag value is a usage error');
  assert.match(err, /PRINCIPAL=ROLE\[@PATH\]/);
  // --entra-tokens unverified: refused off loopback; on loopback a warning at start-up.
  const exposed = spawn(process.execPath, [cli, '-p', '0', '--entra-tokens', 'unverified', '--host', '0.0.0.0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let exposedErr = '';
  exposed.stderr.on('data', (d) => (exposedErr += d));
  assert.equal(await new Promise((r) => exposed.on('exit', r)), 1);
  assert.match(exposedErr, /entraTokens "unverified".*loopback host only/);
  const local = spawn(process.execPath, [cli, '-p', '0', '--entra-tokens', 'unverified'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => local.kill());
  let localErr = '';
  local.stderr.on('data', (d) => (localErr += d));
  await until(() => /without checking their signature/.test(localErr), 10000, 'the unverified-mode warning');
});

'use strict';
// Creating and deleting hybrid connections while the emulator runs: over
// HTTP (PUT / DELETE /{path}?api-version=2016-07 with X-PROCESS-AT:
// ServiceBus and a Manage token), from the CLI against a running emulator,
// and shown live on the dashboard.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { createRelayToken, parseConnectionString } = require('hyco-websocket');
const { startRelay, listen, token, sendWs, onceOrError, until, eventFeed } = require('hyco-test-support');

const CLI = path.join(__dirname, '..', 'bin', 'hyco-relay-emulator.js');

function request(port, method, target, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: target, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, statusMessage: res.statusMessage, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const manage = (port, method, hc, tok, body, extra = {}) =>
  request(port, method, `/${hc}?api-version=2016-07`, { headers: { 'X-PROCESS-AT': 'ServiceBus', ...(tok ? { Authorization: tok } : {}), ...extra }, body });

test('PUT with a Manage token creates a hybrid connection (settings as JSON or as the Atom entry a GET gives), usable at once; DELETE removes it and closes its listeners with 1001', async (t) => {
  const relay = await startRelay(t, { hybridConnections: [] });
  const created = await manage(relay.port, 'PUT', 'made', token('made'), JSON.stringify({ requiresClientAuthorization: false, userMetadata: 'made while running' }), { 'Content-Type': 'application/json' });
  assert.equal(created.status, 201);
  assert.match(created.headers['content-type'], /^application\/atom\+xml;type=entry/);
  assert.match(created.body, /<RequiresClientAuthorization>false<\/RequiresClientAuthorization><UserMetadata>made while running<\/UserMetadata><ListenerCount>0<\/ListenerCount>/);
  assert.deepEqual(relay.stats().hybridConnections.map((h) => [h.path, h.requiresClientAuthorization]), [['made', false]]);
  // It works at once: a listener, and an anonymous sender.
  const listener = await listen(t, relay, 'made');
  const sender = await sendWs(relay, 'made', { token: null });
  sender.terminate();
  // The Atom entry that runtime information gives creates one with the same settings.
  const atom = await manage(relay.port, 'PUT', 'copy', token('copy'), created.body, { 'Content-Type': 'application/atom+xml' });
  assert.equal(atom.status, 201, atom.statusMessage);
  assert.match(atom.body, /<RequiresClientAuthorization>false<\/RequiresClientAuthorization><UserMetadata>made while running<\/UserMetadata>/);
  // No body: the defaults (senders need a token).
  assert.equal((await manage(relay.port, 'PUT', 'rooms/blue', token('rooms/blue'))).status, 201);
  assert.equal(relay.stats().hybridConnections.find((h) => h.path === 'rooms/blue').requiresClientAuthorization, true);
  // Taken: 409; bad settings or path: 400.
  const again = await manage(relay.port, 'PUT', 'made', token('made'));
  assert.equal(again.status, 409);
  assert.match(again.statusMessage, /Conflict: the hybrid connection "made" already exists/);
  assert.equal((await manage(relay.port, 'PUT', 'x', token('x'), JSON.stringify({ requiresClientAuthorisation: false }), { 'Content-Type': 'application/json' })).status, 400);
  assert.equal((await manage(relay.port, 'PUT', 'bad%20name', token('bad name'))).status, 400);
  // Delete: 200; its listener goes with 1001; again: 404.
  const closed = onceOrError(listener, 'close');
  assert.equal((await manage(relay.port, 'DELETE', 'made', token('made'))).status, 200);
  assert.equal((await closed)[0], 1001);
  assert.equal((await manage(relay.port, 'DELETE', 'made', token('made'))).status, 404);
  assert.deepEqual(relay.stats().hybridConnections.map((h) => h.path).sort(), ['copy', 'rooms/blue']);
});

test('management needs Manage: a Listen or Send token is 403, none 401; a PUT without X-PROCESS-AT is an HTTP request for the listener, not management', async (t) => {
  const relay = await startRelay(t);
  for (const rule of ['ListenOnly', 'SendOnly']) {
    assert.equal((await manage(relay.port, 'PUT', 'new', token('new', rule))).status, 403, rule);
    assert.equal((await manage(relay.port, 'DELETE', 'echo', token('echo', rule))).status, 403, rule);
  }
  assert.equal((await manage(relay.port, 'PUT', 'new', undefined)).status, 401);
  const badSignature = createRelayToken('http://127.0.0.1/new', 'RootManageSharedAccessKey', 'bm90LXRoZS1rZXk=');
  assert.equal((await manage(relay.port, 'PUT', 'new', badSignature)).status, 401);
  assert.deepEqual(relay.stats().hybridConnections.map((h) => h.path), ['echo']);
  // To the listener: an ordinary relayed PUT.
  const channel = await listen(t, relay, 'echo');
  const seen = [];
  channel.on('message', (data, isBinary) => {
    if (isBinary) return;
    const { request: r } = JSON.parse(String(data));
    if (!r) return;
    seen.push(r.method);
    channel.send(JSON.stringify({ response: { requestId: r.id, statusCode: 204, body: false } }));
  });
  const relayed = await request(relay.port, 'PUT', '/echo?api-version=2016-07', { headers: { ServiceBusAuthorization: token('echo') }, body: '{}' });
  assert.equal(relayed.status, 204);
  assert.deepEqual(seen, ['PUT']);
  assert.deepEqual(relay.stats().hybridConnections.map((h) => h.path), ['echo']);
});

test('the dashboard shows a hybrid connection created or deleted while running, live, with the activity', async (t) => {
  const relay = await startRelay(t, { hybridConnections: [] });
  const feed = await eventFeed(`http://127.0.0.1:${relay.port}/$events`);
  t.after(() => feed.close());
  const snapshots = () => feed.events.map((e) => e.value);
  await until(() => snapshots().length >= 1, 5000, 'the first snapshot');
  assert.deepEqual(snapshots()[0].stats.hybridConnections, []);
  assert.equal((await manage(relay.port, 'PUT', 'live', token('live'))).status, 201);
  await until(() => snapshots().some((s) => s.stats.hybridConnections.some((h) => h.path === 'live') && s.activity.some((a) => a.type === 'hybrid-connection-created' && a.path === 'live')), 5000, 'the creation');
  relay.deleteHybridConnection('live');
  await until(() => snapshots().at(-1).stats.hybridConnections.length === 0 && snapshots().at(-1).activity.some((a) => a.type === 'hybrid-connection-deleted'), 5000, 'the deletion');
});

test('hc create and hc delete from the CLI against a running emulator (its endpoint with the development key, or a connection string)', async (t) => {
  const emulator = spawn(process.execPath, [CLI, '-p', '0', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => emulator.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  emulator.stderr.on('data', (d) => (stderr += d));
  await new Promise((resolve) => emulator.stdout.on('data', (d) => (stdout += d).includes('\n') && resolve()));
  const summary = JSON.parse(stdout);
  const endpoint = `http://127.0.0.1:${summary.port}`;
  const hc = (...args) => spawnSync(process.execPath, [CLI, 'hc', ...args], { encoding: 'utf8', timeout: 20000 });
  const created = hc('create', 'made', '--anonymous', '--user-metadata', 'from the CLI', '--endpoint', endpoint);
  assert.equal(created.status, 0, created.stderr);
  assert.equal(created.stdout, 'created: hybrid connection "made" (anonymous senders)\n');
  const status = await (await fetch(`${endpoint}/$status`)).json();
  assert.deepEqual(status.hybridConnections.map((h) => [h.path, h.requiresClientAuthorization]), [['made', false]]);
  // With a connection string: the new one's connection string is printed.
  const withCs = hc('create', 'second', '-c', summary.connectionString);
  assert.equal(withCs.status, 0, withCs.stderr);
  const printed = /^connection string: (\S+)$/m.exec(withCs.stdout)[1];
  assert.equal(parseConnectionString(printed).entityPath, 'second');
  const taken = hc('create', 'made', '--endpoint', endpoint);
  assert.equal(taken.status, 1);
  assert.match(taken.stderr, /refused to create "made": 409 Conflict/);
  const deleted = hc('delete', 'made', '--endpoint', endpoint);
  assert.equal(deleted.status, 0, deleted.stderr);
  assert.equal(deleted.stdout, 'deleted: hybrid connection "made"\n');
  const gone = hc('delete', 'made', '--endpoint', endpoint);
  assert.equal(gone.status, 1);
  assert.match(gone.stderr, /404 EntityNotFound/);
  const wrongKey = hc('create', 'x', '--endpoint', endpoint, '--key', 'd3Jvbmc=');
  assert.equal(wrongKey.status, 1);
  assert.match(wrongKey.stderr, /401/);
  assert.equal(wrongKey.stderr.includes('d3Jvbmc='), false, 'the key is not repeated');
  // The emulator's log (read as this process gets to it).
  await until(() => /created\s+made/.test(stderr) && /deleted\s+made/.test(stderr), 5000, 'the log lines');
  const nobody = hc('create', 'x', '--endpoint', 'http://127.0.0.1:9');
  assert.equal(nobody.status, 1);
  assert.match(nobody.stderr, /nothing answers at http:\/\/127\.0\.0\.1:9/);
});

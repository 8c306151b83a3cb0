'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { RelayEmulator } = require('hyco-relay-emulator');
const hyco = require('hyco-websocket');
const { RULES, startRelay, relayedServer, once, send, token, until, delay } = require('hyco-test-support');

/** Counts a server's status events. */
function watch(server) {
  const counts = { online: 0, connecting: 0, offline: 0, errors: [] };
  server.on('online', () => counts.online++);
  server.on('connecting', () => counts.connecting++);
  server.on('offline', () => counts.offline++);
  server.on('error', (e) => counts.errors.push(e));
  return counts;
}

test('control channel dropped (1011, then abruptly): back online, and accepted connections survive the drops', async (t) => {
  const relay = await startRelay(t);
  const server = await relayedServer(t, relay, { autoAcceptConnections: true });
  server.on('connect', (c) => c.on('message', (m) => c.sendUTF(m.utf8Data)));
  const counts = watch(server);
  const sender = await send(relay);
  t.after(() => sender.drop());
  for (const mode of ['close', 'destroy']) {
    const back = once(server, 'online');
    relay.dropControlChannels('echo', mode);
    const dropped = Date.now();
    await back;
    assert.ok(Date.now() - dropped < 2000, `back online within 2 s after ${mode}`);
    sender.sendUTF(`still here after ${mode}`);
    assert.equal((await once(sender, 'message')).utf8Data, `still here after ${mode}`);
  }
  assert.equal(counts.online, 2);
  assert.equal(counts.errors[0].code, 'ERR_HYCO_CONTROL_CHANNEL_CLOSED');
  assert.match(counts.errors[0].message, /1011/);
  const fresh = await send(relay);
  fresh.drop();
});

test('emulator restarted on the same port: old connections close cleanly, the listener comes back, new senders are accepted', async (t) => {
  let relay = await RelayEmulator.start({ rules: RULES, hybridConnections: ['echo'] });
  const port = relay.port;
  t.after(() => relay.close());
  const server = await relayedServer(t, relay, { autoAcceptConnections: true });
  server.on('connect', (c) => c.on('message', (m) => c.sendUTF(m.utf8Data)));
  const counts = watch(server);
  const old = await send(relay);
  await until(() => server.connections.length === 1, 2000, 'connection');
  const oldClosed = once(old, 'close');
  const serverSideClosed = once(server, 'close');
  await relay.close();
  const [code] = await oldClosed;
  assert.equal(code, 1001, 'the sender hears the relay going away');
  const [, serverSideCode] = await serverSideClosed;
  assert.equal(serverSideCode, 1001);
  assert.equal(server.connections.length, 0);
  await delay(300); // the listener retries against a closed port meanwhile
  const back = once(server, 'online');
  relay = await RelayEmulator.start({ rules: RULES, hybridConnections: ['echo'], port });
  await back;
  assert.ok(counts.connecting >= 1);
  const fresh = await send(relay);
  fresh.sendUTF('after restart');
  assert.equal((await once(fresh, 'message')).utf8Data, 'after restart');
  fresh.drop();
});

test('tokens valid for 3 s keep a listener online for 20 s with zero control-channel drops', async (t) => {
  const relay = await startRelay(t);
  let issued = 0;
  const server = new hyco.relayedServer({
    server: hyco.createRelayListenUri(relay.endpoint, 'echo'),
    token: () => {
      issued++;
      return token('echo', 3);
    },
    autoAcceptConnections: true,
  });
  t.after(() => server.close());
  const counts = watch(server);
  const offline = [];
  relay.on('activity', (a) => a.type === 'listener-offline' && offline.push(a));
  await once(server, 'online');
  await delay(20000);
  assert.equal(server.isOnline, true);
  assert.equal(counts.online, 1, 'never reconnected');
  assert.equal(counts.connecting, 0);
  assert.deepEqual(counts.errors, []);
  assert.deepEqual(offline, [], 'the emulator never closed the control channel');
  assert.ok(issued >= 8, `renewed repeatedly (${issued} tokens)`);
  const sender = await send(relay);
  sender.drop();
});

test('a deleted hybrid connection takes the listener offline with a 404-coded error', async (t) => {
  const relay = await startRelay(t);
  const server = await relayedServer(t, relay);
  const errors = [];
  server.on('error', (e) => errors.push(e));
  const offline = once(server, 'offline');
  relay.deleteHybridConnection('echo');
  const error = await offline;
  assert.equal(error.code, 'ERR_HYCO_NOT_FOUND');
  assert.equal(error.statusCode, 404);
  assert.equal(server.isOnline, false);
  assert.equal(server.lastError, error);
  assert.equal(errors.at(-1), error);
  const before = errors.length;
  await delay(300);
  assert.equal(errors.length, before, 'no retries after 404');
});

test('a control channel that stops answering pings is declared dead and reopened', async (t) => {
  const relay = await startRelay(t);
  const server = await relayedServer(t, relay, { controlChannelKeepaliveInterval: 200, controlChannelKeepaliveGracePeriod: 200 });
  const errors = [];
  server.on('error', (e) => errors.push(e));
  const back = once(server, 'online');
  relay.dropControlChannels('echo', 'stall');
  await back;
  assert.equal(errors[0].code, 'ERR_HYCO_KEEPALIVE_TIMEOUT');
  await until(() => relay.stats().hybridConnections[0].listeners === 1, 2000, 'listener registered again');
});

test('an unreachable relay: connecting events with backoff, then online when it appears', async (t) => {
  const probe = await RelayEmulator.start({ rules: RULES });
  const port = probe.port;
  await probe.close();
  const server = new hyco.relayedServer({
    server: hyco.createRelayListenUri(`ws://127.0.0.1:${port}`, 'echo'),
    token: () => token('echo'),
    reconnectBackoff: [0, 50, 100],
  });
  t.after(() => server.close());
  const counts = watch(server);
  await until(() => counts.connecting >= 3, 3000, 'three retries');
  assert.equal(counts.errors[0].code, 'ERR_HYCO_CONNECTION');
  const relay = await RelayEmulator.start({ rules: RULES, hybridConnections: ['echo'], port });
  t.after(() => relay.close());
  await once(server, 'online');
  const sender = await send(relay).catch((e) => e);
  assert.match(String(sender.message ?? ''), /404 No handler/, 'online and answering');
});

test('200 senders at once are all accepted', async (t) => {
  const relay = await startRelay(t);
  const server = await relayedServer(t, relay, { autoAcceptConnections: true });
  server.on('connect', (c) => c.on('message', (m) => c.sendUTF(m.utf8Data)));
  const senders = await Promise.all(Array.from({ length: 200 }, () => send(relay)));
  t.after(() => senders.forEach((s) => s.drop()));
  const replies = await Promise.all(
    senders.map((s, i) => {
      const reply = once(s, 'message');
      s.sendUTF(`n${i}`);
      return reply;
    }),
  );
  replies.forEach((m, i) => assert.equal(m.utf8Data, `n${i}`));
  assert.equal(server.connections.length, 200);
});

test('after close() the process exits on its own: no timer or socket left behind', async () => {
  const script = path.join(__dirname, 'fixtures', 'close-and-exit.js');
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const killer = setTimeout(() => child.kill('SIGKILL'), 15000);
  const [code, signal] = await once(child, 'exit');
  clearTimeout(killer);
  assert.equal(signal, null, `the process had to be killed: ${output}`);
  assert.equal(code, 0, output);
  assert.match(output, /echoed through the relay/);
});

'use strict';
// Forwarding through the emulator with the library API: createLocalForward
// (azbridge's -L) on one side, createRemoteForward (-T) on the other, real
// sockets at both ends.
const test = require('node:test');
const assert = require('node:assert/strict');
const dgram = require('node:dgram');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { startRelay, until, once, delay } = require('hyco-test-support');
const { remoteForward, localForward, tcpServer, freePort, connect, sendRandom, receiveAll, howItEnds } = require('./fixtures/forward');

const MB = 1024 * 1024;

async function relayFor(t) {
  return startRelay(t, { hybridConnections: ['fwd', 'other'] });
}

test('TCP: 100 MB of random bytes each way through -L, the relay and -T arrive whole (SHA-256 checked at both ends)', async (t) => {
  const relay = await relayFor(t);
  const TOTAL = 100 * MB;
  const serverSide = {};
  const server = await tcpServer(t, (socket) => {
    serverSide.received = receiveAll(socket);
    serverSide.sent = sendRandom(socket, TOTAL);
  });
  const remote = await remoteForward(t, relay, [{ host: '127.0.0.1', hostPort: server.port }]);
  const local = await localForward(t, relay, [{ bindPort: 0 }]);
  const client = await connect(local.addresses[0].port);
  const started = Date.now();
  const [clientSent, clientReceived] = await Promise.all([sendRandom(client, TOTAL), receiveAll(client)]);
  const [serverSent, serverReceived] = await Promise.all([serverSide.sent, serverSide.received]);
  t.diagnostic(`${((2 * TOTAL) / MB / ((Date.now() - started) / 1000)).toFixed(0)} MB/s (both ways together)`);
  assert.equal(serverReceived.bytes, TOTAL);
  assert.equal(serverReceived.sha256, clientSent, 'client to server: same bytes');
  assert.equal(clientReceived.bytes, TOTAL);
  assert.equal(clientReceived.sha256, serverSent, 'server to client: same bytes');
  await until(() => local.stats.connectionsOpen === 0 && remote.stats.connectionsOpen === 0, 5000, 'both sides to close the connection');
  assert.deepEqual(local.closed.map((c) => c.error), [undefined], 'the local side ended cleanly');
  assert.deepEqual(remote.closed.map((c) => c.error), [undefined], 'the remote side ended cleanly');
  assert.equal(local.stats.bytesToRelay, TOTAL);
  assert.equal(local.stats.bytesFromRelay, TOTAL);
  assert.equal(remote.stats.bytesToRelay, TOTAL);
  assert.equal(remote.stats.bytesFromRelay, TOTAL);
});

test('half-close: a server that reads until EOF and only then answers gets its answer through, after the client\'s end()', async (t) => {
  const relay = await relayFor(t);
  const events = [];
  const server = await tcpServer(t, (socket) => {
    let bytes = 0;
    socket.on('data', (chunk) => (bytes += chunk.length));
    socket.on('end', () => {
      events.push('server saw EOF');
      // Still writable after the client's FIN: the answer goes back on the same connection.
      setTimeout(() => socket.end(`read ${bytes} bytes until EOF`), 200);
    });
  });
  await remoteForward(t, relay, [{ host: '127.0.0.1', hostPort: server.port }]);
  const local = await localForward(t, relay, [{ bindPort: 0 }]);
  const client = await connect(local.addresses[0].port);
  const answer = receiveAll(client);
  const text = [];
  client.on('data', (chunk) => {
    events.push('client got the answer');
    text.push(chunk);
  });
  client.end(Buffer.alloc(300_000, 7), () => events.push('client ended'));
  await answer;
  assert.equal(Buffer.concat(text).toString(), 'read 300000 bytes until EOF');
  assert.deepEqual(events.filter((e, i) => events.indexOf(e) === i), ['client ended', 'server saw EOF', 'client got the answer']);
});

test('half-close the other way: the server ends first and still reads what the client sends after', async (t) => {
  const relay = await relayFor(t);
  let serverGot;
  const server = await tcpServer(t, (socket) => {
    serverGot = receiveAll(socket);
    socket.end('hello, and goodbye');
  });
  await remoteForward(t, relay, [{ host: '127.0.0.1', hostPort: server.port }]);
  const local = await localForward(t, relay, [{ bindPort: 0 }]);
  const client = await connect(local.addresses[0].port);
  const greeting = await receiveAll(client);
  assert.equal(greeting.bytes, 'hello, and goodbye'.length);
  // The server's direction is over; the client's goes on.
  await delay(300);
  const sent = await sendRandom(client, 2 * MB);
  const got = await serverGot;
  assert.equal(got.sha256, sent);
});

test('200 concurrent connections each carry their own bytes', async (t) => {
  const relay = await relayFor(t);
  const server = await tcpServer(t, (socket) => socket.pipe(socket));
  const remote = await remoteForward(t, relay, [{ host: '127.0.0.1', hostPort: server.port }]);
  const local = await localForward(t, relay, [{ bindPort: 0 }]);
  const port = local.addresses[0].port;
  const results = await Promise.all(
    Array.from({ length: 200 }, async (_, i) => {
      const client = await connect(port);
      const payload = Buffer.from(`connection ${i}: ${'x'.repeat(i * 50)}`);
      const echoed = receiveAll(client);
      client.end(payload);
      const got = await echoed;
      return got.bytes === payload.length && got.sha256 === require('node:crypto').createHash('sha256').update(payload).digest('hex');
    }),
  );
  assert.equal(results.filter(Boolean).length, 200);
  await until(() => local.stats.connectionsOpen === 0 && remote.stats.connectionsOpen === 0, 10000, 'every connection to end');
  assert.equal(local.stats.connectionsTotal, 200);
  assert.equal(remote.stats.connectionsTotal, 200);
  assert.equal(local.stats.connectionsFailed + remote.stats.connectionsFailed, 0);
});

test('Unix sockets: a local socket path forwarded to a target socket path', async (t) => {
  const relay = await relayFor(t);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyco-forward-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const targetPath = path.join(dir, 'target.sock');
  const localPath = path.join(dir, 'local.sock');
  const target = net.createServer({ allowHalfOpen: true }, (socket) => {
    const chunks = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('end', () => socket.end(Buffer.concat(chunks).reverse()));
  });
  await new Promise((resolve) => target.listen(targetPath, resolve));
  t.after(() => new Promise((resolve) => target.close(resolve)));
  const remote = await remoteForward(t, relay, [{ localSocket: targetPath, portName: 'sock' }]);
  const local = await localForward(t, relay, [{ bindLocalSocket: localPath, portName: 'sock' }]);
  assert.deepEqual(local.addresses, [{ portName: 'sock', protocol: 'unix', path: localPath }]);
  const client = net.connect({ path: localPath, allowHalfOpen: true });
  const answer = receiveAll(client);
  const chunks = [];
  client.on('data', (c) => chunks.push(c));
  client.end('abcdef');
  await answer;
  assert.equal(Buffer.concat(chunks).toString(), 'fedcba');
  await until(() => remote.stats.connectionsTotal === 1 && remote.stats.connectionsOpen === 0);
  assert.equal(remote.closed[0].connection.protocol, 'unix');
  await local.close();
  assert.equal(fs.existsSync(localPath), false, 'the local socket file is removed on close');
});

test('the remote host refusing: the client is reset at once, and the remote side reports the port name', async (t) => {
  const relay = await relayFor(t);
  const closedPort = await freePort();
  const remote = await remoteForward(t, relay, [{ host: '127.0.0.1', hostPort: closedPort, portName: 'db' }]);
  const local = await localForward(t, relay, [{ bindPort: 0, portName: 'db' }]);
  const started = Date.now();
  const client = await connect(local.addresses[0].port);
  client.write('anyone there?');
  assert.equal(await howItEnds(client), 'ECONNRESET', 'an RST, not a clean end');
  assert.ok(Date.now() - started < 5000, 'at once');
  await until(() => remote.closed.length === 1 && local.closed.length === 1);
  const { error } = remote.closed[0];
  assert.equal(error.code, 'ERR_HYCO_FORWARD_TARGET');
  assert.match(error.message, /Port name "db".*127\.0\.0\.1:\d+.*ECONNREFUSED/);
  assert.ok(local.closed[0].error, 'the local side counts it failed');
  // The listener stays online for the next connection.
  assert.equal(remote.isOnline, true);
});

test('errors reset: a client that resets resets the target, and a target that resets resets the client (RST, not FIN)', async (t) => {
  const relay = await relayFor(t);
  const serverEnds = [];
  const server = await tcpServer(t, (socket) => {
    socket.once('data', (chunk) => {
      if (chunk.toString().startsWith('reset me')) socket.resetAndDestroy();
    });
    serverEnds.push(howItEnds(socket));
  });
  await remoteForward(t, relay, [{ host: '127.0.0.1', hostPort: server.port }]);
  const local = await localForward(t, relay, [{ bindPort: 0 }]);
  const port = local.addresses[0].port;

  const first = await connect(port);
  first.write('hello');
  await until(() => serverEnds.length === 1);
  await delay(100);
  first.resetAndDestroy();
  assert.equal(await serverEnds[0], 'ECONNRESET', 'the target sees a reset');

  const second = await connect(port);
  const ends = howItEnds(second);
  second.write('reset me');
  assert.equal(await ends, 'ECONNRESET', 'the client sees a reset');
});

test('port names: several bindings on one relay name, each reached by its name; an unknown name is refused', async (t) => {
  const relay = await relayFor(t);
  const serverA = await tcpServer(t, (socket) => socket.end('from A'));
  const serverB = await tcpServer(t, (socket) => socket.end('from B'));
  await remoteForward(t, relay, [
    { host: '127.0.0.1', hostPort: serverA.port, portName: 'a' },
    { host: '127.0.0.1', hostPort: serverB.port, portName: 'b' },
  ]);
  const local = await localForward(t, relay, [
    { bindPort: 0, portName: 'a' },
    { bindPort: 0, portName: 'b' },
    { bindPort: 0, portName: 'c' },
  ]);
  const read = async (i) => {
    const client = await connect(local.addresses[i].port);
    client.end();
    const chunks = [];
    client.on('data', (c) => chunks.push(c));
    const how = await howItEnds(client);
    return how === 'end' ? Buffer.concat(chunks).toString() : how;
  };
  assert.equal(await read(0), 'from A');
  assert.equal(await read(1), 'from B');
  assert.equal(await read(2), 'ECONNRESET');
  await until(() => local.closed.length === 3);
  const refused = local.closed.find((c) => c.connection.portName === 'c').error;
  assert.equal(refused.code, 'ERR_HYCO_FORWARD_REFUSED');
  assert.match(refused.message, /no port name "c"/);
});

test('UDP: datagram boundaries kept both ways, one relayed connection per source address, routes end after the idle timeout', async (t) => {
  const relay = await relayFor(t);
  const echo = dgram.createSocket('udp4');
  echo.on('message', (msg, from) => echo.send(Buffer.concat([Buffer.from('echo:'), msg]), from.port, from.address));
  await new Promise((resolve) => echo.bind(0, '127.0.0.1', resolve));
  t.after(() => echo.close());
  const options = { udpIdleTimeout: 600 };
  const remote = await remoteForward(t, relay, [{ protocol: 'udp', host: '127.0.0.1', hostPort: echo.address().port, portName: 'dns' }], options);
  const local = await localForward(t, relay, [{ protocol: 'udp', bindPort: 0, portName: 'dns' }], options);
  const { port } = local.addresses[0];
  const sizes = [0, 1, 100, 1400, 8000, 30000, 60000];
  const client = async () => {
    const socket = dgram.createSocket('udp4');
    t.after(() => socket.close());
    await new Promise((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const received = [];
    socket.on('message', (msg) => received.push(msg));
    return { socket, received };
  };
  const one = await client();
  const two = await client();
  // One datagram at a time per client (both clients at once): UDP may drop a burst that overflows a socket buffer.
  await Promise.all(
    [
      { c: one, fill: (s) => s % 251 },
      { c: two, fill: () => 7 },
    ].map(async ({ c, fill }) => {
      for (const [i, size] of sizes.entries()) {
        c.socket.send(Buffer.alloc(size, fill(size)), port, '127.0.0.1');
        await until(() => c.received.length === i + 1, 5000, `the echo of ${size} bytes`);
      }
    }),
  );
  for (const { received, fill } of [{ received: one.received, fill: (s) => s % 251 }, { received: two.received, fill: () => 7 }]) {
    // Each datagram came back as one datagram, none split or joined (order kept on loopback).
    assert.deepEqual(received.map((m) => m.length), sizes.map((s) => s + 5));
    received.forEach((m, i) => assert.ok(m.equals(Buffer.concat([Buffer.from('echo:'), Buffer.alloc(sizes[i], fill(sizes[i]))]))));
  }
  assert.equal(local.stats.connectionsTotal, 2, 'one relayed connection per source address');
  assert.equal(remote.stats.connectionsTotal, 2);
  assert.equal(local.stats.datagramsToRelay, 2 * sizes.length);
  assert.equal(local.stats.datagramsFromRelay, 2 * sizes.length);
  // Idle: both ends close their routes.
  await until(() => local.stats.connectionsOpen === 0 && remote.stats.connectionsOpen === 0, 5000, 'the idle routes to end');
  assert.deepEqual([...local.closed, ...remote.closed].map((c) => c.error), [undefined, undefined, undefined, undefined], 'routes end cleanly');
  // A new datagram opens a new route.
  one.socket.send(Buffer.from('again'), port, '127.0.0.1');
  await until(() => one.received.length === sizes.length + 1);
  assert.equal(one.received.at(-1).toString(), 'echo:again');
  assert.equal(local.stats.connectionsTotal, 3);
});

test('close(): every forwarded connection ends (reset), listeners stop, and nothing is left running', async (t) => {
  const relay = await relayFor(t);
  const serverEnds = [];
  const server = await tcpServer(t, (socket) => serverEnds.push(howItEnds(socket)));
  const remote = await remoteForward(t, relay, [{ host: '127.0.0.1', hostPort: server.port }]);
  const local = await localForward(t, relay, [{ bindPort: 0 }, { protocol: 'udp', bindPort: 0, portName: 'u' }]);
  const client = await connect(local.addresses[0].port);
  const clientEnd = howItEnds(client);
  client.write('hi');
  await until(() => serverEnds.length === 1 && local.connections.length === 1);
  await local.close();
  assert.equal(await clientEnd, 'ECONNRESET');
  assert.equal(await serverEnds[0], 'ECONNRESET', 'the far end is reset too');
  assert.equal(local.isListening, false);
  await assert.rejects(connect(local.addresses[0].port), /ECONNREFUSED/);
  await remote.close();
  assert.equal(remote.isOnline, false);
  assert.equal(remote.connections.length, 0);
});

test('a binding that cannot listen is an ERR_HYCO_FORWARD_BIND error naming it; the others listen', async (t) => {
  const relay = await relayFor(t);
  const busy = await tcpServer(t, () => {});
  const hyco = require('hyco-websocket');
  const { token } = require('hyco-test-support');
  const forward = hyco.createLocalForward({ namespace: relay.endpoint, path: 'fwd', token: () => token('fwd'), bindings: [{ bindPort: busy.port, portName: 'busy' }, { bindPort: 0 }] });
  t.after(() => forward.close());
  const error = await once(forward, 'error');
  assert.equal(error.code, 'ERR_HYCO_FORWARD_BIND');
  assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${busy.port} \\(port name "busy"\\): EADDRINUSE`));
  await until(() => forward.addresses[1] !== undefined);
  assert.equal(forward.addresses[0], undefined);
  assert.equal(forward.isListening, false);
});

test('bad options are RelayArgumentErrors, thrown at once', () => {
  const hyco = require('hyco-websocket');
  const base = { namespace: 'ws://127.0.0.1:9', path: 'fwd', token: 'x' };
  const cases = [
    [() => hyco.createLocalForward({ ...base, bindings: [] }), /"bindings" option must be a non-empty array/],
    [() => hyco.createLocalForward({ ...base, bindings: [{ bindPort: 70000 }] }), /bindPort.*0 to 65535/],
    [() => hyco.createLocalForward({ ...base, bindings: [{ bindPort: 1, bindLocalSocket: '/x' }] }), /either "bindLocalSocket"/],
    [() => hyco.createLocalForward({ ...base, bindings: [{ bindPort: 1, portName: 'a' }, { bindPort: 2, portName: 'a' }] }), /"a" is given twice/],
    [() => hyco.createLocalForward({ ...base, bindings: [{ bindPort: 1, portName: 'x'.repeat(256) }] }), /at most 255 bytes/],
    [() => hyco.createRemoteForward({ ...base, token: undefined, bindings: [{ hostPort: 22 }] }), /"token" option/],
    [() => hyco.createRemoteForward({ ...base, bindings: [{ hostPort: 0 }] }), /hostPort.*1 to 65535/],
    [() => hyco.createRemoteForward({ ...base, bindings: [{ hostPort: 22, protocol: 'sctp' }] }), /"tcp" or "udp"/],
    [() => hyco.createRemoteForward({ ...base, udpIdleTimeout: -1, bindings: [{ hostPort: 22 }] }), /udpIdleTimeout/],
    [() => hyco.createLocalForward({ path: 'fwd', bindings: [{ bindPort: 1 }] }), /"namespace" option/],
  ];
  for (const [fn, message] of cases) {
    assert.throws(fn, (err) => err.code === 'ERR_HYCO_INVALID_ARGUMENT' && message.test(err.message), String(message));
  }
});

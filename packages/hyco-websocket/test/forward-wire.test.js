'use strict';
// The forwarding wire format at the byte level, against raw peers that
// behave as azbridge does (preamble in two messages, 64 KiB data messages,
// a "Shutdown" close frame and then reading on), each paired with our
// forwarder in the other role, through the emulator.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const dgram = require('node:dgram');
const fc = require('fast-check');
const { startRelay, checkProperty, until, delay } = require('hyco-test-support');
const { remoteForward, localForward, tcpServer, connect, receiveAll, howItEnds, resetOrEnd } = require('./fixtures/forward');
const { rawSender, rawListener, OP_BINARY, OP_PING, OP_PONG } = require('./fixtures/azbridge-peers');

const relayFor = (t) => startRelay(t, { hybridConnections: ['fwd'] });

/** Every binary message a peer received is 1 to 64 KiB long (never empty, never over azbridge's buffer). */
function assertMessageSizes(peer) {
  for (const m of peer.messages) {
    assert.ok(m.payload.length > 0, 'no empty binary message');
    assert.ok(m.payload.length <= 65536, `a message of ${m.payload.length} bytes is over 64 KiB`);
    assert.equal(m.fin, true, 'messages are not fragmented');
  }
}

/** A server that reads until EOF and answers with the SHA-256 of what it read, then `extra` bytes. */
function hashingServer(t, extra = Buffer.alloc(0)) {
  return tcpServer(t, (socket) => {
    const hash = crypto.createHash('sha256');
    socket.on('data', (c) => hash.update(c));
    socket.on('end', () => socket.end(Buffer.concat([Buffer.from(hash.digest('hex')), extra])));
  });
}

test('an azbridge sender to our remote forwarder: two-message preamble, reply [1, 0, 0], 64 KiB messages, "Shutdown", and the answer after it', async (t) => {
  const relay = await relayFor(t);
  const extra = crypto.randomBytes(300_000);
  const server = await hashingServer(t, extra);
  await remoteForward(t, relay, [{ host: '127.0.0.1', hostPort: server.port, portName: 'app' }]);
  const peer = await rawSender(t, relay);
  peer.sendPreamble(0, 'app');
  await peer.waitFor((p) => p.messages.length >= 1, 'the reply');
  assert.deepEqual([...peer.messages[0].payload], [1, 0, 0], 'the reply, one 3-byte message');
  const data = crypto.randomBytes(1_000_000);
  peer.sendData(data);
  peer.shutdown();
  await peer.waitFor((p) => p.closeFrame !== undefined, 'the forwarder\'s close');
  const answer = peer.received.subarray(3);
  assert.equal(answer.subarray(0, 64).toString(), crypto.createHash('sha256').update(data).digest('hex'), 'the target read every byte, to EOF');
  assert.ok(answer.subarray(64).equals(extra), 'its answer came through after our Shutdown');
  assert.deepEqual(peer.closeFrame, { code: 1000, reason: 'Shutdown' });
  assertMessageSizes(peer);
  assert.ok(peer.messages.length >= Math.ceil((64 + extra.length) / 65536), 'the answer in several messages');
});

test('our local forwarder to an azbridge listener: two-message preamble, the data, "Shutdown" when the client ends, then the listener\'s answer', async (t) => {
  const relay = await relayFor(t);
  const peers = await rawListener(t, relay, async (peer) => {
    await peer.waitFor((p) => p.received.length >= 7, 'the preamble');
    peer.send([1, 0, 0]);
    await peer.waitFor((p) => p.closeFrame !== undefined, 'the client\'s end');
    // Our direction is still open: answer, then our own Shutdown.
    const hash = crypto.createHash('sha256').update(peer.received.subarray(7)).digest('hex');
    peer.sendData(Buffer.from(`sha256 ${hash}`));
    peer.shutdown();
  });
  const local = await localForward(t, relay, [{ bindPort: 0, portName: 'app' }]);
  const client = await connect(local.addresses[0].port);
  const data = crypto.randomBytes(500_000);
  const chunks = [];
  client.on('data', (c) => chunks.push(c));
  const answered = receiveAll(client);
  client.end(data);
  await answered;
  assert.equal(Buffer.concat(chunks).toString(), `sha256 ${crypto.createHash('sha256').update(data).digest('hex')}`);
  const peer = peers[0];
  assert.deepEqual([...peer.messages[0].payload], [1, 0, 0, 3], 'first message: [1, 0, mode, n]');
  assert.equal(peer.messages[1].payload.toString(), 'app', 'second message: the port name');
  assert.deepEqual(peer.closeFrame, { code: 1000, reason: 'Shutdown' });
  assertMessageSizes(peer);
  await until(() => local.closed.length === 1);
  assert.equal(local.closed[0].error, undefined, 'a clean end, both directions');
});

test('every reply of our remote forwarder: [0, 0, 0], [0, 0, 1], [0, 0, 255], no reply for an unknown name, and the single-binding numeric rule', async (t) => {
  const relay = await relayFor(t);
  const server = await tcpServer(t, (socket) => socket.pipe(socket));
  const remote = await remoteForward(t, relay, [
    { host: '127.0.0.1', hostPort: server.port, portName: 'tcp' },
    { protocol: 'udp', host: '127.0.0.1', hostPort: 9, portName: 'udp' },
  ]);
  const ask = async (send) => {
    const peer = await rawSender(t, relay);
    send(peer);
    await peer.waitFor((p) => p.closeFrame !== undefined, 'the close');
    peer.shutdown();
    return { replies: peer.messages.map((m) => [...m.payload]), close: peer.closeFrame };
  };
  assert.deepEqual(await ask((p) => p.send(Buffer.from([2, 0, 0, 3, 116, 99, 112]))), { replies: [[0, 0, 0]], close: { code: 1000, reason: 'Shutdown' } }, 'version 2.0: not understood');
  assert.deepEqual((await ask((p) => p.sendPreamble(0, 'udp'))).replies, [[0, 0, 1]], 'a stream asked of a UDP binding');
  assert.deepEqual((await ask((p) => p.sendPreamble(1, 'tcp'))).replies, [[0, 0, 255]], 'datagrams asked of a TCP binding');
  assert.deepEqual((await ask((p) => p.sendPreamble(0, 'TCP'))).replies, [], 'an unknown name (names are case-sensitive): closed without a reply');
  assert.deepEqual((await ask((p) => p.sendPreamble(0, '22'))).replies, [], 'several bindings: a number is just a name');
  assert.equal(remote.stats.connectionsTotal, 0, 'none of them was forwarded');
  await remote.close();

  // One binding: any number selects it.
  await remoteForward(t, relay, [{ host: '127.0.0.1', hostPort: server.port, portName: 'ssh' }]);
  const peer = await rawSender(t, relay);
  peer.sendPreamble(0, '2222');
  peer.send('ping');
  await peer.waitFor((p) => p.received.length >= 7, 'the reply and the echo');
  assert.deepEqual([...peer.received.subarray(0, 3)], [1, 0, 0]);
  assert.equal(peer.received.subarray(3).toString(), 'ping');
});

test('every reply to our local forwarder: only exactly [1, 0, mode] lets data through; each refusal resets the client and says why', async (t) => {
  const relay = await relayFor(t);
  const behaviours = [[0, 0, 0], [0, 0, 1], [0, 0, 255], [1, 0, 1], 'close', [1, 0, 0]];
  let n = 0;
  await rawListener(t, relay, async (peer) => {
    const behaviour = behaviours[n++];
    await peer.waitFor((p) => p.received.length >= 6, 'the preamble');
    if (behaviour === 'close') peer.shutdown();
    else {
      peer.send(behaviour);
      if (behaviour[0] === 1 && behaviour[2] === 0) {
        await peer.waitFor((p) => p.received.length >= 10, 'the data');
        peer.send(peer.received.subarray(6));
        await peer.waitFor((p) => p.closeFrame !== undefined, 'the client\'s end');
        peer.shutdown();
        return;
      }
      peer.shutdown();
    }
  });
  const local = await localForward(t, relay, [{ bindPort: 0, portName: 'db' }]);
  const outcomes = [];
  for (let i = 0; i < behaviours.length; i++) {
    const client = await connect(local.addresses[0].port);
    const chunks = [];
    client.on('data', (c) => chunks.push(c));
    const ends = howItEnds(client);
    client.write('ping');
    if (i === behaviours.length - 1) {
      await until(() => Buffer.concat(chunks).length === 4);
      client.end();
    }
    outcomes.push({ how: await ends, got: Buffer.concat(chunks).toString() });
  }
  assert.deepEqual(outcomes.slice(0, 5).map((o) => o.how), ['ECONNRESET', 'ECONNRESET', 'ECONNRESET', 'ECONNRESET', 'ECONNRESET']);
  assert.deepEqual(outcomes.slice(0, 5).map((o) => o.got), ['', '', '', '', ''], 'nothing passed before the refusal');
  assert.equal(outcomes[5].got, 'ping', 'accepted: the data flows');
  await until(() => local.closed.length === behaviours.length);
  const messages = local.closed.map((c) => c.error?.message ?? 'ok');
  assert.match(messages[0], /refused port name "db": \[0, 0, 0\]: the remote forwarder does not understand preamble version 1\.0/);
  assert.match(messages[1], /\[0, 0, 1\]: the port name is a UDP binding there/);
  assert.match(messages[2], /\[0, 0, 255\]: the port name is a TCP binding there/);
  assert.match(messages[3], /\[1, 0, 1\]: the remote forwarder accepted another mode/);
  assert.match(messages[4], /closed the connection without a reply: it has no port name "db"/);
  assert.equal(messages[5], 'ok');
  for (const c of local.closed.slice(0, 5)) assert.equal(c.error.code, 'ERR_HYCO_FORWARD_REFUSED');
});

test('property: our remote forwarder reads the preamble however a sender splits it into messages', async (t) => {
  const relay = await relayFor(t);
  const server = await tcpServer(t, (socket) => socket.pipe(socket));
  await remoteForward(t, relay, [
    { host: '127.0.0.1', hostPort: server.port, portName: 'echo-service' },
    { host: '127.0.0.1', hostPort: 1, portName: 'other' },
  ]);
  const wire = Buffer.concat([Buffer.from([1, 0, 0, 12]), Buffer.from('echo-service'), Buffer.from('hello')]);
  await checkProperty(
    fc.asyncProperty(fc.uniqueArray(fc.integer({ min: 1, max: wire.length - 1 }), { maxLength: 8 }), async (cuts) => {
      const peer = await rawSender(t, relay);
      let from = 0;
      for (const cut of [...cuts].sort((a, b) => a - b)) {
        peer.send(wire.subarray(from, cut));
        from = cut;
      }
      peer.send(wire.subarray(from));
      await peer.waitFor((p) => p.received.length >= 8, 'the reply and the echo', 5000);
      assert.deepEqual([...peer.received.subarray(0, 3)], [1, 0, 0]);
      assert.equal(peer.received.subarray(3).toString(), 'hello');
      peer.destroy();
    }),
    { defaultSeed: 2205, numRuns: 12 },
  );
});

test('datagrams on the wire: one message per datagram, a 2-byte big-endian length then the payload, both ways', async (t) => {
  const relay = await relayFor(t);
  const echo = dgram.createSocket('udp4');
  echo.on('message', (msg, from) => echo.send(msg, from.port, from.address));
  await new Promise((resolve) => echo.bind(0, '127.0.0.1', resolve));
  t.after(() => echo.close());
  const remote = await remoteForward(t, relay, [{ protocol: 'udp', host: '127.0.0.1', hostPort: echo.address().port, portName: 'dns' }]);
  // An azbridge sender to our remote forwarder.
  const peer = await rawSender(t, relay);
  peer.sendPreamble(1, 'dns');
  await peer.waitFor((p) => p.messages.length === 1, 'the reply');
  assert.deepEqual([...peer.messages[0].payload], [1, 0, 1]);
  const sizes = [0, 1, 300, 4000, 40000];
  for (const [i, size] of sizes.entries()) {
    const datagram = Buffer.alloc(2 + size, i + 1);
    datagram.writeUInt16BE(size, 0);
    peer.send(datagram);
    await peer.waitFor((p) => p.messages.length === i + 2, `the echo of ${size} bytes`);
    assert.ok(peer.messages[i + 1].payload.equals(datagram), `the echo of ${size} bytes is one message, prefixed`);
  }
  peer.shutdown();
  await until(() => remote.closed.length === 1);
  assert.equal(remote.closed[0].error, undefined);
  assert.equal(remote.stats.datagramsFromRelay, sizes.length);
  await remote.close();

  // Our local forwarder to an azbridge listener.
  const peers = await rawListener(t, relay, async (listener) => {
    await listener.waitFor((p) => p.received.length >= 7, 'the preamble');
    listener.send([1, 0, 1]);
  });
  const local = await localForward(t, relay, [{ protocol: 'udp', bindPort: 0, portName: 'dns' }]);
  const client = dgram.createSocket('udp4');
  t.after(() => client.close());
  const got = [];
  client.on('message', (m) => got.push(m));
  await new Promise((resolve) => client.bind(0, '127.0.0.1', resolve));
  for (const size of sizes) client.send(Buffer.alloc(size, 9), local.addresses[0].port, '127.0.0.1');
  await until(() => peers[0]?.messages.length === 2 + sizes.length, 5000, 'every datagram at the listener');
  const listener = peers[0];
  assert.deepEqual([...listener.messages[0].payload], [1, 0, 1, 3]);
  assert.deepEqual(listener.messages.slice(2).map((m) => [m.payload.readUInt16BE(0), m.payload.length]), sizes.map((s) => [s, s + 2]));
  const back = Buffer.from([0, 5, 104, 101, 108, 108, 111]);
  listener.send(back);
  await until(() => got.length === 1);
  assert.equal(got[0].toString(), 'hello');
});

test('an idle forwarded connection keeps itself alive with unsolicited pongs, never pings', async (t) => {
  const relay = await relayFor(t);
  const peers = await rawListener(t, relay, async (peer) => {
    await peer.waitFor((p) => p.received.length >= 6, 'the preamble');
    peer.send([1, 0, 0]);
  });
  const local = await localForward(t, relay, [{ bindPort: 0, portName: 'idle' }], { keepaliveInterval: 150 });
  const client = await connect(local.addresses[0].port);
  t.after(() => client.destroy());
  await until(() => peers.length === 1 && peers[0].messages.length === 2);
  await delay(800);
  const opcodes = peers[0].frames.map((f) => f.opcode);
  assert.ok(opcodes.filter((o) => o === OP_PONG).length >= 3, `pongs while idle (${opcodes})`);
  assert.equal(opcodes.filter((o) => o === OP_PING).length, 0);
  assert.equal(opcodes.filter((o) => o === OP_BINARY).length, 2, 'nothing else');
});

test('a close with another code than 1000, or a connection that vanishes without one, resets the client (never a clean EOF)', async (t) => {
  const relay = await relayFor(t);
  let n = 0;
  await rawListener(t, relay, async (peer) => {
    const which = n++;
    await peer.waitFor((p) => p.received.length >= 5, 'the preamble');
    peer.send([1, 0, 0]);
    peer.send('partial answer');
    await delay(100);
    if (which === 0) peer.shutdown(1011, 'Internal error');
    else peer.destroy();
  });
  const local = await localForward(t, relay, [{ bindPort: 0, portName: 'x' }]);
  for (const what of ['a 1011 close', 'no close frame']) {
    const client = await connect(local.addresses[0].port);
    const chunks = [];
    client.on('data', (c) => chunks.push(c));
    assert.equal(await resetOrEnd(client), 'reset', what);
    assert.equal(Buffer.concat(chunks).toString(), 'partial answer', 'what came before is delivered');
  }
});

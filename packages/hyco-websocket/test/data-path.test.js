'use strict';
// The faster data path on relayed connections (src/data-path.ts) against websocket's own: for any frames, in any
// chunks, hostile ones included, the same messages, frames and close (a differential property); what websocket
// loses and it does not (frames that arrive with the peer's FIN); pause() between frames; the masked sending path.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const fc = require('fast-check');
const { connection: WebSocketConnection, client: WebSocketClient } = require('websocket');
const { checkProperty, startRelay, relayedServer, delay } = require('hyco-test-support');
const { encodeFrame } = require('hyco-test-support/raw');
const hyco = require('hyco-websocket');
const { useFastDataPath } = require('../dist/data-path.js');

const LIMITS = { maxReceivedFrameSize: 4096, maxReceivedMessageSize: 12000 };

/** A TCP pair on loopback: `raw` (what the test writes as the peer) and `socket` (the connection's). */
async function socketPair(t) {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise((resolve) => server.once('connection', resolve));
  const raw = net.connect(server.address().port, '127.0.0.1');
  raw.setNoDelay(true);
  const socket = await accepted;
  server.close();
  raw.on('error', () => {});
  t.after(() => {
    raw.destroy();
    socket.destroy();
  });
  return { raw, socket };
}

/** A client-role WebSocketConnection on `socket`, as websocket's client makes it; with the fast path when `fast`. */
function connectionOn(socket, fast, config = {}) {
  const defaults = new WebSocketClient().config;
  const connection = new WebSocketConnection(socket, [], null, true, { ...defaults, ...LIMITS, ...config });
  connection._addSocketEventListeners();
  if (fast) useFastDataPath(connection);
  return connection;
}

/** Everything the connection tells its user, in order, until it closes (bounded). */
function record(connection, assembleFragments) {
  const events = [];
  connection.on('message', (m) => events.push(m.type === 'utf8' ? ['text', m.utf8Data] : ['binary', m.binaryData.toString('hex')]));
  if (!assembleFragments) connection.on('frame', (f) => events.push(['frame', f.opcode, f.fin, f.binaryPayload.toString('hex')]));
  connection.on('error', () => {});
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no close after 10 s: ${JSON.stringify(events)}`)), 10000);
    connection.on('close', (code, description) => {
      clearTimeout(timer);
      events.push(['close', code, description]);
      resolve(events);
    });
  });
}

/** Writes `bytes` to `raw` in chunks cut at `cuts` (fractions), each on its own turn; answers the connection's close. */
async function play(raw, bytes, cuts) {
  raw.on('data', () => {});
  raw.on('end', () => raw.end());
  const points = [...new Set(cuts.map((c) => Math.floor(c * bytes.length)))].sort((a, b) => a - b);
  let at = 0;
  for (const point of [...points, bytes.length]) {
    if (point <= at) continue;
    if (raw.destroyed) return;
    raw.write(bytes.subarray(at, point));
    at = point;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

const serverFrame = (opcode, payload, fin = true, extra = {}) => encodeFrame({ opcode, payload, fin, mask: false, ...extra });

/** A frame or a run of frames a peer may send, hostile ones included. */
const piece = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('message'), binary: fc.boolean(), size: fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 3000, max: 6000 })), parts: fc.integer({ min: 1, max: 4 }), masked: fc.boolean(), seed: fc.integer({ min: 0, max: 255 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom('ping', 'pong'), size: fc.integer({ min: 0, max: 125 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constantFrom('rsv', 'long-control', 'fragmented-control', 'lone-continuation', 'too-large', 'huge-length', 'bad-utf8', 'bad-close-length', 'interleaved'),
    }),
  },
);

function bytesOf(p) {
  const fill = (n, seed) => Buffer.from(Array.from({ length: n }, (_, i) => (seed + i * 7) & 0xff));
  switch (p.kind) {
    case 'message': {
      const payload = p.binary ? fill(p.size, p.seed) : Buffer.from('héllo wörld '.repeat(Math.ceil(p.size / 12) + 1).slice(0, Math.max(1, Math.floor(p.size / 2))));
      const frames = [];
      const step = Math.max(1, Math.ceil(payload.length / p.parts));
      for (let at = 0, i = 0; i === 0 || at < payload.length; at += step, i++) {
        const last = at + step >= payload.length;
        frames.push(encodeFrame({ opcode: i === 0 ? (p.binary ? 2 : 1) : 0, payload: payload.subarray(at, at + step), fin: last, mask: p.masked }));
      }
      return Buffer.concat(frames);
    }
    case 'ping':
      return serverFrame(0x9, fill(p.size, 1));
    case 'pong':
      return serverFrame(0xa, fill(p.size, 2));
    case 'rsv':
      return serverFrame(0x2, fill(10, 3), true, { rsv: 4 });
    case 'long-control':
      return serverFrame(0x9, fill(126, 4));
    case 'fragmented-control':
      return serverFrame(0x9, fill(5, 5), false);
    case 'lone-continuation':
      return serverFrame(0x0, fill(5, 6));
    case 'too-large':
      return serverFrame(0x2, fill(LIMITS.maxReceivedFrameSize + 1, 7));
    case 'huge-length':
      return Buffer.from([0x82, 127, 0, 0, 1, 0, 0, 0, 0, 0]);
    case 'bad-utf8':
      return serverFrame(0x1, Buffer.from([0xc3, 0x28]));
    case 'bad-close-length':
      return serverFrame(0x8, Buffer.from([3]));
    case 'interleaved':
      return Buffer.concat([serverFrame(0x2, fill(5, 8), false), serverFrame(0x1, Buffer.from('x'))]);
  }
  throw new Error(p.kind);
}

test('for any frames in any chunks (hostile ones included), the fast path tells its user exactly what websocket tells: messages, frames, close code and reason', async (t) => {
  await checkProperty(
    fc.asyncProperty(fc.array(piece, { minLength: 1, maxLength: 8 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }), fc.boolean(), async (pieces, cuts, assemble) => {
      const bytes = Buffer.concat([...pieces.map(bytesOf), serverFrame(0x8, Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from('bye')]))]);
      const outcomes = [];
      for (const fast of [false, true]) {
        const { raw, socket } = await socketPair(t);
        const connection = connectionOn(socket, fast, { assembleFragments: assemble });
        const events = record(connection, assemble);
        await play(raw, bytes, cuts);
        outcomes.push(await events);
        raw.destroy();
      }
      assert.deepEqual(outcomes[1], outcomes[0]);
    }),
    { defaultSeed: 2512, numRuns: 60 },
  );
});

// websocket parses one frame per turn of the event loop: the frames that arrive with the peer's FIN were lost when
// the socket closed first (found on forwarded connections; relayedServer's connections had the same defect).
test('frames that arrive together with the peer\'s FIN all reach the user, and its close code; websocket alone loses them', async (t) => {
  const frames = Buffer.concat([...Array.from({ length: 20 }, (_, i) => serverFrame(0x1, Buffer.from(`message ${i}`))), serverFrame(0x8, Buffer.from([0x03, 0xe8]))]);
  const results = {};
  for (const fast of [false, true]) {
    const { raw, socket } = await socketPair(t);
    const connection = connectionOn(socket, fast);
    const events = record(connection, true);
    raw.end(frames);
    results[fast ? 'fast' : 'websocket'] = await events;
  }
  assert.deepEqual(
    results.fast,
    [...Array.from({ length: 20 }, (_, i) => ['text', `message ${i}`]), ['close', 1000, 'Normal connection closure']],
  );
  assert.ok(results.websocket.length < results.fast.length, 'websocket alone loses some (the defect this path fixes)');
});

test('through the relay: a sender\'s last messages and close frame, sent with its FIN, all reach a relayedServer connection', async (t) => {
  const relay = await startRelay(t);
  const server = await relayedServer(t, relay, { autoAcceptConnections: true });
  const received = new Promise((resolve) =>
    server.on('connect', (connection) => {
      const texts = [];
      connection.on('message', (m) => texts.push(m.utf8Data));
      connection.on('close', (code) => resolve({ texts, code }));
    }),
  );
  const { rawUpgrade } = require('hyco-test-support/raw');
  const { token } = require('hyco-test-support');
  const { socket } = await rawUpgrade(`${hyco.createRelaySendUri(`ws://127.0.0.1:${relay.port}`, 'echo')}&sb-hc-token=${encodeURIComponent(token('echo'))}`);
  socket.end(Buffer.concat([...Array.from({ length: 50 }, (_, i) => encodeFrame({ opcode: 1, payload: Buffer.from(`last ${i}`) })), encodeFrame({ opcode: 8, payload: Buffer.from([0x03, 0xe8]) })]));
  const { texts, code } = await received;
  assert.deepEqual(texts, Array.from({ length: 50 }, (_, i) => `last ${i}`));
  assert.equal(code, 1000);
});

test('pause() in a message handler stops at the next frame; resume() goes on in order; a dropped connection parses nothing more', async (t) => {
  const { raw, socket } = await socketPair(t);
  const connection = connectionOn(socket, true);
  const seen = [];
  let paused = false;
  connection.on('message', (m) => {
    assert.equal(paused, false, 'no message while paused');
    seen.push(m.utf8Data);
    if (m.utf8Data === 'two') {
      paused = true;
      connection.pause();
      setTimeout(() => {
        paused = false;
        connection.resume();
      }, 50);
    }
    if (m.utf8Data === 'four') connection.drop(1000, 'enough');
  });
  const closed = new Promise((resolve) => connection.on('close', resolve));
  raw.on('data', () => {});
  raw.write(Buffer.concat(['one', 'two', 'three', 'four', 'five', 'six'].map((s) => serverFrame(0x1, Buffer.from(s)))));
  await closed;
  assert.deepEqual(seen, ['one', 'two', 'three', 'four']);
});

test('a small payload is a copy, not a view of the socket\'s chunk: a kept message holds no more than its own bytes', async (t) => {
  const { raw, socket } = await socketPair(t);
  const connection = connectionOn(socket, true, { maxReceivedFrameSize: 0x100000 });
  const messages = [];
  const two = new Promise((resolve) =>
    connection.on('message', (m) => {
      messages.push(m.binaryData);
      if (messages.length === 2) resolve();
    }),
  );
  raw.write(Buffer.concat([serverFrame(0x2, Buffer.alloc(10, 1)), serverFrame(0x2, Buffer.alloc(60000, 2))]));
  await two;
  assert.ok(messages[0].buffer.byteLength <= Buffer.poolSize, `the 10 bytes hold ${messages[0].buffer.byteLength} bytes, not a 60 KB chunk`);
  assert.ok(messages[0].equals(Buffer.alloc(10, 1)));
  assert.ok(messages[1].equals(Buffer.alloc(60000, 2)));
  connection.drop();
});

test('sending: a fragmented message goes out masked in one write, its callback called once; through the relay the bytes arrive whole', async (t) => {
  const relay = await startRelay(t);
  const server = await relayedServer(t, relay, { autoAcceptConnections: true, fragmentationThreshold: 1000 });
  const accepted = new Promise((resolve) => server.on('connect', resolve));
  const sender = await hyco.relayedConnect(hyco.createRelaySendUri(`ws://127.0.0.1:${relay.port}`, 'echo'), { token: require('hyco-test-support').token('echo'), maxReceivedMessageSize: 0x200000 });
  t.after(() => sender.drop());
  const listenerSide = await accepted;
  const payload = Buffer.from(Array.from({ length: 1_000_000 }, (_, i) => (i * 31) & 0xff));
  const got = new Promise((resolve) => sender.once('message', resolve));
  let calls = 0;
  const sent = new Promise((resolve) =>
    listenerSide.sendBytes(payload, (err) => {
      calls++;
      resolve(err);
    }),
  );
  assert.equal(await sent, undefined);
  const message = await got;
  assert.ok(message.binaryData.equals(payload));
  await delay(50);
  assert.equal(calls, 1);
});

'use strict';
// Generated malformed input against the emulator, each kind with the answer
// the protocol gives it, while a well-behaved listener and sender keep
// working. Used by the test (short) and the soak (long).
const net = require('node:net');
const crypto = require('node:crypto');
const WebSocket = require('ws');
const hyco = require('hyco-websocket');
const { KEY, token, childEmulator, send, exchange, delay } = require('hyco-test-support');

const HEADERS_END = '\r\n\r\n';
const rnd = (n) => crypto.randomBytes(n);
const pick = (list) => list[Math.floor(Math.random() * list.length)];

/** What broken-HTTP inputs got instead of 400, for the report. */
const oddAnswers = [];

/** Sends raw bytes; resolves with the first response line, 'closed' or 'timeout'. */
function raw(port, bytes, waitMs = 10000) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => finish('timeout'), waitMs);
    function finish(result) {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    }
    socket.on('data', (d) => {
      data += d.toString('latin1');
      const eol = data.indexOf('\r\n');
      if (eol !== -1) finish(data.slice(0, eol));
    });
    socket.on('error', () => {});
    socket.on('close', () => finish(data ? data.split('\r\n')[0] : 'closed'));
    socket.write(bytes);
  });
}

function upgradeRequest(target, headers) {
  const lines = [`GET ${target} HTTP/1.1`, 'Host: 127.0.0.1'];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return lines.join('\r\n') + HEADERS_END;
}

const goodUpgrade = () => ({ Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': rnd(16).toString('base64') });

/** Masked client frame with arbitrary first byte and length field. */
function frame({ b0, payload = Buffer.alloc(0), mask = true, length }) {
  const len = length ?? payload.length;
  const head = len < 126 ? Buffer.from([b0, (mask ? 0x80 : 0) | len]) : Buffer.from([b0, (mask ? 0x80 : 0) | 127, 0, 0, 0, 0, 0, 0, 0, 0]);
  if (len >= 126) head.writeBigUInt64BE(BigInt(len), 2);
  return Buffer.concat([head, mask ? rnd(4) : Buffer.alloc(0), payload]);
}

/** The kinds of bad input: each makes one input and says whether the answer is the protocol's. */
function kinds(port) {
  const connectTarget = '/$hc/fuzz?sb-hc-action=connect';
  return {
    'broken HTTP': async () => {
      const junk = Math.random() < 0.5 ? rnd(1 + Math.floor(Math.random() * 200)) : Buffer.from(`${pick(['GET', 'PUT', 'X', ''])} ${rnd(8).toString('hex')} HTTP/9.9\r\n`);
      const answer = await raw(port, Buffer.concat([junk, Buffer.from(HEADERS_END)]));
      if (/^HTTP\/1\.1 400 /.test(answer)) return true;
      // Junk of nothing but line breaks is no request at all: HTTP skips empty lines before a request line, so the answer is 408.
      if (/^[\r\n]*$/.test(junk.toString('latin1')) && /^HTTP\/1\.1 408 /.test(answer)) return true;
      oddAnswers.push(`${JSON.stringify(answer)} to ${JSON.stringify(junk.toString('latin1').slice(0, 60))}`);
      return false;
    },
    'bad upgrade headers': async () => {
      const h = { ...goodUpgrade(), ServiceBusAuthorization: token('fuzz') };
      const breakIt = pick([
        () => delete h['Sec-WebSocket-Key'],
        () => (h['Sec-WebSocket-Key'] = rnd(5).toString('hex')),
        () => (h['Sec-WebSocket-Version'] = pick(['8', '12', '99', 'x'])),
        () => (h.Connection = 'keep-alive, websocket'),
        () => (h.Upgrade = 'h2c'),
      ]);
      breakIt();
      return /^HTTP\/1\.1 400 /.test(await raw(port, upgradeRequest(connectTarget, h)));
    },
    'wrong keys and tokens': async () => {
      const bad = pick([
        () => hyco.createRelayToken('http://127.0.0.1/fuzz', 'RootManageSharedAccessKey', rnd(12).toString('base64')),
        () => hyco.createRelayToken('http://127.0.0.1/fuzz', rnd(6).toString('hex'), KEY),
        () => `SharedAccessSignature ${rnd(40).toString('base64')}`,
        () => rnd(30).toString('hex'),
        () => token('fuzz').replace(/se=\d+/, 'se=1000'),
      ])();
      const target = pick([connectTarget, '/$hc/fuzz?sb-hc-action=listen']);
      return /^HTTP\/1\.1 401 /.test(await raw(port, upgradeRequest(target, { ...goodUpgrade(), ServiceBusAuthorization: bad })));
    },
    'absurd lengths': async () => {
      const request = pick([
        () => upgradeRequest(connectTarget, { ...goodUpgrade(), 'Content-Length': '9'.repeat(30) }),
        () => upgradeRequest(connectTarget, { ...goodUpgrade(), 'X-Huge': 'a'.repeat(33 * 1024 + Math.floor(Math.random() * 10000)) }),
        () => upgradeRequest(`/$hc/${'a'.repeat(40 * 1024)}?sb-hc-action=connect`, goodUpgrade()),
        () => `POST /$hc/fuzz HTTP/1.1\r\nHost: x\r\nContent-Length: ${1 + Math.floor(Math.random() * 1e9)}\r\nTransfer-Encoding: chunked\r\n\r\n${'f'.repeat(40)}\r\n`,
      ])();
      return /^HTTP\/1\.1 4\d\d /.test(await raw(port, request));
    },
    'bad rendezvous addresses': async () => {
      const query = pick([
        `sb-hc-action=accept&sb-hc-rendezvous=${rnd(16).toString('hex')}`,
        'sb-hc-action=accept',
        `sb-hc-action=accept&sb-hc-rendezvous=${rnd(16).toString('hex')}&sb-hc-statusCode=404`,
        `sb-hc-action=accept&sb-hc-rendezvous=../../etc&sb-hc-id=${rnd(4).toString('hex')}`,
      ]);
      return /^HTTP\/1\.1 403 /.test(await raw(port, upgradeRequest(`/$hc/fuzz?${query}`, goodUpgrade())));
    },
    'invalid frames': async () => {
      const bad = pick([
        () => [frame({ b0: 0x80 | pick([3, 4, 5, 6, 7, 11, 12, 13, 14, 15]), payload: rnd(5) }), [1002]],
        () => [frame({ b0: 0x81, payload: rnd(10), mask: false }), [1002]],
        () => [frame({ b0: 0x89, payload: rnd(126) }), [1002]],
        () => [frame({ b0: 0x09, payload: rnd(3) }), [1002]],
        () => [frame({ b0: 0x80, payload: rnd(3) }), [1002]],
        () => [frame({ b0: 0x82, length: 2 ** 62 }), [1009]],
      ])();
      const [bytes, codes] = bad;
      return new Promise((resolve) => {
        const socket = net.connect(port, '127.0.0.1');
        let data = Buffer.alloc(0);
        let upgraded = false;
        const timer = setTimeout(() => finish(false), 5000);
        function finish(ok) {
          clearTimeout(timer);
          socket.destroy();
          resolve(ok);
        }
        socket.on('error', () => {});
        socket.on('close', () => finish(false));
        socket.on('data', (d) => {
          data = Buffer.concat([data, d]);
          if (!upgraded) {
            const end = data.indexOf(HEADERS_END);
            if (end === -1) return;
            if (!/^HTTP\/1\.1 101 /.test(data.toString('latin1'))) return finish(false);
            upgraded = true;
            data = data.subarray(end + 4);
            socket.write(bytes);
          }
          if (data.length >= 4 && (data[0] & 0x0f) === 8) finish(codes.includes(data.readUInt16BE(2)));
        });
        socket.write(upgradeRequest(connectTarget, { ...goodUpgrade(), ServiceBusAuthorization: token('fuzz') }));
      });
    },
    'broken control messages': async () => {
      const payload = pick([
        () => ['{' + rnd(20).toString('base64'), [1008]],
        () => [JSON.stringify({ [rnd(4).toString('hex')]: {} }), [1008]],
        () => ['[1,2,3]', [1008]],
        () => [JSON.stringify({ renewToken: { token: rnd(20).toString('hex') } }), [1008]],
        () => [JSON.stringify({ response: { requestId: 'x', statusCode: 200 } }), [1008]],
        () => [rnd(64), [1003]],
        () => ['x'.repeat(100 * 1024 + Math.floor(Math.random() * 1000)), [1009]],
      ])();
      const [data, codes] = payload;
      return new Promise((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/$hc/fuzz-cc?sb-hc-action=listen`, { headers: { ServiceBusAuthorization: token('fuzz-cc') }, perMessageDeflate: false });
        const timer = setTimeout(() => {
          ws.terminate();
          resolve(false);
        }, 5000);
        ws.on('open', () => ws.send(data));
        ws.on('close', (code) => {
          clearTimeout(timer);
          resolve(codes.includes(code));
        });
        ws.on('error', () => {});
      });
    },
  };
}

/**
 * Runs `count` generated inputs (plus `halfOpen` half-open connections) with
 * `concurrency`, while a well-behaved listener and sender keep exchanging.
 * Resolves with { byKind: {kind: [tried, answered]}, halfOpen: [tried, answered],
 * goodExchanges, goodFailures, peakEmulatorGrowth }.
 */
async function runHostile({ count = 10500, halfOpen = 300, concurrency = 48 } = {}) {
  const relay = await childEmulator({ hybridConnections: ['fuzz', 'fuzz-cc'], handshakeTimeoutMs: 1000, maxListenersPerHybridConnection: 200 });
  const port = relay.port;
  const base = (await relay.usage()).rss;
  let peak = 0;
  const sampler = setInterval(async () => (peak = Math.max(peak, (await relay.usage()).rss - base)), 250);

  const listener = new hyco.relayedServer({ server: hyco.createRelayListenUri(relay.endpoint, 'fuzz'), token: () => token('fuzz'), autoAcceptConnections: true });
  listener.on('connect', (c) => c.on('message', (m) => m.type === 'utf8' && c.sendUTF(m.utf8Data)));
  listener.on('error', () => {});
  await new Promise((resolve) => listener.once('online', resolve));

  let stop = false;
  let goodExchanges = 0;
  const goodFailures = [];
  const good = (async () => {
    while (!stop) {
      try {
        const connection = await send(relay.endpoint, 'fuzz', { timeoutMs: 10000 });
        const outcome = await exchange(connection, 'good', 3);
        if (outcome.ok) goodExchanges++;
        else goodFailures.push(outcome.why ?? `closed ${outcome.closed}`);
        connection.close();
      } catch (err) {
        goodFailures.push(err.message.split('\n')[0]);
      }
      await delay(50);
    }
  })();

  const all = kinds(port);
  const names = Object.keys(all);
  const byKind = Object.fromEntries(names.map((n) => [n, [0, 0]]));
  let next = 0;
  const half = [0, 0];
  const halfOpenRun = Promise.all(
    Array.from({ length: halfOpen }, async () => {
      half[0]++;
      const partial = `GET /$hc/fuzz?sb-hc-action=connect HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n`;
      if (/^HTTP\/1\.1 408 /.test(await raw(port, partial, 8000))) half[1]++;
    }),
  );
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const kind = names[next++ % names.length];
        byKind[kind][0]++;
        if (await all[kind]()) byKind[kind][1]++;
      }
    }),
  );
  await halfOpenRun;
  stop = true;
  await good;
  clearInterval(sampler);
  peak = Math.max(peak, (await relay.usage()).rss - base);
  await listener.close();
  await relay.stop();
  return { byKind, halfOpen: half, goodExchanges, goodFailures, peakEmulatorGrowth: peak, oddAnswers: oddAnswers.splice(0).slice(0, 5) };
}

function describeHostile(r) {
  const total = Object.values(r.byKind).reduce((a, [n]) => a + n, 0) + r.halfOpen[0];
  const kinds = Object.entries(r.byKind).map(([k, [n, ok]]) => `${k} ${ok}/${n}`).join(', ');
  return (
    `hostile input: ${total} malformed inputs (${kinds}, half-open ${r.halfOpen[1]}/${r.halfOpen[0]} answered 408); ` +
    `meanwhile ${r.goodExchanges} well-behaved exchanges, ${r.goodFailures.length} failed; emulator peak memory growth ${(r.peakEmulatorGrowth / 2 ** 20).toFixed(1)} MiB`
  );
}

module.exports = { runHostile, describeHostile };

'use strict';
// Property-based tests (fast-check), seeded and bounded: set FC_SEED (a
// number, or `random`) and FC_RUNS to explore; a failure prints its seed.
//  - the frame relay: any frames, in any TCP chunking, arrive as sent; a
//    cut stream yields a prefix of whole frames, then an abnormal close;
//  - listener messages: nothing a listener sends (control messages, HTTP
//    responses) crashes the emulator or disturbs other hybrid connections;
//  - paths and queries reach the listener byte for byte, less sb-hc-*.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const fc = require('fast-check');
const WebSocket = require('ws');
const hyco = require('hyco-websocket');
const { startRelay, childEmulator, listen, send, token, onceOrError, once, delay, until, checkProperty, createRelaySendUri, FAST_BACKOFF } = require('hyco-test-support');
const { encodeFrame, framesUntilClosed, rawUpgrade } = require('hyco-test-support/raw');

/** Deterministic bytes (mulberry32), so that large payloads need no large generated arrays. */
function bytes(length, seed) {
  const out = Buffer.alloc(length);
  let a = seed >>> 0;
  for (let i = 0; i < length; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    out[i] = (t ^ (t >>> 14)) & 0xff;
  }
  return out;
}

const lengthArb = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 200 }) },
  { weight: 3, arbitrary: fc.constantFrom(0, 1, 125, 126, 127, 65535, 65536) },
  { weight: 1, arbitrary: fc.integer({ min: 200, max: 70000 }) },
);
const payloadArb = (max) => fc.tuple(lengthArb, fc.integer()).map(([length, seed]) => bytes(Math.min(length, max), seed));
const rsvArb = fc.integer({ min: 0, max: 7 });
const controlArb = fc.record({ opcode: fc.constantFrom(9, 10), payload: payloadArb(125), rsv: rsvArb }).map((f) => [{ ...f, fin: true }]);
const messageArb = fc
  .record({
    opcode: fc.constantFrom(1, 2),
    fragments: fc.array(fc.record({ payload: payloadArb(1 << 20), rsv: rsvArb, control: fc.option(controlArb, { freq: 4 }) }), { minLength: 1, maxLength: 4 }),
  })
  .map(({ opcode, fragments }) =>
    fragments.flatMap((f, i) => [
      ...(i > 0 && f.control ? f.control : []),
      { fin: i === fragments.length - 1, opcode: i === 0 ? opcode : 0, rsv: f.rsv, payload: f.payload },
    ]),
  );
const closeArb = fc
  .tuple(fc.integer({ min: 1000, max: 4999 }), fc.integer({ min: 0, max: 123 }), fc.integer())
  .map(([code, length, seed]) => {
    const payload = Buffer.alloc(2 + length);
    payload.writeUInt16BE(code, 0);
    bytes(length, seed).copy(payload, 2);
    return { fin: true, opcode: 8, rsv: 0, payload };
  });
const sequenceArb = fc
  .tuple(fc.array(fc.oneof(messageArb, controlArb), { minLength: 1, maxLength: 6 }), fc.option(closeArb, { freq: 3 }))
  .map(([parts, close]) => [...parts.flat(), ...(close ? [close] : [])]);
const chunkingArb = fc.array(fc.integer({ min: 1, max: 70000 }), { maxLength: 12 });

/** Writes `data` in chunks of the given sizes (cycled), yielding between writes so they arrive apart. */
async function writeChunked(socket, data, sizes) {
  let offset = 0;
  let i = 0;
  while (offset < data.length) {
    const n = sizes.length ? sizes[i++ % sizes.length] : data.length;
    socket.write(data.subarray(offset, offset + n));
    offset += n;
    await new Promise(setImmediate);
  }
}

/** Reads `count` frames, failing after `ms`. */
async function readFrames(reader, count, ms = 10000) {
  const frames = [];
  const deadline = delay(ms).then(() => {
    throw new Error(`only ${frames.length} of ${count} frames arrived`);
  });
  while (frames.length < count) frames.push(await Promise.race([reader.next(), deadline]));
  return frames;
}

function sameFrames(actual, expected, where) {
  assert.equal(actual.length, expected.length, `${where}: frame count`);
  actual.forEach((f, i) => {
    const e = expected[i];
    assert.deepEqual([f.fin, f.rsv, f.opcode, f.payload.length], [e.fin, e.rsv, e.opcode, e.payload.length], `${where}: frame ${i}`);
    assert.ok(f.payload.equals(e.payload), `${where}: payload of frame ${i}`);
  });
}

test('property: any frames in any TCP chunking cross the relay as sent; a cut gives whole frames, then an abnormal close', async (t) => {
  const relay = await startRelay(t);
  const waiting = [];
  await listen(t, relay, 'echo', {
    onAccept: async (accept) => {
      const joined = await rawUpgrade(accept.address);
      joined.socket.setNoDelay(true);
      waiting.shift()(joined);
    },
  });
  const pair = async () => {
    const joined = new Promise((resolve) => waiting.push(resolve));
    const sender = await rawUpgrade(createRelaySendUri(relay.endpoint, 'echo'), { ServiceBusAuthorization: token('echo') });
    sender.socket.setNoDelay(true);
    return { sender, listener: await joined };
  };
  await checkProperty(
    fc.asyncProperty(sequenceArb, sequenceArb, chunkingArb, chunkingArb, fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { freq: 3 }), async (fromSender, fromListener, chunksA, chunksB, cutAt) => {
      const { sender, listener } = await pair();
      try {
        if (cutAt === null) {
          // Both ways at once.
          const encodedA = Buffer.concat(fromSender.map((f) => encodeFrame(f)));
          const encodedB = Buffer.concat(fromListener.map((f) => encodeFrame(f)));
          const [atListener, atSender] = await Promise.all([
            readFrames(listener.reader, fromSender.length),
            readFrames(sender.reader, fromListener.length),
            writeChunked(sender.socket, encodedA, chunksA),
            writeChunked(listener.socket, encodedB, chunksB),
          ]);
          sameFrames(atListener, fromSender, 'sender to listener');
          sameFrames(atSender, fromListener, 'listener to sender');
          return;
        }
        // One way, cut at a random byte: the sender hangs up there.
        const masked = fromSender.map((f) => encodeFrame(f));
        const all = Buffer.concat(masked);
        const cut = Math.min(all.length - 1, 1 + Math.floor(cutAt * (all.length - 1)));
        let start = 0;
        let k = 0;
        while (start + masked[k].length <= cut) start += masked[k++].length;
        const whole = fromSender.slice(0, k);
        await writeChunked(sender.socket, all.subarray(0, cut), chunksA);
        sender.socket.end();
        const frames = await framesUntilClosed(listener.reader);
        const partial = fromSender[k];
        const plain = encodeFrame({ ...partial, mask: false });
        const maskedHeader = masked[k].length - partial.payload.length;
        const into = cut - start;
        if (into >= maskedHeader) {
          // Cut inside a frame the relay had begun to pass on: the rest of that frame is never invented.
          sameFrames(frames, whole, 'before the cut');
          const unmaskedHeader = plain.length - partial.payload.length;
          assert.ok(listener.reader.buffer.equals(plain.subarray(0, unmaskedHeader + (into - maskedHeader))), 'the partial frame is exactly what was sent');
        } else {
          // Cut inside a header: the whole frames, then the end of the listener's connection with no close frame
          // of the relay's (the sender vanished without one, and so does the connection).
          sameFrames(frames, whole, 'before the cut');
          assert.equal(listener.reader.buffer.length, 0);
        }
      } finally {
        sender.socket.destroy();
        listener.socket.destroy();
      }
    }),
    { defaultSeed: 20261126, numRuns: 200 },
  );
});

/** What a hostile listener may send on its control channel. */
const controlMessageArb = fc.oneof(
  fc.json().map((text) => ({ text })),
  fc.string({ unit: 'binary', maxLength: 300 }).map((text) => ({ text })),
  fc.uint8Array({ maxLength: 300 }).map((data) => ({ binary: Buffer.from(data) })),
  fc
    .record({
      requestId: fc.oneof(fc.string({ unit: 'binary' }), fc.anything()),
      statusCode: fc.oneof(fc.integer({ min: -5, max: 1100 }), fc.anything()),
      statusDescription: fc.anything(),
      responseHeaders: fc.oneof(fc.dictionary(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' })), fc.anything()),
      body: fc.anything(),
    })
    .map((response) => ({ text: JSON.stringify({ response }) ?? '{}' })),
  fc.record({ token: fc.oneof(fc.string({ unit: 'binary' }), fc.anything()) }).map((renewToken) => ({ text: JSON.stringify({ renewToken }) ?? '{}' })),
  fc.anything({ maxDepth: 4 }).map((value) => ({ text: JSON.stringify({ value }) ?? 'null' })),
);

/** A listener's answer to an HTTP request, well-formed or not. */
const headerNameArb = fc.oneof(fc.constantFrom('X-A', 'x-b', 'Set-Cookie', 'Cache-Control'), fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }));
const headerValueArb = fc.oneof(fc.constantFrom('1', 'a b', 'Zürich', 'x=y; Path=/'), fc.string({ unit: 'binary', maxLength: 40 }));
const responseArb = fc.record({
  via: fc.constantFrom('inline', 'rendezvous'),
  statusCode: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(200, 201, 204, 404, 500, 599, 999) }, { weight: 2, arbitrary: fc.integer({ min: 100, max: 999 }) }, fc.integer({ min: -1, max: 1200 })),
  statusDescription: fc.option(fc.string({ unit: 'binary', maxLength: 40 })),
  headers: fc.dictionary(headerNameArb, headerValueArb, { maxKeys: 4 }),
  body: fc.option(fc.uint8Array({ maxLength: 3000 }).map((b) => Buffer.from(b))),
  fragments: fc.array(fc.integer({ min: 1, max: 700 }), { maxLength: 6 }),
  keepsPromise: fc.boolean(),
});

/**
 * Whether the relay can hand `spec` to an HTTP client as it is: a final
 * status, headers HTTP can carry (hop-by-hop ones are dropped), and the body
 * it promised, of the length it declared.
 */
function isDeliverable(spec) {
  if (!Number.isInteger(spec.statusCode) || spec.statusCode < 200 || spec.statusCode > 999) return false;
  const bodiless = spec.statusCode === 204 || spec.statusCode === 304;
  const bodyLength = spec.body === null || !spec.keepsPromise ? 0 : spec.body.length;
  for (const [name, value] of Object.entries(spec.headers)) {
    try {
      http.validateHeaderName(name);
      http.validateHeaderValue(name, value);
    } catch {
      return false;
    }
    if (/^content-length$/i.test(name) && !bodiless && value.trim() !== String(bodyLength)) return false;
  }
  return bodiless || spec.body === null || spec.keepsPromise;
}

/** Sends `body` as one binary message in fragments of the given sizes. */
function sendFragments(ws, body, sizes) {
  if (!sizes.length || body.length === 0) {
    ws.send(body, { binary: true });
    return;
  }
  let offset = 0;
  let i = 0;
  while (offset < body.length) {
    const n = sizes[i++ % sizes.length];
    ws.send(body.subarray(offset, offset + n), { binary: true, fin: offset + n >= body.length });
    offset += n;
  }
}

test('property: nothing a listener sends (control messages, HTTP responses) crashes the emulator or disturbs others', async (t) => {
  const relay = await childEmulator({ hybridConnections: ['good', 'hostile', 'web'], httpResponseTimeoutMs: 1000 });
  t.after(() => relay.stop());
  await listen(t, relay, 'good');
  const good = await send(relay.endpoint, 'good', { timeoutMs: 5000 });
  t.after(() => good.drop());
  let round = 0;
  const stillServing = async () => {
    assert.ok(relay.alive(), 'the emulator process is running');
    const text = `round ${++round}`;
    const echoed = onceOrError(good, 'message');
    good.sendUTF(text);
    assert.equal((await Promise.race([echoed, delay(5000).then(() => ({ utf8Data: 'no echo within 5 s' }))])).utf8Data, text);
  };

  await checkProperty(
    fc.asyncProperty(fc.array(controlMessageArb, { minLength: 1, maxLength: 8 }), async (messages) => {
      const ws = new WebSocket(hyco.createRelayListenUri(relay.endpoint, 'hostile'), { headers: { ServiceBusAuthorization: token('hostile') }, perMessageDeflate: false });
      ws.on('error', () => {});
      await onceOrError(ws, 'open');
      for (const m of messages) {
        if (ws.readyState !== WebSocket.OPEN) break;
        if (m.binary) ws.send(m.binary, { binary: true });
        else ws.send(m.text);
      }
      await delay(5);
      ws.terminate();
      await stillServing();
    }),
    { defaultSeed: 1126, numRuns: 150 },
  );

  /** A fresh hand-written web listener answering its one request as `spec` says, online before it is used. */
  const webListener = async (spec) => {
    const web = await listen(t, relay, 'web', { onAccept() {} });
    web.on('message', async (data, isBinary) => {
      if (isBinary) return;
      const { request } = JSON.parse(data);
      if (!request) return;
      const response = { requestId: request.id, statusCode: spec.statusCode, responseHeaders: spec.headers, body: spec.body !== null };
      if (spec.statusDescription !== null) response.statusDescription = spec.statusDescription;
      let channel = web;
      if (spec.via === 'rendezvous') {
        channel = new WebSocket(request.address, { perMessageDeflate: false });
        channel.on('error', () => {});
        channel.on('message', () => {});
        await once(channel, 'open');
      }
      if (channel.readyState !== WebSocket.OPEN) return;
      channel.send(JSON.stringify({ response }));
      if (spec.body !== null && spec.keepsPromise) sendFragments(channel, spec.body, spec.fragments);
      if (channel !== web) setTimeout(() => channel.close(), 20);
    });
    const webListeners = async () => (await relay.stats()).hybridConnections.find((h) => h.path === 'web').listeners;
    while ((await webListeners()) !== 1) await delay(2);
    return { close: async () => {
      web.terminate();
      while ((await webListeners()) !== 0) await delay(2);
    } };
  };
  await checkProperty(
    fc.asyncProperty(responseArb, async (spec) => {
      const web = await webListener(spec);
      try {
        const outcome = await Promise.race([
          new Promise((resolve) => {
            const req = http.request({ host: '127.0.0.1', port: relay.port, path: '/web/x', headers: { ServiceBusAuthorization: token('web') } }, (res) => {
              const chunks = [];
              res.on('data', (c) => chunks.push(c));
              res.on('error', () => {});
              res.on('close', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks), complete: res.complete }));
            });
            req.on('error', (error) => resolve({ error }));
            req.end();
          }),
          delay(5000).then(() => ({ hung: true })),
        ]);
        assert.ok(!outcome.hung, 'the HTTP client got an answer within 5 s');
        if (isDeliverable(spec)) {
          assert.equal(outcome.status, spec.statusCode);
          const expected = spec.statusCode === 204 || spec.statusCode === 304 || spec.body === null ? Buffer.alloc(0) : spec.body;
          assert.ok(outcome.complete && outcome.body.equals(expected), 'the body arrives whole');
        } else if (!outcome.error && outcome.complete) {
          // What cannot be delivered as sent is refused, never passed on half-made.
          assert.ok(outcome.status === 502 || outcome.status === 504, `status ${outcome.status} for an undeliverable response`);
        }
      } finally {
        await web.close();
      }
      await stillServing();
    }),
    { defaultSeed: 2611, numRuns: 150 },
  );
});

/** Characters a path segment may hold (RFC 3986 pchar), and query characters. */
const pchars = [...'abcXYZ019-._~!$\'()*+,;=:@'];
const escapeArb = fc.integer({ min: 0, max: 255 }).map((n) => `%${n.toString(16).padStart(2, '0').toUpperCase()}`);
const segmentArb = fc.array(fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...pchars) }, escapeArb), { maxLength: 8 }).map((a) => a.join(''));
const suffixArb = fc.array(segmentArb, { maxLength: 3 }).map((segments) => segments.map((s) => `/${s}`).join(''));
const queryPartArb = fc.oneof(
  { weight: 5, arbitrary: fc.array(fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...pchars, '/', '?') }, escapeArb), { maxLength: 10 }).map((a) => a.join('')) },
  fc.constantFrom('', 'flag', 'sb-hc-id=x', 'SB-HC-TOKEN=y', '%73b-hc-z=1', "key='value'", 'x=%20y'),
);
const queryArb = fc.array(queryPartArb, { maxLength: 6 }).map((parts) => parts.join('&'));

/** The query less sb-hc-* parameters, by the protocol's rule. */
function expectedQuery(query) {
  if (!query) return '';
  return query
    .split('&')
    .filter((part) => {
      let name = part.split('=')[0];
      try {
        name = decodeURIComponent(name.replace(/\+/g, ' '));
      } catch {
        // as sent
      }
      return !name.toLowerCase().startsWith('sb-hc-');
    })
    .join('&');
}

test('property: path suffixes and queries reach listeners byte for byte, less sb-hc-* (WebSocket and HTTP, raw and through the library)', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['echo', 'lib'] });
  const raw = await listen(t, relay, 'echo', { onAccept() {} });
  const requests = [];
  raw.on('message', (data, isBinary) => {
    if (isBinary) return;
    const { request } = JSON.parse(data);
    if (!request) return;
    requests.push(request.requestTarget);
    raw.send(JSON.stringify({ response: { requestId: request.id, statusCode: 204 } }));
  });
  const server = new hyco.relayedServer({ server: hyco.createRelayListenUri(relay.endpoint, 'lib'), token: () => token('lib'), reconnectBackoff: FAST_BACKOFF });
  t.after(() => server.close());
  const resources = [];
  const urls = [];
  server.on('request', (request) => {
    resources.push(request.resource);
    request.reject(404).catch(() => {});
  });
  server.on('httpRequest', (req, res) => {
    urls.push(req.url);
    res.statusCode = 204;
    res.end();
  });
  await once(server, 'online');

  const httpStatus = (target) =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: relay.port, path: target, headers: { ServiceBusAuthorization: token(target.split('/')[1]) } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      });
      req.on('error', reject);
      req.end();
    });

  await checkProperty(
    fc.asyncProperty(suffixArb, queryArb, async (suffix, query) => {
      const wanted = expectedQuery(query);
      const withQuery = (path, q) => (q ? `${path}?${q}` : path);
      // WebSocket, raw listener: the accept address.
      const before = raw.accepts.length;
      const attempt = rawUpgrade(relay.endpoint, { ServiceBusAuthorization: token('echo') }, `/$hc/echo${suffix}?${query}${query ? '&' : ''}sb-hc-action=connect`);
      await until(() => raw.accepts.length > before, 5000, 'the accept');
      const address = raw.accepts.at(-1).address;
      const rest = address.slice(address.indexOf('/$hc/echo') + '/$hc/echo'.length);
      const q = rest.indexOf('?');
      assert.equal(rest.slice(0, q), suffix);
      assert.equal(rest.slice(q + 1).split('&').filter((p) => !/^sb-hc-(action|id|rendezvous)=/.test(p)).join('&'), wanted);
      void attempt.then((r) => r.socket?.destroy());
      // WebSocket, the library: request.resource.
      const resourcesBefore = resources.length;
      const libAttempt = rawUpgrade(relay.endpoint, { ServiceBusAuthorization: token('lib') }, `/$hc/lib${suffix}?${query}${query ? '&' : ''}sb-hc-action=connect`);
      await until(() => resources.length > resourcesBefore, 5000, 'the relayed request');
      assert.equal(resources.at(-1), withQuery(suffix || '/', wanted));
      await libAttempt;
      // HTTP, raw listener and the library.
      assert.equal(await httpStatus(`/echo${suffix}?${query}`), 204);
      assert.equal(requests.at(-1), withQuery(`/echo${suffix}`, wanted));
      assert.equal(await httpStatus(`/lib${suffix}?${query}`), 204);
      assert.equal(urls.at(-1), withQuery(suffix || '/', wanted));
    }),
    { defaultSeed: 7, numRuns: 200 },
  );
});

for (const name of ['unmask', 'unmaskJs']) {
  test(`property: ${name} (${name === 'unmask' ? 'native when the add-on loads' : 'a word at a time'}, on any alignment) equals XOR byte by byte for any data, mask and starting offset`, async () => {
    const frames = require('../dist/frames.js');
    const unmask = frames[name];
    await checkProperty(
      fc.property(
        fc.integer({ min: 0, max: 2000 }),
        fc.integer({ min: 0, max: 7 }),
        fc.integer(),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.integer({ min: 0, max: 3 }),
        (length, start, seed, maskBytes, offset) => {
          // A slice that starts at any byte of its backing store: the unaligned head and tail are exercised.
          const backing = bytes(length + 8, seed);
          const data = backing.subarray(start, start + length);
          const expected = Buffer.from(data).map((b, i) => b ^ maskBytes[(offset + i) & 3]);
          const before = Buffer.from(backing);
          const mask = Buffer.from(maskBytes);
          unmask(data, mask, offset);
          assert.deepEqual(data, Buffer.from(expected));
          // Nothing outside the slice is touched, the mask included.
          assert.deepEqual(backing.subarray(0, start), before.subarray(0, start));
          assert.deepEqual(backing.subarray(start + length), before.subarray(start + length));
          assert.deepEqual(mask, Buffer.from(maskBytes));
        },
      ),
      { defaultSeed: 2601, numRuns: 500 },
    );
  });
}

// A strict XML parser (well-formedness, XML 1.0 characters, namespaces):
// saxes, which the library reads runtime information with.
const { SaxesParser } = require(require.resolve('saxes', { paths: [require.resolve('hyco-websocket')] }));

/** The text of the document's `UserMetadata` element (undefined without one); throws unless `text` is well-formed XML. */
function userMetadataOf(text) {
  const parser = new SaxesParser({ xmlns: true });
  let inside = false;
  let value;
  parser.on('error', (err) => {
    throw new Error(`malformed XML: ${err.message}`);
  });
  parser.on('opentag', (tag) => {
    if (tag.local !== 'UserMetadata') return;
    inside = true;
    value = '';
  });
  parser.on('closetag', (tag) => {
    if (tag.local === 'UserMetadata') inside = false;
  });
  parser.on('text', (t) => {
    if (inside) value += t;
  });
  parser.write(text).close();
  return value;
}

/** `text` less the characters XML 1.0 cannot carry (its `Char` production), computed code point by code point. */
function xmlCarriable(text) {
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0);
    if (cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || cp >= 0x10000) out += ch;
  }
  return out;
}

const metadataPartArb = fc.oneof(
  fc.constantFrom('\u0000', '\u0001', '\u0008', '\u000b', '\u000c', '\u000e', '\u001b', '\u001f', '\u007f', '\u0085', '\t', '\n', '\r', '\r\n', '\ufffe', '\uffff', '\ufffd', '\ud800', '\udfff', '\ud83d\ude00', '<', '>', '&', '"', "'", ']]>', '&amp;', '&#1;', '<![CDATA[', '\u2028', ' '),
  fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
  fc.string({ unit: 'binary', maxLength: 4 }),
);
// At most 1024 UTF-16 units, as the option allows; the cut may leave a lone surrogate, as it should.
const metadataArb = fc.array(metadataPartArb, { maxLength: 300 }).map((parts) => parts.join('').slice(0, 1024));

test('property: any userMetadata gives well-formed runtime information XML whose UserMetadata is the metadata less what XML 1.0 cannot carry', async (t) => {
  const relay = await startRelay(t, { hybridConnections: [] });
  let n = 0;
  await checkProperty(
    fc.asyncProperty(metadataArb, async (metadata) => {
      const path = `meta-${n++}`;
      relay.createHybridConnection(path, { userMetadata: metadata });
      try {
        const res = await fetch(`http://127.0.0.1:${relay.port}/${path}?api-version=2016-07`, { headers: { 'X-PROCESS-AT': 'ServiceBus', Authorization: token(path) } });
        assert.equal(res.status, 200);
        // Valid UTF-8 too: a lone surrogate must not reach the encoder (it would arrive as U+FFFD).
        const body = new TextDecoder('utf-8', { fatal: true }).decode(await res.arrayBuffer());
        assert.equal(userMetadataOf(body), xmlCarriable(metadata));
      } finally {
        relay.deleteHybridConnection(path);
      }
    }),
    { defaultSeed: 42, numRuns: 200 },
  );
});

test('the frame relay unmasks with bufferutil\'s native add-on on this platform', () => {
  // bufferutil ships a prebuilt binary for linux-x64 (this CI); elsewhere the JavaScript unmask serves.
  assert.equal(require('../dist/frames.js').unmaskImplementation, process.platform === 'linux' && process.arch === 'x64' ? 'native' : 'javascript');
});

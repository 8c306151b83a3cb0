'use strict';
// The emulator's dashboard: a page for browsers at GET /, JSON for
// programs, and a live feed that shows listeners, relayed connections,
// traffic and activity, never a token, key or payload.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const { startRelay, listen, send, token, onceOrError, until, delay, eventFeed: feed } = require('hyco-test-support');

test('GET / gives browsers the dashboard page and programs JSON; /$status stays JSON', async (t) => {
  const relay = await startRelay(t);
  const page = await fetch(`http://127.0.0.1:${relay.port}/`, { headers: { Accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /text\/html/);
  assert.match(page.headers.get('content-security-policy'), /default-src 'self'/);
  assert.match(await page.text(), /<h1>hyco-relay-emulator<\/h1>/);
  const script = await fetch(`http://127.0.0.1:${relay.port}/$dashboard.js`);
  assert.match(await script.text(), /EventSource\('\/\$events'\)/);
  for (const accept of ['application/json', '*/*', undefined]) {
    const res = await fetch(`http://127.0.0.1:${relay.port}/`, { headers: accept ? { Accept: accept } : {} });
    assert.match(res.headers.get('content-type'), /application\/json/, String(accept));
    assert.equal((await res.json()).service, 'hyco-relay-emulator');
  }
  const status = await fetch(`http://127.0.0.1:${relay.port}/$status`, { headers: { Accept: 'text/html' } });
  assert.match(status.headers.get('content-type'), /application\/json/);
});

test('the live feed shows listeners by id, relayed connections, messages and bytes, and activity; never a token, key or payload', async (t) => {
  const relay = await startRelay(t);
  const events = await feed(`http://127.0.0.1:${relay.port}/$events`);
  t.after(() => events.close());
  assert.match(events.headers['content-type'], /text\/event-stream/);
  await events.next((s) => s.stats.hybridConnections.length === 1);
  await listen(t, relay, 'echo', { id: 'listener-one' });
  const senderToken = token('echo');
  const connection = await send(relay, 'echo', { id: 'sender-seven', token: senderToken });
  t.after(() => connection.drop());
  const secretPayload = 'payload-that-must-never-show';
  const echoed = onceOrError(connection, 'message');
  connection.sendUTF(secretPayload);
  await echoed;
  const seen = await events.next(
    (s) =>
      s.stats.hybridConnections[0].listenerIds.includes('listener-one') &&
      s.connections.some((c) => c.id === 'sender-seven' && c.messages === 2) &&
      s.stats.totals.messagesRelayed >= 2 &&
      s.activity.some((a) => a.type === 'sender-accepted' && a.id === 'sender-seven'),
  );
  const c = seen.value.connections.find((x) => x.id === 'sender-seven');
  assert.equal(c.bytesToListener, Buffer.byteLength(secretPayload));
  assert.equal(c.bytesToSender, Buffer.byteLength(secretPayload));
  assert.equal(seen.value.stats.totals.bytesRelayed, 2 * Buffer.byteLength(secretPayload));
  // A refused attempt shows with its status.
  await send(relay, 'echo', { token: senderToken.replace(/sig=[^&]+/, 'sig=AAAA') }).catch(() => {});
  const refused = await events.next((s) => s.activity.some((a) => a.type === 'refused' && a.status === 401));
  for (const e of [...events.events, refused]) {
    for (const secret of [relay.rules[0].key, senderToken, encodeURIComponent(senderToken), secretPayload, /sig=[^&"]+/.exec(senderToken)[0]]) {
      assert.equal(e.raw.includes(secret), false, 'a secret or payload appeared in the feed');
    }
  }
  await until(() => events.events.length >= 3, 3000, 'updates');
});

test('close() ends the live feeds properly (they end, they are not cut)', async (t) => {
  const relay = await startRelay(t);
  const events = await feed(`http://127.0.0.1:${relay.port}/$events`);
  await events.next(() => true);
  await relay.close();
  assert.equal(await events.ended, 'ended');
});

/** A GET with exactly this Host header; resolves with { status, body } (a feed: its status once the headers arrive). */
function getWithHost(port, target, host, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: target, headers: { Host: host, ...headers }, setHost: false }, (res) => {
      if (/event-stream/.test(res.headers['content-type'] ?? '')) {
        req.destroy();
        resolve({ status: res.statusCode, body: '' });
        return;
      }
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('the dashboard answers only its own host names (localhost, 127.x.x.x, [::1], the bound address, the namespace): any other Host, as a DNS-rebinding page sends, gets 403', async (t) => {
  const relay = await startRelay(t);
  const port = relay.port;
  for (const target of ['/', '/$status', '/$events', '/$dashboard.js', '/$status?x=1']) {
    for (const host of ['evil.example', `evil.example:${port}`, 'app.localhost', `app.localhost:${port}`, 'localhost.', '127.0.0.1.nip.io', '[::2]', '0.0.0.0', '10.0.0.1', '128.0.0.1', '127.0.0.256', 'contoso.servicebus.windows.net']) {
      const r = await getWithHost(port, target, host, { Accept: 'text/html' });
      assert.equal(r.status, 403, `${target} with Host ${host}`);
      assert.match(r.body, /^Forbidden: the dashboard answers only/);
      assert.equal(r.body.includes('hyco-relay-emulator'), false, 'nothing of the dashboard');
    }
    for (const host of [`127.0.0.1:${port}`, '127.0.0.1', `localhost:${port}`, 'LOCALHOST', '127.1.2.3:80', `[::1]:${port}`]) {
      assert.equal((await getWithHost(port, target, host)).status, 200, `${target} with Host ${host}`);
    }
  }
  // The relay's own endpoints still take any well-formed Host (the token's audience decides there).
  const info = await getWithHost(port, '/echo?api-version=2016-07', 'contoso.servicebus.windows.net', {
    'X-PROCESS-AT': 'ServiceBus',
    Authorization: token('echo', undefined, undefined, 'contoso.servicebus.windows.net'),
  });
  assert.equal(info.status, 200);
  assert.match(info.body, /<ListenerCount>0<\/ListenerCount>/);
  // With a namespace, its host name is the dashboard's too.
  const named = await startRelay(t, { namespace: 'contoso.servicebus.windows.net' });
  assert.equal((await getWithHost(named.port, '/$status', `contoso.servicebus.windows.net:${named.port}`)).status, 200);
  assert.equal((await getWithHost(named.port, '/$status', 'fabrikam.servicebus.windows.net')).status, 403);
});

/** Bytes the emulator holds in user space, unsent, over all its sockets. */
function bufferedBytes(relay) {
  let total = 0;
  for (const socket of relay.sockets) total += socket.writableLength;
  return total;
}

test('a live feed client that never reads costs a bounded buffer, however fast refused requests drive the refreshes', async (t) => {
  // Large snapshots (many hybrid connections), refreshed as fast as activity allows.
  const paths = Array.from({ length: 1000 }, (_, i) => `slow-reader-${String(i).padStart(4, '0')}-${'x'.repeat(60)}`);
  const relay = await startRelay(t, { hybridConnections: paths });
  const stalled = net.connect(relay.port, '127.0.0.1');
  t.after(() => stalled.destroy());
  await onceOrError(stalled, 'connect');
  stalled.write(`GET /$events HTTP/1.1\r\nHost: 127.0.0.1:${relay.port}\r\n\r\n`);
  // It never reads: the kernel's buffers fill, then whatever the emulator keeps writing waits in its memory.
  stalled.pause();
  let refusing = true;
  const refusals = (async () => {
    while (refusing) {
      const res = await fetch(`http://127.0.0.1:${relay.port}/no-such-${'y'.repeat(150)}`, { headers: { ServiceBusAuthorization: 'nonsense' } });
      await res.arrayBuffer();
    }
  })();
  let peak = 0;
  const end = Date.now() + 8000;
  while (Date.now() < end) {
    await delay(100);
    peak = Math.max(peak, bufferedBytes(relay));
  }
  refusing = false;
  await refusals;
  assert.ok(relay.stats().totals.handshakesRefused > 100, 'refused requests drove the refreshes');
  // One snapshot (here some 150 KB) and a small margin, not a queue of them.
  assert.ok(peak < 512 * 1024, `the emulator held ${peak} bytes for a client that does not read`);
  // A client that reads still gets the latest snapshot.
  const events = await feed(`http://127.0.0.1:${relay.port}/$events`);
  t.after(() => events.close());
  await events.next((s) => s.stats.hybridConnections.length === paths.length);
});

test('the live feed takes at most 16 clients; the next one is refused with 503 until one leaves', async (t) => {
  const relay = await startRelay(t);
  const feeds = [];
  t.after(() => feeds.forEach((f) => f.close()));
  for (let i = 0; i < 16; i++) {
    const f = await feed(`http://127.0.0.1:${relay.port}/$events`);
    feeds.push(f);
    await f.next(() => true);
  }
  const refused = await fetch(`http://127.0.0.1:${relay.port}/$events`);
  assert.equal(refused.status, 503);
  assert.match(refused.headers.get('content-type'), /text\/plain/);
  assert.match(await refused.text(), /too many/i);
  // A slot frees when a client leaves.
  feeds.pop().close();
  const deadline = Date.now() + 5000;
  for (;;) {
    const next = await feed(`http://127.0.0.1:${relay.port}/$events`);
    feeds.push(next);
    if (next.headers['content-type'].startsWith('text/event-stream')) break;
    assert.ok(Date.now() < deadline, 'no slot freed after a client left');
    await delay(20);
  }
});

test('the favicon: the page links an SVG icon, /favicon.ico is a real 16x16 icon; for any Host, and never counted or listed as a refusal', async (t) => {
  const relay = await startRelay(t);
  const page = await (await fetch(`http://127.0.0.1:${relay.port}/`, { headers: { Accept: 'text/html' } })).text();
  assert.match(page, /<link rel="icon" href="\/favicon\.svg" type="image\/svg\+xml">/);
  const svg = await fetch(`http://127.0.0.1:${relay.port}/favicon.svg`);
  assert.equal(svg.status, 200);
  assert.equal(svg.headers.get('content-type'), 'image/svg+xml');
  assert.match(await svg.text(), /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  const ico = await fetch(`http://127.0.0.1:${relay.port}/favicon.ico`);
  assert.equal(ico.status, 200);
  assert.equal(ico.headers.get('content-type'), 'image/x-icon');
  const bytes = Buffer.from(await ico.arrayBuffer());
  // ICONDIR (reserved 0, type 1, one image), then its entry: 16x16, 32 bits, the image right after.
  assert.deepEqual([bytes.readUInt16LE(0), bytes.readUInt16LE(2), bytes.readUInt16LE(4), bytes[6], bytes[7], bytes.readUInt16LE(12)], [0, 1, 1, 16, 16, 32]);
  assert.equal(bytes.readUInt32LE(18) + bytes.readUInt32LE(14), bytes.length);
  // The tile's green at its centre-left edge pixel, white in a circle: the picture is there.
  const pixel = (x, y) => bytes.subarray(22 + 40 + ((15 - y) * 16 + x) * 4, 22 + 40 + ((15 - y) * 16 + x) * 4 + 4);
  assert.deepEqual([...pixel(4, 8)], [255, 255, 255, 255]);
  assert.deepEqual([...pixel(8, 2)], [0x10, 0x7c, 0x10, 255]);
  assert.deepEqual([...pixel(0, 0)], [0, 0, 0, 0]);
  for (const host of ['evil.example', 'localhost']) assert.equal((await getWithHost(relay.port, '/favicon.ico', host)).status, 200);
  const { totals } = relay.stats();
  assert.equal(totals.handshakesRefused, 0, 'not counted as a refusal');
  const status = await (await fetch(`http://127.0.0.1:${relay.port}/$events`)).body.getReader().read();
  const snapshot = JSON.parse(Buffer.from(status.value).toString().replace(/^data: /, ''));
  assert.deepEqual(snapshot.activity.filter((a) => a.type === 'refused'), [], 'not listed as a refusal');
});

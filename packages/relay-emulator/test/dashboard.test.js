'use strict';
// The emulator's dashboard: a page for browsers at GET /, JSON for
// programs, and a live feed that shows listeners, relayed connections,
// traffic and activity, never a token, key or payload.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { startRelay, listen, send, token, onceOrError, until } = require('hyco-test-support');

/** Reads server-sent events from `url`; resolves with { next(predicate), close() }. */
function feed(url) {
  return new Promise((resolve, reject) => {
    const events = [];
    const waiters = [];
    const req = http.get(url, (res) => {
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        buffer += chunk;
        let end;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          if (!data) continue;
          events.push({ raw: data, value: JSON.parse(data) });
          for (const w of [...waiters]) w();
        }
      });
      const ended = new Promise((done) => res.on('end', () => done('ended')));
      resolve({
        ended,
        headers: res.headers,
        events,
        next: (predicate, ms = 5000) =>
          new Promise((ok, fail) => {
            const timer = setTimeout(() => fail(new Error('no matching snapshot')), ms);
            const check = () => {
              const hit = events.find((e) => predicate(e.value));
              if (!hit) return;
              clearTimeout(timer);
              waiters.splice(waiters.indexOf(check), 1);
              ok(hit);
            };
            waiters.push(check);
            check();
          }),
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
  });
}

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

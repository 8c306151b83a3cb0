'use strict';
// The HTTP gateway passes requests and responses on as the service does:
// bodies stream both ways with no cap on size or fragments, a cut body is
// seen as cut, interim and unsendable responses are refused, queries and
// headers arrive as sent.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const crypto = require('node:crypto');
const WebSocket = require('ws');
const { startRelay, httpListener, token, onceOrError, once, delay, until, collectWarnings } = require('hyco-test-support');

/** Opens the request's rendezvous; resolves with the ws once open. */
async function rendezvous(t, address) {
  const ws = new WebSocket(address, { perMessageDeflate: false });
  ws.on('error', () => {});
  t.after(() => ws.terminate());
  await onceOrError(ws, 'open');
  return ws;
}

/** Sends a response over a ws (control channel or rendezvous). */
function respond(ws, requestId, response, body) {
  ws.send(JSON.stringify({ response: { requestId, statusCode: 200, body: body !== undefined, ...response } }));
  if (body !== undefined) ws.send(body, { binary: true });
}

/**
 * An HTTP request through the relay with Node's client. Resolves with
 * { status, statusMessage, headers, body, complete, aborted }: `complete`
 * false and `aborted` true when the response was cut, or { error } when the
 * connection failed before a response head arrived.
 */
function request(relay, target, { method = 'GET', headers = {}, body, onResponse } = {}) {
  return new Promise((resolve) => {
    const all = Object.fromEntries(Object.entries({ ServiceBusAuthorization: token('echo'), ...headers }).filter(([, v]) => v !== undefined));
    const req = http.request(
      { host: '127.0.0.1', port: relay.port, method, path: target, headers: all },
      (res) => {
        onResponse?.(res);
        const chunks = [];
        let aborted = false;
        res.on('data', (c) => chunks.push(c));
        res.on('aborted', () => (aborted = true));
        res.on('error', () => (aborted = true));
        res.on('close', () =>
          resolve({ status: res.statusCode, statusMessage: res.statusMessage, headers: res.headers, body: Buffer.concat(chunks), complete: res.complete, aborted }),
        );
      },
    );
    req.on('error', (error) => resolve({ error }));
    req.end(body);
  });
}

/** A response the client could mistake for a whole one. */
function looksComplete(res) {
  return !res.error && res.complete && !res.aborted;
}

test('a response body streams to the client as the listener writes it (server-sent events)', async (t) => {
  const relay = await startRelay(t);
  let release;
  const released = new Promise((r) => (release = r));
  await httpListener(t, relay, async (request) => {
    const ws = await rendezvous(t, request.address);
    respond(ws, request.id, { body: true, responseHeaders: { 'Content-Type': 'text/event-stream' } });
    ws.send(Buffer.from('data: one\n\n'), { binary: true, fin: false });
    await released;
    ws.send(Buffer.from('data: two\n\n'), { binary: true, fin: true });
    ws.close();
  });
  let firstChunk;
  const gotFirst = new Promise((resolve) => (firstChunk = resolve));
  const done = request(relay, '/echo/events', { onResponse: (res) => res.once('data', (c) => firstChunk(c.toString())) });
  const first = await Promise.race([gotFirst, delay(5000).then(() => 'nothing within 5 s')]);
  assert.equal(first, 'data: one\n\n', 'the first event arrives before the listener has finished');
  release();
  const res = await done;
  assert.equal(res.body.toString(), 'data: one\n\ndata: two\n\n');
  assert.equal(res.complete, true);
});

test('a 300 MiB response streams through whole, with no size cap', async (t) => {
  const relay = await startRelay(t);
  const total = 300 * 1024 * 1024;
  const chunk = crypto.randomBytes(64 * 1024);
  const sent = crypto.createHash('sha256');
  await httpListener(t, relay, async (request) => {
    const ws = await rendezvous(t, request.address);
    respond(ws, request.id, { body: true });
    let written = 0;
    const pump = () => {
      while (written < total && ws.bufferedAmount < 4 * 1024 * 1024) {
        written += chunk.length;
        sent.update(chunk);
        ws.send(chunk, { binary: true, fin: written >= total });
      }
      if (written < total) setTimeout(pump, 1);
      else ws.close();
    };
    pump();
  });
  const received = crypto.createHash('sha256');
  let bytes = 0;
  const res = await request(relay, '/echo/big', {
    onResponse: (r) =>
      r.on('data', (c) => {
        bytes += c.length;
        received.update(c);
      }),
  });
  assert.equal(res.status, 200);
  assert.equal(bytes, total);
  assert.equal(res.complete, true);
  assert.equal(received.digest('hex'), sent.digest('hex'));
});

test('no fragment limit: a 20 MB response in 1 KB frames over a rendezvous, and an inline body in 20,000 fragments; one drain wait at a time', async (t) => {
  const warnings = collectWarnings(t);
  const relay = await startRelay(t);
  const piece = crypto.randomBytes(1024);
  const frames = 20 * 1024;
  await httpListener(t, relay, async (request, channel) => {
    if (request.requestTarget?.endsWith('/inline')) {
      // 20,000 tiny fragments of one binary message on the control channel (60,000 bytes in all).
      channel.send(JSON.stringify({ response: { requestId: request.id, statusCode: 200, body: true } }));
      for (let i = 0; i < 20000; i++) channel.send(Buffer.from('abc'), { binary: true, fin: i === 19999 });
      return;
    }
    const ws = await rendezvous(t, request.address);
    respond(ws, request.id, { body: true });
    for (let i = 0; i < frames; i++) ws.send(piece, { binary: true, fin: i === frames - 1 });
    ws.close();
  });
  const big = await request(relay, '/echo/frames');
  assert.equal(big.status, 200);
  assert.equal(big.body.length, frames * 1024);
  assert.ok(big.body.subarray(0, 1024).equals(piece) && big.body.subarray(-1024).equals(piece));
  const inline = await request(relay, '/echo/inline');
  assert.equal(inline.status, 200);
  assert.equal(inline.body.toString(), 'abc'.repeat(20000));
  // The control channel is still up: another request is answered.
  const again = await request(relay, '/echo/inline');
  assert.equal(again.body.length, 60000);
  // Many small frames in one chunk, to a client slower than the listener: one wait for 'drain', not one per frame.
  await delay(20);
  assert.deepEqual(warnings.listenerLeaks(), []);
});

test('a body cut when its rendezvous dies aborts the client: never a complete response', async (t) => {
  const relay = await startRelay(t);
  await httpListener(t, relay, async (request) => {
    const ws = await rendezvous(t, request.address);
    respond(ws, request.id, { body: true });
    ws.send(crypto.randomBytes(10 * 1024), { binary: true, fin: false });
    await delay(50);
    ws.terminate();
  });
  const res = await request(relay, '/echo/cut');
  assert.equal(res.status, 200);
  assert.equal(res.complete, false, 'the client must see the body as incomplete');
  assert.equal(res.aborted, true);
});

test('a body shorter or longer than the listener\'s Content-Length aborts the client', async (t) => {
  const relay = await startRelay(t);
  await httpListener(t, relay, async (request) => {
    const ws = await rendezvous(t, request.address);
    const long = request.requestTarget.endsWith('/long');
    respond(ws, request.id, { responseHeaders: { 'Content-Length': '100' } }, Buffer.alloc(long ? 150 : 50, 7));
    ws.close();
  });
  for (const which of ['short', 'long']) {
    const res = await request(relay, `/echo/${which}`);
    assert.equal(looksComplete(res), false, `${which}: cut`);
    assert.ok(!res.body || res.body.length <= 100, `${which}: never more than was declared`);
  }
});

test('when the control channel dies, an inline response cut before its body aborts the client, and waiting requests get 502 at once', async (t) => {
  const relay = await startRelay(t, { httpResponseTimeoutMs: 60000 });
  const channel = await httpListener(t, relay, (request, ch) => {
    if (request.requestTarget.endsWith('/headonly')) {
      ch.send(JSON.stringify({ response: { requestId: request.id, statusCode: 200, body: true } }));
      setTimeout(() => ch.terminate(), 50);
    }
    // '/ignored' is never answered.
  });
  const cut = await request(relay, '/echo/headonly');
  assert.equal(cut.status, 200);
  assert.equal(cut.complete, false);
  assert.equal(cut.aborted, true);
  await until(() => channel.readyState === WebSocket.CLOSED, 5000, 'the channel to close');

  const second = await httpListener(t, relay, () => {});
  const waiting = request(relay, '/echo/ignored');
  await delay(100);
  second.terminate();
  const res = await Promise.race([waiting, delay(5000).then(() => 'still waiting after 5 s')]);
  assert.equal(res.status, 502);
});

test('an interim (1xx) status is not a final response: the client gets 502, the listener is told', async (t) => {
  const relay = await startRelay(t);
  const activity = [];
  relay.on('activity', (a) => activity.push(a));
  let rendezvousClose;
  await httpListener(t, relay, async (request, channel) => {
    if (request.requestTarget.endsWith('/inline')) {
      respond(channel, request.id, { statusCode: 100, statusDescription: 'Continue' });
      return;
    }
    const ws = await rendezvous(t, request.address);
    rendezvousClose = once(ws, 'close');
    respond(ws, request.id, { statusCode: 103, responseHeaders: { Link: '</a.css>; rel=preload' } });
  });
  const inline = await Promise.race([request(relay, '/echo/inline'), delay(5000).then(() => ({ status: 'hung' }))]);
  assert.equal(inline.status, 502);
  assert.ok(activity.some((a) => a.type === 'listener-error' && /interim/.test(a.detail)));
  const viaRendezvous = await Promise.race([request(relay, '/echo/rendezvous'), delay(5000).then(() => ({ status: 'hung' }))]);
  assert.equal(viaRendezvous.status, 502);
  const [code, reason] = await rendezvousClose;
  assert.equal(code, 1008);
  assert.match(reason.toString(), /interim/);
});

test('a response header HTTP cannot carry gets 502 and a policy close of the rendezvous; the relay stays up', async (t) => {
  const relay = await startRelay(t);
  const activity = [];
  relay.on('activity', (a) => activity.push(a));
  let rendezvousClose;
  await httpListener(t, relay, async (request, channel) => {
    if (request.requestTarget.endsWith('/good')) {
      respond(channel, request.id, { responseHeaders: { 'X-City': 'Zurich' } }, Buffer.from('fine'));
      return;
    }
    const bad = request.requestTarget.includes('name') ? { 'Bad Name': 'x' } : { 'X-City': 'Zürich → Genève' };
    if (request.requestTarget.includes('inline')) {
      respond(channel, request.id, { responseHeaders: bad }, Buffer.from('body'));
      return;
    }
    const ws = await rendezvous(t, request.address);
    rendezvousClose = once(ws, 'close');
    respond(ws, request.id, { responseHeaders: bad }, Buffer.from('body'));
  });
  for (const target of ['/echo/inline-value', '/echo/inline-name']) {
    const res = await request(relay, target);
    assert.equal(res.status, 502, target);
    assert.match(res.statusMessage, /could not be delivered/);
  }
  assert.equal(activity.filter((a) => a.type === 'listener-error').length, 2);
  const res = await request(relay, '/echo/rendezvous-value');
  assert.equal(res.status, 502);
  const [code] = await rendezvousClose;
  assert.equal(code, 1008);
  // The control channel is still there and well-formed answers get through.
  const good = await request(relay, '/echo/good');
  assert.equal(good.status, 200);
  assert.equal(good.headers['x-city'], 'Zurich');
  assert.equal(good.body.toString(), 'fine');
});

test('queries reach the listener byte for byte, less only the sb-hc-* parameters', async (t) => {
  const relay = await startRelay(t);
  const seen = [];
  await httpListener(t, relay, (request, channel) => {
    seen.push(request.requestTarget);
    respond(channel, request.id, {});
  });
  const cases = ['?&&&', '?CustomValue', '?%20', '?a=1&', "?key='value'", '?flag&x=%20y', '?a=%2B+b&sb-hc-token=zzz&c', '?sb-hc-id=1&z=%7E~'];
  for (const q of cases) await request(relay, `/echo/x${q}`);
  assert.deepEqual(seen, ['/echo/x?&&&', '/echo/x?CustomValue', '/echo/x?%20', '/echo/x?a=1&', "/echo/x?key='value'", '/echo/x?flag&x=%20y', '/echo/x?a=%2B+b&c', '/echo/x?z=%7E~']);
});

test('the request message carries the sender\'s address; repeated Cookie headers are joined with "; "', async (t) => {
  const relay = await startRelay(t);
  let seen;
  await httpListener(t, relay, (request, channel) => {
    seen = request;
    respond(channel, request.id, {});
  });
  await new Promise((resolve, reject) => {
    const headers = ['Host', `127.0.0.1:${relay.port}`, 'ServiceBusAuthorization', token('echo'), 'Cookie', 'a=1', 'Cookie', 'b=2', 'X-Many', '1', 'X-Many', '2'];
    const req = http.request({ host: '127.0.0.1', port: relay.port, path: '/echo/c', headers }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(seen.remoteEndpoint.address, '127.0.0.1');
  assert.ok(seen.remoteEndpoint.port > 0);
  const headers = Object.fromEntries(Object.entries(seen.requestHeaders).map(([k, v]) => [k.toLowerCase(), v]));
  assert.equal(headers.cookie, 'a=1; b=2');
  assert.equal(headers['x-many'], '1, 2');
});

test('the listener\'s Content-Length survives: a HEAD answer keeps its size, a GET of known length is not chunked', async (t) => {
  const relay = await startRelay(t);
  await httpListener(t, relay, (request, channel) => {
    if (request.method === 'HEAD') respond(channel, request.id, { responseHeaders: { 'Content-Length': '12345' } });
    else respond(channel, request.id, { responseHeaders: { 'Content-Length': '5' } }, Buffer.from('hello'));
  });
  const head = await request(relay, '/echo/h', { method: 'HEAD' });
  assert.equal(head.headers['content-length'], '12345');
  assert.equal(head.complete, true);
  const get = await request(relay, '/echo/g');
  assert.equal(get.headers['content-length'], '5');
  assert.equal(get.headers['transfer-encoding'], undefined);
  assert.equal(get.body.toString(), 'hello');
});

test('a non-SAS Authorization header flows to the listener; one that was the relay\'s token does not', async (t) => {
  const relay = await startRelay(t);
  const seen = [];
  await httpListener(t, relay, (request, channel) => {
    seen.push(Object.fromEntries(Object.entries(request.requestHeaders).map(([k, v]) => [k.toLowerCase(), v])).authorization);
    respond(channel, request.id, {});
  });
  await request(relay, '/echo/a', { headers: { Authorization: 'Bearer app-token' } });
  const viaAuthorization = await request(relay, '/echo/b', { headers: { ServiceBusAuthorization: undefined, Authorization: token('echo') } });
  assert.equal(viaAuthorization.status, 200);
  assert.deepEqual(seen, ['Bearer app-token', undefined]);
});

// Regression (found by an adversarial review of issue 21's fixes): names differing only in case were passed on
// as two headers, so a listener could send two different Content-Lengths and smuggle a second response into a
// kept-alive client connection, to be taken as the answer to that client's next request (to another entity).
test('two Content-Length headers that differ only in case: different values are a 502, equal ones go out once', async (t) => {
  const relay = await startRelay(t);
  const body = Buffer.from('hello' + 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nevil!');
  await httpListener(t, relay, (request, channel) => {
    const same = request.requestTarget.endsWith('/same');
    respond(channel, request.id, { responseHeaders: same ? { 'Content-Length': '5', 'content-length': '5' } : { 'Content-Length': '5', 'content-length': String(body.length) } }, same ? Buffer.from('hello') : body);
  });
  const smuggling = await request(relay, '/echo/differ');
  assert.equal(smuggling.status, 502);
  const same = await request(relay, '/echo/same');
  assert.equal(same.status, 200);
  assert.equal(same.body.toString(), 'hello');
  assert.equal(same.headers['content-length'], '5');
});

test('the response deadline is for the answer and each silence of the body, not its length: a stream that outlives httpResponseTimeoutMs arrives whole; a body that stops is cut', async (t) => {
  const relay = await startRelay(t, { httpResponseTimeoutMs: 400 });
  await httpListener(t, relay, async (request) => {
    const ws = await rendezvous(t, request.address);
    ws.send(JSON.stringify({ response: { requestId: request.id, statusCode: 200, body: true } }));
    for (let i = 0; i < 12; i++) {
      await delay(100);
      ws.send(Buffer.from(`tick ${i}\n`), { binary: true, fin: false });
    }
    ws.send(Buffer.from('end\n'), { binary: true, fin: true });
    ws.close();
  });
  const res = await request(relay, '/echo/stream');
  assert.equal(res.status, 200);
  assert.equal(res.complete, true, 'not cut at the deadline');
  assert.match(res.body.toString(), /tick 11\nend\n$/);
  // A listener that never answers still gets its request failed at the deadline.
  const silent = await startRelay(t, { httpResponseTimeoutMs: 300, hybridConnections: ['quiet'] });
  await httpListener(t, silent, () => undefined, 'quiet');
  const late = await new Promise((resolve) => {
    http.get({ host: '127.0.0.1', port: silent.port, path: '/quiet/x', headers: { ServiceBusAuthorization: token('quiet') } }, (r) => {
      r.resume();
      resolve(r.statusCode);
    });
  });
  assert.equal(late, 504);
  // A head, then nothing: the client's response is cut after the deadline, never left hanging.
  const stalled = await startRelay(t, { httpResponseTimeoutMs: 300, hybridConnections: ['stall'] });
  await httpListener(t, stalled, (request, channel) => channel.send(JSON.stringify({ response: { requestId: request.id, statusCode: 200, body: true } })), 'stall');
  const cut = await new Promise((resolve) => {
    http.get({ host: '127.0.0.1', port: stalled.port, path: '/stall/x', headers: { ServiceBusAuthorization: token('stall') } }, (r) => {
      r.on('data', () => undefined);
      r.on('end', () => resolve('ended as if complete'));
      r.on('aborted', () => resolve('cut'));
      r.on('error', () => resolve('cut'));
    });
  });
  assert.equal(cut, 'cut');
});

test('headers the sender\'s Connection header names are hop by hop: they never reach the listener', async (t) => {
  const relay = await startRelay(t);
  let seen;
  await httpListener(t, relay, (request, channel) => {
    seen = request.requestHeaders;
    respond(channel, request.id, {});
  });
  const res = await request(relay, '/echo/x', { headers: { Connection: 'keep-alive, X-Hop, x-other-hop', 'X-Hop': 'secret-to-this-hop', 'X-Other-Hop': '1', 'X-End-To-End': 'kept' } });
  assert.equal(res.status, 200);
  const names = Object.keys(seen).map((n) => n.toLowerCase());
  assert.ok(!names.includes('x-hop') && !names.includes('x-other-hop'), names.join(','));
  assert.ok(names.includes('x-end-to-end'));
});

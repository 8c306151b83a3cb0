'use strict';
// HTTP over the relay: senders use plain HTTP against the emulator's
// gateway; the relayed server hands requests over as Node's (req, res).
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const crypto = require('node:crypto');
const express = require('express');
const hyco = require('hyco-websocket');
const { startRelay, relayedServer, token, until, collectWarnings } = require('hyco-test-support');

async function setup(t, relayOptions = {}) {
  const relay = await startRelay(t, { hybridConnections: ['web'], ...relayOptions });
  const server = await relayedServer(t, relay, {}, 'web');
  const base = hyco.createRelayHttpsUri(relay.endpoint, 'web');
  return { relay, server, base, auth: { ServiceBusAuthorization: token('web') } };
}

/** Node's own http client. */
function request(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, statusText: res.statusMessage, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('GET: method, path after the hybrid connection, query and headers reach the handler; status, text and headers come back', async (t) => {
  const { server, base, auth } = await setup(t);
  let seen;
  server.on('httpRequest', (req, res) => {
    seen = { method: req.method, url: req.url, headers: req.headers };
    res.statusCode = 203;
    res.statusMessage = 'Relayed Fine';
    res.setHeader('X-Out', 'from-listener');
    res.end('hello over http');
  });
  const res = await request(`${base}/rooms/7?user=ann`, { headers: { ...auth, 'X-In': 'from-sender', 'Keep-Alive': 'timeout=5', TE: 'trailers' } });
  assert.equal(res.status, 203);
  assert.equal(res.statusText, 'Relayed Fine');
  assert.equal(res.headers['x-out'], 'from-listener');
  assert.equal(res.body.toString(), 'hello over http');
  // The relay names itself by the host the sender addressed, as the service does.
  assert.equal(res.headers.via, '1.1 127.0.0.1');
  assert.equal(seen.method, 'GET');
  assert.equal(seen.url, '/rooms/7?user=ann');
  assert.equal(seen.headers['x-in'], 'from-sender');
  assert.match(seen.headers.via, /^1\.1 127\.0\.0\.1/);
  for (const hop of ['keep-alive', 'te', 'host', 'connection', 'transfer-encoding', 'servicebusauthorization']) assert.equal(seen.headers[hop], undefined, hop);
});

test('the token may come as sb-hc-token, and is stripped before the listener sees the target', async (t) => {
  const { server, base } = await setup(t);
  let url;
  server.on('httpRequest', (req, res) => {
    url = req.url;
    res.end('ok');
  });
  const res = await fetch(`${base}/x?a=1&sb-hc-token=${encodeURIComponent(token('web'))}`);
  assert.equal(res.status, 200);
  assert.equal(url, '/x?a=1');
  assert.equal((await fetch(`${base}/x`)).status, 401);
});

test('POST with a 10 MB body arrives intact (over a rendezvous)', async (t) => {
  const { server, base, auth } = await setup(t);
  server.on('httpRequest', (req, res) => {
    const hash = crypto.createHash('sha256');
    let bytes = 0;
    req.on('data', (c) => {
      bytes += c.length;
      hash.update(c);
    });
    req.on('end', () => res.end(JSON.stringify({ bytes, sha256: hash.digest('hex') })));
  });
  const body = crypto.randomBytes(10 * 1024 * 1024);
  const res = await request(`${base}/upload`, { method: 'POST', headers: auth, body });
  assert.equal(res.status, 200);
  assert.deepEqual(JSON.parse(res.body), { bytes: body.length, sha256: crypto.createHash('sha256').update(body).digest('hex') });
});

test('a chunked upload streams: the handler reads the first chunk before the sender has sent the rest', async (t) => {
  const { server, base, auth } = await setup(t);
  let firstChunkSeen;
  const seen = new Promise((resolve) => (firstChunkSeen = resolve));
  server.on('httpRequest', (req, res) => {
    const parts = [];
    req.on('data', (c) => {
      parts.push(c.toString());
      firstChunkSeen();
    });
    req.on('end', () => res.end(parts.join('')));
  });
  const response = new Promise((resolve, reject) => {
    const req = http.request(`${base}/stream`, { method: 'POST', headers: { ...auth, 'Transfer-Encoding': 'chunked' } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
    req.write('first,');
    // The rest is sent only once the listener has seen the first chunk: a relay that buffered whole bodies would hang here.
    seen.then(() => req.end('second'));
  });
  const res = await response;
  assert.equal(res.status, 200);
  assert.equal(res.text, 'first,second');
});

test('a streamed 10 MB download (no length, written with backpressure) arrives intact', async (t) => {
  const { server, base, auth } = await setup(t);
  const chunk = crypto.randomBytes(64 * 1024);
  server.on('httpRequest', (req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
    let i = 0;
    const pump = () => {
      while (i < 160) {
        i++;
        if (!res.write(chunk)) return res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  const res = await request(`${base}/download`, { headers: auth });
  assert.equal(res.status, 200);
  assert.equal(res.body.length, 160 * chunk.length);
  const expected = crypto.createHash('sha256');
  for (let i = 0; i < 160; i++) expected.update(chunk);
  assert.equal(crypto.createHash('sha256').update(res.body).digest('hex'), expected.digest('hex'));
});

test('100 concurrent requests are all answered, each with its own body, and no listener-leak warning', async (t) => {
  const warnings = collectWarnings(t);
  const { server, base, auth } = await setup(t);
  // Nothing is answered until all 100 are in flight at once on the control channel.
  const waiting = [];
  server.on('httpRequest', (req, res) => {
    waiting.push(() => setTimeout(() => res.end(`answer ${req.url}`), Math.random() * 20));
    if (waiting.length === 100) waiting.forEach((answer) => answer());
  });
  const results = await Promise.all(Array.from({ length: 100 }, (_, i) => fetch(`${base}/n/${i}`, { headers: auth }).then(async (r) => [r.status, await r.text()])));
  results.forEach(([status, text], i) => {
    assert.equal(status, 200);
    assert.equal(text, `answer /n/${i}`);
  });
  // Each request in flight watches its control channel's close (and stops when it ends): 100 at once is by design.
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(warnings.listenerLeaks(), []);
});

test('502 without a listener, 504 when the listener does not answer in time, 501 without a handler', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['web'], httpResponseTimeoutMs: 300 });
  const base = hyco.createRelayHttpsUri(relay.endpoint, 'web');
  const auth = { ServiceBusAuthorization: token('web') };
  const noListener = await request(`${base}/x`, { headers: auth });
  assert.equal(noListener.status, 502);
  assert.match(noListener.statusText, /no listener online/);
  const server = await relayedServer(t, relay, {}, 'web');
  const noHandler = await request(`${base}/x`, { headers: auth });
  assert.equal(noHandler.status, 501);
  server.on('httpRequest', () => {}); // never answers
  const slow = await request(`${base}/x`, { headers: auth });
  assert.equal(slow.status, 504);
  assert.match(slow.statusText, /did not answer in time/);
});

test('an Express app answers through the relay unchanged', async (t) => {
  const { server, base, auth } = await setup(t);
  const app = express();
  app.use(express.json());
  app.get('/hello/:name', (req, res) => res.json({ hello: req.params.name, q: req.query.q }));
  app.post('/echo', (req, res) => res.status(201).json({ got: req.body }));
  app.get('/redirect', (req, res) => res.redirect('/hello/there'));
  server.on('httpRequest', app);
  const hello = await fetch(`${base}/hello/world?q=1`, { headers: auth });
  assert.equal(hello.status, 200);
  assert.match(hello.headers.get('content-type'), /application\/json/);
  assert.deepEqual(await hello.json(), { hello: 'world', q: '1' });
  const echo = await fetch(`${base}/echo`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: JSON.stringify({ a: [1, 2] }) });
  assert.equal(echo.status, 201);
  assert.deepEqual(await echo.json(), { got: { a: [1, 2] } });
  const redirect = await fetch(`${base}/redirect`, { headers: auth, redirect: 'manual' });
  assert.equal(redirect.status, 302);
  assert.equal(redirect.headers.get('location'), '/hello/there');
  assert.equal((await fetch(`${base}/nowhere`, { headers: auth })).status, 404);
});

test('interop: Microsoft\'s hyco-https@1.4.5 listener, unmodified, answers requests through the emulator', async (t) => {
  const hycoHttps = require('hyco-https');
  const relay = await startRelay(t, { hybridConnections: ['web'] });
  const base = hyco.createRelayHttpsUri(relay.endpoint, 'web');
  const auth = { ServiceBusAuthorization: token('web') };
  const server = hycoHttps.createRelayedServer({ server: hyco.createRelayListenUri(relay.endpoint, 'web'), token: () => token('web') }, (req, res) => {
    let n = 0;
    req.on('data', (c) => (n += c.length));
    req.on('end', () => {
      res.setHeader('X-Peer', 'hyco-https');
      res.end(`hyco-https saw ${req.method} with ${n} bytes`);
    });
  });
  server.on('error', () => {});
  server.listen();
  t.after(() => server.close());
  await until(() => relay.stats().hybridConnections[0].listeners === 1, 5000, 'hyco-https online');
  const small = await request(`${base}/a`, { headers: auth });
  assert.equal(small.status, 200);
  assert.equal(small.headers['x-peer'], 'hyco-https');
  assert.equal(small.body.toString(), 'hyco-https saw GET with 0 bytes');
  const post = await request(`${base}/b`, { method: 'POST', headers: auth, body: Buffer.alloc(1000, 1) });
  assert.equal(post.body.toString(), 'hyco-https saw POST with 1000 bytes');
});

test('createRelayHttpsUri: https for a namespace, http with the port for an emulator', () => {
  assert.equal(hyco.createRelayHttpsUri('contoso.servicebus.windows.net', 'hyco'), 'https://contoso.servicebus.windows.net/hyco');
  assert.equal(hyco.createRelayHttpsUri('ws://127.0.0.1:9030', 'web/x?y=1'), 'http://127.0.0.1:9030/web/x?y=1');
  assert.equal(hyco.createRelayHttpsUri('wss://ns.example:8443', 'a b'), 'https://ns.example:8443/a%20b');
  assert.throws(() => hyco.createRelayHttpsUri('ns.example', ''), { name: 'TypeError', message: /"path"/ });
});

test('the handler sees what Node\'s server would: the sender\'s address (Express req.ip), the path after an encoded entity, the query as sent', async (t) => {
  const { server, base, auth } = await setup(t);
  const app = express();
  app.set('trust proxy', false);
  app.get(/.*/, (req, res) => res.json({ ip: req.ip, remote: req.socket.remoteAddress, url: req.url }));
  server.on('httpRequest', app);
  const viaExpress = JSON.parse((await request(`${base}/x?a=1&`, { headers: auth })).body.toString());
  assert.equal(viaExpress.remote, '127.0.0.1');
  assert.equal(viaExpress.ip, '127.0.0.1');
  assert.equal(viaExpress.url, '/x?a=1&');
  const encoded = JSON.parse((await request(`${base.replace(/\/web$/, '/%77eb')}/hello?&&&`, { headers: auth })).body.toString());
  assert.equal(encoded.url, '/hello?&&&');
});

/** Starts a download of `url` and destroys it after `after` bytes; resolves once it has. */
function downloadThenLeave(url, headers, after) {
  return new Promise((resolve) => {
    const req = http.get(url, { headers }, (res) => {
      let n = 0;
      res.on('data', (chunk) => {
        n += chunk.length;
        if (n > after) {
          req.destroy();
          resolve(n);
        }
      });
    });
    req.on('error', () => undefined);
  });
}

// Regression (issue 21, defect 2): writes kept succeeding after the client left, so a writer that respects
// backpressure spun through nextTick without end (512 MB written into nothing before `close` could run).
test('a client gone mid-download ends the response as Node\'s server does: pipeline fails with a premature close, res.destroyed, later writes fail', async (t) => {
  const { server, base, auth } = await setup(t);
  const CAP = 64 * 1024 * 1024;
  const outcomes = [];
  const { Readable, pipeline } = require('node:stream');
  server.on('httpRequest', (req, res) => {
    const mode = req.url.slice(1);
    let written = 0;
    const result = { mode, written: 0 };
    const finish = (err) => {
      result.written = written;
      result.error = err?.code;
      result.destroyed = res.destroyed;
      res.write('late', (lateErr) => {
        result.lateWrite = lateErr?.code;
        outcomes.push(result);
      });
    };
    if (mode === 'pipeline') {
      const source = new Readable({
        read() {
          written += 65536;
          if (written > CAP) this.destroy(new Error('livelock: the writer was never stopped'));
          else this.push(Buffer.alloc(65536, 7));
        },
      });
      pipeline(source, res, finish);
    } else {
      // A write/drain loop, as hand-written servers do.
      let closed = false;
      res.once('close', () => {
        closed = true;
        finish(undefined);
      });
      const pump = () => {
        while (!closed && written <= CAP) {
          written += 65536;
          if (!res.write(Buffer.alloc(65536, 7))) {
            res.once('drain', pump);
            return;
          }
        }
        if (!closed) finish(new Error('livelock'));
      };
      pump();
    }
  });
  for (const mode of ['pipeline', 'drain-loop']) {
    await downloadThenLeave(`${base}/${mode}`, auth, 1024 * 1024);
    await until(() => outcomes.some((o) => o.mode === mode), 20_000, `${mode}: the writer learns the client left`);
  }
  const [viaPipeline, viaLoop] = outcomes;
  assert.equal(viaPipeline.error, 'ERR_STREAM_PREMATURE_CLOSE');
  for (const outcome of outcomes) {
    assert.ok(outcome.written < CAP, `${outcome.mode}: stopped after ${outcome.written} bytes`);
    assert.equal(outcome.destroyed, true, `${outcome.mode}: res.destroyed`);
    assert.equal(outcome.lateWrite, 'ERR_STREAM_DESTROYED', `${outcome.mode}: a write after the client left fails`);
  }
  assert.equal(viaLoop.error, undefined);
});

test('several Set-Cookie headers reach the HTTP client as lines of their own (a small response and a large one)', async (t) => {
  const { server, base, auth } = await setup(t);
  const cookies = ['a=1; Expires=Wed, 21 Oct 2037 07:28:00 GMT; Path=/', 'b=2; HttpOnly', 'c=3; Max-Age=60'];
  server.on('httpRequest', (req, res) => {
    res.setHeader('Set-Cookie', cookies);
    res.setHeader('Vary', ['Accept', 'Cookie']);
    // Over 64 KB: the response goes over a rendezvous.
    res.end(req.url === '/large' ? 'x'.repeat(100 * 1024) : 'small');
  });
  for (const which of ['small', 'large']) {
    const res = await request(`${base}/${which}`, { headers: auth });
    assert.equal(res.status, 200);
    assert.deepEqual(res.headers['set-cookie'], cookies, which);
    assert.equal(res.headers.vary, 'Accept, Cookie', `${which}: other repeated headers are joined`);
  }
});

test('a response the handler destroys is cut at once, never ended as if complete (with or without its head written)', async (t) => {
  const { server, base, auth } = await setup(t);
  server.on('httpRequest', (req, res) => {
    if (req.url === '/headless') return void res.destroy();
    res.writeHead(200, { 'Content-Length': 1000 });
    res.write('x'.repeat(500), () => res.destroy());
  });
  const started = Date.now();
  const cut = await new Promise((resolve) => {
    const req = http.get(`${base}/cut`, { headers: auth }, (res) => {
      res.on('data', () => undefined);
      res.on('end', () => resolve('ended as if complete'));
      res.on('aborted', () => resolve('aborted'));
      res.on('error', () => resolve('aborted'));
    });
    req.on('error', () => resolve('aborted before a response'));
  });
  assert.equal(cut, 'aborted');
  // No head at all: the relay answers at once (502), rather than after its 60 s deadline.
  const headless = await request(`${base}/headless`, { headers: auth });
  assert.equal(headless.status, 502);
  assert.ok(Date.now() - started < 10_000, 'at once, not at a deadline');
});

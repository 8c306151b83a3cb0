'use strict';
// relayedProxy over HTTP: curl (Debian's, a real program) sends through the
// emulator to a relayed proxy, which forwards to a local Node origin.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const hyco = require('hyco-websocket');
const { startRelay, token, once, until, within, FAST_BACKOFF } = require('hyco-test-support');

const CURL = '/usr/bin/curl';

/** Runs curl; resolves with its exit code, stdout (a Buffer) and stderr. Fails (never skips) when curl is missing. */
function curl(args, { input, onStdout } = {}) {
  assert.ok(fs.existsSync(CURL), `${CURL} is required (apt-get install -y curl)`);
  return new Promise((resolve, reject) => {
    const child = spawn(CURL, ['-sS', '--path-as-is', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out = [];
    let err = '';
    child.stdout.on('data', (chunk) => {
      out.push(chunk);
      onStdout?.(chunk, child);
    });
    child.stderr.on('data', (chunk) => (err += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out), stderr: err }));
    if (typeof input === 'function') input(child.stdin, child);
    else child.stdin.end(input);
  });
}

/** An origin on a loopback port, closed after the test. */
async function startOrigin(t, handler, port = 0) {
  const origin = http.createServer(handler);
  await new Promise((resolve, reject) => {
    origin.once('error', reject);
    origin.listen(port, '127.0.0.1', resolve);
  });
  t.after(() => {
    origin.closeAllConnections();
    origin.close();
  });
  return origin;
}

/** The emulator, an origin and a relayed proxy to it, online. */
async function setup(t, handler, proxyOptions = {}) {
  const relay = await startRelay(t, { hybridConnections: ['app'] });
  const origin = await startOrigin(t, handler);
  const proxy = hyco.relayedProxy({
    server: hyco.createRelayListenUri(relay.endpoint, 'app'),
    token: () => token('app'),
    origin: `http://127.0.0.1:${origin.address().port}`,
    reconnectBackoff: FAST_BACKOFF,
    ...proxyOptions,
  });
  t.after(() => proxy.close());
  const exchanges = [];
  proxy.on('exchange', (e) => exchanges.push(e));
  await once(proxy, 'online');
  return { relay, origin, proxy, exchanges, auth: ['-H', `ServiceBusAuthorization: ${token('app')}`] };
}

/** The origin answers with what it saw, as JSON. */
function echoRequest(req, res) {
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  req.on('data', (chunk) => {
    bytes += chunk.length;
    hash.update(chunk);
  });
  req.on('end', () => {
    const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, rawHeaders: req.rawHeaders, bytes, sha256: hash.digest('hex') });
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(body);
  });
}

test('GET: the path and query after the hybrid connection reach the origin byte for byte, with the sender\'s headers and the forwarding ones', async (t) => {
  const { proxy, auth, exchanges } = await setup(t, echoRequest);
  const target = "/rooms/7/%7Efoo/a%2Fb?&&a=1&b=%20&key='value'&flag&a=2&";
  const res = await curl([...auth, '-H', 'X-Custom: kept', '-H', 'X-Forwarded-For: 203.0.113.9', '-H', 'Forwarded: for=203.0.113.9', '-H', 'Proxy-Foo: hop', '-H', 'X-Forwarded-Proto: gopher', `${proxy.httpUrl.replace(/\/$/, '')}${target}`]);
  assert.equal(res.code, 0, res.stderr);
  const seen = JSON.parse(res.stdout);
  assert.equal(seen.method, 'GET');
  assert.equal(seen.url, target);
  assert.equal(seen.headers['x-custom'], 'kept');
  assert.match(seen.headers['user-agent'], /^curl\//);
  assert.equal(seen.headers['proxy-foo'], undefined, 'Proxy-* headers are hop by hop');
  assert.equal(seen.headers.servicebusauthorization, undefined, 'the relay token never reaches the origin');
  // The sender's address is appended to what the sender claimed; the relay's host and scheme are the proxy's word.
  assert.equal(seen.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
  assert.equal(seen.headers.forwarded, `for=203.0.113.9, for=127.0.0.1;host="${new URL(proxy.httpUrl).host}";proto=http`);
  assert.equal(seen.headers['x-forwarded-proto'], 'http');
  assert.equal(seen.headers['x-forwarded-host'], new URL(proxy.httpUrl).host);
  assert.equal(seen.headers['x-forwarded-prefix'], '/app');
  assert.equal(seen.headers.host, new URL(proxy.origin).host);
  assert.equal(seen.headers.via, `1.1 ${new URL(proxy.httpUrl).hostname}`, 'the relay\'s Via is passed on');
  await until(() => exchanges.length === 1, 5000, 'the exchange event');
  const [e] = exchanges;
  assert.deepEqual({ kind: e.kind, method: e.method, path: e.path, status: e.status, complete: e.complete, bytesIn: e.bytesIn, bytesOut: e.bytesOut }, {
    kind: 'http', method: 'GET', path: target, status: 200, complete: true, bytesIn: 0, bytesOut: res.stdout.length,
  });
  assert.ok(e.durationMs > 0 && e.durationMs < 5000);
  assert.equal(JSON.stringify(e).includes('SharedAccessSignature'), false, 'no token in the exchange event');
});

test('a base path in the origin URL goes before the relayed path; the status and reason phrase come back as the origin sent them', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['app'] });
  const origin = await startOrigin(t, (req, res) => {
    res.writeHead(299, 'Quite Custom', { 'X-Url': req.url });
    res.end();
  });
  const proxy = hyco.relayedProxy({ server: hyco.createRelayListenUri(relay.endpoint, 'app'), token: () => token('app'), origin: `http://127.0.0.1:${origin.address().port}/base/` });
  t.after(() => proxy.close());
  await once(proxy, 'online');
  const res = await curl(['-i', '-H', `ServiceBusAuthorization: ${token('app')}`, `${proxy.httpUrl}x?y=1`]);
  assert.equal(res.code, 0, res.stderr);
  const head = res.stdout.toString('latin1');
  assert.match(head, /^HTTP\/1\.1 299 Quite Custom\r\n/);
  assert.match(head, /\r\nX-Url: \/base\/x\?y=1\r\n/);
});

test('a 50 MB POST streams to the origin intact: its SHA-256 comes back', async (t) => {
  const { proxy, auth, exchanges } = await setup(t, echoRequest);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'expose-')), 'body.bin');
  t.after(() => fs.rmSync(path.dirname(file), { recursive: true, force: true }));
  const body = crypto.randomBytes(50 * 1024 * 1024);
  fs.writeFileSync(file, body);
  const res = await curl([...auth, '-X', 'POST', '-H', 'Content-Type: application/octet-stream', '--data-binary', `@${file}`, `${proxy.httpUrl}upload`]);
  assert.equal(res.code, 0, res.stderr);
  const seen = JSON.parse(res.stdout);
  assert.equal(seen.bytes, body.length);
  assert.equal(seen.sha256, crypto.createHash('sha256').update(body).digest('hex'));
  assert.equal(seen.headers.expect, undefined, 'Expect is answered before the proxy: not passed on');
  await until(() => exchanges.length === 1, 5000, 'the exchange event');
  assert.equal(exchanges[0].bytesIn, body.length);
});

test('a chunked upload streams: the origin reads the first chunk before the sender has sent the rest, and gets it all', async (t) => {
  let firstChunkSeen;
  const firstChunk = new Promise((resolve) => (firstChunkSeen = resolve));
  const { proxy, auth } = await setup(t, (req, res) => {
    req.once('data', () => firstChunkSeen());
    echoRequest(req, res);
  });
  const pieces = [crypto.randomBytes(100 * 1024), crypto.randomBytes(3 * 1024 * 1024)];
  let waited;
  // -T - uploads stdin as it comes, chunked.
  const res = await curl([...auth, '-T', '-', `${proxy.httpUrl}stream`], {
    input: async (stdin) => {
      stdin.write(pieces[0]);
      // The rest waits until the origin has read the start.
      waited = await within(firstChunk.then(() => 'read'), 10000, 'never read');
      stdin.end(pieces[1]);
    },
  });
  assert.equal(waited, 'read', 'the origin read the first chunk while the sender held the rest');
  assert.equal(res.code, 0, res.stderr);
  const seen = JSON.parse(res.stdout);
  assert.equal(seen.method, 'PUT');
  assert.equal(seen.bytes, pieces[0].length + pieces[1].length);
  assert.equal(seen.sha256, crypto.createHash('sha256').update(Buffer.concat(pieces)).digest('hex'));
  assert.equal(seen.headers['transfer-encoding'], 'chunked');
  assert.equal(seen.headers['content-length'], undefined);
});

test('three Set-Cookie headers arrive as three lines, each whole (an Expires date keeps its comma)', async (t) => {
  const cookies = ['a=1; Expires=Wed, 21 Oct 2037 07:28:00 GMT; Path=/', 'b=2; HttpOnly', 'c=3; Max-Age=60; Secure'];
  const { proxy, auth } = await setup(t, (req, res) => {
    res.setHeader('Set-Cookie', cookies);
    res.setHeader('X-Other', ['one', 'two']);
    res.end('ok');
  });
  const res = await curl([...auth, '-D', '-', '-o', '/dev/null', proxy.httpUrl]);
  assert.equal(res.code, 0, res.stderr);
  const lines = res.stdout.toString('latin1').split('\r\n');
  const setCookies = lines.filter((l) => /^set-cookie:/i.test(l)).map((l) => l.slice(l.indexOf(':') + 1).trim());
  assert.deepEqual(setCookies, cookies);
  // Other repeated headers may be joined (RFC 9110 section 5.3); their values stay in order.
  assert.deepEqual(lines.filter((l) => /^x-other:/i.test(l)).map((l) => l.slice(8).trim()).join(', '), 'one, two');
});

test('204, 304 and HEAD: no body, the origin\'s headers (HEAD keeps the Content-Length of the GET)', async (t) => {
  const { proxy, auth } = await setup(t, (req, res) => {
    if (req.url === '/empty') {
      res.writeHead(204, { 'X-Kind': 'no-content' });
      res.end();
    } else if (req.url === '/cached') {
      res.writeHead(304, { ETag: '"v1"' });
      res.end();
    } else {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 12345 });
      res.end(req.method === 'HEAD' ? undefined : 'x'.repeat(12345));
    }
  });
  const noContent = await curl([...auth, '-i', `${proxy.httpUrl}empty`]);
  assert.equal(noContent.code, 0, noContent.stderr);
  assert.match(noContent.stdout.toString(), /^HTTP\/1\.1 204 No Content\r\n/);
  assert.match(noContent.stdout.toString(), /\r\nX-Kind: no-content\r\n/);
  assert.ok(noContent.stdout.toString().endsWith('\r\n\r\n'), 'no body');
  const notModified = await curl([...auth, '-i', '-H', 'If-None-Match: "v1"', `${proxy.httpUrl}cached`]);
  assert.equal(notModified.code, 0, notModified.stderr);
  assert.match(notModified.stdout.toString(), /^HTTP\/1\.1 304 Not Modified\r\n/);
  assert.match(notModified.stdout.toString(), /\r\nETag: "v1"\r\n/i);
  assert.ok(notModified.stdout.toString().endsWith('\r\n\r\n'), 'no body');
  const head = await curl([...auth, '-I', `${proxy.httpUrl}file`]);
  assert.equal(head.code, 0, head.stderr);
  assert.match(head.stdout.toString(), /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(head.stdout.toString(), /\r\nContent-Length: 12345\r\n/i);
  const get = await curl([...auth, '-o', '/dev/null', '-w', '%{http_code} %{size_download}', `${proxy.httpUrl}file`]);
  assert.equal(get.stdout.toString(), '200 12345');
});

test('origin down: 502 with a short text, the listener stays online; origin back: 200 through the same listener', async (t) => {
  const { origin, proxy, auth, exchanges } = await setup(t, (req, res) => res.end('first'));
  const port = origin.address().port;
  let offline = 0;
  proxy.on('offline', () => offline++);
  const listenerId = proxy.listenerId;
  await new Promise((resolve) => origin.close(resolve));
  origin.closeAllConnections();
  const down = await curl([...auth, '-i', `${proxy.httpUrl}x`]);
  assert.equal(down.code, 0, down.stderr);
  assert.match(down.stdout.toString(), /^HTTP\/1\.1 502 Bad Gateway\r\n/);
  assert.match(down.stdout.toString(), /\r\n\r\nThe origin is not reachable \(ECONNREFUSED\)\.\n$/);
  assert.match(down.stdout.toString(), /\r\nContent-Type: text\/plain; charset=utf-8\r\n/i);
  await until(() => exchanges.length === 1, 5000, 'the exchange event');
  assert.equal(exchanges[0].status, 502);
  assert.equal(exchanges[0].error.code, 'ERR_HYCO_ORIGIN_UNREACHABLE');
  assert.equal(proxy.isOnline, true);
  // Back on the same port: served at once, no restart.
  await startOrigin(t, (req, res) => res.end('back'), port);
  const up = await curl([...auth, '-w', ' %{http_code}', `${proxy.httpUrl}x`]);
  assert.equal(up.stdout.toString(), 'back 200');
  assert.equal(proxy.listenerId, listenerId);
  assert.equal(offline, 0, 'the listener never went offline');
});

test('a sender that goes away mid-response aborts the origin\'s request', async (t) => {
  let originOutcome;
  const outcome = new Promise((resolve) => (originOutcome = resolve));
  const { proxy, auth, exchanges } = await setup(t, (req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
    const chunk = Buffer.alloc(64 * 1024, 1);
    const timer = setInterval(() => res.write(chunk), 20);
    res.on('close', () => {
      clearInterval(timer);
      originOutcome({ finished: res.writableFinished, aborted: req.destroyed });
    });
  });
  let received = 0;
  const res = await curl([...auth, `${proxy.httpUrl}download`], {
    onStdout: (chunk, child) => {
      received += chunk.length;
      // The sender goes away once the download is well under way.
      if (received > 256 * 1024) child.kill('SIGKILL');
    },
  });
  assert.equal(res.signal, 'SIGKILL');
  const result = await within(outcome, 10000, 'the origin\'s request was never aborted');
  assert.deepEqual(result, { finished: false, aborted: true });
  await until(() => exchanges.length === 1, 5000, 'the exchange event');
  assert.equal(exchanges[0].complete, false);
});

test('an origin that dies mid-response cuts the sender\'s response: curl sees a partial transfer, never a clean end', async (t) => {
  const { proxy, auth, exchanges } = await setup(t, (req, res) => {
    const size = req.url === '/small' ? 20 * 1024 : 4 * 1024 * 1024;
    res.writeHead(200, { 'Content-Length': size });
    res.write(Buffer.alloc(size / 2, 7), () => setTimeout(() => res.socket.destroy(), 50));
  });
  for (const which of ['small', 'large']) {
    const started = Date.now();
    const res = await curl([...auth, '-o', '/dev/null', '-w', '%{http_code} %{size_download}', `${proxy.httpUrl}${which}`]);
    assert.equal(res.code, 18, `${which}: curl exit 18 (partial file), got ${res.code}: ${res.stderr}`);
    assert.match(res.stdout.toString(), /^200 /);
    assert.ok(Date.now() - started < 10000, `${which}: cut at once, not at a deadline`);
  }
  await until(() => exchanges.length === 2, 5000, 'the exchange events');
  for (const e of exchanges) {
    assert.equal(e.complete, false);
    assert.equal(e.error.code, 'ERR_HYCO_ORIGIN_CLOSED');
  }
});

test('an https origin: trusted through originCa, or insecureOrigin; an untrusted certificate is a 502, never a silent pass', async (t) => {
  const { selfSignedCertificate } = require('hyco-relay-emulator');
  const pems = await selfSignedCertificate(['127.0.0.1']);
  const https = require('node:https');
  const websocket = require('websocket');
  const origin = https.createServer({ cert: pems.cert, key: pems.key }, (req, res) => res.end(`secure ${req.url}`));
  const wsOrigin = new websocket.server({ httpServer: origin });
  wsOrigin.on('request', (request) => request.accept(null).on('message', function (m) { this.sendUTF(`secure ${m.utf8Data}`); }));
  await new Promise((resolve) => origin.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    wsOrigin.shutDown();
    origin.closeAllConnections();
    origin.close();
  });
  const relay = await startRelay(t, { hybridConnections: ['trusted', 'insecure', 'untrusted'] });
  const url = `https://127.0.0.1:${origin.address().port}`;
  const proxies = {};
  for (const [name, options] of [['trusted', { originCa: pems.cert }], ['insecure', { insecureOrigin: true }], ['untrusted', {}]]) {
    proxies[name] = hyco.relayedProxy({ server: hyco.createRelayListenUri(relay.endpoint, name), token: () => token(name), origin: url, ...options });
    t.after(() => proxies[name].close());
    await once(proxies[name], 'online');
  }
  for (const name of ['trusted', 'insecure']) {
    const res = await curl(['-H', `ServiceBusAuthorization: ${token(name)}`, '-w', ' %{http_code}', `${proxies[name].httpUrl}x`]);
    assert.equal(res.stdout.toString(), 'secure /x 200', name);
  }
  const untrusted = await curl(['-H', `ServiceBusAuthorization: ${token('untrusted')}`, '-w', ' %{http_code}', `${proxies.untrusted.httpUrl}x`]);
  assert.match(untrusted.stdout.toString(), /^The origin is not reachable \(DEPTH_ZERO_SELF_SIGNED_CERT\)\.\n 502$/);
  const { send } = require('hyco-test-support');
  const sender = await send(relay, 'trusted', { token: token('trusted') });
  sender.sendUTF('hi');
  assert.equal((await once(sender, 'message')).utf8Data, 'secure hi');
  sender.close();
  await assert.rejects(send(relay, 'untrusted', { token: token('untrusted') }), (err) => err.status === 502);
});

test('close() with a request waiting on the origin: the origin\'s request is aborted, the sender is answered, close() resolves', async (t) => {
  let originRequest;
  const arrived = new Promise((resolve) => (originRequest = resolve));
  const { proxy, auth } = await setup(t, (req) => originRequest(req));
  const pending = curl([...auth, '-o', '/dev/null', '-w', '%{http_code}', `${proxy.httpUrl}slow`]);
  const req = await within(arrived, 10000, undefined);
  assert.ok(req, 'the request reached the origin');
  const aborted = new Promise((resolve) => req.once('close', () => resolve(req.destroyed)));
  assert.equal(await within(proxy.close().then(() => 'closed'), 10000, 'hung'), 'closed');
  assert.equal(await within(aborted, 5000, 'not aborted'), true);
  const res = await pending;
  // The listener left: the relay answers the sender itself (502), at once.
  assert.equal(res.stdout.toString(), '502');
});

test('a sender that goes away mid-upload aborts the origin\'s request: the origin never takes the body as complete', async (t) => {
  let originOutcome;
  const outcome = new Promise((resolve) => (originOutcome = resolve));
  let readSome;
  const someRead = new Promise((resolve) => (readSome = resolve));
  const { proxy, auth } = await setup(t, (req, res) => {
    let bytes = 0;
    req.on('data', (chunk) => {
      bytes += chunk.length;
      if (bytes > 256 * 1024) readSome();
    });
    req.on('end', () => res.end('complete'));
    req.on('close', () => originOutcome({ complete: req.complete, aborted: !req.complete }));
  });
  const upload = curl([...auth, '-T', '-', `${proxy.httpUrl}upload`], {
    input: (stdin, child) => {
      stdin.on('error', () => undefined);
      stdin.write(Buffer.alloc(1024 * 1024, 3));
      // The rest never comes: the sender goes away (as on Ctrl-C) once the origin is reading.
      void someRead.then(() => child.kill('SIGINT'));
    },
  });
  assert.notEqual(await within(someRead.then(() => 'reading'), 10000, 'never read'), 'never read');
  assert.deepEqual(await within(outcome, 10000, 'the origin\'s request was never aborted'), { complete: false, aborted: true });
  await upload;
});

test('an origin that does not answer within originTimeout: 504, and its request is dropped', async (t) => {
  let closed;
  const dropped = new Promise((resolve) => (closed = resolve));
  const { proxy, auth, exchanges } = await setup(t, (req) => req.on('close', () => closed(true)), { originTimeout: 300 });
  const res = await curl([...auth, '-i', `${proxy.httpUrl}slow`]);
  assert.match(res.stdout.toString(), /^HTTP\/1\.1 504 Gateway Timeout\r\n/);
  assert.match(res.stdout.toString(), /\r\n\r\nThe origin did not answer in time\.\n$/);
  assert.equal(await within(dropped, 5000, false), true);
  await until(() => exchanges.length === 1, 5000, 'the exchange event');
  assert.equal(exchanges[0].error.code, 'ERR_HYCO_ORIGIN_TIMEOUT');
});

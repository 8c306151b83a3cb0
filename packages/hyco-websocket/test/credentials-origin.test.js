'use strict';
// Credentials never leave their origin: every request that carries the
// relay's credentials goes to the relay's host and nowhere else, whatever a
// listener answers (redirects), whichever way it goes (proxies), and the
// rendezvous the relay names (whose address is its own credential) get no
// token at all.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const { WebSocketServer } = require('ws');
const hyco = require('hyco-websocket');
const { startRelay, relayedServer, token, FakeRelay, once, until, RULES } = require('hyco-test-support');

/** Every secret a test hands out, to search recorded traffic for. */
function secretsIn(text, secrets) {
  return secrets.filter((s) => text.includes(s) || text.includes(encodeURIComponent(s)));
}

/** An HTTP server on another origin that records every request it gets (raw head included). */
async function elsewhere(t) {
  const seen = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, raw: req.rawHeaders.join('\n'), body });
      res.end('elsewhere');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  return { seen, origin: `http://127.0.0.1:${server.address().port}` };
}

// Regression (issue 21, defect 1): Node's fetch strips only Authorization, Cookie and Proxy-Authorization on a
// cross-origin redirect, so a listener answering 302 received the sender's ServiceBusAuthorization.
test('relayedFetch never hands the relay token to another origin or hybrid connection: 301/302/303/307/308 elsewhere arrive without ServiceBusAuthorization, Authorization, Cookie or listener-choice headers', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['web', 'other'] });
  const server = await relayedServer(t, relay, {}, 'web');
  const other = await elsewhere(t);
  const sameOrigin = [];
  server.on('httpRequest', (req, res) => {
    const [, status, where] = /^\/(\d{3})\/(same|other)/.exec(req.url) ?? [];
    if (!status) {
      sameOrigin.push({ url: req.url, headers: req.headers });
      res.end('same origin');
      return;
    }
    const location = where === 'other' ? `${other.origin}/landed?from=${status}` : `${hyco.createRelayHttpsUri(relay.endpoint, 'web')}/landed-here`;
    res.writeHead(Number(status), { Location: location }).end();
  });
  const base = hyco.createRelayHttpsUri(relay.endpoint, 'web');
  const sas = token('web');
  const jwt = (await relay.createTokenCredential({ principal: 'redirected-app', roles: [{ role: 'Azure Relay Sender' }] }).getToken(hyco.RELAY_SCOPE)).token;
  const secrets = [sas, jwt, sas.split('sig=')[1].split('&')[0]];
  for (const [i, status] of [301, 302, 303, 307, 308].entries()) {
    const tokenSource = i % 2 === 0 ? sas : jwt;
    const res = await hyco.relayedFetch(`${base}/${status}/other`, { method: 'POST', body: 'payload', headers: { Authorization: 'Bearer app-token', Cookie: 'session=1' } }, { token: tokenSource, allowedListeners: [server.listenerId] });
    assert.equal(res.status, 200, `${status}`);
    assert.equal(await res.text(), 'elsewhere');
    assert.equal(res.redirected, true);
    assert.equal(res.url, `${other.origin}/landed?from=${status}`);
  }
  assert.equal(other.seen.length, 5);
  for (const seen of other.seen) {
    assert.deepEqual(secretsIn(seen.raw + seen.url, secrets), [], `no relay credential reached ${seen.url}`);
    for (const name of ['servicebusauthorization', 'authorization', 'cookie', 'microsoft-relay-allowedlisteners']) assert.equal(seen.headers[name], undefined, `${name} on ${seen.url}`);
  }
  // As fetch: 303 (and 301/302 after a POST) become a GET without the body; 307/308 keep method and body.
  assert.deepEqual(other.seen.map((s) => [s.method, s.body]), [['GET', ''], ['GET', ''], ['GET', ''], ['POST', 'payload'], ['POST', 'payload']]);
  // A redirect within the relay's origin and hybrid connection keeps the token (the relay needs it).
  const same = await hyco.relayedFetch(`${base}/302/same`, {}, { token: sas });
  assert.equal(await same.text(), 'same origin');
  assert.equal(sameOrigin.length, 1);
  // manual: the redirect itself comes back; error: a rejection; nothing is sent elsewhere either way.
  const manual = await hyco.relayedFetch(`${base}/302/other`, { redirect: 'manual' }, { token: sas });
  assert.equal(manual.status, 302);
  assert.match(manual.headers.get('location'), /landed/);
  await assert.rejects(hyco.relayedFetch(`${base}/302/other`, { redirect: 'error' }, { token: sas }), TypeError);
  assert.equal(other.seen.length, 5);
  // One to another hybrid connection of the same namespace does not: a namespace-wide token would open it.
  const other2 = await relayedServer(t, relay, {}, 'other');
  const seenByOther = [];
  other2.on('httpRequest', (req, res) => {
    seenByOther.push(req.headers);
    res.end('other');
  });
  server.removeAllListeners('httpRequest');
  server.on('httpRequest', (req, res) => res.writeHead(307, { Location: `${hyco.createRelayHttpsUri(relay.endpoint, 'other')}/steal` }).end());
  const namespaceWide = hyco.createRelayToken(`http://127.0.0.1/`, RULES[0].name, RULES[0].key, 600);
  const crossEntity = await hyco.relayedFetch(`${base}/x`, { method: 'DELETE' }, { token: namespaceWide });
  assert.equal(crossEntity.status, 401, 'the relay refused the request that came without a token');
  assert.equal(seenByOther.length, 0);
});

test('a streamed body cannot be sent again, so a 307 with one is refused rather than sent empty; a redirect loop ends after 20', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['web'] });
  const server = await relayedServer(t, relay, {}, 'web');
  let hops = 0;
  server.on('httpRequest', (req, res) => {
    req.resume();
    hops++;
    res.writeHead(307, { Location: `/web${req.url}` }).end();
  });
  const base = hyco.createRelayHttpsUri(relay.endpoint, 'web');
  const stream = new ReadableStream({ start: (c) => (c.enqueue(new TextEncoder().encode('once')), c.close()) });
  await assert.rejects(hyco.relayedFetch(`${base}/loop`, { method: 'PUT', body: stream, duplex: 'half' }, { token: token('web') }), { name: 'TypeError', message: /streamed body/ });
  hops = 0;
  await assert.rejects(hyco.relayedFetch(`${base}/loop`, {}, { token: token('web') }), { name: 'TypeError', message: /20 redirects/ });
  assert.equal(hops, 21);
});

test('rendezvous the relay names on another host get no token: accept and HTTP rendezvous carry neither ServiceBusAuthorization nor sb-hc-token', async (t) => {
  const relay = await FakeRelay.start();
  t.after(() => relay.close());
  // The "other host": a WebSocket server on another port that records every handshake.
  const handshakes = [];
  const foreign = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  foreign.on('headers', (_headers, req) => handshakes.push({ url: req.url, raw: req.rawHeaders.join('\n') }));
  foreign.on('connection', (ws) => ws.on('message', () => undefined));
  await once(foreign, 'listening');
  t.after(() => {
    // The listener's connections to it are not the listener's to end once the test is over: cut them.
    for (const ws of foreign.clients) ws.terminate();
    return new Promise((resolve) => foreign.close(resolve));
  });
  const foreignBase = `ws://127.0.0.1:${foreign.address().port}`;
  const listenToken = token('fake');
  const server = new hyco.relayedServer({ server: relay.listenUri(), token: listenToken });
  t.after(() => server.close());
  server.on('request', (request) => request.accept(null).catch(() => undefined));
  server.on('httpRequest', (req, res) => res.end('ok'));
  const channel = await relay.nextChannel();
  await once(server, 'online');
  channel.send(JSON.stringify({ accept: { address: `${foreignBase}/$hc/fake?sb-hc-action=accept&sb-hc-id=a1`, id: 'a1', connectHeaders: { 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '13' }, remoteEndpoint: { address: '127.0.0.1', port: 1 } } }));
  channel.send(JSON.stringify({ request: { address: `${foreignBase}/$hc/fake?sb-hc-action=request&sb-hc-id=r1`, id: 'r1' } }));
  await until(() => handshakes.length === 2, 5000, 'both rendezvous');
  for (const h of handshakes) {
    assert.deepEqual(secretsIn(h.raw + h.url, [listenToken, listenToken.split('sig=')[1].split('&')[0]]), [], h.url);
    assert.doesNotMatch(h.raw, /servicebusauthorization/i);
    assert.doesNotMatch(h.url, /sb-hc-token/i);
  }
});

test('through a proxy, the relay token travels only inside the tunnel: the CONNECT request carries Proxy-Authorization and nothing of the relay\'s', async (t) => {
  const connects = [];
  const proxy = net.createServer((socket) => {
    let head = '';
    socket.on('data', (d) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      connects.push(head);
      socket.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="t"\r\nContent-Length: 0\r\n\r\n');
    });
    socket.on('error', () => undefined);
  });
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => proxy.close(resolve)));
  const proxyUrl = `http://user:pa%25ss@127.0.0.1:${proxy.address().port}`;
  const relayToken = hyco.createRelayToken('http://ns.example/hyco', RULES[0].name, RULES[0].key, 3600);
  const server = new hyco.relayedServer({ server: 'wss://ns.example/$hc/hyco', token: relayToken, proxy: proxyUrl, reconnectBackoff: [60_000] });
  t.after(() => server.close());
  const error = await once(server, 'error');
  assert.equal(error.code, 'ERR_HYCO_PROXY_AUTH');
  await assert.rejects(hyco.relayedConnect('wss://ns.example/$hc/hyco', { token: relayToken, proxy: proxyUrl }), { code: 'ERR_HYCO_PROXY_AUTH' });
  await assert.rejects(hyco.getRuntimeInformation('ns.example', 'hyco', { token: relayToken, proxy: proxyUrl }), { code: 'ERR_HYCO_PROXY_AUTH' });
  assert.equal(connects.length, 3);
  for (const head of connects) {
    assert.match(head, /^CONNECT ns\.example:443 /);
    assert.match(head, /Proxy-Authorization: Basic /i);
    assert.deepEqual(secretsIn(head, [relayToken, relayToken.split('sig=')[1].split('&')[0]]), []);
    assert.doesNotMatch(head, /servicebusauthorization/i);
  }
});

// Regression (adversarial review): with the token in the listen address (sb-hc-token), the control channel's
// "connecting to" debug line printed it whole.
test('debug logs never show a token carried in an address: every hyco-websocket line masks sb-hc-token', async (t) => {
  const { spawn } = require('node:child_process');
  const relay = await startRelay(t);
  const listenToken = token('echo');
  const script = `
    const hyco = require('hyco-websocket');
    const server = new hyco.relayedServer({ server: process.argv[1], token: process.argv[2] });
    server.on('online', () => server.close());
  `;
  const child = spawn(process.execPath, ['-e', script, hyco.createRelayListenUri(relay.endpoint, 'echo', listenToken), listenToken], { env: { ...process.env, DEBUG: 'hyco-websocket:*', DEBUG_COLORS: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const code = await new Promise((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, output);
  assert.match(output, /connecting to .*sb-hc-token=\*\*\*/);
  const signature = listenToken.split('sig=')[1].split('&')[0];
  assert.deepEqual(secretsIn(output, [listenToken, signature, decodeURIComponent(signature)]), []);
});

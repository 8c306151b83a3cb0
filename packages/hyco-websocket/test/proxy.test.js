'use strict';
// Behind a corporate proxy: every connection of the listener (control
// channel, accept and reject rendezvous, HTTP rendezvous) goes through an
// HTTP CONNECT proxy, a real one (Debian's tinyproxy), to the emulator:
// plain and TLS, from the option or the environment (NO_PROXY honoured,
// loopback exempt), with Basic authentication, and through the proxy's
// death and return.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const { spawn } = require('node:child_process');
const fc = require('fast-check');
const hyco = require('hyco-websocket');
const { proxyFor, matchesNoProxy, checkProxyOption } = require('../dist/proxy.js');
const { startRelay, startProxy, loopbackAlias, PROXY_SOURCE, once, delay, until, token, checkProperty } = require('hyco-test-support');

const CLI = path.join(__dirname, '..', 'bin', 'hyco-websocket.js');
const BACKOFF = [100, 200, 400];

/** A relayed server that echoes; errors and connecting events recorded. */
function echoListener(t, relay, options = {}, hcPath = 'echo', endpoint = relay.endpoint) {
  const server = new hyco.relayedServer({
    server: hyco.createRelayListenUri(endpoint, hcPath),
    token: () => hyco.createRelayToken(hyco.createRelayListenUri(endpoint, hcPath), 'RootManageSharedAccessKey', relay.rules[0].key),
    reconnectBackoff: BACKOFF,
    ...options,
  });
  server.errors = [];
  server.connectings = 0;
  server.senders = [];
  server.on('error', (e) => server.errors.push(e));
  server.on('connecting', () => server.connectings++);
  server.on('request', (request) => {
    server.senders.push(request);
    request.accept(null).then((c) => c.on('message', (m) => c.sendUTF(m.utf8Data)), () => {});
  });
  t.after(() => server.close());
  return server;
}

/** A sender (relayedConnect), through `proxyUrl` when given; resolves with the connection. */
function sender(relay, hcPath, { proxyUrl, endpoint = relay.endpoint, ca } = {}) {
  const uri = hyco.createRelaySendUri(endpoint, hcPath);
  return hyco.relayedConnect(uri, {
    token: () => hyco.createRelayToken(uri, 'RootManageSharedAccessKey', relay.rules[0].key),
    proxy: proxyUrl ?? false,
    ...(ca ? { tlsOptions: { ca } } : {}),
  });
}

async function roundTrip(connection, text) {
  const reply = once(connection, 'message');
  connection.sendUTF(text);
  return (await reply).utf8Data;
}

/** Records the emulator's activity. */
function activity(relay) {
  const seen = [];
  relay.on('activity', (a) => seen.push(a));
  return seen;
}

test('the proxy option: a URL (credentials allowed) or false; anything else is a clear TypeError that never shows the password', () => {
  assert.equal(checkProxyOption('http://user:pw@proxy.corp:3128'), 'http://user:pw@proxy.corp:3128');
  assert.equal(checkProxyOption(false), false);
  assert.equal(checkProxyOption(undefined), undefined);
  for (const [value, message] of [
    [true, /proxy URL \(http:\/\/host:port\) or false/],
    ['', /proxy URL/],
    ['socks5://user:hunter2@proxy:1080', /http:\/\/ or https:\/\/ proxy, not socks5:/],
    ['http://user:hunter2@', /not a valid URL/],
  ]) {
    assert.throws(() => checkProxyOption(value), (err) => err.code === 'ERR_HYCO_INVALID_ARGUMENT' && message.test(err.message) && !err.message.includes('hunter2'));
    assert.throws(
      () => new hyco.relayedServer({ server: 'wss://ns.example/$hc/a?sb-hc-action=listen', token: 't', proxy: value }),
      (err) => err.code === 'ERR_HYCO_INVALID_ARGUMENT' && !err.message.includes('hunter2'),
    );
  }
});

test('which proxy: the option for every target (loopback included), else HTTPS_PROXY for wss and HTTP_PROXY for ws, never for loopback, unless NO_PROXY', () => {
  const env = { HTTPS_PROXY: 'http://secure-proxy:3128', http_proxy: 'plain-proxy:8080', NO_PROXY: '.internal.example, 10.0.0.0/8, bypass.example:443' };
  const via = (target, option, e = env) => proxyFor(target, option, e)?.display;
  assert.equal(via('wss://ns.servicebus.windows.net/$hc/a'), 'http://secure-proxy:3128');
  assert.equal(via('ws://ns.example:9030/$hc/a'), 'http://plain-proxy:8080', 'lower case, and host:port means http://');
  assert.equal(proxyFor('ws://ns.example/$hc/a', undefined, env).source, 'http_proxy');
  for (const loopback of ['ws://127.0.0.1:9030/$hc/a', 'wss://localhost/$hc/a', 'wss://[::1]:9/$hc/a']) {
    assert.equal(via(loopback), undefined, `${loopback}: the environment's proxy never applies to loopback`);
    assert.equal(via(loopback, 'http://explicit:1'), 'http://explicit:1', `${loopback}: an explicit proxy does`);
  }
  // A name under .localhost is not taken for loopback without a resolver's word.
  assert.equal(via('wss://app.localhost/$hc/a'), 'http://secure-proxy:3128');
  assert.equal(via('wss://ns.servicebus.windows.net/$hc/a', false), undefined);
  assert.equal(via('wss://relay.internal.example/$hc/a'), undefined, '.suffix');
  assert.equal(via('wss://internal.example/$hc/a'), undefined, '.suffix covers the domain itself');
  assert.equal(via('wss://10.1.2.3/$hc/a'), undefined, 'CIDR');
  assert.equal(via('wss://bypass.example/$hc/a'), undefined, 'host:port, the default port');
  assert.equal(via('wss://bypass.example:8443/$hc/a'), 'http://secure-proxy:3128', 'host:port, another port');
  assert.equal(via('wss://ns.example/$hc/a', undefined, { HTTP_PROXY: 'http://p:1' }), undefined, 'HTTP_PROXY is not for wss');
  assert.equal(via('wss://ns.example/$hc/a', undefined, { HTTPS_PROXY: 'http://p:1', no_proxy: '*' }), undefined, '* bypasses everything');
  assert.equal(via('wss://ns.example/$hc/a', 'http://explicit:1', { NO_PROXY: '*' }), 'http://explicit:1', 'NO_PROXY is for the environment\'s proxies');
  const credentials = proxyFor('wss://ns.example/$hc/a', 'http://user:hunter2@p:1');
  assert.equal(credentials.display, 'http://p:1');
  assert.equal(credentials.hasCredentials, true);
  assert.throws(
    () => proxyFor('wss://ns.example/$hc/a', undefined, { HTTPS_PROXY: 'socks5://user:hunter2@p:1' }),
    (err) => err.code === 'ERR_HYCO_PROXY' && /HTTPS_PROXY is not an http:\/\/ or https:\/\/ proxy URL/.test(err.message) && !err.message.includes('hunter2'),
  );
});

test('NO_PROXY matching, property-based: exact names, suffixes, lists and ports behave as sets; no input throws', async () => {
  const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/);
  // Names, not addresses: the last label starts with a letter (a top-level domain never is a number).
  const tld = fc.stringMatching(/^[a-z][a-z0-9]{0,5}$/);
  const hostname = fc.tuple(fc.array(label, { maxLength: 3 }), tld).map(([labels, last]) => [...labels, last].join('.'));
  const port = fc.integer({ min: 1, max: 65535 });
  const entry = fc.oneof(hostname, hostname.map((h) => `.${h}`), fc.tuple(hostname, port).map(([h, p]) => `${h}:${p}`), fc.constant('10.0.0.0/8'), fc.string({ maxLength: 12 }));
  await checkProperty(
    fc.property(hostname, port, fc.array(entry, { maxLength: 5 }), fc.array(entry, { maxLength: 5 }), label, (host, p, a, b, sub) => {
      const listA = a.join(',');
      const listB = b.join(' , ');
      // A list matches when one of its parts does.
      assert.equal(matchesNoProxy(host, p, `${listA},${listB}`), matchesNoProxy(host, p, listA) || matchesNoProxy(host, p, listB));
      // A name matches itself (any case, a trailing dot) and its subdomains, not its parent or a longer sibling.
      assert.equal(matchesNoProxy(host, p, host.toUpperCase()), true);
      assert.equal(matchesNoProxy(`${host}.`, p, host), true);
      assert.equal(matchesNoProxy(`${sub}.${host}`, p, host), true);
      assert.equal(matchesNoProxy(`${sub}.${host}`, p, `.${host}`), true);
      assert.equal(matchesNoProxy(`${sub}${host}`, p, host), `${sub}${host}` === host);
      // A port limits the entry to that port.
      assert.equal(matchesNoProxy(host, p, `${host}:${p}`), true);
      assert.equal(matchesNoProxy(host, p, `${host}:${p === 1 ? 2 : p - 1}`), false);
      assert.equal(matchesNoProxy(host, p, '*'), true);
    }),
    { defaultSeed: 1511, numRuns: 300 },
  );
  assert.equal(matchesNoProxy('::1', 443, '[::1]'), true);
  assert.equal(matchesNoProxy('fd00::5', 443, 'fd00::/8'), true);
  assert.equal(matchesNoProxy('192.168.1.7', 443, '192.168.0.0/16'), true);
  assert.equal(matchesNoProxy('192.169.1.7', 443, '192.168.0.0/16'), false);
  assert.equal(matchesNoProxy('10.0.0.1', 443, '0.0.1'), false, 'an IP address is not a domain to suffix-match');
});

test('through the proxy, plain ws: the control channel, each rendezvous and the sender all CONNECT through it; the emulator sees the proxy', async (t) => {
  const relay = await startRelay(t);
  const seen = activity(relay);
  const proxy = await startProxy(t, { connectPorts: [relay.port] });
  const server = echoListener(t, relay, { proxy: proxy.url() });
  await once(server, 'online');
  const connection = await sender(relay, 'echo', { proxyUrl: proxy.url() });
  assert.equal(await roundTrip(connection, 'through the proxy'), 'through the proxy');
  // A rejected sender: the reject rendezvous goes through the proxy too.
  server.removeAllListeners('request');
  server.on('request', (request) => {
    server.senders.push(request);
    request.reject(403, 'not today');
  });
  await assert.rejects(sender(relay, 'echo'), /403/);
  connection.close();
  const target = `127.0.0.1:${relay.port}`;
  assert.deepEqual(proxy.connects(), [target, target, target, target], 'control channel, sender, accept rendezvous, reject rendezvous');
  // The sender's other calls go through it too: runtime information and relayedFetch (undici's ProxyAgent).
  const info = await hyco.getRuntimeInformation(relay.endpoint, 'echo', { token: () => token('echo'), proxy: proxy.url() });
  assert.equal(info.listenerCount, 1);
  server.on('httpRequest', (req, res) => res.end(`fetched ${req.url}`));
  const fetched = await hyco.relayedFetch(`${hyco.createRelayHttpsUri(relay.endpoint, 'echo')}/page?x=1`, {}, { token: () => token('echo'), proxy: proxy.url() });
  assert.equal(await fetched.text(), 'fetched /page?x=1');
  assert.equal(proxy.connects().length, 6, 'and the runtime information GET and the fetch');
  const online = seen.find((a) => a.type === 'listener-online');
  assert.equal(online.listenerAddress, PROXY_SOURCE, 'the control channel came from the proxy');
  assert.equal(seen.find((a) => a.type === 'sender-accepted').listenerAddress, PROXY_SOURCE, 'so did the accept rendezvous');
  assert.equal(seen.find((a) => a.type === 'sender-rejected').listenerAddress, PROXY_SOURCE, 'and the reject rendezvous');
  assert.equal(server.senders[0].remoteAddress, PROXY_SOURCE, 'the proxied sender arrived from the proxy');
  assert.equal(server.senders[1].remoteAddress, '127.0.0.1', 'the direct one did not');
  assert.deepEqual(server.errors, []);
});

test('through the proxy, TLS: wss inside the tunnel, the emulator\'s certificate trusted through tlsOptions', async (t) => {
  const relay = await startRelay(t, { tls: 'self-signed' });
  const proxy = await startProxy(t, { connectPorts: [relay.port] });
  const server = echoListener(t, relay, { proxy: proxy.url(), tlsOptions: { ca: relay.certificate } });
  await once(server, 'online');
  const connection = await sender(relay, 'echo', { proxyUrl: proxy.url(), ca: relay.certificate });
  assert.equal(await roundTrip(connection, 'wss through the proxy'), 'wss through the proxy');
  connection.close();
  assert.equal(proxy.connects().length, 3, 'control channel, sender, rendezvous');
  assert.deepEqual(server.errors, []);
  // Without the certificate trusted, TLS fails inside the tunnel: a TLS error, not the proxy's.
  const untrusted = echoListener(t, relay, { proxy: proxy.url(), connectTimeout: 2000 });
  await until(() => untrusted.errors.length > 0, 5000, 'the TLS failure');
  assert.equal(untrusted.errors[0].code, 'ERR_HYCO_CONNECTION');
  assert.match(untrusted.errors[0].message, /certificate/);
});

test('from the environment: HTTP_PROXY for ws, HTTPS_PROXY for wss, NO_PROXY bypassing (nothing in the proxy\'s log), loopback names never proxied', async (t) => {
  // The environment's proxies skip loopback targets, so the emulator is addressed by a name
  // /etc/hosts maps to a loopback address (not "localhost").
  const alias = loopbackAlias();
  const saved = {};
  for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy']) {
    saved[name] = process.env[name];
    delete process.env[name];
  }
  t.after(() => {
    for (const [name, value] of Object.entries(saved)) if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  });
  const relay = await startRelay(t, { host: alias.address });
  const endpoint = `ws://${alias.name}:${relay.port}`;
  const proxy = await startProxy(t, { bind: false });
  process.env.HTTP_PROXY = proxy.url();
  const viaEnv = echoListener(t, relay, {}, 'echo', endpoint);
  await once(viaEnv, 'online');
  const connection = await sender(relay, 'echo', { endpoint });
  assert.equal(await roundTrip(connection, 'via HTTP_PROXY'), 'via HTTP_PROXY');
  connection.close();
  assert.deepEqual(proxy.connects(), [`${alias.name}:${relay.port}`, `${alias.name}:${relay.port}`], 'control channel and rendezvous');
  await viaEnv.close();
  // NO_PROXY: straight to the relay.
  process.env.NO_PROXY = `localhost,${alias.name}`;
  const bypassing = echoListener(t, relay, {}, 'echo', endpoint);
  await once(bypassing, 'online');
  const direct = await sender(relay, 'echo', { endpoint });
  assert.equal(await roundTrip(direct, 'bypassing'), 'bypassing');
  direct.close();
  await bypassing.close();
  assert.equal(proxy.connects().length, 2, 'nothing more went through the proxy');
  // HTTPS_PROXY is for wss only; a loopback address never takes the environment's proxy.
  delete process.env.NO_PROXY;
  delete process.env.HTTP_PROXY;
  process.env.HTTPS_PROXY = proxy.url();
  const plainWithHttpsProxy = echoListener(t, relay, {}, 'echo', endpoint);
  await once(plainWithHttpsProxy, 'online');
  process.env.HTTP_PROXY = proxy.url();
  const loopback = echoListener(t, relay, {}, 'echo', relay.endpoint);
  await once(loopback, 'online');
  assert.equal(proxy.connects().length, 2, 'neither went through the proxy');
  // And wss with HTTPS_PROXY: through it.
  const secure = await startRelay(t, { host: alias.address, tls: 'self-signed', namespace: alias.name });
  const viaHttps = echoListener(t, secure, { tlsOptions: { ca: secure.certificate } }, 'echo', `wss://${alias.name}:${secure.port}`);
  await once(viaHttps, 'online');
  assert.deepEqual(proxy.connects().slice(2), [`${alias.name}:${secure.port}`]);
});

test('Basic authentication: the right credentials work; wrong or none are ERR_HYCO_PROXY_AUTH with the proxy\'s status, reported once while the listener keeps retrying', async (t) => {
  const relay = await startRelay(t);
  const proxy = await startProxy(t, { auth: { user: 'relay-user', password: 'pr0xy-s3cret' } });
  const good = echoListener(t, relay, { proxy: proxy.url('relay-user', 'pr0xy-s3cret') });
  await once(good, 'online');
  const connection = await sender(relay, 'echo', { proxyUrl: proxy.url('relay-user', 'pr0xy-s3cret') });
  assert.equal(await roundTrip(connection, 'authenticated'), 'authenticated');
  connection.close();
  await good.close();

  const wrong = echoListener(t, relay, { proxy: proxy.url('relay-user', 'wrong-s3cret'), reconnectBackoff: [50] });
  await until(() => wrong.connectings >= 8, 10000, 'eight attempts');
  assert.equal(wrong.isOnline, false);
  assert.equal(wrong.errors.length, 1, `one report, not one per attempt (${wrong.errors.length})`);
  const [error] = wrong.errors;
  // tinyproxy answers wrong credentials with 401 (not 407): the proxy's status is what is reported.
  assert.equal(error.code, 'ERR_HYCO_PROXY_AUTH');
  assert.equal(error.statusCode, 401);
  assert.match(error.message, /The proxy http:\/\/127\.0\.0\.1:\d+ answered 401 Unauthorized: it refused the credentials in the proxy URL/);
  assert.equal(wrong.lastError.code, 'ERR_HYCO_PROXY_AUTH');
  const none = echoListener(t, relay, { proxy: proxy.url(), reconnectBackoff: [50] });
  await until(() => none.connectings >= 5, 5000, 'five attempts');
  assert.equal(none.errors.length, 1);
  assert.equal(none.errors[0].code, 'ERR_HYCO_PROXY_AUTH');
  assert.equal(none.errors[0].statusCode, 407);
  assert.match(none.errors[0].message, /answered 407 Proxy Authentication Required: it wants credentials: put them in the proxy URL/);
  for (const err of [...wrong.errors, ...none.errors]) {
    for (const text of [err.message, err.stack, JSON.stringify(err), String(err.cause ?? '')]) assert.equal(text.includes('s3cret'), false, 'no password in errors');
  }
});

test('HTTP through the relay with the listener behind the proxy: a response that needs a rendezvous arrives whole', async (t) => {
  const relay = await startRelay(t);
  const proxy = await startProxy(t, { connectPorts: [relay.port] });
  const server = echoListener(t, relay, { proxy: proxy.url() });
  const body = crypto.randomBytes(3 * 1024 * 1024);
  server.on('httpRequest', (req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length });
    res.end(body);
  });
  await once(server, 'online');
  const response = await new Promise((resolve, reject) => {
    const req = http.request(`http://127.0.0.1:${relay.port}/echo/file`, { headers: { ServiceBusAuthorization: token('echo') } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks), complete: res.complete }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(response.status, 200);
  assert.equal(response.complete, true);
  assert.equal(crypto.createHash('sha256').update(response.body).digest('hex'), crypto.createHash('sha256').update(body).digest('hex'));
  assert.equal(proxy.connects().length, 2, 'the control channel and the HTTP rendezvous');
});

test('the proxy dies while the listener is online: it reconnects through `connecting` and is back within the backoff once the proxy returns; connections that did not go through it live on', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['echo', 'direct'] });
  const proxy = await startProxy(t, { connectPorts: [relay.port] });
  const proxied = echoListener(t, relay, { proxy: proxy.url() });
  const direct = echoListener(t, relay, { proxy: false }, 'direct');
  await Promise.all([once(proxied, 'online'), once(direct, 'online')]);
  const throughProxy = await sender(relay, 'echo');
  const notThroughProxy = await sender(relay, 'direct');
  assert.equal(await roundTrip(throughProxy, 'a'), 'a');
  const cut = once(throughProxy, 'close');
  await proxy.stop();
  await once(proxied, 'connecting');
  await until(() => proxied.errors.some((e) => e.code === 'ERR_HYCO_PROXY'), 5000, 'the proxy failure');
  assert.match(proxied.errors.find((e) => e.code === 'ERR_HYCO_PROXY').message, /Could not reach the proxy http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
  const [code] = await cut;
  assert.notEqual(code, 1000, 'the connection whose rendezvous went through the proxy is reported cut, not closed normally');
  // Connections that did not go through the proxy are untouched.
  for (let i = 0; i < 5; i++) assert.equal(await roundTrip(notThroughProxy, `still ${i}`), `still ${i}`);
  assert.equal(direct.isOnline, true);
  await delay(1000);
  const errorsWhileDown = proxied.errors.filter((e) => e.code === 'ERR_HYCO_PROXY').length;
  assert.equal(errorsWhileDown, 1, 'the same failure is reported once, however many attempts');
  const restarted = Date.now();
  await proxy.start();
  await once(proxied, 'online');
  const back = Date.now() - restarted;
  t.diagnostic(`back online ${back} ms after the proxy returned (backoff tops at ${BACKOFF.at(-1)} ms)`);
  assert.ok(back <= BACKOFF.at(-1) * 1.2 + 500, `${back} ms`);
  const again = await sender(relay, 'echo');
  assert.equal(await roundTrip(again, 'again'), 'again');
  again.close();
  notThroughProxy.close();
});

test('a proxy that accepts and never answers CONNECT: each attempt ends as ERR_HYCO_PROXY after connectTimeout, and no socket to it is left open', async (t) => {
  const relay = await startRelay(t);
  const open = new Set();
  let accepted = 0;
  const silent = net.createServer((socket) => {
    accepted++;
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    socket.on('error', () => {});
    socket.resume(); // read the CONNECT, and so see the end when the client closes
  });
  await new Promise((r) => silent.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => silent.close(r)));
  const server = echoListener(t, relay, { proxy: `http://127.0.0.1:${silent.address().port}`, connectTimeout: 300, reconnectBackoff: [50] });
  await until(() => accepted >= 3, 5000, 'three attempts');
  assert.equal(server.errors[0].code, 'ERR_HYCO_PROXY');
  assert.match(server.errors[0].message, /The proxy http:\/\/127\.0\.0\.1:\d+ did not answer within 300 ms/);
  assert.equal(server.errors.length, 1, 'reported once');
  await server.close();
  await until(() => open.size === 0, 3000, 'every socket to the proxy closed');
});

test('CLI: listen and send --proxy go through the proxy; --no-proxy ignores the environment', async (t) => {
  const alias = loopbackAlias();
  const relay = await startRelay(t, { host: alias.address });
  const proxy = await startProxy(t, { connectPorts: [relay.port] });
  const cs = `${relay.connectionString()};EntityPath=echo`;
  const listen = spawn(process.execPath, [CLI, 'listen', '--connection-string', cs, '--proxy', proxy.url()], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => listen.kill());
  let output = '';
  listen.stdout.on('data', (d) => (output += d));
  listen.stderr.on('data', (d) => (output += d));
  await until(() => /listening on "echo"/.test(output), 10000, 'the CLI listener online');
  assert.deepEqual(proxy.connects(), [`127.0.0.1:${relay.port}`]);
  const send = spawn(process.execPath, [CLI, 'send', '--connection-string', cs, '--proxy', proxy.url(), '--message', 'hi via cli'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let sent = '';
  send.stdout.on('data', (d) => (sent += d));
  send.stderr.on('data', (d) => (sent += d));
  assert.equal(await new Promise((r) => send.on('exit', r)), 0, sent);
  assert.equal(sent.trim(), 'hi via cli');
  assert.equal(proxy.connects().length, 3, 'listener, sender, rendezvous');
  const bad = spawn(process.execPath, [CLI, 'send', '--connection-string', cs, '--proxy', 'socks5://u:hunter2@x:1', '--message', 'x'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  bad.stderr.on('data', (d) => (err += d));
  assert.equal(await new Promise((r) => bad.on('exit', r)), 2, 'a usage error');
  assert.match(err, /http:\/\/ or https:\/\/ proxy, not socks5:/);
  assert.equal(err.includes('hunter2'), false);
  // --no-proxy: the environment's proxy (here a dead one) is ignored for a relay it would apply to.
  const env = { ...process.env, HTTP_PROXY: 'http://127.0.0.1:9' };
  delete env.NO_PROXY;
  delete env.no_proxy;
  const keyArgs = ['--namespace', `ws://${alias.name}:${relay.port}`, '--key-name', relay.rules[0].name, '--key', relay.rules[0].key, '--path', 'echo', '--message', 'no proxy'];
  const direct = spawn(process.execPath, [CLI, 'send', ...keyArgs, '--no-proxy'], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let directOut = '';
  direct.stdout.on('data', (d) => (directOut += d));
  direct.stderr.on('data', (d) => (directOut += d));
  assert.equal(await new Promise((r) => direct.on('exit', r)), 0, directOut);
  assert.equal(directOut.trim(), 'no proxy');
  const viaDead = spawn(process.execPath, [CLI, 'send', ...keyArgs], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let deadOut = '';
  viaDead.stderr.on('data', (d) => (deadOut += d));
  assert.equal(await new Promise((r) => viaDead.on('exit', r)), 5, 'a network failure');
  assert.match(deadOut, /the proxy failed: Could not reach the proxy http:\/\/127\.0\.0\.1:9: ECONNREFUSED/);
});

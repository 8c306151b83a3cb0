'use strict';
// PROTOCOL.md, "What the .NET client relies on (read from its source and its
// integration tests)", walked line by line against the emulator: one test
// per line of that section (and the lines of "Clients in other languages"
// it builds on), each titled with the words of the section. The clients
// here are raw: a .NET-style SAS token signed by hand, control channels and
// senders over `ws` or a bare upgrade request, frames written and read byte
// by byte, HTTP with Node's own client. Nothing in Microsoft.Azure.Relay's
// integration tests should find the emulator different from the service.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const http = require('node:http');
const https = require('node:https');
const net = require('node:net');
const tls = require('node:tls');
const WebSocket = require('ws');
const { RelayEmulator } = require('hyco-relay-emulator');
const { startRelay, RULES, onceOrError, once, delay, until } = require('hyco-test-support');
const { encodeFrame, framesUntilClosed, rawUpgrade } = require('hyco-test-support/raw');

const OP_TEXT = 1;
const OP_BINARY = 2;
const OP_CLOSE = 8;
const OP_PONG = 10;
const ROOT = RULES[0];
const HOST = '127.0.0.1';

// ---------------------------------------------------------------------------
// The .NET client's ways, by hand.

/** `WebUtility.UrlEncode`: unreserved `A-Z a-z 0-9 - _ . ! * ( )` kept, space as `+`, the rest `%XX`. */
function urlEncode(text) {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const ch = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-_.!*()]/.test(ch)) out += ch;
    else if (ch === ' ') out += '+';
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * A SAS token as `SharedAccessSignatureTokenProvider` makes one: HMAC-SHA256
 * over `urlencode(audience) + "\n" + expiry`, keyed with the UTF-8 bytes of
 * the key string as given (not base64-decoded).
 */
function dotnetToken(audience, { rule = ROOT, keyBytes = Buffer.from(rule.key, 'utf8'), seconds = 1200 } = {}) {
  const expiry = Math.floor(Date.now() / 1000) + seconds;
  const resource = urlEncode(audience);
  const signature = crypto.createHmac('sha256', keyBytes).update(`${resource}\n${expiry}`, 'utf8').digest('base64');
  return `SharedAccessSignature sr=${resource}&sig=${urlEncode(signature)}&se=${expiry}&skn=${rule.name}`;
}

/** The audience the .NET client signs for an entity: `http://{host}/{path}/`, no port, a trailing slash. */
function audience(path, host = HOST) {
  return `http://${host}/${path}/`;
}

/** Reads `ws`'s messages one at a time. */
function messages(ws) {
  const queue = [];
  const waiting = [];
  ws.on('message', (data, isBinary) => {
    const item = { data: Buffer.from(data), isBinary };
    const next = waiting.shift();
    if (next) next(item);
    else queue.push(item);
  });
  return () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((resolve) => waiting.push(resolve)));
}

/**
 * A control channel as `HybridConnectionListener` opens it
 * (`?sb-hc-action=listen&sb-hc-id={guid}`, token in ServiceBusAuthorization),
 * over `ws`. Emits `accept` (the accept message) and `request` (an HTTP
 * request message, with its body when it came inline).
 */
async function controlChannel(t, relay, path = 'echo', { id = crypto.randomUUID(), token, endpoint = relay.endpoint, ws: wsOptions } = {}) {
  const url = `${endpoint}/$hc/${path}?sb-hc-action=listen&sb-hc-id=${id}`;
  const ws = new WebSocket(url, { headers: { ServiceBusAuthorization: token ?? dotnetToken(audience(path)) }, perMessageDeflate: false, ...wsOptions });
  ws.id = id;
  let bodyOf;
  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      const request = bodyOf;
      bodyOf = undefined;
      if (request) ws.emit('request', request, Buffer.from(data));
      return;
    }
    const message = JSON.parse(String(data));
    if (message.accept) ws.emit('accept', message.accept);
    else if (message.request) {
      if (message.request.method && message.request.body === true) bodyOf = message.request;
      else ws.emit('request', message.request, undefined);
    }
  });
  ws.on('error', () => {});
  t.after(() => ws.terminate());
  await onceOrError(ws, 'open');
  return ws;
}

/** Accepts every sender on `channel` with a `ws` rendezvous that echoes each message. */
function acceptAndEcho(t, channel, wsOptions = {}) {
  channel.on('accept', (accept) => {
    const rendezvous = new WebSocket(accept.address, { perMessageDeflate: false, maxPayload: 0, ...wsOptions });
    rendezvous.on('message', (data, isBinary) => rendezvous.send(data, { binary: isBinary }));
    rendezvous.on('error', () => {});
    t.after(() => rendezvous.terminate());
  });
}

/** A raw upgrade to `target` (path and query exactly as given) on the emulator. */
function upgrade(t, relay, target, headers = {}) {
  const attempt = rawUpgrade(relay.endpoint, headers, target);
  void attempt.then((r) => r.socket && t.after(() => r.socket.destroy()), () => {});
  return attempt;
}

/** The address a `HybridConnectionClient` connects to: `/$hc/{path}?sb-hc-action=connect&sb-hc-id={guid}`. */
function senderTarget(path = 'echo', query = '') {
  return `/$hc/${path}?${query ? `${query}&` : ''}sb-hc-action=connect&sb-hc-id=${crypto.randomUUID()}`;
}

/**
 * A raw sender joined to a raw listener rendezvous (both bare sockets with a
 * FrameReader). `senderHeaders` default to a .NET-style token header.
 */
async function rawPair(t, relay, channel, { target = senderTarget(), senderHeaders, listenerHeaders = {} } = {}) {
  const accepted = once(channel, 'accept');
  const sending = upgrade(t, relay, target, senderHeaders ?? { ServiceBusAuthorization: dotnetToken(audience('echo')) });
  const accept = await offered(accepted, sending);
  const listener = await upgrade(t, relay, new URL(accept.address).pathname + new URL(accept.address).search, listenerHeaders);
  const sender = await sending;
  assert.ok(sender.socket, `the sender was refused: ${sender.status} ${sender.statusMessage}`);
  assert.ok(listener.socket, `the rendezvous was refused: ${listener.status} ${listener.statusMessage}`);
  return { sender, listener, accept };
}

/** The accept message a sender's attempt (`sending`) led to; fails at once when the sender was refused instead. */
async function offered(accepted, sending) {
  const first = await Promise.race([accepted.then((accept) => ({ accept })), sending.then((sender) => ({ sender }))]);
  if (first.sender && !first.sender.socket) assert.fail(`the sender was refused: ${first.sender.status} ${first.sender.statusMessage}`);
  return first.accept ?? accepted;
}

/** A close frame's payload: code and reason. */
function closePayload(code, reason = '') {
  const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
  payload.writeUInt16BE(code, 0);
  payload.write(reason, 2);
  return payload;
}

/** Resolves when `socket` has closed. */
function closed(socket) {
  return socket.closed ? Promise.resolve() : new Promise((resolve) => socket.once('close', () => resolve()));
}

/**
 * An HTTP request with Node's client. Resolves with { status, statusMessage,
 * headers, rawHeaders, body }.
 */
function request(relay, path, { method = 'GET', headers = {}, body, port = relay.port, agent, client = http, ca } = {}) {
  return new Promise((resolve, reject) => {
    const req = client.request({ host: HOST, port, method, path, headers, agent, ca, maxVersion: ca ? 'TLSv1.2' : undefined }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode, statusMessage: res.statusMessage, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks), socket: res.socket }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Opens an HTTP rendezvous (`sb-hc-action=request`) with `ws`, as the .NET listener does: no token. */
async function httpRendezvous(t, address, wsOptions = {}) {
  const ws = new WebSocket(address, { perMessageDeflate: false, ...wsOptions });
  ws.on('error', () => {});
  t.after(() => ws.terminate());
  const next = messages(ws);
  await onceOrError(ws, 'open');
  return { ws, next };
}

/**
 * Serves HTTP requests on `channel` as `HybridConnectionListener` does:
 * `handler(request, body)` returns `{ statusCode, statusDescription?,
 * headers?, body? }`. A request too large for the control channel is read
 * from its rendezvous; a response body over 64 KB goes back over one.
 */
function serveHttp(t, channel, handler) {
  channel.on('request', async (message, inlineBody) => {
    let request = message;
    let body = inlineBody;
    let rendezvous;
    if (!message.method) {
      rendezvous = await httpRendezvous(t, message.address);
      request = JSON.parse(String((await rendezvous.next()).data)).request;
      if (request.body) body = (await rendezvous.next()).data;
    }
    const answer = await handler(request, body);
    const payload = answer.body === undefined ? undefined : Buffer.from(answer.body);
    const response = { requestId: request.id, statusCode: answer.statusCode ?? 200, responseHeaders: answer.headers ?? {}, body: payload !== undefined };
    if (answer.statusDescription !== undefined) response.statusDescription = answer.statusDescription;
    if (!rendezvous && payload && payload.length > 64 * 1024) rendezvous = await httpRendezvous(t, message.address);
    const via = rendezvous ? rendezvous.ws : channel;
    via.send(JSON.stringify({ response }));
    if (payload) via.send(payload, { binary: true });
    if (rendezvous) rendezvous.ws.close(1000);
  });
}

/** The query a listener sees in an accept address: the address' query less the relay's own `sb-hc-*=` parameters. */
function listenerQuery(address) {
  const q = address.indexOf('?');
  const kept = address.slice(q + 1).split('&').filter((part) => !(part.toLowerCase().startsWith('sb-hc-') && part.includes('=')));
  return kept.length ? `?${kept.join('&')}` : '';
}

// ---------------------------------------------------------------------------
// Tokens

test('Tokens: the .NET client signs http://{host}/{path}/ (no port, trailing slash) with HMAC-SHA256 over urlencode(audience) + "\\n" + expiry, keyed with the UTF-8 bytes of the base64 key string; listeners, senders and HTTP senders put it in ServiceBusAuthorization', async (t) => {
  const relay = await startRelay(t);
  const tok = dotnetToken(audience('echo'));
  const channel = await controlChannel(t, relay, 'echo', { token: tok });
  serveHttp(t, channel, () => ({ statusCode: 200, body: 'over http' }));
  const { sender, listener } = await rawPair(t, relay, channel, { senderHeaders: { ServiceBusAuthorization: tok } });
  sender.socket.write(encodeFrame({ opcode: OP_TEXT, payload: Buffer.from('signed as .NET signs') }));
  assert.equal(String((await listener.reader.next()).payload), 'signed as .NET signs');
  const res = await request(relay, '/echo', { headers: { ServiceBusAuthorization: tok } });
  assert.equal(res.status, 200);
  assert.equal(String(res.body), 'over http');
  // The key string's bytes, not the bytes it decodes to: a token keyed with those is a bad signature.
  const decodedKey = dotnetToken(audience('echo'), { keyBytes: Buffer.from(ROOT.key, 'base64') });
  assert.equal((await upgrade(t, relay, senderTarget(), { ServiceBusAuthorization: decodedKey })).status, 401);
  assert.equal((await request(relay, '/echo', { headers: { ServiceBusAuthorization: decodedKey } })).status, 401);
});

test('Tokens: a token for the namespace (http://{host}/) is valid for every entity under it (prefix match)', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['echo', 'rooms/blue'] });
  const namespaceToken = dotnetToken(`http://${HOST}/`);
  for (const path of ['echo', 'rooms/blue']) {
    const channel = await controlChannel(t, relay, path, { token: namespaceToken });
    acceptAndEcho(t, channel);
    serveHttp(t, channel, () => ({ statusCode: 204 }));
    const sender = await upgrade(t, relay, senderTarget(path), { ServiceBusAuthorization: namespaceToken });
    assert.ok(sender.socket, `${path}: ${sender.status} ${sender.statusMessage}`);
    assert.equal((await request(relay, `/${path}`, { headers: { ServiceBusAuthorization: namespaceToken } })).status, 204);
  }
  // A prefix only at a "/" boundary: a token for "ech" covers nothing called "echo".
  const notAPrefix = dotnetToken(`http://${HOST}/ech`);
  assert.equal((await upgrade(t, relay, senderTarget('echo'), { ServiceBusAuthorization: notAPrefix })).status, 403);
});

test('Tokens: raw senders may use ?sb-hc-token= (WebUtility.UrlEncode\'d, spaces as "+")', async (t) => {
  const relay = await startRelay(t);
  const channel = await controlChannel(t, relay);
  // As the client's RawWebSocketSender test: a token for the namespace endpoint, in the query.
  const tok = dotnetToken(`http://${HOST}/`);
  assert.ok(urlEncode(tok).includes('+'), 'the encoded token carries "+" for its space');
  const { sender, listener, accept } = await rawPair(t, relay, channel, {
    target: `/$hc/echo?sb-hc-action=connect&sb-hc-token=${urlEncode(tok)}`,
    senderHeaders: {},
  });
  assert.equal(accept.address.includes('sb-hc-token'), false, 'the token never reaches the listener');
  assert.equal(JSON.stringify(accept.connectHeaders).includes(tok.slice(-20)), false);
  listener.socket.write(encodeFrame({ opcode: OP_BINARY, payload: Buffer.from([1, 2, 3]) }));
  assert.deepEqual([...(await sender.reader.next()).payload], [1, 2, 3]);
});

// ---------------------------------------------------------------------------
// Senders

test('A raw sender may connect to wss://{host}/$hc/{path} with no sb-hc-action (treated as connect) and no sb-hc-id', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['echo', { path: 'open', requiresClientAuthorization: false }] });
  // As the client's WebSocketTests connect: only ?sb-hc-token=.
  const channel = await controlChannel(t, relay);
  const tok = dotnetToken(`http://${HOST}/`);
  const { sender, listener, accept } = await rawPair(t, relay, channel, { target: `/$hc/echo?sb-hc-token=${urlEncode(tok)}`, senderHeaders: {} });
  assert.match(accept.id, /^[0-9a-f-]{36}$/, 'the relay gives the connection a tracking id');
  sender.socket.write(encodeFrame({ opcode: OP_BINARY, payload: Buffer.alloc(1024, 7) }));
  const frame = await listener.reader.next();
  assert.equal(frame.payload.length, 1024);
  // And with no query at all, on a hybrid connection that takes senders without a token.
  const open = await controlChannel(t, relay, 'open');
  const bare = await rawPair(t, relay, open, { target: '/$hc/open', senderHeaders: {} });
  bare.listener.socket.write(encodeFrame({ opcode: OP_TEXT, payload: Buffer.from('hi') }));
  assert.equal(String((await bare.sender.reader.next()).payload), 'hi');
});

test('The 101 carries Sec-WebSocket-Protocol only when the sender asked for one', async (t) => {
  const relay = await startRelay(t);
  const channel = await controlChannel(t, relay);
  // The sender asks for none; a listener that names one anyway does not put it in the sender's 101.
  const none = await rawPair(t, relay, channel, { listenerHeaders: { 'Sec-WebSocket-Protocol': 'chat' } });
  assert.equal(none.listener.response.headers['sec-websocket-protocol'], 'chat', 'the listener gets the one it asked for');
  assert.equal(none.sender.response.headers['sec-websocket-protocol'], undefined);
  // The sender asks; the listener's choice (the first one, as the .NET listener picks) is in its 101.
  const asked = await rawPair(t, relay, channel, {
    senderHeaders: { ServiceBusAuthorization: dotnetToken(audience('echo')), 'Sec-WebSocket-Protocol': 'chat, superchat' },
    listenerHeaders: { 'Sec-WebSocket-Protocol': 'chat' },
  });
  assert.equal(asked.accept.connectHeaders['Sec-WebSocket-Protocol'], 'chat, superchat');
  assert.equal(asked.sender.response.headers['sec-websocket-protocol'], 'chat');
});

// ---------------------------------------------------------------------------
// Reason phrases

/** Asserts the 404 phrase the .NET client parses: "Endpoint does not exist" first, the path in it, after any tracking id too. */
function assertEndpointNotFound(result, path, what) {
  assert.equal(result.status, 404, what);
  assert.match(result.statusMessage, /^Endpoint does not exist/, `${what}: ${result.statusMessage}`);
  assert.ok(result.statusMessage.includes(path), `${what}: the path is in ${result.statusMessage}`);
  const tracking = result.statusMessage.indexOf('TrackingId');
  if (tracking !== -1) assert.ok(result.statusMessage.slice(tracking).includes(path), `${what}: the path is with the tracking id in ${result.statusMessage}`);
}

test('Reason phrases: 404 "Endpoint does not exist" with the path (when a tracking id is in the phrase, the path is too)', async (t) => {
  const relay = await startRelay(t);
  const tok = dotnetToken(`http://${HOST}/`);
  assertEndpointNotFound(await upgrade(t, relay, `/$hc/nosuch?sb-hc-action=listen&sb-hc-id=${crypto.randomUUID()}`, { ServiceBusAuthorization: tok }), 'nosuch', 'listener');
  assertEndpointNotFound(await upgrade(t, relay, senderTarget('nosuch'), { ServiceBusAuthorization: tok }), 'nosuch', 'sender');
  assertEndpointNotFound(await upgrade(t, relay, senderTarget('echo'), { ServiceBusAuthorization: tok }), 'echo', 'sender with no listener online');
  assertEndpointNotFound(await request(relay, '/nosuch/x', { headers: { ServiceBusAuthorization: tok } }), 'nosuch', 'HTTP sender');
  assertEndpointNotFound(await upgrade(t, relay, '/nosuch?sb-hc-action=connect', { ServiceBusAuthorization: tok }), 'nosuch', 'an upgrade outside /$hc/');
  // Our own explanation follows the phrase the client parses.
  const listener = await upgrade(t, relay, `/$hc/nosuch?sb-hc-action=listen`, { ServiceBusAuthorization: tok });
  assert.match(listener.statusMessage, /^Endpoint does not exist \(EntityNotFound\): no hybrid connection "nosuch"; create it with --hybrid-connection or --auto-create\. TrackingId:/);
});

test('Reason phrases: 401 for a bad key with "token has an invalid signature" and the entity name', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['echo', 'rooms/blue'] });
  for (const path of ['echo', 'rooms/blue']) {
    const bad = dotnetToken(audience(path), { keyBytes: Buffer.from('not the key') });
    const results = [
      ['listener', await upgrade(t, relay, `/$hc/${path}?sb-hc-action=listen&sb-hc-id=${crypto.randomUUID()}`, { ServiceBusAuthorization: bad })],
      ['sender', await upgrade(t, relay, senderTarget(path), { ServiceBusAuthorization: bad })],
      ['HTTP sender', await request(relay, `/${path}`, { headers: { ServiceBusAuthorization: bad } })],
    ];
    for (const [who, result] of results) {
      assert.equal(result.status, 401, who);
      assert.match(result.statusMessage, /token has an invalid signature/, `${who}: ${result.statusMessage}`);
      assert.ok(result.statusMessage.includes(path), `${who}: ${result.statusMessage}`);
    }
  }
});

test('Reason phrases: 404 when no allowed listener is online: "None of the connected listeners meet the AllowedListeners/DisallowedListeners criteria"', async (t) => {
  const relay = await startRelay(t);
  const channel = await controlChannel(t, relay);
  acceptAndEcho(t, channel);
  serveHttp(t, channel, () => ({ statusCode: 200 }));
  const tok = dotnetToken(audience('echo'));
  const phrase = /^None of the connected listeners meet the AllowedListeners\/DisallowedListeners criteria/;
  for (const choice of [{ 'Microsoft-Relay-AllowedListeners': crypto.randomUUID() }, { 'Microsoft-Relay-DisallowedListeners': channel.id }]) {
    const ws = await upgrade(t, relay, senderTarget(), { ServiceBusAuthorization: tok, ...choice });
    assert.equal(ws.status, 404);
    assert.match(ws.statusMessage, phrase);
    const res = await request(relay, '/echo', { headers: { ServiceBusAuthorization: tok, ...choice } });
    assert.equal(res.status, 404);
    assert.match(res.statusMessage, phrase);
  }
  // The listener it names is chosen.
  assert.equal((await request(relay, '/echo', { headers: { ServiceBusAuthorization: tok, 'Microsoft-Relay-AllowedListeners': channel.id } })).status, 200);
});

test('Status mapping on the client: 401 -> authorization failed, 404 -> endpoint not found, 408/504 -> timeout, anything else -> a generic error with "code: description": the relay answers with exactly those statuses', async (t) => {
  const relay = await startRelay(t, { rendezvousTimeoutMs: 300, handshakeTimeoutMs: 400 });
  assert.equal((await upgrade(t, relay, senderTarget(), {})).status, 401, 'no token');
  assert.equal((await upgrade(t, relay, senderTarget('nosuch'), { ServiceBusAuthorization: dotnetToken(audience('nosuch')) })).status, 404, 'no hybrid connection');
  const channel = await controlChannel(t, relay);
  assert.equal((await upgrade(t, relay, senderTarget(), { ServiceBusAuthorization: dotnetToken(audience('echo')) })).status, 504, 'nobody accepted in time');
  // A listener's own rejection: its code and description, as given.
  channel.on('accept', (accept) => void upgrade(t, relay, `${new URL(accept.address).pathname}${new URL(accept.address).search}&sb-hc-statusCode=409&sb-hc-statusDescription=${urlEncode('Already taken (by you)')}`));
  const rejected = await upgrade(t, relay, senderTarget(), { ServiceBusAuthorization: dotnetToken(audience('echo')) });
  assert.equal(rejected.status, 409);
  assert.equal(rejected.statusMessage, 'Already taken (by you)');
  // Headers that never finish arriving: 408.
  const socket = net.connect(relay.port, HOST);
  t.after(() => socket.destroy());
  socket.write(`GET /$hc/echo?sb-hc-action=connect HTTP/1.1\r\nHost: ${HOST}\r\n`);
  let answer = '';
  socket.on('data', (d) => (answer += d));
  await closed(socket);
  assert.match(answer, /^HTTP\/1\.1 408 /);
});

// ---------------------------------------------------------------------------
// Closing

test('The service answers the listener\'s close frame on the control channel (the client\'s CloseAsync waits for it)', async (t) => {
  const relay = await startRelay(t);
  const channel = await upgrade(t, relay, `/$hc/echo?sb-hc-action=listen&sb-hc-id=${crypto.randomUUID()}`, { ServiceBusAuthorization: dotnetToken(audience('echo')) });
  assert.ok(channel.socket);
  channel.socket.write(encodeFrame({ opcode: OP_CLOSE, payload: closePayload(1000, 'Normal Closure') }));
  const answer = await channel.reader.next();
  assert.equal(answer.opcode, OP_CLOSE);
  assert.equal(answer.payload.readUInt16BE(0), 1000);
  await closed(channel.socket);
  await until(() => relay.stats().hybridConnections[0].listeners === 0, 2000, 'the listener to go offline');
});

test('A listener that vanishes without a close frame makes the relay drop the sender\'s TCP connection without a close frame (an abnormal end, not a clean close); the same the other way round', async (t) => {
  const relay = await startRelay(t);
  const channel = await controlChannel(t, relay);
  // The listener's rendezvous is gone (TCP reset, no close frame): the sender sees its connection end, no close frame.
  const first = await rawPair(t, relay, channel);
  first.sender.socket.write(encodeFrame({ opcode: OP_TEXT, payload: Buffer.from('before') }));
  assert.equal(String((await first.listener.reader.next()).payload), 'before');
  first.listener.socket.destroy();
  assert.deepEqual(await framesUntilClosed(first.sender.reader), [], 'no close frame reaches the sender');
  // The listener's TCP ends (FIN, no close frame) right after a last message: that message arrives, then the end, no close frame.
  const second = await rawPair(t, relay, channel);
  second.listener.socket.end(encodeFrame({ opcode: OP_TEXT, payload: Buffer.from('last words') }));
  const seen = await framesUntilClosed(second.sender.reader);
  assert.deepEqual(seen.map((f) => [f.opcode, String(f.payload)]), [[OP_TEXT, 'last words']]);
  // The other way round: the sender vanishes, the listener's rendezvous is dropped without a close frame.
  const third = await rawPair(t, relay, channel);
  third.sender.socket.destroy();
  assert.deepEqual(await framesUntilClosed(third.listener.reader), []);
  // A ws client on the other end sees 1006 (abnormal closure), not a close code of the relay's.
  acceptAndEcho(t, channel);
  channel.removeAllListeners('accept');
  const accepted = once(channel, 'accept');
  const wsSender = new WebSocket(`${relay.endpoint}${senderTarget()}`, { headers: { ServiceBusAuthorization: dotnetToken(audience('echo')) } });
  wsSender.on('error', () => {});
  const accept = await accepted;
  const rendezvous = await upgrade(t, relay, new URL(accept.address).pathname + new URL(accept.address).search);
  await onceOrError(wsSender, 'open');
  const wsClosed = once(wsSender, 'close');
  rendezvous.socket.destroy();
  assert.equal((await wsClosed)[0], 1006);
});

test('Close frames are passed both ways, and a half-close (CloseOutput) leaves the other direction open', async (t) => {
  const relay = await startRelay(t);
  const channel = await controlChannel(t, relay);
  for (const [closer, other] of [['sender', 'listener'], ['listener', 'sender']]) {
    const pair = await rawPair(t, relay, channel);
    // One side closes its output, as azbridge does at the end of its TCP stream: 1000 "Shutdown".
    pair[closer].socket.write(encodeFrame({ opcode: OP_CLOSE, payload: closePayload(1000, 'Shutdown') }));
    const close = await pair[other].reader.next();
    assert.equal(close.opcode, OP_CLOSE, `${closer} first`);
    assert.equal(close.payload.readUInt16BE(0), 1000);
    assert.equal(String(close.payload.subarray(2)), 'Shutdown');
    // The other direction stays open: data still flows to the side that closed.
    for (const word of ['still', 'flowing']) pair[other].socket.write(encodeFrame({ opcode: OP_BINARY, payload: Buffer.from(word) }));
    assert.equal(String((await pair[closer].reader.next()).payload), 'still');
    assert.equal(String((await pair[closer].reader.next()).payload), 'flowing');
    // Its close ends the connection: passed on, then both TCP connections end.
    pair[other].socket.write(encodeFrame({ opcode: OP_CLOSE, payload: closePayload(1000, 'Shutdown') }));
    const answer = await pair[closer].reader.next();
    assert.equal(answer.opcode, OP_CLOSE);
    assert.equal(answer.payload.readUInt16BE(0), 1000);
    await Promise.all([closed(pair.sender.socket), closed(pair.listener.socket)]);
  }
  await until(() => relay.stats().relayedConnections === 0, 2000, 'no relayed connection left');
});

test('Close frames are passed both ways: a relayed connection whose other side never answers a close is ended after a deadline', { timeout: 90_000 }, async (t) => {
  const relay = await startRelay(t);
  const channel = await controlChannel(t, relay);
  const pair = await rawPair(t, relay, channel);
  const started = Date.now();
  pair.sender.socket.write(encodeFrame({ opcode: OP_CLOSE, payload: closePayload(1000, 'bye') }));
  assert.equal((await pair.listener.reader.next()).opcode, OP_CLOSE);
  // The listener never answers, nor sends anything. The relay gives up: the sender's close is answered (1001), both ends are closed.
  const deadline = delay(60_000).then(() => 'still open after 60 s');
  const ended = Promise.all([framesUntilClosed(pair.sender.reader), closed(pair.listener.socket)]).then(([frames]) => frames);
  const frames = await Promise.race([ended, deadline]);
  assert.notEqual(frames, 'still open after 60 s');
  assert.deepEqual(frames.map((f) => [f.opcode, f.payload.readUInt16BE(0)]), [[OP_CLOSE, 1001]]);
  assert.ok(Date.now() - started >= 25_000, 'not before the listener had time to answer');
  await until(() => relay.stats().relayedConnections === 0, 2000, 'the relayed connection to end');
});

// ---------------------------------------------------------------------------
// Messages

test('Messages are relayed as sent: an n-byte message arrives as one n-byte message (no re-fragmenting)', async (t) => {
  const relay = await startRelay(t);
  const channel = await controlChannel(t, relay);
  const { sender, listener } = await rawPair(t, relay, channel);
  for (const n of [1, 125, 126, 4096, 65535, 65536, 200_000]) {
    const payload = crypto.randomBytes(n);
    sender.socket.write(encodeFrame({ opcode: OP_BINARY, payload }));
    const atListener = await listener.reader.next();
    assert.deepEqual([atListener.fin, atListener.opcode, atListener.payload.length], [true, OP_BINARY, n], `${n} bytes, sender to listener`);
    assert.ok(atListener.payload.equals(payload));
    listener.socket.write(encodeFrame({ opcode: OP_BINARY, payload }));
    const atSender = await sender.reader.next();
    assert.deepEqual([atSender.fin, atSender.opcode, atSender.payload.length], [true, OP_BINARY, n], `${n} bytes, listener to sender`);
    assert.ok(atSender.payload.equals(payload));
  }
});

test('Messages are relayed as sent: 1 MiB messages both ways', async (t) => {
  const relay = await startRelay(t);
  const channel = await controlChannel(t, relay);
  const accepted = once(channel, 'accept');
  const sender = new WebSocket(`${relay.endpoint}${senderTarget()}`, { headers: { ServiceBusAuthorization: dotnetToken(audience('echo')) }, perMessageDeflate: false });
  t.after(() => sender.terminate());
  const accept = await accepted;
  const rendezvous = new WebSocket(accept.address, { perMessageDeflate: false });
  t.after(() => rendezvous.terminate());
  await Promise.all([onceOrError(sender, 'open'), onceOrError(rendezvous, 'open')]);
  const up = crypto.randomBytes(1024 * 1024);
  const down = crypto.randomBytes(1024 * 1024);
  const atListener = onceOrError(rendezvous, 'message');
  sender.send(up);
  assert.ok(Buffer.from((await atListener)[0]).equals(up));
  const atSender = onceOrError(sender, 'message');
  rendezvous.send(down);
  assert.ok(Buffer.from((await atSender)[0]).equals(down));
});

test('Messages are relayed as sent: 100 senders connecting at once to one listener', async (t) => {
  const relay = await startRelay(t);
  const channel = await controlChannel(t, relay);
  acceptAndEcho(t, channel);
  const tok = dotnetToken(audience('echo'));
  const results = await Promise.all(
    Array.from({ length: 100 }, async (_, i) => {
      const ws = new WebSocket(`${relay.endpoint}${senderTarget()}`, { headers: { ServiceBusAuthorization: tok }, perMessageDeflate: false });
      t.after(() => ws.terminate());
      await onceOrError(ws, 'open');
      const payload = Buffer.alloc(i + 1, i % 251);
      const echoed = onceOrError(ws, 'message');
      ws.send(payload);
      const [data] = await echoed;
      ws.close();
      return Buffer.from(data).equals(payload);
    }),
  );
  assert.equal(results.filter(Boolean).length, 100);
});

test('Sender headers reach the listener in the accept message\'s connectHeaders unchanged (CustomHeader1: Some value here; other-value/here.)', async (t) => {
  const relay = await startRelay(t);
  const channel = await controlChannel(t, relay);
  const { accept } = await rawPair(t, relay, channel, {
    senderHeaders: { ServiceBusAuthorization: dotnetToken(audience('echo')), CustomHeader1: 'Some value here; other-value/here.', 'X-Second': ' padded\tvalue ' },
  });
  assert.equal(accept.connectHeaders.CustomHeader1, 'Some value here; other-value/here.');
  assert.equal(accept.connectHeaders['X-Second'], 'padded\tvalue');
  assert.equal(accept.connectHeaders.ServiceBusAuthorization, undefined);
});

// ---------------------------------------------------------------------------
// HTTP

test('HTTP: every method reaches the listener (DELETE, GET, HEAD, OPTIONS, POST, PUT, TRACE)', async (t) => {
  const relay = await startRelay(t);
  const channel = await controlChannel(t, relay);
  const seen = [];
  serveHttp(t, channel, (req) => {
    seen.push(req.method);
    return { statusCode: 200, body: req.method === 'HEAD' ? undefined : req.method };
  });
  const methods = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'TRACE'];
  for (const method of methods) {
    const res = await request(relay, '/echo', { method, headers: { ServiceBusAuthorization: dotnetToken(audience('echo')) } });
    assert.equal(res.status, 200, method);
    assert.equal(String(res.body), method === 'HEAD' ? '' : method);
  }
  assert.deepEqual(seen, methods);
});

test('HTTP: the listener\'s status code and description are passed on exactly, including 401, 404 and 407 and codes with an empty description (418, 450)', async (t) => {
  const relay = await startRelay(t);
  // The .NET client's StatusCodes test, all of them (1xx and 101 aside).
  const codes = [202, 300, 502, 400, 409, 201, 417, 403, 504, 410, 505, 500, 411, 405, 301, 204, 203, 406, 404, 501, 304, 206, 402, 412, 407, 302, 307, 303, 416, 413, 408, 414, 205, 503, 401, 415, 306, 426, 305, 418, 450];
  const description = (code) => (code === 418 || code === 450 ? '' : `${http.STATUS_CODES[code] ?? 'Unused'} (listener ${code})`);
  const channel = await controlChannel(t, relay);
  serveHttp(t, channel, (req) => {
    const code = Number(req.requestTarget.split('/').pop());
    return { statusCode: code, statusDescription: description(code), body: code === 204 || code === 304 ? undefined : 'x' };
  });
  for (const code of codes) {
    for (const method of ['GET', 'POST']) {
      const res = await request(relay, `/echo/${code}`, {
        method,
        headers: { ServiceBusAuthorization: dotnetToken(audience('echo')), 'Content-Type': 'application/json' },
        body: method === 'POST' ? '{  "a": 11,   "b" :22, "c":"test",    "d":true}' : undefined,
      });
      assert.equal(res.status, code, `${method} ${code}`);
      assert.equal(res.statusMessage, description(code), `${method} ${code}`);
    }
  }
});

test('HTTP: the response carries a Via header naming the relay\'s host', async (t) => {
  const relay = await startRelay(t);
  const channel = await controlChannel(t, relay);
  serveHttp(t, channel, (req) => ({ statusCode: 501, statusDescription: 'RequestHandler has not been configured', headers: req.requestTarget.endsWith('/proxied') ? { Via: '1.1 app-gateway' } : {} }));
  const namespace = 'contoso.servicebus.windows.net';
  for (const host of [HOST, namespace]) {
    const headers = { Host: `${host}:${relay.port}`, ServiceBusAuthorization: dotnetToken(audience('echo', host)) };
    const res = await request(relay, '/echo', { headers });
    assert.equal(res.status, 501);
    assert.ok(res.headers.via.includes(host), `Via "${res.headers.via}" names ${host}`);
    assert.equal(res.headers.via.includes('hyco-relay-emulator'), false, res.headers.via);
    // The listener's own Via is kept, the relay's added after it.
    assert.equal((await request(relay, '/echo/proxied', { headers })).headers.via, `1.1 app-gateway, 1.1 ${host}`);
    // And on the relay's own answers.
    const missing = await request(relay, '/nosuch', { headers: { ...headers, ServiceBusAuthorization: dotnetToken(`http://${host}/`) } });
    assert.equal(missing.status, 404);
    assert.ok(missing.headers.via.includes(host), missing.headers.via);
  }
});

test('HTTP: a repeated request header arrives joined (requestValue1, requestValue2)', async (t) => {
  const relay = await startRelay(t);
  const channel = await controlChannel(t, relay);
  let seen;
  serveHttp(t, channel, (req) => {
    seen = req.requestHeaders['X-CustomHeader'];
    return { statusCode: 200, headers: { 'X-CustomHeader': 'responseValue1, responseValue2' } };
  });
  const res = await request(relay, '/echo', { headers: { ServiceBusAuthorization: dotnetToken(audience('echo')), 'X-CustomHeader': ['requestValue1', 'requestValue2'] } });
  assert.equal(res.status, 200);
  assert.equal(seen, 'requestValue1, requestValue2');
  assert.deepEqual(res.headers['x-customheader'].split(',').map((v) => v.trim()), ['responseValue1', 'responseValue2']);
});

test('HTTP: 65 KiB request and response bodies', async (t) => {
  const relay = await startRelay(t);
  const channel = await controlChannel(t, relay);
  const big = 'y'.repeat(65 * 1024);
  let received;
  serveHttp(t, channel, (req, body) => {
    received = body ? String(body) : '';
    return { statusCode: 200, statusDescription: 'TestStatusDescription', body: req.method === 'GET' ? big : '' };
  });
  const tok = () => dotnetToken(audience('echo'));
  const post = await request(relay, '/echo', { method: 'POST', headers: { ServiceBusAuthorization: tok() }, body: big });
  assert.equal(post.status, 200);
  assert.equal(received.length, big.length);
  assert.equal(received, big);
  const get = await request(relay, '/echo', { headers: { ServiceBusAuthorization: tok() } });
  assert.equal(get.status, 200);
  assert.equal(get.statusMessage, 'TestStatusDescription');
  assert.equal(String(get.body), big);
});

test('HTTP: requests spread over several listeners', async (t) => {
  const relay = await startRelay(t);
  const counts = [0, 0];
  for (const i of [0, 1]) {
    const channel = await controlChannel(t, relay);
    serveHttp(t, channel, () => {
      counts[i]++;
      return { statusCode: 200, body: Buffer.from([i + 1]) };
    });
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: 10 });
  t.after(() => agent.destroy());
  const all = await Promise.all(Array.from({ length: 50 }, () => request(relay, '/echo', { agent, headers: { ServiceBusAuthorization: dotnetToken(audience('echo')) } })));
  assert.ok(all.every((r) => r.status === 200));
  assert.equal(counts[0] + counts[1], 50);
  assert.ok(counts[0] > 0 && counts[1] > 0, `both listeners served: ${counts}`);
});

// ---------------------------------------------------------------------------
// Query strings

/** PROTOCOL.md's table: sent -> seen by the listener. */
const QUERY_CASES = [
  ...['?a=1&a=2&', '?&&&', '?&foo=bar', '?sb-hc-undefined', '?CustomValue', '?custom&value', '?&&value&&', '?+', '?%2B', '?%20', '?%2f%3a%3d%26', "?key='value'", '?api-version=abc'].map((q) => [q, q]),
  ['?sb-hc-id=1', ''],
  ['?sb-hc-undefined=true', ''],
  ['?sb-hc-whatever=', ''],
  ['?sb-hc-id=1&custom=value', '?custom=value'],
  ['?custom=value&sb-hc-id=1', '?custom=value'],
  ['?sb-hc-whatever=&foo=bar', '?foo=bar'],
];

test('Query strings of HTTP requests, sent -> seen by the listener: drop only &-segments whose key starts with sb-hc- and that contain "="; keep empty segments; no query at all when nothing is left', async (t) => {
  const relay = await startRelay(t);
  const channel = await controlChannel(t, relay);
  let seen;
  serveHttp(t, channel, (req) => {
    seen = req.requestTarget;
    return { statusCode: 200 };
  });
  for (const [sent, expected] of QUERY_CASES) {
    const res = await request(relay, `/echo${sent}`, { headers: { ServiceBusAuthorization: dotnetToken(audience('echo')) } });
    assert.equal(res.status, 200, sent);
    assert.equal(seen, `/echo${expected}`, `sent ${sent}`);
  }
});

test('Query strings, the same rule for WebSocket senders: the accept address carries the sender\'s query as the listener must see it', async (t) => {
  const relay = await startRelay(t);
  const channel = await controlChannel(t, relay);
  for (const [sent, expected] of QUERY_CASES) {
    const accepted = once(channel, 'accept');
    // As HybridConnectionClient builds it: the sender's query, then sb-hc-action and sb-hc-id.
    const sending = upgrade(t, relay, senderTarget('echo', sent.slice(1)), { ServiceBusAuthorization: dotnetToken(audience('echo')) });
    const accept = await offered(accepted, sending);
    assert.equal(listenerQuery(accept.address), expected, `sent ${sent}: address ${accept.address}`);
    // The relay's own parameters are all there, after the sender's.
    assert.match(accept.address, /[?&]sb-hc-action=accept&sb-hc-id=[^&]+&sb-hc-rendezvous=[0-9a-f]{32}$/);
  }
  // Accepting still works when the sender's query holds sb-hc- words without "=", or a statusCode= of its own
  // (which older listeners append, unprefixed, to reject: only what follows the relay's parameters is the listener's).
  const pair = await rawPair(t, relay, channel, { target: senderTarget('echo', 'sb-hc-statusCode&sb-hc-rendezvous&sb-hc-action&statusCode=500&statusDescription=no') });
  pair.sender.socket.write(encodeFrame({ opcode: OP_TEXT, payload: Buffer.from('accepted') }));
  assert.equal(String((await pair.listener.reader.next()).payload), 'accepted');
});

// ---------------------------------------------------------------------------
// TLS, rendezvous, keepalive

test('TLS: the .NET client\'s own WebSocket offers TLS 1.0-1.2 only, so a relay must accept TLS 1.2', async (t) => {
  const relay = await RelayEmulator.start({ rules: RULES, hybridConnections: ['echo'], tls: 'self-signed' });
  t.after(() => relay.close());
  const only12 = { ca: relay.certificate, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' };
  const socket = tls.connect({ host: HOST, port: relay.port, ...only12 });
  t.after(() => socket.destroy());
  await onceOrError(socket, 'secureConnect');
  assert.equal(socket.getProtocol(), 'TLSv1.2');
  socket.end();
  // Listener, sender and HTTP sender, all over TLS 1.2.
  const channel = await controlChannel(t, relay, 'echo', { ws: only12 });
  acceptAndEcho(t, channel, only12);
  serveHttp(t, channel, () => ({ statusCode: 200, body: 'tls 1.2' }));
  const sender = new WebSocket(`${relay.endpoint}${senderTarget()}`, { headers: { ServiceBusAuthorization: dotnetToken(audience('echo')) }, ...only12 });
  t.after(() => sender.terminate());
  await onceOrError(sender, 'open');
  assert.equal(sender._socket.getProtocol(), 'TLSv1.2');
  sender.send('over TLS 1.2');
  assert.equal(String((await onceOrError(sender, 'message'))[0]), 'over TLS 1.2');
  const agent = new https.Agent({ ...only12 });
  t.after(() => agent.destroy());
  const res = await request(relay, '/echo', { client: https, agent, ca: relay.certificate, headers: { ServiceBusAuthorization: dotnetToken(audience('echo')) } });
  assert.equal(res.status, 200);
  assert.equal(String(res.body), 'tls 1.2');
});

test('Rendezvous connections (accept, reject, HTTP) carry no token and no user agent: the address is the credential', async (t) => {
  const relay = await startRelay(t);
  const channel = await controlChannel(t, relay);
  // Accept: a bare upgrade to the address, nothing else.
  const { sender, listener } = await rawPair(t, relay, channel);
  listener.socket.write(encodeFrame({ opcode: OP_TEXT, payload: Buffer.from('accepted') }));
  assert.equal(String((await sender.reader.next()).payload), 'accepted');
  // Reject: the address with the status added, as RelayedHttpListenerContext.RejectAsync builds it; the listener gets 410.
  const accepted = once(channel, 'accept');
  const rejecting = upgrade(t, relay, senderTarget(), { ServiceBusAuthorization: dotnetToken(audience('echo')) });
  const accept = await accepted;
  const url = new URL(accept.address);
  const reject = await upgrade(t, relay, `${url.pathname}${url.search}&sb-hc-statusCode=401&sb-hc-statusDescription=${urlEncode('Rejected by user code')}`);
  assert.equal(reject.status, 410);
  const refused = await rejecting;
  assert.equal(refused.status, 401);
  assert.equal(refused.statusMessage, 'Rejected by user code');
  // HTTP: a request too large for the control channel, taken up over a bare rendezvous, answered in raw frames.
  const requested = once(channel, 'request');
  const responding = request(relay, '/echo', { method: 'PUT', headers: { ServiceBusAuthorization: dotnetToken(audience('echo')) }, body: Buffer.alloc(70 * 1024, 1) });
  const [message] = await requested;
  assert.equal(message.method, undefined, 'address only');
  const rendezvousUrl = new URL(message.address);
  const rendezvous = await upgrade(t, relay, `${rendezvousUrl.pathname}${rendezvousUrl.search}`);
  assert.ok(rendezvous.socket);
  const head = JSON.parse(String((await rendezvous.reader.next()).payload)).request;
  assert.equal(head.method, 'PUT');
  let size = 0;
  for (;;) {
    const frame = await rendezvous.reader.next();
    size += frame.payload.length;
    if (frame.fin) break;
  }
  assert.equal(size, 70 * 1024);
  rendezvous.socket.write(encodeFrame({ opcode: OP_TEXT, payload: Buffer.from(JSON.stringify({ response: { requestId: head.id, statusCode: 201, statusDescription: 'Created', body: false } })) }));
  const res = await responding;
  assert.equal(res.status, 201);
});

test('Modern .NET sends unsolicited Pong frames as its keepalive on the control channel and on rendezvous sockets: they are ignored, never answered or treated as errors', async (t) => {
  const relay = await startRelay(t);
  const channel = await upgrade(t, relay, `/$hc/echo?sb-hc-action=listen&sb-hc-id=${crypto.randomUUID()}`, { ServiceBusAuthorization: dotnetToken(audience('echo')) });
  assert.ok(channel.socket);
  for (let i = 0; i < 3; i++) channel.socket.write(encodeFrame({ opcode: OP_PONG, payload: Buffer.from(`keepalive ${i}`) }));
  channel.socket.write(encodeFrame({ opcode: OP_PONG }));
  await delay(200);
  assert.equal(channel.reader.frames.length, 0, 'nothing answers a pong');
  // The channel is still a listener: a sender is offered to it.
  const sending = upgrade(t, relay, senderTarget(), { ServiceBusAuthorization: dotnetToken(audience('echo')) });
  const offer = await channel.reader.next();
  assert.equal(offer.opcode, OP_TEXT);
  const accept = JSON.parse(String(offer.payload)).accept;
  // On a relayed connection a pong is passed on as a pong, like every frame; it ends nothing.
  const url = new URL(accept.address);
  const rendezvous = await upgrade(t, relay, `${url.pathname}${url.search}`);
  const sender = await sending;
  rendezvous.socket.write(encodeFrame({ opcode: OP_PONG, payload: Buffer.from('rendezvous keepalive') }));
  rendezvous.socket.write(encodeFrame({ opcode: OP_TEXT, payload: Buffer.from('still here') }));
  const pong = await sender.reader.next();
  assert.deepEqual([pong.opcode, String(pong.payload)], [OP_PONG, 'rendezvous keepalive']);
  assert.equal(String((await sender.reader.next()).payload), 'still here');
  assert.equal(relay.stats().relayedConnections, 1);
});

test('The .NET sender adds Relay-User-Agent; listeners send sb-hc-id', async (t) => {
  const relay = await startRelay(t);
  const id = crypto.randomUUID();
  const channel = await controlChannel(t, relay, 'echo', { id });
  assert.deepEqual(relay.stats().hybridConnections[0].listenerIds, [id]);
  const userAgent = 'Microsoft.Azure.Relay/3.0.1 (.NET 8.0.1; Linux)';
  const { sender, listener, accept } = await rawPair(t, relay, channel, {
    senderHeaders: { ServiceBusAuthorization: dotnetToken(audience('echo')), 'Relay-User-Agent': userAgent, 'Microsoft-Relay-AllowedListeners': id },
  });
  assert.equal(accept.connectHeaders['Relay-User-Agent'], userAgent);
  sender.socket.write(encodeFrame({ opcode: OP_TEXT, payload: Buffer.from('tolerated') }));
  assert.equal(String((await listener.reader.next()).payload), 'tolerated');
});

// ---------------------------------------------------------------------------
// "Clients in other languages": what the .NET and Java clients send, taken.

test('Tokens: an audience without the port, with or without the trailing slash, in the http://, sb:// and https:// forms, listens and sends (WebSocket and HTTP) whatever port the relay listens on; another host is 403', async (t) => {
  const relay = await startRelay(t);
  assert.notEqual(relay.port, 80);
  const forms = ['http', 'sb', 'https'].flatMap((scheme) => [`${scheme}://${HOST}/echo/`, `${scheme}://${HOST}/echo`]);
  for (const form of forms) {
    const tok = dotnetToken(form);
    const channel = await controlChannel(t, relay, 'echo', { token: tok });
    serveHttp(t, channel, () => ({ statusCode: 200, body: form }));
    const { sender, listener } = await rawPair(t, relay, channel, { senderHeaders: { ServiceBusAuthorization: tok } });
    sender.socket.write(encodeFrame({ opcode: OP_TEXT, payload: Buffer.from(form) }));
    assert.equal(String((await listener.reader.next()).payload), form);
    const res = await request(relay, '/echo', { headers: { ServiceBusAuthorization: tok } });
    assert.equal(res.status, 200, form);
    assert.equal(String(res.body), form);
    channel.terminate();
    await until(() => relay.stats().hybridConnections[0].listeners === 0, 2000, 'the listener gone');
  }
  assert.equal((await upgrade(t, relay, senderTarget(), { ServiceBusAuthorization: dotnetToken('http://contoso.servicebus.windows.net/echo/') })).status, 403);
});

test('Modern .NET\'s keepalive for a while: unsolicited Pong frames on a control channel and a rendezvous, every 500 ms for 8 s, are never answered or treated as errors, and keep an idle channel alive', async (t) => {
  // 8 s of pongs rather than the minute a real client would spend: the relay has no timer that pongs act
  // on other than the idle cut, so the idle cut is set to 2 s here and the pongs outlast it four times over:
  // a relay that did not count them as traffic would have cut the channel, one that answered them would
  // have sent 16 frames, one that took them for errors would have closed; a minute proves no more.
  const relay = await startRelay(t, { idleTimeoutMs: 2000 });
  const channel = await upgrade(t, relay, `/$hc/echo?sb-hc-action=listen&sb-hc-id=${crypto.randomUUID()}`, { ServiceBusAuthorization: dotnetToken(audience('echo')) });
  assert.ok(channel.socket);
  const sending = upgrade(t, relay, senderTarget(), { ServiceBusAuthorization: dotnetToken(audience('echo')) });
  const accept = JSON.parse(String((await channel.reader.next()).payload)).accept;
  const url = new URL(accept.address);
  const rendezvous = await upgrade(t, relay, `${url.pathname}${url.search}`);
  const sender = await sending;
  assert.ok(rendezvous.socket && sender.socket);
  const pong = (socket, i) => socket.write(encodeFrame({ opcode: OP_PONG, payload: Buffer.from(`keepalive ${i}`) }));
  for (let i = 0; i < 16; i++) {
    pong(channel.socket, i);
    pong(rendezvous.socket, i);
    await delay(500);
  }
  // The control channel: nothing came back, and it is still the hybrid connection's listener.
  assert.equal(channel.reader.frames.length, 0, 'nothing answers a pong on the control channel');
  assert.equal(channel.reader.ended, false);
  assert.equal(relay.stats().hybridConnections[0].listeners, 1);
  const next = upgrade(t, relay, senderTarget(), { ServiceBusAuthorization: dotnetToken(audience('echo')) });
  assert.ok(JSON.parse(String((await channel.reader.next()).payload)).accept, 'still offered senders');
  void next.catch(() => {});
  // The rendezvous: its pongs went to the sender as pongs (a relay passes frames on), nothing came back to it.
  assert.equal(rendezvous.reader.frames.length, 0, 'nothing answers a pong on the rendezvous');
  const passed = [];
  for (let i = 0; i < 16; i++) passed.push(await sender.reader.next());
  assert.deepEqual(passed.map((f) => f.opcode), new Array(16).fill(OP_PONG));
  sender.socket.write(encodeFrame({ opcode: OP_TEXT, payload: Buffer.from('still joined') }));
  assert.equal(String((await rendezvous.reader.next()).payload), 'still joined');
  assert.equal(relay.stats().relayedConnections, 1);
});

test('A hybrid connection with RequiresClientAuthorization = false: senders over WebSocket and HTTP need no token at all; listeners still need Listen; runtime information reports it', async (t) => {
  const relay = await startRelay(t, { hybridConnections: [{ path: 'open', requiresClientAuthorization: false }] });
  // A listener without a token, or with a Send-only one, is refused.
  assert.equal((await upgrade(t, relay, '/$hc/open?sb-hc-action=listen')).status, 401);
  assert.equal((await upgrade(t, relay, '/$hc/open?sb-hc-action=listen', { ServiceBusAuthorization: dotnetToken(audience('open'), { rule: RULES[2] }) })).status, 403);
  const channel = await controlChannel(t, relay, 'open', { token: dotnetToken(audience('open'), { rule: RULES[1] }) });
  serveHttp(t, channel, (req) => ({ statusCode: 200, body: `anonymous ${req.method}` }));
  const { sender, listener, accept } = await rawPair(t, relay, channel, { target: '/$hc/open?sb-hc-action=connect', senderHeaders: {} });
  assert.equal(accept.connectHeaders.ServiceBusAuthorization, undefined);
  sender.socket.write(encodeFrame({ opcode: OP_TEXT, payload: Buffer.from('no token') }));
  assert.equal(String((await listener.reader.next()).payload), 'no token');
  const res = await request(relay, '/open', { method: 'POST', body: 'x' });
  assert.equal(res.status, 200);
  assert.equal(String(res.body), 'anonymous POST');
  const info = await request(relay, '/open?api-version=2016-07', { headers: { 'X-PROCESS-AT': 'ServiceBus', Authorization: dotnetToken(audience('open')) } });
  assert.match(String(info.body), /<RequiresClientAuthorization>false<\/RequiresClientAuthorization>/);
  // The CLI flag and the config key are tested with the CLI (banner.test.js, config-file.test.js).
});

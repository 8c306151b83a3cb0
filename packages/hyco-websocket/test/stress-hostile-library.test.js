'use strict';
// A fake service (a test server, since the emulator only sends well-formed
// messages) feeds the listener malformed control messages, accept messages
// with missing or absurd fields, and rendezvous that fail in every way. The
// listener never crashes, reports each as an error with a code, stays on
// the same control channel and keeps accepting well-formed senders.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const crypto = require('node:crypto');
const { WebSocketServer } = require('ws');
const hyco = require('hyco-websocket');
const { token } = require('hyco-test-support');

async function fakeService(t) {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const held = new Set();
  const server = http.createServer();
  let channelResolve;
  const channel = new Promise((resolve) => (channelResolve = resolve));
  server.on('upgrade', (req, socket, head) => {
    held.add(socket);
    socket.on('error', () => {});
    const url = new URL(req.url, 'http://x');
    const action = url.searchParams.get('sb-hc-action');
    if (action === 'listen') return wss.handleUpgrade(req, socket, head, (ws) => channelResolve(ws));
    if (url.searchParams.has('sb-hc-statusCode')) return socket.end('HTTP/1.1 410 Gone\r\nContent-Length: 0\r\n\r\n');
    switch (url.searchParams.get('mode')) {
      case 'ok':
        return wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (d, isBinary) => ws.send(d, { binary: isBinary })));
      case '500':
        return socket.end('HTTP/1.1 500 Service Fault\r\nContent-Length: 0\r\n\r\n');
      case 'hang':
        return undefined;
      case 'close':
        return socket.destroy();
      case 'badaccept':
        return socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: d3Jvbmc=\r\n\r\n');
      case 'garbage':
        return socket.end(crypto.randomBytes(64));
      default:
        return socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const s of held) s.destroy();
    wss.close();
    server.close();
  });
  return { port: server.address().port, channel };
}

function closedPort() {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

test('hostile input to the library: every malformed message and failed rendezvous is reported with a code; the listener stays up and keeps accepting', async (t) => {
  const service = await fakeService(t);
  const base = `ws://127.0.0.1:${service.port}/$hc/lib`;
  const server = new hyco.relayedServer({ server: `${base}?sb-hc-action=listen`, token: () => token('lib'), autoAcceptConnections: true, rendezvousTimeout: 500 });
  t.after(() => server.close());
  let onlineCount = 0;
  server.on('online', () => onlineCount++);
  const errors = [];
  let errorWaiter;
  server.on('error', (err) => {
    errors.push(err);
    if (errorWaiter) errorWaiter(err);
  });
  const channel = await service.channel;
  const replies = [];
  channel.on('message', (d, isBinary) => {
    if (!isBinary) replies.push(JSON.parse(d.toString()));
  });
  const headers = { Host: 'x', 'Sec-WebSocket-Key': crypto.randomBytes(16).toString('base64'), 'Sec-WebSocket-Version': '13' };
  const accept = (mode, extra = {}) => JSON.stringify({ accept: { address: `${base}?sb-hc-action=accept&mode=${mode}`, id: mode, connectHeaders: headers, ...extra } });
  const dead = await closedPort();

  const cases = [
    ['not JSON', '{"accept": ', 'ERR_HYCO_MALFORMED_MESSAGE'],
    ['a JSON array', '[1,2]', 'ERR_HYCO_MALFORMED_MESSAGE'],
    ['an unknown message', JSON.stringify({ launch: { now: true } }), 'ERR_HYCO_MALFORMED_MESSAGE'],
    ['accept without an address', JSON.stringify({ accept: { id: 'x', connectHeaders: headers } }), 'ERR_HYCO_MALFORMED_MESSAGE'],
    ['accept with an http:// address', JSON.stringify({ accept: { address: 'http://127.0.0.1/x', connectHeaders: headers } }), 'ERR_HYCO_MALFORMED_MESSAGE'],
    ['accept with headers as an array', JSON.stringify({ accept: { address: `${base}?mode=ok`, connectHeaders: ['a'] } }), 'ERR_HYCO_MALFORMED_MESSAGE'],
    ['accept with a header that is an object', JSON.stringify({ accept: { address: `${base}?mode=ok`, connectHeaders: { Host: { a: 1 } } } }), 'ERR_HYCO_MALFORMED_MESSAGE'],
    ['a stray binary frame', crypto.randomBytes(32), 'ERR_HYCO_MALFORMED_MESSAGE'],
    ['accept without Sec-WebSocket-Key', accept('ok', { connectHeaders: { Host: 'x', 'Sec-WebSocket-Version': '13' } }), 'ERR_HYCO_BAD_REQUEST'],
    ['rendezvous on a closed port', JSON.stringify({ accept: { address: `ws://127.0.0.1:${dead}/$hc/lib?sb-hc-action=accept`, connectHeaders: headers } }), 'ERR_HYCO_RENDEZVOUS_FAILED'],
    ['rendezvous answering 500', accept('500'), 'ERR_HYCO_RENDEZVOUS_FAILED'],
    ['rendezvous that never answers', accept('hang'), 'ERR_HYCO_RENDEZVOUS_FAILED'],
    ['rendezvous that hangs up', accept('close'), 'ERR_HYCO_RENDEZVOUS_FAILED'],
    ['rendezvous with a wrong Sec-WebSocket-Accept', accept('badaccept'), 'ERR_HYCO_RENDEZVOUS_FAILED'],
    ['rendezvous answering garbage', accept('garbage'), 'ERR_HYCO_RENDEZVOUS_FAILED'],
    ['rendezvous refused (403)', accept('nope'), 'ERR_HYCO_RENDEZVOUS_FAILED'],
  ];
  for (const [what, message, code] of cases) {
    const reported = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no error reported for ${what}`)), 3000);
      errorWaiter = (err) => {
        clearTimeout(timer);
        errorWaiter = undefined;
        resolve(err);
      };
    });
    channel.send(message);
    const err = await reported;
    assert.equal(err.code, code, what);
    assert.ok(err instanceof Error, what);
    assert.equal(String(err.message).includes('SharedAccessSignature'), false, `${what}: no token in the message`);
  }

  // Absurd but harmless fields are tolerated, and a well-formed sender still gets through.
  const connected = new Promise((resolve) => server.once('connect', resolve));
  const manyHeaders = { ...headers };
  for (let i = 0; i < 500; i++) manyHeaders[`X-H${i}`] = 'v'.repeat(20);
  channel.send(accept('ok', { id: 12345, remoteEndpoint: 'nowhere', connectHeaders: manyHeaders }));
  const connection = await connected;
  const echoed = new Promise((resolve) => connection.once('message', resolve));
  connection.sendUTF('still accepting');
  assert.equal((await echoed).utf8Data, 'still accepting');
  // An HTTP request with a body that never comes is still answered at once.
  channel.send(JSON.stringify({ request: { address: `${base}?sb-hc-action=request`, id: 'r1', method: 'GET', requestTarget: '/lib', requestHeaders: {}, body: true } }));
  while (!replies.some((r) => r.response?.requestId === 'r1')) await new Promise((r) => setTimeout(r, 10));
  assert.equal(replies.find((r) => r.response?.requestId === 'r1').response.statusCode, 501);
  t.diagnostic(`hostile service: ${cases.length} malformed messages and failed rendezvous, ${errors.length} errors reported with codes, 0 crashes, control channel kept (${onlineCount} online event)`);
  assert.equal(onlineCount, 1, 'the same control channel throughout');
  assert.equal(server.isOnline, true);
  for (const err of errors) assert.match(err.code, /^ERR_HYCO_/);
});

'use strict';
// Microsoft's published Node listener, hyco-ws@1.0.5, unmodified, against
// the emulator, with a plain `ws` sender.
const test = require('node:test');
const assert = require('node:assert/strict');
const hycoWs = require('hyco-ws');
const http = require('node:http');
const { startRelay, sendWs, onceOrError, nextMessage, token, until, createRelayListenUri } = require('hyco-test-support');

test('hyco-ws@1.0.5 listens, accepts and echoes through the emulator', async (t) => {
  const relay = await startRelay(t);
  const server = hycoWs.createRelayedServer(
    { server: createRelayListenUri(relay.endpoint, 'echo'), token: () => token('echo') },
    (ws) => ws.on('message', (data) => ws.send(data)),
  );
  const errors = [];
  server.on('error', (err) => errors.push(err));
  t.after(() => server.close());
  await onceOrError(server, 'listening');
  const sender = await sendWs(relay);
  t.after(() => sender.terminate());
  sender.send('through hyco-ws');
  assert.equal(String(await nextMessage(sender)), 'through hyco-ws');
  sender.send(Buffer.from([1, 2, 3]));
  assert.deepEqual([...(await nextMessage(sender))], [1, 2, 3]);
  assert.deepEqual(errors, []);
});

test('hyco-https@1.4.5 streams a response of 66,560 small writes through the emulator to Node\'s http client, byte for byte', async (t) => {
  const hycoHttps = require('hyco-https');
  const { Readable } = require('node:stream');
  const relay = await startRelay(t, { hybridConnections: ['web'] });
  // As hyco-https's own pipe tests: 65 KB of text, pushed one character at a time: one frame per write.
  let kb = '';
  for (let i = 1024; i > 0; i--) kb += String.fromCharCode(i % 128);
  const text = kb.repeat(65);
  const server = hycoHttps.createRelayedServer({ server: createRelayListenUri(relay.endpoint, 'web'), token: () => token('web') }, (req, res) => {
    res.setHeader('Content-Type', 'text/plain');
    const stream = new Readable({ read() {} });
    stream.pipe(res);
    for (const ch of text) stream.push(ch);
    stream.push(null);
  });
  server.on('error', () => {});
  server.listen();
  t.after(() => server.close());
  await until(() => relay.stats().hybridConnections[0].listeners === 1, 5000, 'hyco-https online');
  const res = await new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: relay.port, path: '/web', headers: { ServiceBusAuthorization: token('web') } }, (r) => {
        const chunks = [];
        r.on('data', (c) => chunks.push(c));
        r.on('end', () => resolve({ status: r.statusCode, complete: r.complete, body: Buffer.concat(chunks).toString('latin1') }));
      })
      .on('error', reject);
  });
  assert.equal(text.length, 66560);
  assert.equal(res.status, 200);
  assert.equal(res.complete, true);
  assert.equal(res.body.length, text.length);
  assert.ok(res.body === text, 'byte for byte');
});

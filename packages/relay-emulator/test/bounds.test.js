'use strict';
// The emulator's buffers that no other test file holds to their bound (the
// README's "Bounds" table names the test of each): bytes a sender sends
// before it is accepted, an OAuth token request's form, and the activity the
// dashboard keeps.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const crypto = require('node:crypto');
const { startRelay, listen, token, until, createRelaySendUri } = require('hyco-test-support');
const { encodeFrame, rawUpgrade } = require('hyco-test-support/raw');

test('a sender that sends more than 64 KiB before any listener accepts it is cut, and leaves nothing pending', async (t) => {
  const relay = await startRelay(t);
  const held = [];
  await listen(t, relay, 'echo', { onAccept: (accept) => held.push(accept) });
  // A raw sender: the upgrade request, then frames at once, without waiting for the 101 (which a held sender never gets).
  const socket = net.connect(relay.port, '127.0.0.1');
  socket.on('error', () => undefined);
  let closed = false;
  socket.on('close', () => (closed = true));
  await new Promise((resolve) => socket.once('connect', resolve));
  const { pathname, search } = new URL(createRelaySendUri(relay.endpoint, 'echo').replace(/^ws/, 'http'));
  socket.write(`GET ${pathname}${search} HTTP/1.1\r\nHost: 127.0.0.1:${relay.port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nServiceBusAuthorization: ${token('echo')}\r\n\r\n`);
  await until(() => held.length === 1, 5000, 'the listener told of the sender');
  const frame = encodeFrame({ opcode: 2, payload: Buffer.alloc(16 * 1024, 7) });
  for (let i = 0; i < 6 && !closed; i++) socket.write(frame);
  await until(() => closed, 5000, 'the flooding sender cut');
  await until(() => relay.stats().hybridConnections[0].pendingSenders === 0, 5000, 'nothing pending');
});

test('an OAuth token request whose form is over 16 KiB is refused, and the endpoint serves the next one', async (t) => {
  const relay = await startRelay(t, { applications: [{ clientId: 'app-1', clientSecret: 's3cret', roles: [{ role: 'Listener' }] }] });
  const port = relay.port;
  const post = (body) =>
    new Promise((resolve) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: `/${relay.tenantId}/oauth2/v2.0/token`, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      });
      req.on('error', (err) => resolve(err.code));
      req.end(body);
    });
  const huge = await post(`client_id=app-1&client_secret=s3cret&pad=${'x'.repeat(64 * 1024)}`);
  assert.notEqual(huge, 200, 'refused');
  const normal = await post('grant_type=client_credentials&client_id=app-1&client_secret=s3cret&scope=https%3A%2F%2Frelay.azure.net%2F.default');
  assert.equal(normal, 200);
});

test('the activity the emulator keeps is bounded: after 300 refusals the dashboard snapshot lists at most 50, newest first', async (t) => {
  const relay = await startRelay(t);
  for (let i = 0; i < 300; i++) await rawUpgrade(createRelaySendUri(relay.endpoint, `nosuch-${i}`), { ServiceBusAuthorization: token(`nosuch-${i}`) });
  // The live feed's first snapshot carries the activity.
  const status = await new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: relay.port, path: '/$events' }, (res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
        const line = /^data: (.*)$/m.exec(body);
        if (line) {
          req.destroy();
          resolve({ status: res.statusCode, body: line[1] });
        }
      });
    });
    req.on('error', reject);
  });
  assert.equal(status.status, 200, status.body.slice(0, 200));
  const { activity } = JSON.parse(status.body);
  assert.ok(activity.length <= 50, `${activity.length} listed`);
  assert.match(activity[0].path, /nosuch-299/);
});

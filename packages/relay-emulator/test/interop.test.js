'use strict';
// Microsoft's published Node listener, hyco-ws@1.0.5, unmodified, against
// the emulator, with a plain `ws` sender.
const test = require('node:test');
const assert = require('node:assert/strict');
const hycoWs = require('hyco-ws');
const { startRelay, sendWs, onceOrError, nextMessage, token, createRelayListenUri } = require('hyco-test-support');

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

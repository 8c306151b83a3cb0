'use strict';
// The relay (the emulator, in a process of its own) restarting under a
// forwarded transfer: the open connection fails loudly at both ends (a
// reset, never a clean end that would pass for a complete transfer), the
// remote forwarder's listener comes back by itself, and new connections
// work.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { childEmulator, once, until } = require('hyco-test-support');
const { remoteForward, localForward, tcpServer, freePort, connect, resetOrEnd } = require('./fixtures/forward');

test('the relay restarting mid-transfer: the transfer fails loudly at both ends, the listener comes back, new connections work', async (t) => {
  const port = await freePort();
  let relay = await childEmulator({ port, hybridConnections: ['fwd'] });
  t.after(() => relay.stop());
  const endpoint = relay.endpoint;
  const serverEnds = [];
  const server = await tcpServer(t, (socket) => {
    serverEnds.push(resetOrEnd(socket));
    socket.once('data', (first) => {
      if (first.toString().startsWith('echo')) {
        socket.write(first);
        socket.pipe(socket);
        return;
      }
      // An endless download: written as fast as the tunnel takes it.
      const chunk = crypto.randomBytes(64 * 1024);
      const pump = () => {
        while (!socket.destroyed && socket.write(chunk));
        if (!socket.destroyed) socket.once('drain', pump);
      };
      pump();
    });
  });
  const remote = await remoteForward(t, { endpoint }, [{ host: '127.0.0.1', hostPort: server.port }]);
  const local = await localForward(t, { endpoint }, [{ bindPort: 0 }]);
  const client = await connect(local.addresses[0].port);
  let received = 0;
  client.on('data', (c) => (received += c.length));
  const clientEnd = resetOrEnd(client);
  client.write('download');
  await until(() => received > 8 * 1024 * 1024, 20000, 'the transfer to be well under way');

  await relay.stop();
  assert.equal(await clientEnd, 'reset', 'the client sees a reset, not an end');
  assert.equal(await serverEnds[0], 'reset', 'so does the server');
  await until(() => local.closed.length === 1 && remote.closed.length === 1);
  assert.ok(local.closed[0].error, 'the local side reports the failure');
  assert.ok(remote.closed[0].error, 'the remote side reports the failure');
  assert.equal(remote.isOnline, false);

  relay = await childEmulator({ port, hybridConnections: ['fwd'] });
  if (!remote.isOnline) await once(remote, 'online');
  const again = await connect(local.addresses[0].port);
  const got = [];
  again.on('data', (c) => got.push(c));
  again.write('echo');
  again.write(' after the restart');
  await until(() => Buffer.concat(got).toString() === 'echo after the restart', 10000, 'the echo through the restarted relay');
  again.end();
  await until(() => local.closed.length === 2 && remote.closed.length === 2);
  assert.equal(local.closed[1].error, undefined);
  assert.equal(remote.closed[1].error, undefined);
});

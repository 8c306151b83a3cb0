'use strict';
// The benchmark's child processes, one role each (argv[2]):
//   emulator                 the relay emulator
//   listener direct          websocket.server echo on its own port (no relay)
//   listener relayed <uri>   hyco-websocket relayedServer echo
//   listener peer <uri>      Microsoft's hyco-ws@1.0.5 listener echo
// Each reports { ready } over IPC, then answers { usage } requests with its
// CPU time and (after a GC) resident memory.
const http = require('node:http');

const LIMITS = { maxReceivedFrameSize: 4 * 1024 * 1024, maxReceivedMessageSize: 4 * 1024 * 1024 };

function answerUsage() {
  process.on('message', (message) => {
    if (message.type !== 'usage') return;
    if (message.gc && global.gc) global.gc();
    const cpu = process.cpuUsage();
    process.send({ type: 'usage', id: message.id, cpuMs: (cpu.user + cpu.system) / 1000, rss: process.memoryUsage().rss });
  });
  process.on('disconnect', () => process.exit(0));
}

async function emulator() {
  const { RelayEmulator } = require('hyco-relay-emulator');
  const relay = await RelayEmulator.start({ hybridConnections: ['bench'], maxListenersPerHybridConnection: 25 });
  answerUsage();
  process.send({ type: 'ready', endpoint: relay.endpoint, rule: relay.rules[0] });
}

function echoWebsocket(connection) {
  connection.on('message', (m) => (m.type === 'utf8' ? connection.sendUTF(m.utf8Data) : connection.sendBytes(m.binaryData)));
  connection.on('error', () => {});
}

async function listener(mode, uri, token) {
  if (mode === 'direct') {
    const { server: WebSocketServer } = require('websocket');
    // Plain HTTP on the same server, for the HTTP row.
    const httpServer = http.createServer((req, res) => {
      req.resume();
      res.end('ok');
    });
    await new Promise((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    const wss = new WebSocketServer({ httpServer, autoAcceptConnections: true, ...LIMITS });
    wss.on('connect', echoWebsocket);
    answerUsage();
    process.send({ type: 'ready', uri: `ws://127.0.0.1:${httpServer.address().port}/` });
    return;
  }
  if (mode === 'relayed') {
    const { relayedServer } = require('hyco-websocket');
    const wss = new relayedServer({ server: uri, token: () => token, autoAcceptConnections: true, ...LIMITS });
    wss.on('connect', echoWebsocket);
    wss.on('httpRequest', (req, res) => {
      req.resume();
      res.end('ok');
    });
    wss.on('error', (err) => process.send({ type: 'log', text: `relayed listener: ${err.message}` }));
    await new Promise((resolve) => wss.once('online', resolve));
  } else if (mode === 'peer') {
    const hycoWs = require('hyco-ws');
    const wss = hycoWs.createRelayedServer({ server: uri, token: () => token }, (ws) => {
      ws.on('message', (data, flags) => ws.send(data, { binary: Boolean(flags && flags.binary) }));
      ws.on('error', () => {});
    });
    wss.on('error', () => {});
    await new Promise((resolve) => wss.once('listening', resolve));
  } else {
    throw new Error(`unknown listener mode ${mode}`);
  }
  answerUsage();
  process.send({ type: 'ready' });
}

const [role, mode, uri, token] = process.argv.slice(2);
(role === 'emulator' ? emulator() : listener(mode, uri, token)).catch((err) => {
  process.send({ type: 'error', text: err.stack });
  process.exit(1);
});

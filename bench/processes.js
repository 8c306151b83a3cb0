'use strict';
// The benchmark's child processes, one role each (argv[2]):
//   emulator [tls-dir]                  the relay emulator (wss:// with the certificate in tls-dir)
//   listener direct [tls-dir]           websocket.server echo on its own port (no relay)
//   listener relayed <uri> <token>      hyco-websocket relayedServer echo
//   listener peer <uri> <token>         Microsoft's hyco-ws@1.0.5 listener echo
//   expose <uri> <token> <origin>       hyco-websocket relayedProxy to <origin>
//   tcp-echo                            a plain TCP echo server (the forward scenario's target)
//   forward-remote <ns> <hc> <token> <port>  createRemoteForward to 127.0.0.1:<port> (azbridge's -T)
//   forward-local <ns> <hc> <token>     createLocalForward on a free port (azbridge's -L)
//   forwarder <port> [delay-ms]         a TCP forwarder to 127.0.0.1:<port>: bytes piped
//                                       both ways, nothing parsed; with a delay, a WAN
//                                       link (see below)
// Each reports { ready } over IPC, then answers { usage } requests with its
// CPU time and (after a GC) resident memory. TLS clients trust the
// benchmark's certificate through NODE_EXTRA_CA_CERTS, set by run.js.
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const net = require('node:net');
const path = require('node:path');

const LIMITS = { maxReceivedFrameSize: 4 * 1024 * 1024, maxReceivedMessageSize: 4 * 1024 * 1024 };
const ONE_MB = Buffer.alloc(1024 * 1024, 7);

function answerUsage() {
  process.on('message', (message) => {
    if (message.type !== 'usage') return;
    if (message.gc && global.gc) global.gc();
    const cpu = process.cpuUsage();
    process.send({ type: 'usage', id: message.id, cpuMs: (cpu.user + cpu.system) / 1000, rss: process.memoryUsage().rss });
  });
  process.on('disconnect', () => process.exit(0));
}

function tlsMaterial(dir) {
  return dir ? { cert: fs.readFileSync(path.join(dir, 'cert.pem')), key: fs.readFileSync(path.join(dir, 'key.pem')) } : undefined;
}

async function emulator(tlsDir) {
  const { RelayEmulator } = require('hyco-relay-emulator');
  const tls = tlsMaterial(tlsDir);
  // HYCO_BENCH_UNRECORDED: the inspector does not record (the http-unrecorded row), else its default (recording, on loopback).
  const inspector = process.env.HYCO_BENCH_UNRECORDED === '1' ? { inspector: { record: false } } : {};
  const relay = await RelayEmulator.start({ hybridConnections: ['bench', 'expose'], maxListenersPerHybridConnection: 25, ...(tls ? { tls } : {}), ...inspector });
  answerUsage();
  process.send({ type: 'ready', endpoint: relay.endpoint, port: relay.port, rule: relay.rules[0] });
}

function echoWebsocket(connection) {
  connection.on('message', (m) => (m.type === 'utf8' ? connection.sendUTF(m.utf8Data) : connection.sendBytes(m.binaryData)));
  connection.on('error', () => {});
}

async function listener(mode, uri, token) {
  if (mode === 'direct') {
    const { server: WebSocketServer } = require('websocket');
    const tls = tlsMaterial(uri);
    // Plain HTTP on the same server, for the HTTP rows: `ok`, or 1 MB for /1mb.
    const answer = (req, res) => {
      req.resume();
      res.end(req.url.endsWith('/1mb') ? ONE_MB : 'ok');
    };
    const httpServer = tls ? https.createServer(tls, answer) : http.createServer(answer);
    await new Promise((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    const wss = new WebSocketServer({ httpServer, autoAcceptConnections: true, ...LIMITS });
    wss.on('connect', echoWebsocket);
    answerUsage();
    process.send({ type: 'ready', port: httpServer.address().port });
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

/** Blocks the thread for `ms` (fractions included): for the last, sub-millisecond stretch of a delay, which timers cannot time. */
const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepPrecisely(ms) {
  if (ms > 0) Atomics.wait(sleeper, 0, 0, ms);
}

/**
 * A TCP forwarder. Without a delay: the least a hop can cost (accept,
 * connect, pipe). With `delayMs` = D, a WAN link: every chunk reaches the
 * other side D ms after it arrived, in order, both ways; and since the
 * forwarder accepts locally at once, the first client bytes are held until
 * 3D after the connection came (a TCP handshake's round trip, then D), as
 * over a real link where nothing can be sent before the handshake. Chunks
 * leave on time to a fraction of a millisecond: a timer wakes the link
 * shortly before, and it sleeps the rest precisely (timers alone are up to
 * a millisecond or two late, which over the 16 crossings of a relayed
 * setup would add more than the relay does).
 */
function forwarder(targetPort, delayText) {
  const delay = Number(delayText ?? 0);
  const server = net.createServer((client) => {
    client.setNoDelay(true);
    const accepted = performance.now();
    const upstream = net.connect(Number(targetPort), '127.0.0.1');
    upstream.setNoDelay(true);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
    if (delay === 0) {
      client.pipe(upstream);
      upstream.pipe(client);
      return;
    }
    // One queue per direction: chunks leave in order, each at its due time.
    const link = (from, to, earliest) => {
      const queue = [];
      let timer;
      const flush = () => {
        timer = undefined;
        while (queue.length) {
          const rest = queue[0].due - performance.now();
          if (rest > 2) break;
          sleepPrecisely(rest);
          const { chunk } = queue.shift();
          if (chunk === null) to.end();
          else if (to.writable) to.write(chunk);
        }
        if (queue.length) timer = setTimeout(flush, queue[0].due - performance.now() - 1.5);
      };
      const enqueue = (chunk) => {
        const last = queue.length ? queue[queue.length - 1].due : 0;
        queue.push({ chunk, due: Math.max(performance.now() + delay, earliest(), last) });
        if (!timer) timer = setTimeout(flush, Math.max(0, queue[0].due - performance.now() - 1.5));
      };
      from.on('data', enqueue);
      from.on('end', () => enqueue(null));
    };
    link(client, upstream, () => accepted + 3 * delay);
    link(upstream, client, () => 0);
  });
  server.listen(0, '127.0.0.1', () => {
    answerUsage();
    process.send({ type: 'ready', port: server.address().port });
  });
}

async function expose(uri, token, origin) {
  const { relayedProxy } = require('hyco-websocket');
  const proxy = relayedProxy({ server: uri, token: () => token, origin });
  proxy.on('error', (err) => process.send({ type: 'log', text: `expose: ${err.message}` }));
  await new Promise((resolve) => proxy.once('online', resolve));
  answerUsage();
  process.send({ type: 'ready' });
}

/** A plain TCP echo server: what the forward scenario reaches, through the floor or through -L and -T. */
function tcpEcho() {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1', () => {
    answerUsage();
    process.send({ type: 'ready', port: server.address().port });
  });
}

/** One side of `hyco-websocket forward`: the relay's connections to the echo server (-T), or a local port into the relay (-L). */
async function forward(side, namespace, path, token, targetPort) {
  const { createLocalForward, createRemoteForward } = require('hyco-websocket');
  const options = { namespace, path, token: () => token };
  const forwarder =
    side === 'remote'
      ? createRemoteForward({ ...options, bindings: [{ host: '127.0.0.1', hostPort: Number(targetPort) }] })
      : createLocalForward({ ...options, bindings: [{ bindAddress: '127.0.0.1', bindPort: 0 }] });
  forwarder.on('error', (err) => process.send({ type: 'log', text: `forward-${side}: ${err.message}` }));
  await new Promise((resolve) => forwarder.once(side === 'remote' ? 'online' : 'listening', resolve));
  answerUsage();
  process.send({ type: 'ready', port: side === 'local' ? forwarder.addresses[0].port : undefined });
}

const [role, ...args] = process.argv.slice(2);
const roles = { emulator: () => emulator(args[0]), listener: () => listener(...args), forwarder: () => forwarder(...args), expose: () => expose(...args), 'tcp-echo': tcpEcho, 'forward-remote': () => forward('remote', ...args), 'forward-local': () => forward('local', ...args) };
Promise.resolve()
  .then(roles[role])
  .catch((err) => {
    process.send({ type: 'error', text: err.stack });
    process.exit(1);
  });

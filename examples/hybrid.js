'use strict';
// The hybrid scenario: one chat handler serves a local `websocket.server`
// on its own HTTP port and a `relayedServer` through Azure Relay at once,
// and the HTTP server hands out a web page that joins through the relay.
//
//   node examples/hybrid.js                          # against the local emulator
//   node examples/hybrid.js --connection-string "Endpoint=sb://...;EntityPath=chat"
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const WebSocket = require('hyco-websocket');
const { relayConfig, tokenFor, flag } = require('./relay-config');
const { startLocalRelay } = require('./local-relay');

const PAGE = fs.readFileSync(path.join(__dirname, 'web', 'index.html'));
const SCRIPT = fs.readFileSync(path.join(__dirname, 'web', 'chat.js'));
/** Lifetime of the token handed to the web page, seconds. */
const PAGE_TOKEN_TTL = 600;

/**
 * Starts the chat: returns { httpPort, localUri, pageUrl, sendUri, relayed, close() }.
 * `settings` is a parsed connection string; `path` the hybrid connection.
 */
async function startHybrid({ settings, path: hcPath, httpPort = 0, host = '127.0.0.1', log = () => {} }) {
  const clients = new Map();
  let counter = 0;

  function broadcast(message) {
    const text = JSON.stringify(message);
    for (const connection of clients.keys()) connection.sendUTF(text);
  }

  // One handler for both servers: the request API is the same.
  function onRequest(request, via) {
    const joined = (connection) => {
      if (connection instanceof Error) return log(`accept failed: ${connection.message}`);
      const name = `${via}-${++counter}`;
      clients.set(connection, name);
      log(`${name} joined (${request.remoteAddress})`);
      connection.sendUTF(JSON.stringify({ system: 'welcome', you: name, via }));
      connection.on('message', (message) => {
        if (message.type === 'utf8') broadcast({ from: name, via, text: message.utf8Data.slice(0, 2000) });
      });
      connection.on('close', () => {
        clients.delete(connection);
        log(`${name} left`);
      });
    };
    const protocol = request.requestedProtocols.includes('chat') ? 'chat' : null;
    const result = request.accept(protocol, request.origin, null, via === 'relay' ? joined : undefined);
    if (via === 'local') joined(result);
  }

  const tokenFn = tokenFor(settings, hcPath);
  const httpServer = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    if (url.pathname === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(PAGE);
    } else if (url.pathname === '/chat.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8' });
      res.end(SCRIPT);
    } else if (url.pathname === '/relay.json') {
      // A short-lived send token in the URI: browsers cannot set headers.
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end(JSON.stringify({ sendUri: pageSendUri(), path: hcPath }));
    } else {
      res.writeHead(404).end();
    }
  });
  function pageSendUri() {
    const base = WebSocket.createRelaySendUri(settings.address, hcPath);
    if (settings.sharedAccessKey) return WebSocket.appendRelayToken(base, settings.sharedAccessKeyName, settings.sharedAccessKey, PAGE_TOKEN_TTL);
    return `${base}&sb-hc-token=${encodeURIComponent(tokenFn())}`;
  }
  // The port asked for, or the next free one.
  for (let candidate = httpPort; ; candidate++) {
    try {
      await new Promise((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(candidate, host, () => {
          httpServer.off('error', reject);
          resolve();
        });
      });
      break;
    } catch (err) {
      if (err.code !== 'EADDRINUSE' || httpPort === 0 || candidate >= httpPort + 20) throw err;
    }
  }
  const port = httpServer.address().port;
  const local = new WebSocket.server({ httpServer, autoAcceptConnections: false });
  local.on('request', (request) => onRequest(request, 'local'));

  const relayed = new WebSocket.relayedServer({
    server: WebSocket.createRelayListenUri(settings.address, hcPath),
    token: tokenFn,
  });
  relayed.on('request', (request) => onRequest(request, 'relay'));
  relayed.on('error', (err) => log(`relay: ${err.message}`));
  await new Promise((resolve, reject) => {
    relayed.once('online', resolve);
    relayed.once('offline', (err) => reject(err ?? new Error('the relayed server went offline')));
  });

  return {
    httpPort: port,
    localUri: `ws://${host}:${port}/`,
    pageUrl: `http://${host}:${port}/`,
    sendUri: pageSendUri,
    relayed,
    async close() {
      for (const connection of clients.keys()) connection.close();
      local.shutDown();
      await relayed.close();
      await new Promise((resolve) => httpServer.close(resolve));
      httpServer.closeAllConnections();
    },
  };
}

/** Runs the chat from the command line; `npm start` runs this too. */
async function main(argv = process.argv.slice(2), { reuseRelay = true } = {}) {
  const out = (line) => process.stdout.write(`${line}\n`);
  let config = relayConfig(argv, process.env, 'chat');
  let relay;
  if (config.local) {
    const emulatorPort = Number(flag(argv, 'emulator-port') ?? 9030);
    const local = await startLocalRelay({ port: emulatorPort, reuse: reuseRelay });
    relay = local.relay;
    config = relayConfig(['--connection-string', local.connectionString, '--path', config.path]);
    out(`relay emulator:     ${config.settings.address}${local.reused ? ' (already running)' : ' (started here)'}`);
    out(`connection string:  ${local.connectionString}`);
  } else {
    out(`relay:              ${config.settings.address} (from the connection string)`);
  }
  const app = await startHybrid({ settings: config.settings, path: config.path, httpPort: Number(flag(argv, 'http-port') ?? 8080), log: (l) => out(`  ${l}`) });
  out(`hybrid connection:  ${config.path}`);
  out(`web page:           ${app.pageUrl}   (joins through the relay)`);
  out(`local WebSocket:    ${app.localUri}`);
  out(`relayed WebSocket:  npx wscat -c '${app.sendUri()}'`);
  out('                    (that URI carries a token valid for 10 minutes; Ctrl-C stops everything)');
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    out('shutting down');
    await app.close();
    if (relay) await relay.close();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return { app, relay, stop };
}

module.exports = { startHybrid, main };

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`hybrid: ${err.message}\n`);
    process.exit(1);
  });
}

'use strict';
// The hybrid scenario: one chat handler serves a local `websocket.server`
// on its own HTTP port and a `relayedServer` through Azure Relay at once.
// The HTTP server hands out a page with two panes side by side, one joining
// locally and one through the relay, that shows which path each message
// took and the relay's live state.
//
//   node examples/hybrid.js                          # against the local emulator
//   node examples/hybrid.js --connection-string "Endpoint=sb://...;EntityPath=chat" \
//                           --sender-connection-string "Endpoint=sb://...;SharedAccessKeyName=SendOnly;..."
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const WebSocket = require('hyco-websocket');
const { relayConfig, tokenFor, flag, checkFlags, wrongEmulatorHint } = require('./relay-config');
const { startLocalRelay } = require('./local-relay');

const PAGE = fs.readFileSync(path.join(__dirname, 'web', 'index.html'));
const SCRIPT = fs.readFileSync(path.join(__dirname, 'web', 'chat.js'));
const ICON = fs.readFileSync(path.join(__dirname, 'web', 'favicon.svg'));
/** Lifetime of the token handed to the web page, seconds. */
const PAGE_TOKEN_TTL = 600;

/**
 * Starts the chat: returns { httpPort, localUri, pageUrl, sendUri(), relayed, close() }.
 * `settings` is the parsed listener connection string, `senderSettings` a
 * parsed Send-only one (the page's tokens come only from it; without it the
 * page joins locally only), `path` the hybrid connection, `dashboardUrl` the
 * emulator's dashboard when there is one.
 */
/** Whether the relay knows the Send-only connection string's rule (a relay started apart may not: 401). */
async function sendRuleKnown(senderConnectionString, hcPath) {
  const sender = WebSocket.parseConnectionString(senderConnectionString);
  const token = WebSocket.createRelayToken(WebSocket.createRelayHttpsUri(sender.address, hcPath), sender.sharedAccessKeyName, sender.sharedAccessKey, 60);
  try {
    await WebSocket.getRuntimeInformation(sender.address, hcPath, { token, timeoutMs: 5000 });
    return true;
  } catch (err) {
    return err.statusCode !== 401;
  }
}

async function startHybrid({ settings, senderSettings, path: hcPath, httpPort = 0, host = '127.0.0.1', dashboardUrl, log = () => {} }) {
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
      clients.set(connection, { name, via });
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
    if (via === 'local') joined(request.accept(protocol, request.origin));
    else request.accept(protocol, request.origin).then(joined, joined);
  }

  /** The page's address through the relay, with a Send-only token; or why there is none. */
  function pageRelay() {
    if (!senderSettings) {
      return { sendUri: null, reason: 'No Send-only connection string was given (--sender-connection-string or HYCO_SENDER_CONNECTION_STRING), so this page gets no relay token: a Listen or Manage key must never reach a browser.' };
    }
    const base = WebSocket.createRelaySendUri(senderSettings.address, hcPath);
    if (senderSettings.sharedAccessSignature) return { sendUri: `${base}&sb-hc-token=${encodeURIComponent(senderSettings.sharedAccessSignature)}`, reason: null };
    return { sendUri: WebSocket.appendRelayToken(base, senderSettings.sharedAccessKeyName, senderSettings.sharedAccessKey, PAGE_TOKEN_TTL), reason: null };
  }

  function state() {
    const counts = { local: 0, relay: 0 };
    for (const { via } of clients.values()) counts[via]++;
    return {
      relay: { online: relayed.isOnline, address: settings.address, path: hcPath, keepalive: relayed.controlChannelKeepalive, lastError: relayed.lastError?.message ?? null },
      clients: counts,
      dashboard: dashboardUrl ?? null,
    };
  }

  const httpServer = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const json = (value) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end(JSON.stringify(value));
    };
    if (url.pathname === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(PAGE);
    } else if (url.pathname === '/favicon.svg' || url.pathname === '/favicon.ico') {
      // The page links the SVG; a browser that asks for /favicon.ico on its own gets it too.
      res.writeHead(200, { 'Content-Type': 'image/svg+xml', 'Cache-Control': 'public, max-age=86400' });
      res.end(ICON);
    } else if (url.pathname === '/chat.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8' });
      res.end(SCRIPT);
    } else if (url.pathname === '/relay.json') {
      // Browsers cannot set headers on a WebSocket: a short-lived Send-only token goes in the URI.
      json({ ...pageRelay(), path: hcPath, localUri: `ws://${req.headers.host}/` });
    } else if (url.pathname === '/state.json') {
      json(state());
    } else {
      res.writeHead(404).end();
    }
  });
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
    token: tokenFor(settings, hcPath),
  });
  relayed.on('request', (request) => onRequest(request, 'relay'));
  relayed.on('error', (err) => log(`relay: ${err.message}`));
  await new Promise((resolve, reject) => {
    const refused = (err) => {
      // A refused key will not fix itself: stop at once rather than retry for ever.
      if (err.statusCode !== 401 && err.statusCode !== 403) return;
      relayed.off('error', refused);
      void relayed.close();
      reject(err);
    };
    relayed.on('error', refused);
    relayed.once('online', () => {
      relayed.off('error', refused);
      resolve();
    });
    relayed.once('offline', (err) => reject(err ?? new Error('the relayed server went offline')));
  });

  return {
    httpPort: port,
    localUri: `ws://${host}:${port}/`,
    pageUrl: `http://${host}:${port}/`,
    sendUri: () => pageRelay().sendUri,
    relayed,
    async close() {
      for (const connection of clients.keys()) connection.close();
      local.shutDown();
      await relayed.close();
      // Browsers keep idle keep-alive connections open: end them now rather than wait for them.
      const closed = new Promise((resolve) => httpServer.close(resolve));
      httpServer.closeAllConnections();
      await closed;
    },
  };
}

/** Starts the relay (unless given one) and the chat, and prints where to go: { app, relay }. */
async function startChat(argv, reuseRelay, out) {
  let config = relayConfig(argv, process.env, 'chat');
  let relay;
  let senderConnectionString = flag(argv, 'sender-connection-string') || process.env.HYCO_SENDER_CONNECTION_STRING || undefined;
  let dashboardUrl;
  let emulatorPort;
  if (config.local) {
    const local = await startLocalRelay({ port: Number(flag(argv, 'emulator-port') ?? 9030), reuse: reuseRelay });
    relay = local.relay;
    emulatorPort = local.port;
    config = relayConfig(['--connection-string', local.connectionString, '--path', config.path]);
    senderConnectionString = local.senderConnectionString;
    if (local.reused && !(await sendRuleKnown(local.senderConnectionString, config.path))) {
      // An emulator started apart (npx hyco-relay-emulator) has the Root rule only: a Send-only token would get 401.
      senderConnectionString = undefined;
      out(`note: the emulator already on port ${local.port} has no ${'SendOnly'} rule, so the page and \`send\` get no relay token;`);
      out('      stop it and run this again (it then starts its own), or give --sender-connection-string.');
    }
    dashboardUrl = `http://127.0.0.1:${local.port}/`;
    out(`relay emulator:     ${config.settings.address}${local.reused ? ' (already running)' : ' (started here)'}`);
    out(`relay dashboard:    ${dashboardUrl}`);
    out(`connection string:  ${local.connectionString}`);
  } else {
    out(`relay:              ${config.settings.address} (from the connection string)`);
  }
  const senderSettings = senderConnectionString ? WebSocket.parseConnectionString(senderConnectionString) : undefined;
  let app;
  try {
    app = await startHybrid({
      settings: config.settings,
      senderSettings,
      path: config.path,
      httpPort: Number(flag(argv, 'http-port') ?? 8080),
      dashboardUrl,
      log: (l) => out(`  ${l}`),
    });
  } catch (err) {
    if (relay) await relay.close();
    if (config.local && err.statusCode === 401) throw new Error(wrongEmulatorHint(emulatorPort), { cause: err });
    throw err;
  }
  out(`hybrid connection:  ${config.path}`);
  out(`web page:           ${app.pageUrl}   (two panes: one joins locally, one through the relay)`);
  out(`local WebSocket:    ${app.localUri}`);
  if (senderConnectionString) {
    out(`through the relay:  npx hyco-websocket send --connection-string '${senderConnectionString}' --path ${config.path}`);
  } else {
    out('through the relay:  (give --sender-connection-string, a Send-only connection string, to let the page and senders join through the relay)');
  }
  out('                    Ctrl-C stops everything');
  return { app, relay };
}

/** The flags the chat takes (`npm start -- --help`). */
const FLAGS = ['connection-string', 'sender-connection-string', 'path', 'emulator-port', 'http-port'];
const HELP = `Usage: npm start -- [flags]   (or node examples/hybrid.js [flags])

The hybrid chat: a local relay emulator (unless a connection string is given) and a chat served locally and through the relay.
Settings: flags > environment > defaults.

  --connection-string <cs>         listener connection string (default: $HYCO_CONNECTION_STRING, else the local emulator)
  --sender-connection-string <cs>  Send-only connection string for the page (default: $HYCO_SENDER_CONNECTION_STRING)
  --path <name>                    hybrid connection (default: the connection string's EntityPath, else chat)
  --emulator-port <port>           the local emulator's port (default 9030, or the next free one)
  --http-port <port>               the chat page's port (default 8080, or the next free one)
  --verbose                        say where each setting came from (never a key)
  --help                           this text`;

/** --verbose: where each setting came from. */
function settingSources(argv, env) {
  const from = (name, envName, fallback) => (flag(argv, name) !== undefined ? `--${name}` : envName && env[envName] ? `$${envName}` : fallback);
  return [
    `connection string: from ${from('connection-string', 'HYCO_CONNECTION_STRING', 'the local emulator (default)')}`,
    `sender connection string: from ${from('sender-connection-string', 'HYCO_SENDER_CONNECTION_STRING', 'the local emulator (default), or none')}`,
    `path: from ${from('path', undefined, "the connection string's EntityPath, else chat (default)")}`,
    `emulator port: ${flag(argv, 'emulator-port') ?? 9030} (from ${from('emulator-port', undefined, 'default')})`,
    `http port: ${flag(argv, 'http-port') ?? 8080} (from ${from('http-port', undefined, 'default')})`,
  ];
}

/** Runs the chat from the command line; `npm start` runs this too. Unknown flags are a UsageError (exitCode 2). */
async function main(argv = process.argv.slice(2), { reuseRelay = true } = {}) {
  const out = (line) => process.stdout.write(`${line}\n`);
  if (checkFlags(argv, FLAGS)) {
    out(HELP);
    return undefined;
  }
  if (argv.includes('--verbose')) for (const line of settingSources(argv, process.env)) process.stderr.write(`npm start: ${line}\n`);
  let running;
  const starting = startChat(argv, reuseRelay, out).then((r) => (running = r));
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    out('shutting down');
    // A Ctrl-C while the chat is still starting stops it once it has.
    await starting.catch(() => undefined);
    if (!running) return;
    await running.app.close();
    if (running.relay) await running.relay.close();
  };
  // Installed before anything is printed: a Ctrl-C that follows the banner at once is never missed.
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await starting;
  return { ...running, stop };
}

module.exports = { startHybrid, main };

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`hybrid: ${err.message}\n`);
    if (err.exitCode === 2) process.stderr.write('hybrid: (see node examples/hybrid.js --help)\n');
    process.exit(err.exitCode ?? 1);
  });
}

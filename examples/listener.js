'use strict';
// One half over the relay: a listener that echoes every message back.
//
//   node examples/listener.js                         # against the local emulator (started if needed)
//   node examples/listener.js --connection-string "Endpoint=sb://...;EntityPath=echo"
const WebSocket = require('hyco-websocket');
const { relayConfig, tokenFor, flag, checkFlags, wrongEmulatorHint } = require('./relay-config');
const { startLocalRelay } = require('./local-relay');

async function main(argv = process.argv.slice(2)) {
  const out = (line) => process.stdout.write(`${line}\n`);
  if (checkFlags(argv, ['connection-string', 'path', 'emulator-port'])) {
    out('Usage: node examples/listener.js [--connection-string <cs>] [--path <name>] [--emulator-port <port>]');
    return;
  }
  let config = relayConfig(argv);
  let relay;
  let reused;
  if (config.local) {
    const local = await startLocalRelay({ port: Number(flag(argv, 'emulator-port') ?? 9030), reuse: true });
    relay = local.relay;
    reused = local.reused ? local.port : undefined;
    config = relayConfig(['--connection-string', local.connectionString, '--path', config.path]);
  }
  const { settings, path } = config;
  const wss = new WebSocket.relayedServer({
    server: WebSocket.createRelayListenUri(settings.address, path),
    token: tokenFor(settings, path),
  });
  wss.on('request', async (request) => {
    const connection = await request.accept(null, request.origin).catch((err) => out(`accept failed: ${err.message}`));
    if (!connection) return;
    out(`connection from ${request.remoteAddress} (${request.id})`);
    connection.on('message', (message) => {
      if (message.type === 'utf8') connection.sendUTF(message.utf8Data);
      else connection.sendBytes(message.binaryData);
    });
    connection.on('close', (code) => out(`connection ${request.id} closed (${code})`));
  });
  wss.on('error', (err) => {
    if (reused !== undefined && err.statusCode === 401) {
      // An emulator already on the port, started with another key: say so rather than retry for ever.
      process.stderr.write(`listener: ${wrongEmulatorHint(reused)}\n`);
      process.exitCode = 1;
      void wss.close();
      return;
    }
    out(`relay error: ${err.message}`);
  });
  wss.on('online', () => {
    out(`listening on "${path}" through ${settings.address}`);
    if (relay || config.local) out(`connection string: ${config.connectionString}`);
  });
  const stop = async () => {
    await wss.close();
    if (relay) await relay.close();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err) => {
  process.stderr.write(`listener: ${err.message}\n`);
  if (err.exitCode === 2) process.stderr.write('listener: (see node examples/listener.js --help)\n');
  process.exit(err.exitCode ?? 1);
});

'use strict';
// The other half: a plain `websocket` client (not even hyco-websocket)
// connecting through the relay with the ServiceBusAuthorization header.
//
//   node examples/sender.js --message "hello"        # against the local emulator on 9030 (--emulator-port to change)
//   node examples/sender.js --connection-string "Endpoint=sb://...;EntityPath=echo" --message hi
const { client: WebSocketClient } = require('websocket');
const { createRelaySendUri, createRelayToken } = require('hyco-websocket');
const { relayConfig, flag, checkFlags, wrongEmulatorHint } = require('./relay-config');

try {
  if (checkFlags(process.argv.slice(2), ['connection-string', 'path', 'emulator-port', 'message'])) {
    process.stdout.write('Usage: node examples/sender.js [--message <text>] [--connection-string <cs>] [--path <name>] [--emulator-port <port>]\n');
    process.exit(0);
  }
} catch (err) {
  process.stderr.write(`sender: ${err.message}\nsender: (see node examples/sender.js --help)\n`);
  process.exit(err.exitCode ?? 1);
}
const { settings, path, local } = relayConfig();
const message = flag(process.argv.slice(2), 'message') ?? 'hello through the relay';
const sendUri = createRelaySendUri(settings.address, path);
const token = settings.sharedAccessSignature ?? createRelayToken(sendUri, settings.sharedAccessKeyName, settings.sharedAccessKey, 300);

const client = new WebSocketClient();
client.on('connectFailed', (err) => {
  // The local emulator answering 401: it was started with another key than the examples' development key.
  const hint = local && /non-101 status: 401/.test(err.message) ? `\nsender: ${wrongEmulatorHint(settings.port)}` : '';
  process.stderr.write(`sender: ${err.message.split('\n')[0]}${hint}\n`);
  process.exitCode = 1;
});
client.on('connect', (connection) => {
  connection.on('message', (reply) => {
    process.stdout.write(`received: ${reply.utf8Data ?? `${reply.binaryData.length} bytes`}\n`);
    connection.close();
  });
  connection.on('close', () => process.stdout.write('closed\n'));
  process.stdout.write(`sending: ${message}\n`);
  connection.sendUTF(message);
});
client.connect(sendUri, null, null, { ServiceBusAuthorization: token });

'use strict';
// The other half: a plain `websocket` client (not even hyco-websocket)
// connecting through the relay with the ServiceBusAuthorization header.
//
//   node examples/sender.js --message "hello"        # against the local emulator on 9030
//   node examples/sender.js --connection-string "Endpoint=sb://...;EntityPath=echo" --message hi
const { client: WebSocketClient } = require('websocket');
const { createRelaySendUri, createRelayToken } = require('hyco-websocket');
const { relayConfig, flag } = require('./relay-config');

const { settings, path } = relayConfig();
const message = flag(process.argv.slice(2), 'message') ?? 'hello through the relay';
const token = settings.sharedAccessSignature ?? createRelayToken(`http://${settings.namespace}/${path}`, settings.sharedAccessKeyName, settings.sharedAccessKey, 300);

const client = new WebSocketClient();
client.on('connectFailed', (err) => {
  process.stderr.write(`sender: ${err.message.split('\n')[0]}\n`);
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
client.connect(createRelaySendUri(settings.address, path), null, null, { ServiceBusAuthorization: token });

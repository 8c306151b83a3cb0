'use strict';
// A sender in its own process that floods `bytes` of random data (64 KB
// messages) through the relay as fast as backpressure allows, then reports
// the SHA-256 of what it sent. argv: endpoint, path, token, bytes.
const crypto = require('node:crypto');
const WebSocket = require('ws');
const { createRelaySendUri } = require('hyco-websocket');

const [endpoint, hcPath, token, total] = process.argv.slice(2);
const CHUNK = 64 * 1024;
const HIGH_WATER = 4 * 1024 * 1024;

const ws = new WebSocket(createRelaySendUri(endpoint, hcPath), { headers: { ServiceBusAuthorization: token }, perMessageDeflate: false });
const hash = crypto.createHash('sha256');
let sent = 0;
ws.on('open', () => {
  const pump = () => {
    while (sent < Number(total) && ws.bufferedAmount < HIGH_WATER) {
      const chunk = crypto.randomBytes(Math.min(CHUNK, Number(total) - sent));
      hash.update(chunk);
      sent += chunk.length;
      ws.send(chunk);
    }
    if (sent < Number(total)) setTimeout(pump, 5);
    else process.send({ type: 'sent', bytes: sent, sha256: hash.digest('hex') });
  };
  pump();
});
ws.on('error', (err) => process.send({ type: 'error', text: err.message }));
process.on('disconnect', () => {
  ws.terminate();
  process.exit(0);
});

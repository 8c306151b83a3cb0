'use strict';
// Starts the local relay emulator for the examples: on 9030, or the next
// free port, with the development key and auto-created hybrid connections.
// With `reuse`, an emulator already answering on the port is used instead.
const net = require('node:net');
const { RelayEmulator } = require('hyco-relay-emulator');
const { DEVELOPMENT_PORT, DEVELOPMENT_RULES, developmentConnectionString, developmentSenderConnectionString } = require('./relay-config');

function portIsFree(port) {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

async function runningEmulator(port) {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) });
    const info = await res.json();
    return info.service === 'hyco-relay-emulator';
  } catch {
    return false;
  }
}

/**
 * Returns { relay, connectionString, senderConnectionString, port, reused }:
 * `relay` is the emulator this process started (close it when done),
 * undefined when one was reused; `senderConnectionString` is for its
 * Send-only rule (what web pages get tokens from).
 */
async function startLocalRelay({ port = DEVELOPMENT_PORT, reuse = false } = {}) {
  if (reuse && port !== 0 && (await runningEmulator(port))) {
    return { relay: undefined, connectionString: developmentConnectionString(port), senderConnectionString: developmentSenderConnectionString(port), port, reused: true };
  }
  let chosen = port;
  if (port !== 0) {
    while (!(await portIsFree(chosen))) {
      chosen++;
      if (chosen > port + 50) {
        chosen = 0;
        break;
      }
    }
  }
  const relay = await RelayEmulator.start({ port: chosen, autoCreate: true, rules: DEVELOPMENT_RULES });
  return { relay, connectionString: developmentConnectionString(relay.port), senderConnectionString: developmentSenderConnectionString(relay.port), port: relay.port, reused: false };
}

module.exports = { startLocalRelay };

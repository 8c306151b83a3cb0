'use strict';
// Churn: senders open, use (numbered echo, content checked) and close
// connections without pause, while the emulator drops the listener's
// control channel every few seconds (close 1011 and abrupt destroy, in
// turn), tokens live 5 s, and the emulator is restarted once. Long-lived
// connections keep talking through all of it.
const hyco = require('hyco-websocket');
const { RelayEmulator } = require('hyco-relay-emulator');
const { RULES, token, send, exchange, delay } = require('hyco-test-support');

/**
 * Runs the churn for `seconds` and resolves with its counts:
 * attempted, completed, refused (by status), closedByRelay (by code), lost,
 * drops, slowestRecoveryMs, longLived {messages, survivedDrops, faults}.
 */
async function runChurn({ seconds = 15, senders = 8, dropEveryMs = 2000, tokenTtl = 5, restart = true, log = () => {} } = {}) {
  const HC = 'churn';
  let relay = await RelayEmulator.start({ rules: RULES, hybridConnections: [HC] });
  const port = relay.port;
  const endpoint = relay.endpoint;
  const server = new hyco.relayedServer({
    server: hyco.createRelayListenUri(endpoint, HC),
    token: () => token(HC, tokenTtl),
    autoAcceptConnections: true,
    reconnectBackoff: [0, 100, 250, 500],
  });
  server.on('connect', (c) => c.on('message', (m) => c.sendUTF(m.utf8Data)));
  server.on('error', () => {});
  let onlineWaiters = [];
  server.on('online', () => {
    onlineWaiters.forEach((w) => w());
    onlineWaiters = [];
  });
  await new Promise((resolve) => server.once('online', resolve));

  const counts = {
    attempted: 0,
    completed: 0,
    refused: {},
    closedByRelay: {},
    lost: 0,
    lostDetails: [],
    drops: 0,
    recoveries: [],
    restarts: 0,
    longLived: { opened: 0, messages: 0, survivedDrops: 0, faults: 0 },
  };
  const deadline = Date.now() + seconds * 1000;
  let stopping = false;

  // Long-lived connections: one message every 100 ms, for as long as they live.
  async function longLived(index) {
    while (!stopping) {
      let connection;
      try {
        connection = await send(endpoint, HC, { timeoutMs: 10000 });
      } catch {
        await delay(200);
        continue;
      }
      counts.longLived.opened++;
      const dropsAtStart = counts.drops;
      let closedCode;
      connection.once('close', (code) => (closedCode = code));
      let n = 0;
      while (!stopping) {
        if (closedCode !== undefined) {
          counts.closedByRelay[closedCode] = (counts.closedByRelay[closedCode] ?? 0) + 1;
          break;
        }
        const outcome = await exchange(connection, `long${index}-${n}`, 1);
        if (!outcome.ok) {
          if (outcome.lost) {
            counts.longLived.faults++;
            counts.lostDetails.push(`long-lived: ${outcome.why}`);
          }
          break; // closed by the relay's restart: a clear close, reopened below
        }
        n++;
        counts.longLived.messages++;
        await delay(100);
      }
      counts.longLived.survivedDrops += counts.drops - dropsAtStart;
      if (connection.connected) connection.close();
    }
  }

  async function churner(index) {
    let n = 0;
    while (Date.now() < deadline) {
      counts.attempted++;
      let connection;
      try {
        connection = await send(endpoint, HC, { timeoutMs: 10000 });
      } catch (err) {
        if (err.hung) {
          counts.lost++;
          counts.lostDetails.push(`sender ${index}: handshake hung`);
        } else counts.refused[err.status] = (counts.refused[err.status] ?? 0) + 1;
        await delay(20);
        continue;
      }
      const outcome = await exchange(connection, `s${index}-${n++}`, 5);
      if (outcome.ok) counts.completed++;
      else if (outcome.closed !== undefined) counts.closedByRelay[outcome.closed] = (counts.closedByRelay[outcome.closed] ?? 0) + 1;
      else {
        counts.lost++;
        counts.lostDetails.push(`sender ${index}: ${outcome.why}`);
      }
      if (connection.connected) connection.close();
    }
  }

  async function dropper() {
    let mode = 'close';
    const restartAt = Date.now() + (seconds * 1000) / 2;
    let restarted = !restart;
    while (Date.now() + dropEveryMs < deadline) {
      await delay(dropEveryMs);
      if (!restarted && Date.now() >= restartAt) {
        restarted = true;
        const back = new Promise((resolve) => onlineWaiters.push(resolve));
        const t0 = Date.now();
        await relay.close();
        relay = await RelayEmulator.start({ rules: RULES, hybridConnections: [HC], port });
        counts.restarts++;
        await back;
        log(`emulator restarted; listener back online after ${Date.now() - t0} ms`);
        continue;
      }
      const back = new Promise((resolve) => onlineWaiters.push(resolve));
      const t0 = Date.now();
      if (relay.dropControlChannels(HC, mode) > 0) {
        counts.drops++;
        await back;
        counts.recoveries.push(Date.now() - t0);
      }
      mode = mode === 'close' ? 'destroy' : 'close';
    }
  }

  const long = [0, 1, 2].map(longLived);
  await Promise.all([...Array.from({ length: senders }, (_, i) => churner(i)), dropper()]);
  stopping = true;
  await Promise.all(long);
  await server.close();
  await relay.close();
  counts.slowestRecoveryMs = Math.max(0, ...counts.recoveries);
  return counts;
}

/** One line that says what the run survived. */
function describeChurn(c) {
  const refused = Object.entries(c.refused).map(([s, n]) => `${n}×${s}`).join(', ') || 'none';
  const closed = Object.entries(c.closedByRelay).map(([s, n]) => `${n}×${s}`).join(', ') || 'none';
  return (
    `churn: ${c.attempted} connections attempted, ${c.completed} completed, refused with status: ${refused}, ` +
    `closed by the relay: ${closed}, lost: ${c.lost}; ${c.drops} control-channel drops (slowest recovery ${c.slowestRecoveryMs} ms) ` +
    `and ${c.restarts} emulator restart survived; long-lived connections: ${c.longLived.messages} messages, ` +
    `${c.longLived.survivedDrops} drops lived through, ${c.longLived.faults} faults`
  );
}

module.exports = { runChurn, describeChurn };

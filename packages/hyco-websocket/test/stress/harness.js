'use strict';
// Shared pieces of the stress suite: an emulator in a child process, tokens,
// senders with deadlines, and a check that a figure stays under its bound.
const path = require('node:path');
const { fork } = require('node:child_process');
const hyco = require('hyco-websocket');

const KEY = 'c3RyZXNzLXN1aXRlLWtleQ==';
const RULES = [{ name: 'RootManageSharedAccessKey', key: KEY, rights: ['Manage', 'Listen', 'Send'] }];

function token(path, ttl = 3600) {
  return hyco.createRelayToken(`http://127.0.0.1/${path}`, RULES[0].name, KEY, ttl);
}

/** Starts the emulator in a child process; resolves with { endpoint, port, usage(), stats(), stop() }. */
async function childEmulator(options) {
  const child = fork(path.join(__dirname, 'emulator-process.js'), [JSON.stringify({ rules: RULES, ...options })], {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let nextId = 0;
  const waiting = new Map();
  child.on('message', (m) => {
    if (m.id !== undefined && waiting.has(m.id)) {
      waiting.get(m.id)(m);
      waiting.delete(m.id);
    }
  });
  const ready = await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`emulator process exited with ${code}`)));
  });
  const ask = (message) =>
    new Promise((resolve) => {
      const id = ++nextId;
      waiting.set(id, resolve);
      child.send({ ...message, id });
    });
  return {
    ...ready,
    usage: () => ask({ type: 'usage' }),
    stats: async () => (await ask({ type: 'stats' })).stats,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', resolve);
        child.disconnect();
        setTimeout(() => child.kill(), 3000).unref();
      }),
  };
}

/**
 * Connects a `websocket` client sender; resolves with the connection, or
 * rejects with an Error whose `status` is the relay's answer (or the
 * network error's code). Rejects with `hung` after `timeoutMs`.
 */
function connectSender(endpoint, hcPath, { timeoutMs = 10000, tokenText = token(hcPath), config } = {}) {
  return new Promise((resolve, reject) => {
    const client = new hyco.client(config);
    const timer = setTimeout(() => {
      client.abort();
      reject(Object.assign(new Error('the handshake hung'), { hung: true }));
    }, timeoutMs);
    client.once('connect', (connection) => {
      clearTimeout(timer);
      resolve(connection);
    });
    client.once('connectFailed', (err) => {
      clearTimeout(timer);
      const status = /non-101 status: (\d{3})/.exec(err.message);
      reject(Object.assign(err, { status: status ? Number(status[1]) : err.code ?? 'network' }));
    });
    client.connect(hyco.createRelaySendUri(endpoint, hcPath), null, null, { ServiceBusAuthorization: tokenText });
  });
}

/** Sends `count` numbered messages one at a time and checks each echo; resolves with the outcome. */
function exchange(connection, label, count, timeoutMs = 5000) {
  return new Promise((resolve) => {
    let i = 0;
    let expected;
    let timer;
    const finish = (outcome) => {
      clearTimeout(timer);
      connection.removeListener('message', onMessage);
      connection.removeListener('close', onClose);
      resolve(outcome);
    };
    const next = () => {
      if (i === count) return finish({ ok: true });
      expected = `${label}:${i++}:${Math.random().toString(36).slice(2)}`;
      clearTimeout(timer);
      timer = setTimeout(() => finish({ ok: false, lost: true, why: `no echo for ${expected}` }), timeoutMs);
      connection.sendUTF(expected);
    };
    const onMessage = (m) => {
      if (m.utf8Data !== expected) return finish({ ok: false, lost: true, why: `expected ${expected}, got ${m.utf8Data}` });
      next();
    };
    const onClose = (code) => finish({ ok: false, closed: code });
    connection.on('message', onMessage);
    connection.on('close', onClose);
    next();
  });
}

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

module.exports = { KEY, RULES, token, childEmulator, connectSender, exchange, delay };

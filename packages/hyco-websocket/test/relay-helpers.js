'use strict';
// Helpers for tests of the relayed server against the local emulator.
const hyco = require('hyco-websocket');
const { RelayEmulator } = require('hyco-relay-emulator');

const KEY = 'bGlicmFyeS10ZXN0LWtleQ==';
const RULES = [{ name: 'RootManageSharedAccessKey', key: KEY, rights: ['Manage', 'Listen', 'Send'] }];
const FAST_BACKOFF = [0, 50, 100, 200];

async function startRelay(t, options = {}) {
  const relay = await RelayEmulator.start({ rules: RULES, hybridConnections: ['echo'], ...options });
  t.after(() => relay.close());
  return relay;
}

function token(path = 'echo', ttl = 3600) {
  return hyco.createRelayToken(`http://127.0.0.1/${path}`, RULES[0].name, KEY, ttl);
}

/** A relayed server on `path`, online, closed after the test. */
async function relayedServer(t, relay, options = {}, path = 'echo') {
  const server = offlineServer(t, relay, options, path);
  await once(server, 'online');
  return server;
}

/** A relayed server on `path` as constructed (not yet online), closed after the test. */
function offlineServer(t, relay, options = {}, path = 'echo') {
  const server = new hyco.relayedServer({
    server: hyco.createRelayListenUri(relay.endpoint, path),
    token: () => token(path),
    reconnectBackoff: FAST_BACKOFF,
    ...options,
  });
  t.after(() => server.close());
  return server;
}

function once(emitter, name) {
  return new Promise((resolve) => emitter.once(name, (...args) => resolve(args.length > 1 ? args : args[0])));
}

/** A `websocket` client sender; resolves with the connection, rejects with the handshake failure. */
function send(relay, path = 'echo', opts = {}) {
  const client = new hyco.client(opts.config);
  const headers = { ServiceBusAuthorization: token(path.split(/[/?]/)[0]), ...(opts.headers ?? {}) };
  return new Promise((resolve, reject) => {
    client.on('connect', (connection) => {
      connection.handshakeResponse = client.response;
      resolve(connection);
    });
    client.on('connectFailed', reject);
    client.connect(hyco.createRelaySendUri(relay.endpoint, path, null, opts.id ?? null), opts.protocols ?? null, opts.origin ?? null, headers);
  });
}

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves when `predicate()` is true, polling; rejects after `ms`. */
async function until(predicate, ms = 5000, what = 'condition') {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}

module.exports = { KEY, RULES, FAST_BACKOFF, startRelay, token, relayedServer, offlineServer, once, send, delay, until };

'use strict';
// Shared test helpers: an emulator per test, tokens, and plain `ws` /
// `websocket` clients playing listener and sender.
const WebSocket = require('ws');
const websocket = require('websocket');
const { RelayEmulator } = require('hyco-relay-emulator');
const { createRelayToken, createRelayListenUri, createRelaySendUri } = require('hyco-websocket');

const KEY = 'dGVzdC1rZXktZm9yLXRoZS1lbXVsYXRvcg==';
const RULES = [
  { name: 'RootManageSharedAccessKey', key: KEY, rights: ['Manage', 'Listen', 'Send'] },
  { name: 'ListenOnly', key: 'bGlzdGVuLWtleQ==', rights: ['Listen'] },
  { name: 'SendOnly', key: 'c2VuZC1rZXk=', rights: ['Send'] },
];

async function startRelay(t, options = {}) {
  const relay = await RelayEmulator.start({ rules: RULES, hybridConnections: ['echo'], ...options });
  t.after(() => relay.close());
  return relay;
}

function token(path, rule = 'RootManageSharedAccessKey', ttl = 3600, host = '127.0.0.1') {
  const r = RULES.find((x) => x.name === rule);
  return createRelayToken(`http://${host}/${path}`, r.name, r.key, ttl);
}

/** Resolves with the first event of `name` (or rejects on `error`, unless name is 'error'). */
function once(emitter, name) {
  return new Promise((resolve, reject) => {
    const onEvent = (...args) => {
      emitter.removeListener('error', onError);
      resolve(args.length > 1 ? args : args[0]);
    };
    const onError = (err) => {
      emitter.removeListener(name, onEvent);
      reject(err);
    };
    emitter.once(name, onEvent);
    if (name !== 'error') emitter.once('error', onError);
  });
}

/**
 * A control channel opened with `ws`. `onAccept(message, channel)` decides
 * what to do with each sender (default: accept and echo).
 */
async function listen(t, relay, path = 'echo', opts = {}) {
  const uri = createRelayListenUri(relay.endpoint, path);
  const ws = new WebSocket(uri, { headers: { ServiceBusAuthorization: opts.token ?? token(path) }, perMessageDeflate: false });
  ws.accepts = [];
  ws.rendezvous = [];
  ws.on('message', (data, isBinary) => {
    if (isBinary) return; // HTTP bodies; tests that need them listen themselves
    const message = JSON.parse(data.toString());
    if (!message.accept) return;
    ws.accepts.push(message.accept);
    (opts.onAccept ?? acceptAndEcho)(message.accept, ws);
  });
  t.after(() => {
    ws.terminate();
    for (const r of ws.rendezvous) r.terminate();
  });
  await once(ws, 'open');
  return ws;
}

/** Accepts a sender over its rendezvous and echoes every message back. */
function acceptAndEcho(accept, channel, protocols, wsOptions = {}) {
  const rendezvous = new WebSocket(accept.address, protocols, { perMessageDeflate: false, ...wsOptions });
  channel.rendezvous.push(rendezvous);
  rendezvous.on('message', (data, isBinary) => rendezvous.send(data, { binary: isBinary }));
  rendezvous.on('error', () => {});
  return rendezvous;
}

/** Connects a `websocket` client as a sender; resolves with the connection or rejects with the failure. */
function send(relay, path = 'echo', opts = {}) {
  const client = new websocket.client(opts.config);
  const uri = createRelaySendUri(relay.endpoint, path, opts.uriToken ?? null, opts.id ?? null);
  const headers = { ...(opts.headers ?? {}) };
  if (opts.token !== null) headers.ServiceBusAuthorization = opts.token ?? token(path.split(/[/?]/)[0]);
  return new Promise((resolve, reject) => {
    client.on('connect', resolve);
    client.on('connectFailed', reject);
    client.connect(uri, opts.protocols ?? null, opts.origin ?? null, headers);
  });
}

/** Opens a raw `ws` sender; resolves with the socket once open, rejects with { status, message }. */
function sendWs(relay, path = 'echo', opts = {}) {
  const headers = opts.token === null ? {} : { ServiceBusAuthorization: opts.token ?? token(path.split(/[/?]/)[0]) };
  const ws = new WebSocket(createRelaySendUri(relay.endpoint, path), opts.protocols, { headers, perMessageDeflate: false, ...opts.ws });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (req, res) => {
      reject(Object.assign(new Error(`status ${res.statusCode}`), { status: res.statusCode, statusMessage: res.statusMessage }));
      req.destroy();
    });
    ws.once('error', reject);
  });
}

/** The status code and text of a failed handshake at `uri`. */
function handshakeStatus(uri, headers = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(uri, { headers, perMessageDeflate: false });
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('the handshake succeeded'));
    });
    ws.once('unexpected-response', (req, res) => {
      resolve({ status: res.statusCode, text: res.statusMessage });
      req.destroy();
    });
    ws.once('error', () => {});
  });
}

/** The next message's data from a `ws` socket. */
async function nextMessage(ws) {
  const [data] = await once(ws, 'message');
  return data;
}

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

module.exports = { KEY, RULES, startRelay, token, once, listen, acceptAndEcho, send, sendWs, handshakeStatus, delay, nextMessage, createRelayListenUri, createRelaySendUri };

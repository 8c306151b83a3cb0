'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const dns = require('node:dns');
const WebSocket = require('ws');
const websocket = require('websocket');
const { RelayEmulator } = require('hyco-relay-emulator');
const { createRelayToken, createRelayListenUri, createRelaySendUri, parseConnectionString } = require('hyco-websocket');
const { RULES, onceOrError } = require('hyco-test-support');

const NAMESPACE = 'contoso.servicebus.windows.net';
// Resolves the namespace to loopback, as a hosts-file entry would.
const lookup = (host, options, callback) => dns.lookup('127.0.0.1', options, callback);

test('with a self-signed certificate the emulator serves wss:// and hands out addresses under the name the listener used', async (t) => {
  const relay = await RelayEmulator.start({ rules: RULES, hybridConnections: ['echo'], tls: 'self-signed', namespace: NAMESPACE });
  t.after(() => relay.close());
  assert.match(relay.endpoint, /^wss:\/\/127\.0\.0\.1:\d+$/);
  assert.match(relay.certificate, /BEGIN CERTIFICATE/);
  const cs = parseConnectionString(relay.connectionString());
  assert.equal(cs.scheme, 'wss');
  assert.equal(cs.port, relay.port);

  const namespaceUri = `wss://${NAMESPACE}:${relay.port}`;
  const tok = createRelayToken(`http://${NAMESPACE}/echo`, RULES[0].name, RULES[0].key);
  const tlsOptions = { ca: relay.certificate, lookup };
  const listener = new WebSocket(createRelayListenUri(namespaceUri, 'echo'), { headers: { ServiceBusAuthorization: tok }, ...tlsOptions });
  t.after(() => listener.terminate());
  let address;
  listener.on('message', (m) => {
    address = JSON.parse(m).accept.address;
    const r = new WebSocket(address, { perMessageDeflate: false, ...tlsOptions });
    t.after(() => r.terminate());
    r.on('message', (d, isBinary) => r.send(d, { binary: isBinary }));
  });
  await onceOrError(listener, 'open');

  const client = new websocket.client({ tlsOptions });
  const connected = onceOrError(client, 'connect');
  client.connect(createRelaySendUri(namespaceUri, 'echo'), null, null, { ServiceBusAuthorization: tok });
  const connection = await connected;
  t.after(() => connection.drop());
  assert.ok(address.startsWith(`wss://${NAMESPACE}:${relay.port}/$hc/echo?`), address);
  connection.sendUTF('over TLS');
  assert.equal((await onceOrError(connection, 'message')).utf8Data, 'over TLS');
});

test('an emulator with a namespace refuses other host names with 404', async (t) => {
  const relay = await RelayEmulator.start({ rules: RULES, hybridConnections: ['echo'], namespace: NAMESPACE });
  t.after(() => relay.close());
  const tok = createRelayToken('http://127.0.0.1/echo', RULES[0].name, RULES[0].key);
  const ws = new WebSocket(createRelayListenUri(relay.endpoint, 'echo'), { headers: { ServiceBusAuthorization: tok } });
  const [, res] = await onceOrError(ws, 'unexpected-response');
  assert.equal(res.statusCode, 404);
  assert.match(res.statusMessage, /NamespaceNotFound/);
  ws.on('error', () => {});
  res.destroy();
});

test('bad options are refused with a TypeError naming the option', async () => {
  await assert.rejects(RelayEmulator.start({ port: -1 }), { name: 'TypeError', message: /port/ });
  await assert.rejects(RelayEmulator.start({ rules: [{ name: 'x', key: '', rights: ['Listen'] }] }), { message: /rules\[0\]\.key/ });
  await assert.rejects(RelayEmulator.start({ rules: [{ name: 'x', key: 'k', rights: ['Fly'] }] }), { message: /rights/ });
  await assert.rejects(RelayEmulator.start({ hybridConnections: ['no spaces'] }), { message: /not a valid hybrid connection path/ });
  await assert.rejects(RelayEmulator.start({ tls: { cert: 'x' } }), { message: /tls/ });
});

test('binding a non-loopback address emits a loud warning', async (t) => {
  const warnings = [];
  const onWarning = (w) => warnings.push(w);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  const relay = await RelayEmulator.start({ host: '0.0.0.0' });
  t.after(() => relay.close());
  await new Promise((r) => setImmediate(r));
  assert.ok(warnings.some((w) => w.code === 'HYCO_EMULATOR_NOT_LOOPBACK' && /not a loopback address/.test(w.message)));
  assert.equal(relay.endpoint, `ws://127.0.0.1:${relay.port}`);
});

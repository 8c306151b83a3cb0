'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const hyco = require('hyco-websocket');
const websocket = require('websocket');

test('every export of websocket is re-exported as the very same object', () => {
  const names = Object.keys(websocket);
  for (const name of ['server', 'client', 'router', 'frame', 'request', 'connection', 'w3cwebsocket', 'deprecation', 'version']) {
    assert.ok(names.includes(name), `websocket exports ${name}`);
  }
  for (const name of names) assert.equal(hyco[name], websocket[name], name);
});

test('the relay helpers are exported as functions', () => {
  for (const name of [
    'createRelayBaseUri',
    'createRelayListenUri',
    'createRelaySendUri',
    'createRelayToken',
    'appendRelayToken',
    'parseConnectionString',
  ]) {
    assert.equal(typeof hyco[name], 'function', name);
  }
});

test('the ES module entry exports the same names and objects as require()', async () => {
  const esm = await import('hyco-websocket');
  const cjsNames = Object.keys(hyco).sort();
  const esmNames = Object.keys(esm).filter((n) => n !== 'default').sort();
  assert.deepEqual(esmNames, cjsNames);
  for (const name of cjsNames) assert.equal(esm[name], hyco[name], name);
  assert.equal(esm.default, hyco);
});

test('hyco-websocket/protocol loads from CommonJS and from ES modules alike', async () => {
  const cjs = require('hyco-websocket/protocol');
  const esm = await import('hyco-websocket/protocol');
  for (const name of ['createRelayToken', 'parseRelayToken', 'verifySignature', 'parseServiceMessage', 'parseListenerMessage', 'resourceCovers']) {
    assert.equal(typeof cjs[name], 'function', name);
    assert.equal(esm[name], cjs[name], name);
  }
  assert.equal(esm.MAX_LISTENERS_PER_HYBRID_CONNECTION, 25);
});

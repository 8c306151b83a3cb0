'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const {
  createRelayBaseUri,
  createRelayListenUri,
  createRelaySendUri,
  appendRelayToken,
  parseRelayToken,
} = require('hyco-websocket');

const NS = 'contoso.servicebus.windows.net';

test('a namespace name gives wss on port 443 under $hc', () => {
  assert.equal(createRelayBaseUri(NS, 'hyco'), 'wss://contoso.servicebus.windows.net:443/$hc/hyco');
  assert.equal(createRelayListenUri(NS, 'hyco'), 'wss://contoso.servicebus.windows.net:443/$hc/hyco?sb-hc-action=listen');
  assert.equal(createRelaySendUri(NS, 'hyco'), 'wss://contoso.servicebus.windows.net:443/$hc/hyco?sb-hc-action=connect');
});

test('token and id are appended, percent-encoded, in that order', () => {
  const token = 'SharedAccessSignature sr=a&sig=b+c/=&se=1&skn=r';
  const uri = createRelayListenUri(NS, 'hyco', token, 'id 1');
  const url = new URL(uri);
  assert.equal(url.searchParams.get('sb-hc-action'), 'listen');
  assert.equal(url.searchParams.get('sb-hc-token'), token);
  assert.equal(url.searchParams.get('sb-hc-id'), 'id 1');
  assert.match(uri, /\?sb-hc-action=listen&sb-hc-token=SharedAccessSignature%20sr%3Da%26sig%3Db%2Bc%2F%3D%26se%3D1%26skn%3Dr&sb-hc-id=id%201$/);
  assert.equal(createRelaySendUri(NS, 'hyco', null, 'x'), 'wss://contoso.servicebus.windows.net:443/$hc/hyco?sb-hc-action=connect&sb-hc-id=x');
});

test('a ws://host:port endpoint keeps its scheme and port', () => {
  assert.equal(createRelayListenUri('ws://127.0.0.1:9090', 'echo'), 'ws://127.0.0.1:9090/$hc/echo?sb-hc-action=listen');
  assert.equal(createRelaySendUri('wss://contoso.servicebus.windows.net', 'echo'), 'wss://contoso.servicebus.windows.net:443/$hc/echo?sb-hc-action=connect');
  assert.equal(createRelayBaseUri('ws://[::1]:8080/', 'echo'), 'ws://[::1]:8080/$hc/echo');
  assert.equal(createRelayBaseUri('ws://localhost', 'echo'), 'ws://localhost:80/$hc/echo');
});

test('a path with suffix and query keeps both and appends sb-hc-* with &', () => {
  assert.equal(
    createRelaySendUri(NS, 'hyco/rooms/7?user=ann', null, 'abc'),
    'wss://contoso.servicebus.windows.net:443/$hc/hyco/rooms/7?user=ann&sb-hc-action=connect&sb-hc-id=abc',
  );
  assert.equal(createRelayBaseUri(NS, '/hyco/x?a=1&b=2'), 'wss://contoso.servicebus.windows.net:443/$hc/hyco/x?a=1&b=2');
});

test('path segments are encoded where needed and never double-encoded', () => {
  assert.equal(createRelayBaseUri(NS, 'my hc/ä'), 'wss://contoso.servicebus.windows.net:443/$hc/my%20hc/%C3%A4');
  assert.equal(createRelayBaseUri(NS, 'my%20hc/%C3%A4'), 'wss://contoso.servicebus.windows.net:443/$hc/my%20hc/%C3%A4');
  assert.equal(createRelayBaseUri(NS, '100%/x'), 'wss://contoso.servicebus.windows.net:443/$hc/100%25/x');
  assert.equal(createRelayBaseUri(NS, 'a?q=x y'), 'wss://contoso.servicebus.windows.net:443/$hc/a?q=x%20y');
});

test('appendRelayToken adds a well-formed sb-hc-token with or without a query', () => {
  const plain = appendRelayToken('wss://ns.example:443/$hc/hyco', 'rule', 'key', 60);
  const url = new URL(plain);
  assert.equal(url.search.startsWith('?sb-hc-token='), true);
  const token = url.searchParams.get('sb-hc-token');
  const parsed = parseRelayToken(token);
  assert.equal(parsed.resource, 'http://ns.example/hyco');
  assert.equal(parsed.keyName, 'rule');

  const withQuery = appendRelayToken('wss://ns.example:443/$hc/hyco?sb-hc-action=connect', 'rule', 'key');
  const url2 = new URL(withQuery);
  assert.equal(url2.searchParams.get('sb-hc-action'), 'connect');
  assert.equal(parseRelayToken(url2.searchParams.get('sb-hc-token')).resource, 'http://ns.example/hyco');
  assert.equal(withQuery.split('?').length, 2, 'exactly one ?');
});

test('bad namespace, path or token arguments throw TypeError naming them', () => {
  assert.throws(() => createRelayListenUri(undefined, 'a'), { name: 'TypeError', message: /"namespace"/ });
  assert.throws(() => createRelayListenUri(NS, 42), { name: 'TypeError', message: /"path"/ });
  assert.throws(() => createRelayListenUri(NS, 'a', 17), { name: 'TypeError', message: /"token"/ });
  assert.throws(() => createRelaySendUri(NS, 'a', null, {}), { name: 'TypeError', message: /"id"/ });
  assert.throws(() => createRelayBaseUri('ftp://host', 'a'), { name: 'TypeError', message: /unsupported scheme "ftp"/ });
  assert.throws(() => createRelayBaseUri(NS, '/'), { name: 'TypeError', message: /"path"/ });
  assert.throws(() => appendRelayToken(null, 'r', 'k'), { name: 'TypeError', message: /"uri"/ });
});

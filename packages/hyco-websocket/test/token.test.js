'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { createRelayToken, parseRelayToken, tokenExpiry } = require('hyco-websocket');
const { verifySignature, resourceCovers, normalizeResource } = require('hyco-websocket/protocol');

const KNOWN =
  'SharedAccessSignature sr=http%3A%2F%2Fcontoso.servicebus.windows.net%2Fhyco&sig=HoJ0H5jzC5qR2E7AaHhEctSo1s6iNDrv7%2FnRrkkjJ%2F4%3D&se=1700000000&skn=RootManageSharedAccessKey';

function withClock(seconds, fn) {
  const realNow = Date.now;
  Date.now = () => seconds * 1000;
  try {
    return fn();
  } finally {
    Date.now = realNow;
  }
}

test('createRelayToken reproduces the PROTOCOL.md known answer', () => {
  const token = withClock(1700000000 - 3600, () =>
    createRelayToken('http://contoso.servicebus.windows.net/hyco', 'RootManageSharedAccessKey', 'Zm9vYmFyLWtleQ=='),
  );
  assert.equal(token, KNOWN);
});

test('the resource is normalised: scheme, port, $hc and query do not change the token', () => {
  const forms = [
    'wss://contoso.servicebus.windows.net:443/$hc/hyco?sb-hc-action=listen',
    'https://contoso.servicebus.windows.net/hyco#frag',
    'contoso.servicebus.windows.net/hyco',
  ];
  for (const uri of forms) {
    const token = withClock(1700000000 - 3600, () => createRelayToken(uri, 'RootManageSharedAccessKey', 'Zm9vYmFyLWtleQ=='));
    assert.equal(token, KNOWN, uri);
  }
  assert.equal(normalizeResource('ws://127.0.0.1:9090/$hc/a/b?x=1'), 'http://127.0.0.1/a/b');
});

test('expiry is now plus expirationSeconds, default one hour', () => {
  const t1 = withClock(1000, () => createRelayToken('http://ns/hc', 'r', 'k'));
  const t2 = withClock(1000, () => createRelayToken('http://ns/hc', 'r', 'k', 60));
  assert.equal(parseRelayToken(t1).expiry, 4600);
  assert.equal(tokenExpiry(t2), 1060);
});

test('the key is used as UTF-8 text, not base64-decoded', () => {
  const token = createRelayToken('http://ns/hc', 'rule', 'clé-ü');
  const parsed = parseRelayToken(token);
  assert.equal(verifySignature(parsed, 'clé-ü'), true);
  assert.equal(verifySignature(parsed, 'cle-u'), false);
});

test('parseRelayToken reads fields in any order and names what is missing', () => {
  const parsed = parseRelayToken('SharedAccessSignature skn=rule&se=42&sig=abc%3D&sr=http%3A%2F%2Fns%2Fhc');
  assert.deepEqual(
    { resource: parsed.resource, signature: parsed.signature, expiry: parsed.expiry, keyName: parsed.keyName },
    { resource: 'http://ns/hc', signature: 'abc=', expiry: 42, keyName: 'rule' },
  );
  assert.throws(() => parseRelayToken('Bearer xyz'), { code: 'ERR_HYCO_INVALID_TOKEN', message: /SharedAccessSignature/ });
  assert.throws(() => parseRelayToken('SharedAccessSignature sr=a&se=1&skn=r'), { code: 'ERR_HYCO_INVALID_TOKEN', message: /"sig"/ });
  assert.throws(() => parseRelayToken('SharedAccessSignature sr=a&sig=b&se=soon&skn=r'), { message: /expiry/ });
  assert.equal(tokenExpiry('garbage'), undefined);
});

test('a token error never echoes the token', () => {
  const secretish = 'SharedAccessSignature sr=http%3A%2F%2Fns&sig=SECRETSIG&se=notanumber&skn=rule';
  assert.throws(() => parseRelayToken(secretish), (err) => !err.message.includes('SECRETSIG'));
});

test('resource coverage: equal, prefix at a segment boundary, case/port/scheme/slash-insensitive', () => {
  assert.equal(resourceCovers('http://ns/a', 'wss://ns:443/$hc/a'), true);
  assert.equal(resourceCovers('http://NS/A/', 'http://ns/a'), true);
  assert.equal(resourceCovers('http://ns/', 'http://ns/any/thing'), true);
  assert.equal(resourceCovers('http://ns/a', 'http://ns/a/b'), true);
  assert.equal(resourceCovers('http://ns/a', 'http://ns/ab'), false);
  assert.equal(resourceCovers('http://other/a', 'http://ns/a'), false);
});

test('missing or wrongly typed arguments throw TypeError naming the argument', () => {
  assert.throws(() => createRelayToken(undefined, 'r', 'k'), { name: 'TypeError', code: 'ERR_HYCO_INVALID_ARGUMENT', message: /"uri"/ });
  assert.throws(() => createRelayToken('http://ns/a', 5, 'k'), { name: 'TypeError', message: /"ruleName"/ });
  assert.throws(() => createRelayToken('http://ns/a', 'r', ''), { name: 'TypeError', message: /"key"/ });
  assert.throws(() => createRelayToken('http://ns/a', 'r', 'k', -5), { name: 'TypeError', message: /"expirationSeconds"/ });
  assert.throws(() => createRelayToken('http://ns/a', 'r', 'k', 'soon'), { name: 'TypeError', message: /"expirationSeconds"/ });
});

test('createRelayToken and appendRelayToken take every form the URI helpers take, and refuse a malformed resource with a TypeError', () => {
  const { createRelayToken, appendRelayToken, parseRelayToken, createRelayListenUri, createRelaySendUri } = require('hyco-websocket');
  const resource = (uri) => decodeURIComponent(parseRelayToken(createRelayToken(uri, 'rule', 'key')).rawResource);
  // One pattern for Azure and the emulator: the listen or send URI itself.
  for (const ns of ['contoso.servicebus.windows.net', 'ws://127.0.0.1:9030', 'wss://contoso.servicebus.windows.net']) {
    const host = ns.replace(/^\w+:\/\//, '').replace(/:\d+$/, '');
    assert.equal(resource(createRelayListenUri(ns, 'hyco')), `http://${host}/hyco`);
    assert.equal(resource(createRelaySendUri(ns, 'hyco')), `http://${host}/hyco`);
    assert.equal(resource(ns), `http://${host}/`, 'a namespace or endpoint gives a namespace-wide token');
  }
  assert.equal(resource('contoso.servicebus.windows.net/hyco'), 'http://contoso.servicebus.windows.net/hyco');
  assert.equal(resource('localhost:9030/hyco'), 'http://localhost/hyco');
  assert.equal(resource('sb://contoso.servicebus.windows.net/'), 'http://contoso.servicebus.windows.net/');
  // The README's old pattern with an emulator endpoint gave a token for no entity; now it is refused.
  for (const bad of ['http://ws://127.0.0.1:9030/hyco', 'http://x//y', 'ftp://x/y', 'http:///x', 'http:x', 'http://user:pw@x/y']) {
    assert.throws(() => createRelayToken(bad, 'rule', 'key'), { name: 'TypeError', code: 'ERR_HYCO_INVALID_ARGUMENT', message: /"uri" argument is not an address a token can be made for/ }, bad);
    assert.throws(() => appendRelayToken(bad, 'rule', 'key'), { name: 'TypeError', code: 'ERR_HYCO_INVALID_ARGUMENT' }, bad);
  }
});

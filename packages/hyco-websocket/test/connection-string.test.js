'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { parseConnectionString } = require('hyco-websocket');

const KEY = 'c2VjcmV0LWtleS12YWx1ZQ==';

test('the Azure portal form parses', () => {
  const cs = parseConnectionString(
    `Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=${KEY};EntityPath=hyco`,
  );
  assert.deepEqual(cs, {
    namespace: 'contoso.servicebus.windows.net',
    port: 443,
    scheme: 'wss',
    address: 'wss://contoso.servicebus.windows.net:443',
    sharedAccessKeyName: 'RootManageSharedAccessKey',
    sharedAccessKey: KEY,
    entityPath: 'hyco',
    useDevelopmentEmulator: false,
  });
});

test('keys are case-insensitive, in any order, with whitespace and a trailing ;', () => {
  const cs = parseConnectionString(
    ` entitypath = hyco ;  SHAREDACCESSKEY=${KEY}; sharedaccesskeyname=Rule ;endpoint=sb://ns.example/ ; `,
  );
  assert.equal(cs.namespace, 'ns.example');
  assert.equal(cs.sharedAccessKeyName, 'Rule');
  assert.equal(cs.sharedAccessKey, KEY);
  assert.equal(cs.entityPath, 'hyco');
});

test('the emulator form selects ws:// and keeps the endpoint port', () => {
  const cs = parseConnectionString(
    `Endpoint=sb://127.0.0.1:9030/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=${KEY};UseDevelopmentEmulator=true`,
  );
  assert.equal(cs.scheme, 'ws');
  assert.equal(cs.port, 9030);
  assert.equal(cs.address, 'ws://127.0.0.1:9030');
  assert.equal(cs.useDevelopmentEmulator, true);
  assert.equal(parseConnectionString('Endpoint=sb://localhost:1234;UseDevelopmentEmulator=TRUE').address, 'ws://localhost:1234');
  assert.equal(parseConnectionString('Endpoint=sb://[::1]:1234;UseDevelopmentEmulator=true').address, 'ws://[::1]:1234');
});

test('an explicit endpoint port is kept for wss (a TLS emulator)', () => {
  const cs = parseConnectionString(`Endpoint=sb://127.0.0.1:9443/;SharedAccessKeyName=r;SharedAccessKey=${KEY}`);
  assert.equal(cs.address, 'wss://127.0.0.1:9443');
});

test('UseDevelopmentEmulator is refused for a non-loopback host', () => {
  assert.throws(
    () => parseConnectionString(`Endpoint=sb://contoso.servicebus.windows.net/;UseDevelopmentEmulator=true`),
    { code: 'ERR_HYCO_INVALID_CONNECTION_STRING', message: /loopback/ },
  );
  // A "*.localhost" name is loopback only if the resolver says so (an /etc/hosts line or DNS can point it
  // anywhere): unencrypted traffic is never sent to it on the strength of its name.
  for (const host of ['app.localhost', 'evil.localhost:9030', 'localhost.example']) {
    assert.throws(() => parseConnectionString(`Endpoint=sb://${host}/;UseDevelopmentEmulator=true`), { code: 'ERR_HYCO_INVALID_CONNECTION_STRING', message: /loopback/ }, host);
  }
});

test('the SAS form carries a ready token instead of a key', () => {
  const sas = 'SharedAccessSignature sr=http%3A%2F%2Fns.example%2Fhyco&sig=abc&se=1&skn=Send';
  const cs = parseConnectionString(`Endpoint=sb://ns.example/;SharedAccessSignature=${sas};EntityPath=hyco`);
  assert.equal(cs.sharedAccessSignature, sas);
  assert.equal(cs.sharedAccessKey, undefined);
  assert.equal(cs.entityPath, 'hyco');
});

test('malformed connection strings fail naming the problem, never the key', () => {
  const cases = [
    [`SharedAccessKeyName=r;SharedAccessKey=${KEY}`, /Endpoint is missing/],
    [`Endpoint=sb://ns.example/;SharedAccessKeyName=r`, /SharedAccessKeyName is given without SharedAccessKey/],
    [`Endpoint=sb://ns.example/;SharedAccessKey=${KEY}`, /SharedAccessKey is given without SharedAccessKeyName/],
    [`Endpoint=ftp://ns.example/;SharedAccessKeyName=r;SharedAccessKey=${KEY}`, /unknown scheme "ftp"/],
    [`Endpoint=not a url;SharedAccessKeyName=r;SharedAccessKey=${KEY}`, /Endpoint is not a valid URL/],
    [`Endpoint=sb://ns.example/;garbage;SharedAccessKey=${KEY}`, /Name=Value/],
    [`Endpoint=sb://ns.example/;UseDevelopmentEmulator=maybe`, /true or false/],
    [`Endpoint=sb://ns.example/;SharedAccessSignature=${KEY}`, /SharedAccessSignature must be a token/],
  ];
  for (const [text, pattern] of cases) {
    assert.throws(
      () => parseConnectionString(text),
      (err) => {
        assert.equal(err.code, 'ERR_HYCO_INVALID_CONNECTION_STRING', text);
        assert.match(err.message, pattern);
        assert.equal(err.message.includes(KEY), false, 'the key leaked into the message');
        return true;
      },
    );
  }
  assert.throws(() => parseConnectionString(undefined), { name: 'TypeError', message: /"connectionString"/ });
});

'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { createRelayToken } = require('hyco-websocket');
const { startRelay, listen, send, handshakeStatus, token, KEY, createRelayListenUri, createRelaySendUri } = require('hyco-test-support');

test('listener auth matrix: each bad token gets its status and a text that says why', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['echo', 'other'] });
  const uri = createRelayListenUri(relay.endpoint, 'echo');
  const cases = [
    ['missing', undefined, 401, /MissingToken/],
    ['malformed', 'SharedAccessSignature nonsense', 401, /MalformedToken/],
    ['not SAS at all', 'Bearer abc', 401, /MalformedToken/],
    ['wrong key', createRelayToken('http://127.0.0.1/echo', 'RootManageSharedAccessKey', 'd3Jvbmc='), 401, /InvalidSignature/],
    ['unknown rule', createRelayToken('http://127.0.0.1/echo', 'NoSuchRule', KEY), 401, /InvalidSignature/],
    ['expired', expiredToken('echo'), 401, /ExpiredToken/],
    ['wrong path', token('other'), 403, /InvalidAudience/],
    ['prefix that is not a segment', token('ech'), 403, /InvalidAudience/],
    ['send token used to listen', token('echo', 'SendOnly'), 403, /Listen right/],
  ];
  for (const [name, tok, status, text] of cases) {
    const headers = tok === undefined ? {} : { ServiceBusAuthorization: tok };
    const result = await handshakeStatus(uri, headers);
    assert.equal(result.status, status, name);
    assert.match(result.text, text, name);
    assert.match(result.text, /TrackingId:[0-9a-f-]{36}/, `${name}: tracking id`);
    if (tok) assert.equal(result.text.includes(tok), false, `${name}: the token leaked into the status text`);
    assert.equal(result.text.includes(KEY), false);
  }
});

test('a badly signed SAS token is refused with the phrase Microsoft\'s .NET client parses ("token has an invalid signature") and the entity\'s name', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['echo', 'rooms/blue'] });
  for (const [path, tok] of [
    ['echo', createRelayToken('http://127.0.0.1/echo', 'RootManageSharedAccessKey', 'd3Jvbmc=')],
    ['rooms/blue', createRelayToken('http://127.0.0.1/rooms/blue', 'NoSuchRule', KEY)],
  ]) {
    for (const uri of [createRelayListenUri(relay.endpoint, path), createRelaySendUri(relay.endpoint, path)]) {
      const result = await handshakeStatus(uri, { ServiceBusAuthorization: tok });
      assert.equal(result.status, 401);
      assert.ok(result.text.startsWith('InvalidSignature: The token has an invalid signature.'), result.text);
      assert.ok(result.text.includes('token has an invalid signature'), result.text);
      assert.ok(result.text.includes(`"${path}"`), `the entity is named: ${result.text}`);
    }
  }
});

test('sender auth matrix: listen token used to connect is 403, good tokens reach the listener', async (t) => {
  const relay = await startRelay(t);
  await listen(t, relay);
  const uri = createRelaySendUri(relay.endpoint, 'echo');
  assert.equal((await handshakeStatus(uri, { ServiceBusAuthorization: token('echo', 'ListenOnly') })).status, 403);
  assert.equal((await handshakeStatus(uri)).status, 401);
  assert.equal((await handshakeStatus(uri, { ServiceBusAuthorization: expiredToken('echo') })).status, 401);
  const viaSendRule = await send(relay, 'echo', { token: token('echo', 'SendOnly') });
  viaSendRule.drop();
  const viaQuery = await send(relay, 'echo', { token: null, uriToken: token('echo', 'SendOnly') });
  viaQuery.drop();
});

test('a namespace-wide token covers every hybrid connection; Manage implies Listen and Send', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['echo', 'second'] });
  const namespaceToken = createRelayToken('http://127.0.0.1/', 'RootManageSharedAccessKey', KEY);
  await listen(t, relay, 'echo', { token: namespaceToken });
  await listen(t, relay, 'second', { token: namespaceToken });
  const connection = await send(relay, 'second', { token: namespaceToken });
  connection.drop();
});

test('the audience ignores scheme, port, case and a trailing slash', async (t) => {
  const relay = await startRelay(t);
  const variant = createRelayToken(`wss://127.0.0.1:${relay.port}/$hc/ECHO/`, 'RootManageSharedAccessKey', KEY);
  await listen(t, relay, 'echo', { token: variant });
});

test('an anonymous hybrid connection lets senders in without a token, never listeners', async (t) => {
  const relay = await startRelay(t, { hybridConnections: [{ path: 'open', requiresClientAuthorization: false }] });
  assert.equal((await handshakeStatus(createRelayListenUri(relay.endpoint, 'open'))).status, 401);
  await listen(t, relay, 'open');
  const connection = await send(relay, 'open', { token: null });
  connection.sendUTF('anonymous');
  connection.drop();
});

test('entity-level rules apply to their hybrid connection only', async (t) => {
  const entityRule = { name: 'EchoListen', key: 'ZWNoby1vbmx5', rights: ['Listen'] };
  const relay = await startRelay(t, { hybridConnections: [{ path: 'echo', rules: [entityRule] }, 'other'] });
  await listen(t, relay, 'echo', { token: createRelayToken('http://127.0.0.1/echo', 'EchoListen', 'ZWNoby1vbmx5') });
  const onOther = await handshakeStatus(createRelayListenUri(relay.endpoint, 'other'), {
    ServiceBusAuthorization: createRelayToken('http://127.0.0.1/other', 'EchoListen', 'ZWNoby1vbmx5'),
  });
  assert.equal(onOther.status, 401);
});

test('an unknown hybrid connection is 404, a bad or empty action is 400 (none at all is a sender), no listener is 404', async (t) => {
  const relay = await startRelay(t);
  const missing = await handshakeStatus(createRelayListenUri(relay.endpoint, 'nope'), { ServiceBusAuthorization: token('nope') });
  assert.equal(missing.status, 404);
  assert.match(missing.text, /EntityNotFound/);
  const badAction = await handshakeStatus(`${relay.endpoint}/$hc/echo?sb-hc-action=dance`, { ServiceBusAuthorization: token('echo') });
  assert.equal(badAction.status, 400);
  assert.match(badAction.text, /unknown sb-hc-action/);
  const emptyAction = await handshakeStatus(`${relay.endpoint}/$hc/echo?sb-hc-action=`, { ServiceBusAuthorization: token('echo') });
  assert.equal(emptyAction.status, 400);
  // No sb-hc-action at all is a sender, as the service has it: here with no listener online.
  const noAction = await handshakeStatus(`${relay.endpoint}/$hc/echo`, { ServiceBusAuthorization: token('echo') });
  assert.equal(noAction.status, 404);
  assert.match(noAction.text, /no listener online/);
  const noListener = await handshakeStatus(createRelaySendUri(relay.endpoint, 'echo'), { ServiceBusAuthorization: token('echo') });
  assert.equal(noListener.status, 404);
  assert.match(noListener.text, /no listener online/);
});

test('autoCreate accepts any path on first listen', async (t) => {
  const relay = await startRelay(t, { autoCreate: true, hybridConnections: [] });
  await listen(t, relay, 'made/on/demand');
  const connection = await send(relay, 'made/on/demand', { token: token('made/on/demand') });
  connection.drop();
  assert.deepEqual(relay.stats().hybridConnections.map((h) => h.path), ['made/on/demand']);
});

function expiredToken(path) {
  const realNow = Date.now;
  Date.now = () => realNow() - 7200 * 1000;
  try {
    return token(path, 'RootManageSharedAccessKey', 60);
  } finally {
    Date.now = realNow;
  }
}

/** The status a sender with `senderToken` gets: 101 when it is joined to the listener. */
async function statusOf(relay, hcPath, senderToken) {
  try {
    const connection = await send(relay, hcPath, { token: senderToken });
    connection.drop();
    return 101;
  } catch (err) {
    return err.status;
  }
}

// A token is parsed and its signature computed once for its life (issue 25): what is still checked on every use.
test('a token checked once is still checked for expiry, audience and rights on every use; a bad one is never taken as checked', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['echo', 'other'] });
  await listen(t, relay, 'echo');
  await listen(t, relay, 'other');
  const shortLived = createRelayToken(`http://127.0.0.1/echo`, 'RootManageSharedAccessKey', KEY, 2);
  for (let i = 0; i < 3; i++) assert.equal(await statusOf(relay, 'echo', shortLived), 101, `use ${i}`);
  assert.equal(await statusOf(relay, 'other', shortLived), 403, 'audience, checked again');
  assert.equal(await statusOf(relay, 'echo', token('echo', 'ListenOnly')), 403, 'rights');
  assert.equal(await statusOf(relay, 'echo', token('echo', 'ListenOnly')), 403, 'rights, checked again');
  await new Promise((resolve) => setTimeout(resolve, 2500));
  assert.equal(await statusOf(relay, 'echo', shortLived), 401, 'expired since it was first checked');
  const forged = token('echo').replace(/sig=[^&]+/, 'sig=AAAA');
  for (let i = 0; i < 2; i++) assert.equal(await statusOf(relay, 'echo', forged), 401);
  // More distinct tokens than are remembered: the first is checked again, and still opens.
  const first = token('echo');
  assert.equal(await statusOf(relay, 'echo', first), 101);
  for (let i = 0; i < 1100; i++) assert.equal(await statusOf(relay, 'echo', createRelayToken('http://127.0.0.1/echo', 'RootManageSharedAccessKey', KEY, 3600 + i)), 101);
  assert.equal(await statusOf(relay, 'echo', first), 101);
});

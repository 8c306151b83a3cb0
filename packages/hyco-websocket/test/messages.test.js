'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { parseServiceMessage, parseListenerMessage } = require('hyco-websocket/protocol');

test('an accept message parses into its typed form', () => {
  const msg = parseServiceMessage(
    JSON.stringify({
      accept: {
        address: 'wss://ns/$hc/a?sb-hc-action=accept&sb-hc-id=1',
        id: '1',
        connectHeaders: { 'Sec-WebSocket-Key': 'k', 'X-Count': 3 },
        remoteEndpoint: { address: '10.0.0.1', port: 5000 },
      },
    }),
  );
  assert.deepEqual(msg, {
    accept: {
      address: 'wss://ns/$hc/a?sb-hc-action=accept&sb-hc-id=1',
      id: '1',
      connectHeaders: { 'Sec-WebSocket-Key': 'k', 'X-Count': '3' },
      remoteEndpoint: { address: '10.0.0.1', port: 5000 },
    },
  });
});

test('malformed service messages are refused with a code', () => {
  const bad = [
    'not json',
    '[]',
    '{"hello":1}',
    '{"accept":{"id":"x"}}',
    '{"accept":{"address":"http://x"}}',
    '{"accept":{"address":"ws://x","connectHeaders":[1]}}',
    '{"accept":{"address":"ws://x","connectHeaders":{"a":{}}}}',
  ];
  for (const text of bad) {
    assert.throws(() => parseServiceMessage(text), { code: 'ERR_HYCO_MALFORMED_MESSAGE' }, text);
  }
});

test('listener messages: renewToken and response parse; anything else is refused', () => {
  assert.deepEqual(parseListenerMessage('{"renewToken":{"token":"SharedAccessSignature x"}}'), {
    renewToken: { token: 'SharedAccessSignature x' },
  });
  assert.deepEqual(parseListenerMessage('{"response":{"requestId":"r","statusCode":501,"body":false}}'), {
    response: { requestId: 'r', statusCode: 501, body: false },
  });
  assert.throws(() => parseListenerMessage('{"renewToken":{}}'), { code: 'ERR_HYCO_MALFORMED_MESSAGE' });
  assert.throws(() => parseListenerMessage('{"response":{"requestId":"r","statusCode":"x"}}'), { message: /statusCode/ });
  assert.throws(() => parseListenerMessage('{"launch":{}}'), { message: /unknown command/ });
});

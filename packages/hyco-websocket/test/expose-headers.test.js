'use strict';
// The headers a relayed proxy passes on, whatever a sender or an origin
// sends (properties over generated header lists), and the spellings that
// keep repeated Set-Cookie lines apart in the relay's header map.
const test = require('node:test');
const assert = require('node:assert/strict');
const { validateHeaderName, validateHeaderValue } = require('node:http');
const fc = require('fast-check');
const { checkProperty } = require('hyco-test-support');
const { originRequestHeaders, senderResponseHeaders, toObject, toRaw } = require('../dist/expose/forwarded-headers.js');
const { caseVariant } = require('../dist/http-response.js');

const HOP = ['Connection', 'Keep-Alive', 'Proxy-Connection', 'Proxy-Authorization', 'Proxy-Foo', 'TE', 'Trailer', 'Transfer-Encoding', 'Upgrade'];
const FORWARDED = { address: '198.51.100.7', proto: 'https', host: 'contoso.servicebus.windows.net', prefix: '/app' };

/** Header names: hop-by-hop ones, names a Connection header may list, ordinary ones, and junk. */
const headerName = fc.oneof(fc.constantFrom(...HOP, 'X-Listed', 'x-listed', 'Host', 'Expect', 'X-Forwarded-For', 'Forwarded', 'Set-Cookie', 'Accept'), fc.string({ minLength: 0, maxLength: 12 }));
const headerValue = fc.oneof(fc.constantFrom('Upgrade, X-Listed', 'keep-alive', 'x-listed , proxy-foo', '1.2.3.4'), fc.string({ maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 8 }));
const rawHeaders = fc.array(fc.tuple(headerName, headerValue), { maxLength: 12 }).map((pairs) => pairs.flat());

function sendable(name, value) {
  try {
    validateHeaderName(name);
    validateHeaderValue(name, value);
    return true;
  } catch {
    return false;
  }
}

test('request headers for the origin: never a throw; no hop-by-hop header, none a Connection header names; every line sendable; the forwarding ones added', async () => {
  await checkProperty(
    fc.property(rawHeaders, (raw) => {
      const list = originRequestHeaders(raw, FORWARDED, '127.0.0.1:3000');
      const named = new Set();
      for (let i = 0; i < raw.length; i += 2) if (raw[i].toLowerCase() === 'connection') for (const t of raw[i + 1].split(',')) named.add(t.trim().toLowerCase());
      const out = toRaw(list);
      for (let i = 0; i < out.length; i += 2) {
        const lower = out[i].toLowerCase();
        assert.ok(sendable(out[i], out[i + 1]), `sendable: ${JSON.stringify([out[i], out[i + 1]])}`);
        assert.ok(!HOP.map((h) => h.toLowerCase()).includes(lower) && !lower.startsWith('proxy-'), `hop by hop: ${out[i]}`);
        if (!['host', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-prefix', 'forwarded'].includes(lower)) {
          assert.ok(!named.has(lower), `named by Connection: ${out[i]}`);
        }
        assert.notEqual(lower, 'expect');
      }
      const object = toObject(list);
      assert.equal(object.Host, '127.0.0.1:3000');
      assert.equal(object['X-Forwarded-Proto'], 'https');
      assert.equal(object['X-Forwarded-Host'], 'contoso.servicebus.windows.net');
      assert.ok(/(^|, )198\.51\.100\.7$/.test(object[Object.keys(object).find((k) => k.toLowerCase() === 'x-forwarded-for')]));
      assert.ok(/for=198\.51\.100\.7;host=contoso\.servicebus\.windows\.net;proto=https$/.test(object[Object.keys(object).find((k) => k.toLowerCase() === 'forwarded')]));
    }),
    { defaultSeed: 2207, numRuns: 300 },
  );
});

test('end-to-end headers keep their order and repeats; response headers lose only hop-by-hop ones', () => {
  const out = toRaw(senderResponseHeaders(['Set-Cookie', 'a=1', 'Connection', 'close, X-Gone', 'X-Gone', 'x', 'set-cookie', 'b=2', 'Keep-Alive', 'timeout=5', 'Content-Length', '3', 'Set-Cookie', 'c=3']));
  assert.deepEqual(out, ['Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'Set-Cookie', 'c=3', 'Content-Length', '3']);
  const v6 = toObject(originRequestHeaders([], { ...FORWARDED, address: '2001:db8::1', host: '127.0.0.1:9030', proto: 'http' }, 'o'));
  assert.equal(v6.Forwarded, 'for="[2001:db8::1]";host="127.0.0.1:9030";proto=http');
  const unknown = toObject(originRequestHeaders(['X-Forwarded-For', '203.0.113.1'], { ...FORWARDED, address: '' }, 'o'));
  assert.equal(unknown['X-Forwarded-For'], '203.0.113.1', 'an unknown address adds nothing to X-Forwarded-For');
  assert.match(unknown.Forwarded, /^for=unknown;/);
});

test('Set-Cookie spellings: 511 besides its own, all different, all the same name to HTTP; none beyond', () => {
  const seen = new Set(['Set-Cookie']);
  for (let n = 1; n < 512; n++) {
    const name = caseVariant('Set-Cookie', n);
    assert.equal(name.toLowerCase(), 'set-cookie');
    assert.ok(!seen.has(name), name);
    seen.add(name);
  }
  assert.equal(caseVariant('Set-Cookie', 512), undefined);
  assert.equal(caseVariant('Set-Cookie', 0), 'Set-Cookie');
});

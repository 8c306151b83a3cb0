'use strict';
// What the relay passes on: header joining and query stripping, as units.
const test = require('node:test');
const assert = require('node:assert/strict');
const { stripRelayQuery } = require('hyco-websocket/protocol');
const { joinHeaders, checkResponseHeaders } = require('../dist/headers.js');

function rawHeaders(count) {
  const raw = [];
  for (let i = 0; i < count; i++) raw.push(`X-Header-${i}`, `value-${i}`);
  return raw;
}

/** CPU microseconds for `runs` calls of `fn`. */
function cpu(fn, runs) {
  fn();
  const start = process.cpuUsage();
  for (let i = 0; i < runs; i++) fn();
  const used = process.cpuUsage(start);
  return used.user + used.system;
}

test('joining headers is linear in their number: 2,000 headers cost far less than a hundred times 200', () => {
  const small = rawHeaders(200);
  const large = rawHeaders(2000);
  const drop = () => false;
  // Ten times the headers: a linear pass costs 10-25x here (a large object is slower per key),
  // the quadratic search it replaces over 100x.
  const ratio = cpu(() => joinHeaders(large, drop), 50) / cpu(() => joinHeaders(small, drop), 50);
  assert.ok(ratio < 60, `2,000 headers cost ${ratio.toFixed(1)}x as much as 200`);
  const joined = joinHeaders(['Cookie', 'a=1', 'X-A', '1', 'cookie', 'b=2', 'x-a', '2', 'Authorization', 'secret'], (n) => n === 'authorization');
  assert.deepEqual(joined, { Cookie: 'a=1; b=2', 'X-A': '1, 2' });
});

test('stripRelayQuery removes only sb-hc-* parameters and keeps every other byte', () => {
  assert.equal(stripRelayQuery('&&&'), '&&&');
  assert.equal(stripRelayQuery("key='value'&sb-hc-action=connect"), "key='value'");
  assert.equal(stripRelayQuery('sb-hc-token=x&a=1&'), 'a=1&');
  assert.equal(stripRelayQuery('SB-HC-ID=1&%73b-hc-token=2&b'), 'b');
  assert.equal(stripRelayQuery(''), '');
});

test('checkResponseHeaders refuses what HTTP cannot carry and keeps Content-Length', () => {
  const host = 'contoso.servicebus.windows.net';
  assert.match(checkResponseHeaders({ 'X-City': 'Zürich → Genève' }, host), /"X-City"/);
  assert.match(checkResponseHeaders({ 'Bad Name': 'x' }, host), /"Bad Name"/);
  assert.match(checkResponseHeaders({ 'Content-Length': 'ten' }, host), /Content-Length/);
  // The relay names itself in Via by the host the sender addressed, after the listener's own entries.
  const ok = checkResponseHeaders({ 'Content-Length': '5', Connection: 'close', Via: '1.1 app' }, host);
  assert.deepEqual(ok, { headers: { 'Content-Length': '5', Via: `1.1 app, 1.1 ${host}` }, contentLength: 5 });
  assert.deepEqual(checkResponseHeaders({}, host), { headers: { Via: `1.1 ${host}` }, contentLength: undefined });
});

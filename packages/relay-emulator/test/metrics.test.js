'use strict';
// GET /metrics: the Prometheus text format (0.0.4), read back by a strict
// parser written from the format's description
// (https://prometheus.io/docs/instrumenting/exposition_formats/).
const test = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const { createRelayHttpsUri, createRelaySendUri } = require('hyco-websocket');
const { startRelay, listen, token, onceOrError } = require('hyco-test-support');
const { httpListener, request, waitFor } = require('./inspector-helpers');

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const VALUE = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|NaN|[+-]Inf)$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/** Parses the text format strictly: throws on anything out of place. Returns families by name: { type, help, samples: [{ name, labels, value }] }. */
function parsePrometheus(text) {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a line feed');
  const families = new Map();
  let current;
  const family = (name) => {
    if (!families.has(name)) families.set(name, { name, type: 'untyped', help: undefined, samples: [] });
    return families.get(name);
  };
  const lines = text.slice(0, -1).split('\n');
  for (const [i, line] of lines.entries()) {
    const where = `line ${i + 1}: ${line}`;
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
      if (!m) continue; // a comment
      assert.match(m[2], NAME, where);
      const f = family(m[2]);
      if (m[1] === 'HELP') {
        assert.equal(f.help, undefined, `HELP given twice: ${where}`);
        assert.doesNotMatch(m[3].replace(/\\[\\n]/g, ''), /\\/, `bad escape in HELP: ${where}`);
        f.help = m[3];
      } else {
        assert.ok(TYPES.has(m[3]), `unknown type: ${where}`);
        assert.equal(f.samples.length, 0, `TYPE after samples: ${where}`);
        f.type = m[3];
      }
      current = f;
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(line);
    assert.ok(m, `not a sample: ${where}`);
    const [, name, , labelText, value] = m;
    assert.match(value, VALUE, where);
    const labels = {};
    if (labelText !== undefined && labelText !== '') {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;
      let at = 0;
      while (at < labelText.length) {
        re.lastIndex = at;
        const l = re.exec(labelText);
        assert.ok(l, `bad labels: ${where}`);
        assert.match(l[1], LABEL);
        assert.equal(labels[l[1]], undefined, `label twice: ${where}`);
        labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
        at = re.lastIndex;
        if (l[3] === '' && at < labelText.length) assert.fail(`bad labels: ${where}`);
      }
    }
    // A sample belongs to the family declared last (histograms and summaries add suffixes).
    const base = current && (name === current.name || /_(bucket|sum|count)$/.test(name)) ? current : family(name);
    assert.ok(base === current, `a sample outside its family: ${where}`);
    base.samples.push({ name, labels, value: Number(value) });
  }
  return families;
}

function sample(families, name, labels = {}) {
  const f = families.get(name);
  assert.ok(f, `no metric ${name}`);
  const s = f.samples.find((x) => Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  assert.ok(s, `no ${name} ${JSON.stringify(labels)}`);
  return s.value;
}

test('GET /metrics is the Prometheus text format: listeners, connections, HTTP requests by status, bytes each way, refusals, rendezvous timeouts, event-loop lag', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['echo', 'quiet'], rendezvousTimeoutMs: 200 });
  await httpListener(t, relay, 'echo', () => ({ status: 200, body: 'pong!' }));
  const auth = { ServiceBusAuthorization: token('echo') };
  for (let i = 0; i < 3; i++) await request(`${createRelayHttpsUri(relay.endpoint, 'echo')}/x`, { method: 'POST', body: 'ping', headers: auth });
  await request(`${createRelayHttpsUri(relay.endpoint, 'echo')}/x`);
  // A relayed connection (open, on "quiet"), and a sender nobody accepts (504: the "echo" listener takes no sender).
  await listen(t, relay, 'quiet');
  const ws = new WebSocket(createRelaySendUri(relay.endpoint, 'quiet'), { headers: { ServiceBusAuthorization: token('quiet') }, perMessageDeflate: false });
  t.after(() => ws.terminate());
  await onceOrError(ws, 'open');
  const waiting = new WebSocket(createRelaySendUri(relay.endpoint, 'echo'), { headers: auth, perMessageDeflate: false });
  waiting.on('error', () => {});
  await waitFor(() => relay.stats().totals.sendersTimedOut === 1);
  waiting.terminate();

  const res = await request(`http://127.0.0.1:${relay.port}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  const m = parsePrometheus(res.text);
  assert.equal(m.get('hyco_emulator_listeners_online').type, 'gauge');
  assert.equal(sample(m, 'hyco_emulator_listeners_online', { hybrid_connection: 'quiet' }), 1);
  assert.equal(sample(m, 'hyco_emulator_listeners_online', { hybrid_connection: 'echo' }), 1);
  assert.equal(m.get('hyco_emulator_http_requests_total').type, 'counter');
  assert.equal(sample(m, 'hyco_emulator_http_requests_total', { status: '200' }), 3);
  assert.equal(sample(m, 'hyco_emulator_http_requests_total', { status: '401' }), 1);
  assert.equal(sample(m, 'hyco_emulator_refusals_total', { status: '401' }), 1);
  assert.ok(sample(m, 'hyco_emulator_relayed_bytes_total', { direction: 'to_listener' }) >= 12);
  assert.ok(sample(m, 'hyco_emulator_relayed_bytes_total', { direction: 'to_sender' }) >= 15);
  assert.equal(sample(m, 'hyco_emulator_rendezvous_timeouts_total'), 1);
  assert.equal(sample(m, 'hyco_emulator_relayed_connections_open'), 1);
  assert.equal(sample(m, 'hyco_emulator_relayed_connections_total'), relay.stats().totals.sendersAccepted);
  assert.ok(sample(m, 'hyco_emulator_event_loop_lag_seconds', { stat: 'max' }) >= 0);
  for (const f of m.values()) assert.ok(f.help, `${f.name} has HELP`);
  // Hostile Host: the dashboard's rule.
  assert.equal((await request(`http://127.0.0.1:${relay.port}/metrics`, { headers: { Host: 'attacker.example' } })).status, 403);
});

test('the strict parser refuses what is not the text format', () => {
  assert.throws(() => parsePrometheus('metric{a="1"} 1'));
  assert.throws(() => parsePrometheus('metric{a=1} 1\n'));
  assert.throws(() => parsePrometheus('# TYPE m counter\nm one\n'));
  assert.throws(() => parsePrometheus('# TYPE m widget\n'));
  assert.throws(() => parsePrometheus('# TYPE m counter\nm 1\n# TYPE m counter\n'));
  assert.equal(parsePrometheus('# HELP m h\n# TYPE m gauge\nm{a="x\\"y"} +Inf\n').get('m').samples[0].labels.a, 'x"y');
});

test('a hybrid connection named "metrics" takes its own path; recording off still counts', async (t) => {
  const relay = await startRelay(t, { hybridConnections: [{ path: 'metrics', requiresClientAuthorization: false }], inspector: { record: false } });
  const res = await request(`http://127.0.0.1:${relay.port}/metrics`);
  assert.equal(res.status, 502, 'relayed to the hybrid connection (no listener)');
  const list = JSON.parse((await request(`http://127.0.0.1:${relay.port}/$requests`)).text);
  assert.deepEqual(list, [], 'nothing recorded with record: false');
});

'use strict';
// Helpers of the inspector's tests: a listener speaking the protocol by hand
// (inline requests and responses), and plain HTTP requests.
const http = require('node:http');
const { httpListener: rawHttpListener } = require('hyco-test-support');

/**
 * A control channel on `hc` that answers every request with
 * `answer(request, body)` → { status, headers, body } (default: 200 and the
 * request's body echoed). Keeps what it received in `channel.requests`.
 */
async function httpListener(t, relay, hc = 'echo', answer = (request, body) => ({ status: 200, headers: { 'Content-Type': 'text/plain' }, body })) {
  const requests = [];
  const channel = await rawHttpListener(
    t,
    relay,
    (request, ch, body) => {
      requests.push({ request, body });
      const out = answer(request, body ?? Buffer.alloc(0));
      const payload = out.body === undefined ? Buffer.alloc(0) : Buffer.from(out.body);
      ch.send(JSON.stringify({ response: { requestId: request.id, statusCode: out.status, responseHeaders: out.headers ?? {}, body: payload.length > 0 } }));
      if (payload.length > 0) ch.send(payload, { binary: true });
    },
    hc,
  );
  channel.requests = requests;
  return channel;
}

/** A plain HTTP request; resolves with { status, headers, text }. */
function request(url, { method = 'GET', headers = {}, body, agent } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** GET of the emulator's own JSON. */
async function getJson(relay, path, headers) {
  const res = await request(`http://127.0.0.1:${relay.port}${path}`, { headers });
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${res.text}`);
  return JSON.parse(res.text);
}

/** Waits until the async `predicate` holds (checked every 20 ms, at most `ms`). */
async function waitFor(predicate, ms = 5000, what = 'condition') {
  const end = Date.now() + ms;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

module.exports = { httpListener, request, getJson, waitFor };

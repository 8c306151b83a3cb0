'use strict';
// Test helpers shared by every test suite in the repository: the emulator
// (in process or in a child process), tokens, waiting for events, plain
// `ws` listeners speaking the protocol by hand, `websocket` senders, and
// relayed servers.
const http = require('node:http');
const path = require('node:path');
const { fork } = require('node:child_process');
const WebSocket = require('ws');
const hyco = require('hyco-websocket');
const { RelayEmulator } = require('hyco-relay-emulator');

const { createRelayToken, createRelayListenUri, createRelaySendUri } = hyco;

const KEY = 'dGVzdC1rZXktZm9yLXRoZS1lbXVsYXRvcg==';
const RULES = [
  { name: 'RootManageSharedAccessKey', key: KEY, rights: ['Manage', 'Listen', 'Send'] },
  { name: 'ListenOnly', key: 'bGlzdGVuLWtleQ==', rights: ['Listen'] },
  { name: 'SendOnly', key: 'c2VuZC1rZXk=', rights: ['Send'] },
];
/** Reconnect delays short enough for tests. */
const FAST_BACKOFF = [0, 50, 100, 200];

/** An emulator with the test rules and an `echo` hybrid connection, closed after the test. */
async function startRelay(t, options = {}) {
  const relay = await RelayEmulator.start({ rules: RULES, hybridConnections: ['echo'], ...options });
  t.after(() => relay.close());
  return relay;
}

/**
 * A SAS token for `http://{host}/{path}`: `token(path)`, `token(path, ttl)`,
 * `token(path, rule)`, `token(path, rule, ttl, host)`.
 */
function token(hcPath = 'echo', ruleOrTtl, ttl, host = '127.0.0.1') {
  let rule = 'RootManageSharedAccessKey';
  let seconds = 3600;
  if (typeof ruleOrTtl === 'number') seconds = ruleOrTtl;
  else if (typeof ruleOrTtl === 'string') rule = ruleOrTtl;
  if (typeof ttl === 'number') seconds = ttl;
  const r = RULES.find((x) => x.name === rule);
  return createRelayToken(`http://${host}/${hcPath}`, r.name, r.key, seconds);
}

/** Resolves with the arguments of the first `name` event (one argument alone, several as an array). */
function once(emitter, name) {
  return new Promise((resolve) => emitter.once(name, (...args) => resolve(args.length > 1 ? args : args[0])));
}

/** As `once`, but rejects if `error` comes first. */
function onceOrError(emitter, name) {
  if (name === 'error') return once(emitter, name);
  return new Promise((resolve, reject) => {
    const onEvent = (...args) => {
      emitter.removeListener('error', onError);
      resolve(args.length > 1 ? args : args[0]);
    };
    const onError = (err) => {
      emitter.removeListener(name, onEvent);
      reject(err);
    };
    emitter.once(name, onEvent);
    emitter.once('error', onError);
  });
}

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `promise`'s value, or `fallback` when it has not settled within `ms` (the timer is cleared either way). */
function within(promise, ms, fallback) {
  let timer;
  const late = new Promise((resolve) => (timer = setTimeout(() => resolve(fallback), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Resolves when `predicate()` is true, polling; rejects after `ms`. */
async function until(predicate, ms = 5000, what = 'condition') {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}

/** An emulator object or its endpoint string. */
function endpointOf(relay) {
  return typeof relay === 'string' ? relay : relay.endpoint;
}

/**
 * Connects a `websocket` client as a sender. Resolves with the connection
 * (its `handshakeResponse` set), or rejects with the failure, whose
 * `status` is the relay's answer (or the network error's code); rejects with
 * `hung: true` after `timeoutMs`.
 * Options: token (null: none), uriToken, id, headers, protocols, origin, config, timeoutMs.
 */
function send(relay, hcPath = 'echo', opts = {}) {
  const client = new hyco.client(opts.config);
  const uri = createRelaySendUri(endpointOf(relay), hcPath, opts.uriToken ?? null, opts.id ?? null);
  const headers = { ...(opts.headers ?? {}) };
  if (opts.token !== null) headers.ServiceBusAuthorization = opts.token ?? token(hcPath.split(/[/?]/)[0]);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.abort();
      reject(Object.assign(new Error('the handshake hung'), { hung: true }));
    }, opts.timeoutMs ?? 30000);
    client.once('connect', (connection) => {
      clearTimeout(timer);
      connection.handshakeResponse = client.response;
      resolve(connection);
    });
    client.once('connectFailed', (err) => {
      clearTimeout(timer);
      const status = /non-101 status: (\d{3})/.exec(err.message);
      reject(Object.assign(err, { status: status ? Number(status[1]) : err.code ?? 'network' }));
    });
    client.connect(uri, opts.protocols ?? null, opts.origin ?? null, headers);
  });
}

/** Opens a raw `ws` sender; resolves with the socket once open, rejects with { status, message }. */
function sendWs(relay, hcPath = 'echo', opts = {}) {
  const headers = opts.token === null ? {} : { ServiceBusAuthorization: opts.token ?? token(hcPath.split(/[/?]/)[0]) };
  const ws = new WebSocket(createRelaySendUri(endpointOf(relay), hcPath), opts.protocols, { headers, perMessageDeflate: false, ...opts.ws });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (req, res) => {
      reject(Object.assign(new Error(`status ${res.statusCode}`), { status: res.statusCode, statusMessage: res.statusMessage }));
      req.destroy();
    });
    ws.once('error', reject);
  });
}

/**
 * A control channel opened with `ws`. `onAccept(message, channel)` decides
 * what to do with each sender (default: accept and echo).
 */
async function listen(t, relay, hcPath = 'echo', opts = {}) {
  const uri = createRelayListenUri(relay.endpoint, hcPath, null, opts.id ?? null);
  const ws = new WebSocket(uri, { headers: { ServiceBusAuthorization: opts.token ?? token(hcPath) }, perMessageDeflate: false });
  ws.accepts = [];
  ws.rendezvous = [];
  ws.on('message', (data, isBinary) => {
    if (isBinary) return; // HTTP bodies; tests that need them listen themselves
    const message = JSON.parse(data.toString());
    if (!message.accept) return;
    ws.accepts.push(message.accept);
    (opts.onAccept ?? acceptAndEcho)(message.accept, ws);
  });
  t.after(() => {
    ws.terminate();
    for (const r of ws.rendezvous) r.terminate();
  });
  await onceOrError(ws, 'open');
  return ws;
}

/**
 * A hand-written HTTP listener: a control channel on `hcPath` that hands
 * each request to `onRequest(request, channel, body)`: inline ones with
 * their body (the binary message that follows), address-only ones with
 * `request.address` only.
 */
async function httpListener(t, relay, onRequest, hcPath = 'echo') {
  const channel = await listen(t, relay, hcPath, { onAccept() {} });
  let bodyFor;
  channel.on('message', (data, isBinary) => {
    if (isBinary) {
      const deliver = bodyFor;
      bodyFor = undefined;
      deliver?.(data);
      return;
    }
    const message = JSON.parse(data);
    if (!message.request) return;
    if (message.request.body && message.request.method) bodyFor = (body) => onRequest(message.request, channel, body);
    else onRequest(message.request, channel);
  });
  return channel;
}

/**
 * Reads server-sent events from `url` (the dashboard's live feed); resolves
 * with { events, next(predicate), ended, headers, close() }, each event
 * { raw, value } (its data, parsed as JSON).
 */
function eventFeed(url) {
  return new Promise((resolve, reject) => {
    const events = [];
    const waiters = [];
    const req = http.get(url, (res) => {
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        buffer += chunk;
        let end;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          if (!data) continue;
          events.push({ raw: data, value: JSON.parse(data) });
          for (const w of [...waiters]) w();
        }
      });
      const ended = new Promise((done) => res.on('end', () => done('ended')));
      resolve({
        ended,
        headers: res.headers,
        events,
        next: (predicate, ms = 5000) =>
          new Promise((ok, fail) => {
            const timer = setTimeout(() => fail(new Error('no matching snapshot')), ms);
            const check = () => {
              const hit = events.find((e) => predicate(e.value));
              if (!hit) return;
              clearTimeout(timer);
              waiters.splice(waiters.indexOf(check), 1);
              ok(hit);
            };
            waiters.push(check);
            check();
          }),
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
  });
}

/** Accepts a sender over its rendezvous and echoes every message back. */
function acceptAndEcho(accept, channel, protocols, wsOptions = {}) {
  const rendezvous = new WebSocket(accept.address, protocols, { perMessageDeflate: false, ...wsOptions });
  channel.rendezvous.push(rendezvous);
  rendezvous.on('message', (data, isBinary) => rendezvous.send(data, { binary: isBinary }));
  rendezvous.on('error', () => {});
  return rendezvous;
}

/** The status code and text of a failed handshake at `uri`. */
function handshakeStatus(uri, headers = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(uri, { headers, perMessageDeflate: false });
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('the handshake succeeded'));
    });
    ws.once('unexpected-response', (req, res) => {
      resolve({ status: res.statusCode, text: res.statusMessage });
      req.destroy();
    });
    ws.once('error', () => {});
  });
}

/** The next message's data from a `ws` socket. */
async function nextMessage(ws) {
  const [data] = await onceOrError(ws, 'message');
  return data;
}

/** A relayed server on `hcPath` as constructed (not yet online), closed after the test. */
function offlineServer(t, relay, options = {}, hcPath = 'echo') {
  const server = new hyco.relayedServer({
    server: createRelayListenUri(relay.endpoint, hcPath),
    token: () => token(hcPath),
    reconnectBackoff: FAST_BACKOFF,
    ...options,
  });
  t.after(() => server.close());
  return server;
}

/** A relayed server on `hcPath`, online, closed after the test. */
async function relayedServer(t, relay, options = {}, hcPath = 'echo') {
  const server = offlineServer(t, relay, options, hcPath);
  await once(server, 'online');
  return server;
}

/** Sends `count` numbered messages one at a time and checks each echo; resolves with the outcome. */
function exchange(connection, label, count, timeoutMs = 5000) {
  return new Promise((resolve) => {
    let i = 0;
    let expected;
    let timer;
    const finish = (outcome) => {
      clearTimeout(timer);
      connection.removeListener('message', onMessage);
      connection.removeListener('close', onClose);
      resolve(outcome);
    };
    const next = () => {
      if (i === count) return finish({ ok: true });
      expected = `${label}:${i++}:${Math.random().toString(36).slice(2)}`;
      clearTimeout(timer);
      timer = setTimeout(() => finish({ ok: false, lost: true, why: `no echo for ${expected}` }), timeoutMs);
      connection.sendUTF(expected);
    };
    const onMessage = (m) => {
      if (m.utf8Data !== expected) return finish({ ok: false, lost: true, why: `expected ${expected}, got ${m.utf8Data}` });
      next();
    };
    const onClose = (code) => finish({ ok: false, closed: code });
    connection.on('message', onMessage);
    connection.on('close', onClose);
    next();
  });
}

/** Starts the emulator in a child process; resolves with { endpoint, port, usage(), stats(), stop() }. */
async function childEmulator(options) {
  const child = fork(path.join(__dirname, 'emulator-process.js'), [JSON.stringify({ rules: RULES, ...options })], {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let nextId = 0;
  const waiting = new Map();
  child.on('message', (m) => {
    if (m.id !== undefined && waiting.has(m.id)) {
      waiting.get(m.id)(m);
      waiting.delete(m.id);
    }
  });
  const ready = await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`emulator process exited with ${code}`)));
  });
  const ask = (message) =>
    new Promise((resolve) => {
      const id = ++nextId;
      waiting.set(id, resolve);
      child.send({ ...message, id });
    });
  return {
    ...ready,
    /** Whether the emulator process is still running. */
    alive: () => child.exitCode === null && child.signalCode === null,
    usage: () => ask({ type: 'usage' }),
    stats: async () => (await ask({ type: 'stats' })).stats,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', resolve);
        child.disconnect();
        setTimeout(() => child.kill(), 3000).unref();
      }),
  };
}

/**
 * Runs a fast-check property, seeded and bounded. The seed is `FC_SEED`
 * when set (a number, or `random`), else `defaultSeed`, so CI runs the same
 * cases every time and a developer can explore; it is printed on failure.
 */
async function checkProperty(property, { defaultSeed, numRuns }) {
  const fc = require('fast-check');
  const fromEnv = process.env.FC_SEED;
  const seed = fromEnv === 'random' ? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0 : fromEnv ? Number(fromEnv) : defaultSeed;
  const runs = process.env.FC_RUNS ? Number(process.env.FC_RUNS) : numRuns;
  try {
    await fc.assert(property, { seed, numRuns: runs, endOnFailure: true, includeErrorInReport: true });
  } catch (err) {
    err.message = `property failed with seed ${seed} (replay: FC_SEED=${seed})\n${err.message}`;
    throw err;
  }
}

/**
 * The process warnings emitted from now until the test ends, e.g. to
 * assert that no MaxListenersExceededWarning (a listener added per write or
 * per request and never removed) was printed. Warnings arrive a tick after
 * they are emitted: await a short delay before reading.
 */
function collectWarnings(t) {
  const seen = [];
  const onWarning = (warning) => seen.push(warning);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  return {
    seen,
    /** Messages of MaxListenersExceededWarnings seen so far. */
    listenerLeaks: () => seen.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message),
  };
}

module.exports = {
  collectWarnings,
  ...require('./proxy'),
  FakeRelay: require('./fake-relay').FakeRelay,
  checkProperty,
  KEY,
  RULES,
  FAST_BACKOFF,
  startRelay,
  token,
  once,
  onceOrError,
  delay,
  until,
  within,
  send,
  sendWs,
  listen,
  httpListener,
  eventFeed,
  acceptAndEcho,
  handshakeStatus,
  nextMessage,
  offlineServer,
  relayedServer,
  exchange,
  childEmulator,
  createRelayListenUri,
  createRelaySendUri,
};

'use strict';
// Total entry points: every public constructor and function of both
// packages, called with hostile option values (odd strings, control
// characters, "%", huge numbers, wrong types, throwing getters, credentials
// that throw, hang or return garbage), either refuses up front with a
// RelayArgumentError (a TypeError with a code) or reports later through its
// documented error event or rejection; never an uncaught exception or an
// unhandled rejection, never a secret in a message, and everything settles.
// Seeded and bounded: FC_SEED=random FC_RUNS=400 explores further.
const test = require('node:test');
const assert = require('node:assert/strict');
const fc = require('fast-check');
const hyco = require('hyco-websocket');
const { RelayEmulator } = require('hyco-relay-emulator');
const { startRelay, token, checkProperty } = require('hyco-test-support');

/**
 * A marker every secret the properties hand out contains (keys, tokens,
 * passwords, and what a throwing getter would reveal). Errors thrown by a
 * token function or credential are quoted by the library for diagnosis, so
 * those carry plain messages here.
 */
const SECRET = 'Zm9vU2VjcmV0S2V5MDA';

/** How long anything may take to settle, ms (the token timeouts given are far shorter). */
const SETTLE_MS = 5000;

const oddStrings = fc.oneof(
  fc.constantFrom('', ' ', '%', '%zz', '%E0%A4%A', '50%off', '\n', `${SECRET}\r\n`, '\x1b[31m', '\u0000', '\uffff', '\ud800', '\u202e', '//%80@a', '?&&&', 'sb-hc-action=listen',
    `http://u:${SECRET}%@127.0.0.1:1`, 'ws://', 'wss://[::1', 'sb://x/;', `Endpoint=sb://127.0.0.1:1/;SharedAccessKeyName=R;SharedAccessKey=${SECRET}%;EntityPath=%`,
    `SharedAccessSignature sr=%&sig=${SECRET}&se=NaN&skn=`, 'a'.repeat(70_000)),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
);

const oddNumbers = fc.oneof(fc.constantFrom(NaN, Infinity, -Infinity, -1, 0, -0, 2 ** 31, 2 ** 53, 1e308, 0.5), fc.double(), fc.integer());

/** An object whose every property read throws an error carrying a secret. */
function throwingGetters() {
  const fail = (name) => {
    throw new Error(`getter ${name} ${SECRET}`);
  };
  // Symbols (inspection, fast-check's own cloning) and `then` read as absent; every named property throws.
  return new Proxy({}, { get: (_t, name) => (typeof name === 'symbol' || name === 'then' || name === 'toJSON' ? undefined : fail(name)) });
}

const hostileCredentials = fc.constantFrom(
  () => ({ getToken: () => { throw new Error('credential unavailable'); } }),
  () => ({ getToken: () => Promise.reject(new Error('credential unavailable')) }),
  () => ({ getToken: () => new Promise(() => undefined) }),
  () => ({ getToken: async () => ({ token: 123, expiresOnTimestamp: 'soon' }) }),
  () => ({ getToken: async () => ({ token: `${SECRET}\n`, expiresOnTimestamp: Date.now() + 60_000 }) }),
  () => ({ getToken: async () => ({ token: `a.${SECRET}.b`, expiresOnTimestamp: 0, refreshAfterTimestamp: 0 }) }),
  () => ({ getToken: async () => null }),
  () => ({ name: 'RootManageSharedAccessKey', key: `${SECRET}%\n` }),
  () => ({ name: `\r\n${SECRET}`, key: SECRET }),
  () => ({ signature: `${SECRET}\n` }),
  () => ({ signature: '' }),
  () => () => { throw new Error('token function failed'); },
  () => () => new Promise(() => undefined),
  () => () => 42,
  () => () => `SharedAccessSignature sr=x&sig=${SECRET}&se=1&skn=y`,
  () => throwingGetters(),
);

/** Any hostile value (credentials built fresh per use). */
const hostile = fc.oneof(
  oddStrings,
  oddNumbers,
  fc.constantFrom(true, false, null, undefined, [], [1, 'x'], {}, Symbol('s'), 10n),
  hostileCredentials.map((make) => make()),
);

/** Every message of `err` and its causes, to search for secrets. */
function messagesOf(err, depth = 0) {
  if (!err || depth > 5) return '';
  return `${err.message ?? ''} ${err.stack ?? ''} ${typeof err.cause === 'object' ? messagesOf(err.cause, depth + 1) : String(err.cause ?? '')}`;
}

/** A failure as the API documents it: RelayArgumentError up front, else a RelayError (or, for fetch, what fetch rejects with). */
function checkError(err, where, { fetchLike = false } = {}) {
  assert.ok(err instanceof Error, `${where}: an Error, not ${typeof err}`);
  const documented = err instanceof hyco.RelayError || (err instanceof TypeError && err.code === 'ERR_HYCO_INVALID_ARGUMENT') || (fetchLike && (err.name === 'TypeError' || err.name === 'AbortError'));
  assert.ok(documented, `${where}: undocumented error ${err.name} ${err.code ?? ''}: ${String(err.message).slice(0, 200)}`);
  if (err.code !== undefined) assert.match(String(err.code), /^ERR_HYCO_|^ERR_/, where);
  assert.ok(!messagesOf(err).includes(SECRET), `${where}: a secret in the message: ${String(err.message).slice(0, 200)}`);
}

/** Resolves with the outcome of `promise`, or fails the property when it has not settled within SETTLE_MS. */
function settles(promise, where) {
  let timer;
  const bound = new Promise((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${where}: did not settle within ${SETTLE_MS} ms`)), SETTLE_MS);
  });
  return Promise.race([promise.then((value) => ({ value }), (error) => ({ error })), bound]).finally(() => clearTimeout(timer));
}

/** Runs `fn` and fails if an uncaught exception or unhandled rejection happened meanwhile (or just after). */
async function guarded(fn) {
  const escaped = [];
  const onEscape = (err) => escaped.push(err);
  process.on('uncaughtException', onEscape);
  process.on('unhandledRejection', onEscape);
  try {
    await fn();
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('uncaughtException', onEscape);
    process.off('unhandledRejection', onEscape);
  }
  assert.deepEqual(escaped.map((e) => String(e?.message ?? e).slice(0, 200)), [], 'nothing escaped');
}

/** Options with one key (of `keys`) set to a hostile value; sometimes two. */
function hostileOptions(keys, base) {
  return fc.tuple(fc.constantFrom(...keys), hostile, fc.option(fc.tuple(fc.constantFrom(...keys), hostile), { nil: undefined })).map(([k, v, second]) => {
    const options = { ...base(), [k]: v };
    if (second) options[second[0]] = second[1];
    return options;
  });
}

const SERVER_KEYS = ['server', 'token', 'credential', 'proxy', 'id', 'autoAcceptConnections', 'maxReceivedFrameSize', 'maxReceivedMessageSize', 'fragmentationThreshold', 'closeTimeout', 'keepalive', 'keepaliveInterval', 'keepaliveGracePeriod', 'tlsOptions', 'controlChannelKeepalive', 'controlChannelKeepaliveInterval', 'controlChannelKeepaliveGracePeriod', 'connectTimeout', 'rendezvousTimeout', 'reconnectBackoff'];
const CLIENT_KEYS = ['token', 'credential', 'proxy', 'allowedListeners', 'disallowedListeners', 'tokenTimeout', 'maxReceivedFrameSize', 'tlsOptions', 'protocols', 'origin', 'headers', 'abortSignal'];

test('every entry point of the library refuses hostile options up front or reports them as documented: no escape, no secret, everything settles', async (t) => {
  const relay = await startRelay(t);
  const good = token('echo');
  const listenUri = hyco.createRelayListenUri(relay.endpoint, 'echo');
  const sendUri = hyco.createRelaySendUri(relay.endpoint, 'echo');
  const httpsUri = hyco.createRelayHttpsUri(relay.endpoint, 'echo');
  const serverBase = () => ({ server: listenUri, token: good, connectTimeout: 300, reconnectBackoff: [50, 100] });
  const clientBase = () => ({ token: good, tokenTimeout: 300 });

  await checkProperty(
    fc.asyncProperty(hostileOptions(SERVER_KEYS, serverBase), async (options) => {
      await guarded(async () => {
        let server;
        try {
          server = new hyco.relayedServer(options);
        } catch (err) {
          checkError(err, 'new relayedServer');
          return;
        }
        const seen = [];
        server.on('error', (err) => seen.push(err));
        server.on('warning', (err) => seen.push(err));
        server.on('offline', (err) => err && seen.push(err));
        server.on('request', (r) => r.reject(503));
        await new Promise((resolve) => setTimeout(resolve, 150));
        const closed = await settles(server.close(), 'relayedServer.close');
        assert.equal(closed.error, undefined);
        for (const err of seen) checkError(err, 'relayedServer event');
      });
    }),
    { defaultSeed: 2101, numRuns: 60 },
  );

  await checkProperty(
    fc.asyncProperty(hostileOptions(CLIENT_KEYS, clientBase), fc.oneof(fc.constant(sendUri), oddStrings), async (options, address) => {
      await guarded(async () => {
        const outcome = await settles(Promise.resolve().then(() => hyco.relayedConnect(address, options)), 'relayedConnect');
        if (outcome.error) checkError(outcome.error, 'relayedConnect');
        else outcome.value.drop();
        // A method or path is no secret (errors may quote it): those odd strings that hold the marker are not used as one.
        const plain = typeof options.origin === 'string' && !options.origin.includes(SECRET) ? options.origin : undefined;
        const fetched = await settles(Promise.resolve().then(() => hyco.relayedFetch(address === sendUri ? httpsUri : address, { headers: options.headers, method: plain ?? 'GET' }, options)), 'relayedFetch');
        if (fetched.error) checkError(fetched.error, 'relayedFetch', { fetchLike: true });
        else await fetched.value.arrayBuffer();
        const info = await settles(Promise.resolve().then(() => hyco.getRuntimeInformation(address === sendUri ? relay.endpoint : address, plain ?? 'echo', { ...options, timeoutMs: typeof options.tokenTimeout === 'number' ? options.tokenTimeout : 1000 })), 'getRuntimeInformation');
        if (info.error) checkError(info.error, 'getRuntimeInformation');
      });
    }),
    { defaultSeed: 2102, numRuns: 60 },
  );
});

test('every pure helper of the library (tokens, addresses, connection strings) answers or throws a documented error for any input, never a secret', async () => {
  const helpers = {
    createRelayToken: (a) => hyco.createRelayToken(a[0], a[1], a[2], a[3]),
    parseRelayToken: (a) => hyco.parseRelayToken(a[0]),
    tokenExpiry: (a) => hyco.tokenExpiry(a[0]),
    createRelayBaseUri: (a) => hyco.createRelayBaseUri(a[0], a[1]),
    createRelayListenUri: (a) => hyco.createRelayListenUri(a[0], a[1], a[2], a[3]),
    createRelaySendUri: (a) => hyco.createRelaySendUri(a[0], a[1], a[2], a[3]),
    createRelayHttpsUri: (a) => hyco.createRelayHttpsUri(a[0], a[1]),
    appendRelayToken: (a) => hyco.appendRelayToken(a[0], a[1]),
    parseRelayNamespace: (a) => hyco.parseRelayNamespace(a[0]),
    parseConnectionString: (a) => hyco.parseConnectionString(a[0]),
    'relayedServer.fromConnectionString': (a) => hyco.relayedServer.fromConnectionString(a[0], a[1]),
    'relayedClient.fromConnectionString': (a) => hyco.relayedClient.fromConnectionString(a[0], a[1]),
    'new relayedClient': (a) => new hyco.relayedClient(a[0]),
  };
  const secretArgs = fc.tuple(hostile, hostile, hostile, hostile);
  await checkProperty(
    fc.asyncProperty(fc.constantFrom(...Object.keys(helpers)), secretArgs, async (name, args) => {
      await guarded(async () => {
        let result;
        try {
          result = helpers[name](args);
        } catch (err) {
          checkError(err, name);
          return;
        }
        // A server made from a connection string starts connecting: it must stop cleanly.
        if (result && typeof result.close === 'function') {
          result.on?.('error', (err) => checkError(err, `${name} event`));
          assert.equal((await settles(result.close(), `${name}.close`)).error, undefined);
        }
      });
    }),
    { defaultSeed: 2103, numRuns: 400 },
  );
});

test('the emulator refuses hostile options with a coded TypeError, or starts and closes; createTokenCredential likewise', async (t) => {
  const KEYS = ['host', 'port', 'rules', 'hybridConnections', 'autoCreate', 'tls', 'namespace', 'rendezvousTimeoutMs', 'maxListenersPerHybridConnection', 'idleTimeoutMs', 'handshakeTimeoutMs', 'httpResponseTimeoutMs', 'listenerPings', 'roleAssignments', 'entraTokens', 'applications', 'managedIdentity'];
  const relay = await startRelay(t);
  await checkProperty(
    fc.asyncProperty(hostileOptions(KEYS, () => ({ port: 0 })), hostile, async (options, principal) => {
      await guarded(async () => {
        const started = await settles(Promise.resolve().then(() => RelayEmulator.start(options)), 'RelayEmulator.start');
        // Binding is the system's: a host that does not resolve or cannot be bound to rejects with the system's coded error.
        if (started.error && /^E[A-Z]+$/.test(started.error.code ?? '') && started.error.syscall) assert.ok(['getaddrinfo', 'listen', 'bind'].includes(started.error.syscall), started.error.syscall);
        else if (started.error) checkError(started.error, 'RelayEmulator.start');
        else assert.equal((await settles(started.value.close(), 'relay.close')).error, undefined);
        try {
          const credential = relay.createTokenCredential({ principal, roles: [{ role: principal }], lifetimeSeconds: principal });
          const got = await settles(Promise.resolve().then(() => credential.getToken(hyco.RELAY_SCOPE)), 'getToken');
          if (got.error) checkError(got.error, 'getToken');
        } catch (err) {
          checkError(err, 'createTokenCredential');
        }
      });
    }),
    { defaultSeed: 2104, numRuns: 60 },
  );
});

test('the forwarding and expose entry points (createLocalForward, createRemoteForward, relayedProxy) refuse hostile options up front or start and close cleanly', async (t) => {
  const relay = await startRelay(t);
  const good = token('echo');
  const COMMON = ['namespace', 'path', 'connectionString', 'token', 'credential', 'proxy', 'tlsOptions', 'connectTimeout', 'handshakeTimeout', 'keepaliveInterval', 'udpIdleTimeout', 'closeTimeout'];
  const makers = {
    createLocalForward: [hyco.createLocalForward, [...COMMON, 'bindings', 'maxHeldDatagramBytes'], () => ({ namespace: relay.endpoint, path: 'echo', token: good, bindings: [{ bindPort: 0, portName: 'p' }] })],
    createRemoteForward: [hyco.createRemoteForward, [...COMMON, 'bindings', 'id'], () => ({ namespace: relay.endpoint, path: 'echo', token: good, bindings: [{ hostPort: 1, portName: 'p' }] })],
    relayedProxy: [hyco.relayedProxy, ['server', 'token', 'credential', 'proxy', 'origin', 'originCa', 'insecureOrigin', 'originTimeout', 'maxReceivedFrameSize', 'connectTimeout'], () => ({ server: hyco.createRelayListenUri(relay.endpoint, 'echo'), token: good, origin: 'http://127.0.0.1:1' })],
  };
  for (const [name, [make, keys, base]] of Object.entries(makers)) {
    await checkProperty(
      fc.asyncProperty(hostileOptions(keys, base), async (options) => {
        await guarded(async () => {
          let made;
          try {
            made = make(options);
          } catch (err) {
            checkError(err, name);
            return;
          }
          made.on?.('error', (err) => checkError(err, `${name} event`));
          await new Promise((resolve) => setTimeout(resolve, 50));
          assert.equal((await settles(made.close(), `${name}.close`)).error, undefined);
        });
      }),
      { defaultSeed: 2105, numRuns: 40 },
    );
  }
});

'use strict';
// `npm run bench`: each scenario in up to four ways in one run, on loopback:
//   direct   websocket client -> websocket.server (no relay)
//   floor    the same, with a plain TCP forwarder (its own process) between
//            them: the least any relay hop can cost on this machine
//   relayed  the same client -> our emulator -> hyco-websocket relayedServer
//   peer     the same client -> our emulator -> Microsoft's hyco-ws@1.0.5
// (the expose row: an HTTP client -> our emulator -> `relayedProxy` -> the
// direct server's HTTP origin, against that origin direct and through the floor)
// Setup and round trip run again over TLS (wss:// on every hop), and
// connection setup once more through a WAN-like link (a forwarder delaying
// every chunk by --latency ms each way, in front of the relay for sender and
// listener, in front of the server for direct), counted in round trips
// against the protocol's minimum. The emulator, listener and forwarders run
// in processes of their own, the sender here. Prints one table (medians,
// p99, ratios), the CPU each process spent, the verdicts, and writes
// bench/results.json.
//   node bench/run.js [--quick] [--modes direct,floor,relayed,peer]
//     [--scenarios setup,rtt,setup-tls,rtt-tls,wan,throughput,fanin,http,http-unrecorded,expose,forward,scale]
//     [--latency MS] [--repeat N] [--cpu-prof DIR]
const path = require('node:path');
const fs = require('node:fs');
const os = require('node:os');
const { fork, execSync } = require('node:child_process');
const http = require('node:http');
const net = require('node:net');
const { client: WebSocketClient } = require('websocket');
const { createRelayHttpsUri, createRelayListenUri, createRelaySendUri, createRelayToken } = require('hyco-websocket');

const argv = process.argv.slice(2);
const option = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i === -1 ? fallback : argv[i + 1];
};
const QUICK = argv.includes('--quick');
const MODES = option('modes', 'direct,floor,relayed,peer').split(',');
const SCENARIOS = option('scenarios', 'setup,rtt,setup-tls,rtt-tls,wan,throughput,fanin,http,http-unrecorded,expose,forward,scale')
  .split(',')
  .flatMap((s) => (s === 'wan' ? ['wan', 'wan-2x'] : [s]));
// --latency MS: the one-way delay of the WAN link (each direction).
const LATENCY = Number(option('latency', '10'));
// --cpu-prof DIR: write a V8 CPU profile of each child process into DIR.
const CPU_PROF_DIR = option('cpu-prof', undefined);
// --repeat N: run everything N times, interleaved, and report each figure's median over the runs.
const REPEAT = Number(option('repeat', '1'));
if (!Number.isInteger(REPEAT) || REPEAT < 1) throw new Error('--repeat takes a whole number of runs, 1 or more');
if (!Number.isFinite(LATENCY) || LATENCY <= 0) throw new Error('--latency takes a positive number of milliseconds');

function fileLimit() {
  try {
    return Number(execSync('ulimit -n', { shell: '/bin/sh', encoding: 'utf8' }).trim()) || 1024;
  } catch {
    return 1024;
  }
}
// The emulator holds two sockets per relayed connection (sender and rendezvous).
const SCALE_CAP = Math.floor((fileLimit() - 200) / 2);
const P = QUICK
  ? { connects: 200, roundTrips: 2000, seconds: 1.5, fanInConnections: 50, scale: Math.min(1000, SCALE_CAP), wanConnects: 15 }
  : { connects: 1000, roundTrips: 10000, seconds: 5, fanInConnections: 100, scale: Math.min(10000, SCALE_CAP), wanConnects: 40 };

/** How each scenario runs: over TLS, through the WAN link, and in which modes. */
const VARIANTS = {
  setup: { tls: false, latency: 0 },
  rtt: { tls: false, latency: 0 },
  'setup-tls': { tls: true, latency: 0 },
  'rtt-tls': { tls: true, latency: 0 },
  wan: { tls: true, latency: LATENCY, modes: ['direct', 'relayed', 'peer'] },
  // The same at twice the latency: the difference counts the round trips alone (processing time cancels out).
  'wan-2x': { tls: true, latency: 2 * LATENCY, modes: ['direct', 'relayed', 'peer'] },
  // Throughput runs first, on processes of its own (see the job order below).
  throughput: { tls: false, latency: 0, fresh: true },
  fanin: { tls: false, latency: 0 },
  http: { tls: false, latency: 0, modes: ['direct', 'floor', 'relayed'] },
  // The same through an emulator whose inspector does not record (the http row records, its default on loopback).
  'http-unrecorded': { tls: false, latency: 0, modes: ['relayed'], unrecorded: true },
  // Relayed means through `relayedProxy` here (processes of its own: emulator, proxy, origin).
  expose: { tls: false, latency: 0, modes: ['direct', 'floor', 'relayed'], expose: true },
  // TCP through `forward` (-L, the relay, -T) against the same through the floor forwarder.
  forward: { tls: false, latency: 0, modes: ['floor', 'relayed'], forward: true },
  // Scale cycles ten thousand connections: last, on processes of its own.
  scale: { tls: false, latency: 0, modes: ['direct', 'relayed', 'peer'], last: true },
};
/**
 * The fewest round trips a connection's setup (connect, then one echo) can
 * take through the WAN link, counted from PROTOCOL.md. Direct: TCP, TLS 1.3,
 * the upgrade and its 101, the echo (4; 3 without TLS). Relayed, where both
 * the sender and the listener are a link away from the relay: the sender's
 * TCP, TLS and upgrade (2.5), the accept message to the listener (0.5), the
 * listener's rendezvous TCP, TLS and upgrade (2.5), the 101 back to the
 * sender (0.5), and the echo, which crosses both links (2): 8 (6 without TLS).
 */
const MINIMUM_ROUND_TRIPS = { direct: { tls: 4, plain: 3 }, relayed: { tls: 8, plain: 6 } };
const LIMITS = { maxReceivedFrameSize: 4 * 1024 * 1024, maxReceivedMessageSize: 4 * 1024 * 1024 };
const SCENARIO_TIMEOUT_MS = 180_000;

const now = () => Number(process.hrtime.bigint()) / 1e6; // ms
const percentile = (values, p) => {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};

/** A child process with a request/response usage channel. */
function spawnChild(args, env = {}) {
  const execArgv = ['--expose-gc'];
  if (CPU_PROF_DIR) execArgv.push('--cpu-prof', `--cpu-prof-dir=${path.resolve(CPU_PROF_DIR)}`, `--cpu-prof-name=${args.slice(0, 2).join('-')}-${Date.now()}.cpuprofile`);
  const child = fork(path.join(__dirname, 'processes.js'), args, { execArgv, env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let nextId = 0;
  const waiting = new Map();
  child.on('message', (m) => {
    if (m.type === 'usage' && waiting.has(m.id)) {
      waiting.get(m.id)(m);
      waiting.delete(m.id);
    } else if (m.type === 'log') process.stderr.write(`${m.text}\n`);
  });
  const ready = new Promise((resolve, reject) => {
    const onMessage = (m) => {
      if (m.type === 'ready') resolve(m);
      if (m.type === 'error') reject(new Error(m.text));
    };
    child.on('message', onMessage);
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
  });
  return {
    child,
    ready,
    usage(gc = false) {
      const id = ++nextId;
      return new Promise((resolve) => {
        waiting.set(id, resolve);
        child.send({ type: 'usage', id, gc });
      });
    },
    stop() {
      // A disconnect lets the child exit by itself (and write its profile).
      if (child.connected) child.disconnect();
      const timer = setTimeout(() => child.exitCode === null && child.kill(), 5000);
      child.once('exit', () => clearTimeout(timer));
    },
  };
}

async function selfUsage() {
  const cpu = process.cpuUsage();
  return { cpuMs: (cpu.user + cpu.system) / 1000, rss: process.memoryUsage().rss };
}

/** A self-signed certificate for 127.0.0.1, written for the child processes (and trusted by them through NODE_EXTRA_CA_CERTS). */
let tlsFiles;
async function certificate() {
  if (tlsFiles) return tlsFiles;
  const { selfSignedCertificate } = require('hyco-relay-emulator');
  const generated = await selfSignedCertificate(['localhost', '127.0.0.1']);
  const pems = { cert: generated.cert, private: generated.key };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyco-bench-tls-'));
  fs.writeFileSync(path.join(dir, 'cert.pem'), pems.cert);
  fs.writeFileSync(path.join(dir, 'key.pem'), pems.private);
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  tlsFiles = { dir, cert: pems.cert, certFile: path.join(dir, 'cert.pem') };
  return tlsFiles;
}

/** A forwarder to `port` (with `delay` ms each way: the WAN link); resolves with its port. */
async function forwarderTo(processes, name, port, delay = 0) {
  processes[name] = spawnChild(['forwarder', String(port), ...(delay ? [String(delay)] : [])]);
  return (await processes[name].ready).port;
}

/** Everything one mode needs, plain or TLS, with or without the WAN link: processes, addresses, a connect function. */
/** The forward scenario's processes: a TCP echo server, reached through the floor forwarder, or through -L, the emulator and -T. */
async function startForward(mode) {
  const processes = {};
  processes.target = spawnChild(['tcp-echo']);
  const targetPort = (await processes.target.ready).port;
  let tcpPort;
  if (mode === 'floor') tcpPort = await forwarderTo(processes, 'forwarder', targetPort);
  else {
    processes.emulator = spawnChild(['emulator']);
    const { port, rule } = await processes.emulator.ready;
    const token = createRelayToken('http://127.0.0.1/bench', rule.name, rule.key, 6 * 3600);
    processes['forward -T'] = spawnChild(['forward-remote', `ws://127.0.0.1:${port}`, 'bench', token, String(targetPort)]);
    await processes['forward -T'].ready;
    processes['forward -L'] = spawnChild(['forward-local', `ws://127.0.0.1:${port}`, 'bench', token]);
    tcpPort = (await processes['forward -L'].ready).port;
  }
  return { mode, processes, tcpPort, stop: () => Object.values(processes).forEach((p) => p.stop()) };
}

async function startMode(mode, { tls, latency, expose, forward, unrecorded }) {
  if (forward) return startForward(mode);
  const processes = {};
  const cert = tls ? await certificate() : undefined;
  const env = cert ? { NODE_EXTRA_CA_CERTS: cert.certFile } : {};
  const ws = tls ? 'wss' : 'ws';
  let sendUri;
  let httpUri;
  let headers = {};
  if (mode === 'direct' || mode === 'floor') {
    processes.listener = spawnChild(['listener', 'direct', ...(cert ? [cert.dir] : [])], env);
    let port = (await processes.listener.ready).port;
    if (mode === 'floor') port = await forwarderTo(processes, 'forwarder', port);
    if (latency) port = await forwarderTo(processes, 'link', port, latency);
    sendUri = `${ws}://127.0.0.1:${port}/`;
    httpUri = `${tls ? 'https' : 'http'}://127.0.0.1:${port}/bench`;
  } else {
    processes.emulator = spawnChild(['emulator', ...(cert ? [cert.dir] : [])], unrecorded ? { HYCO_BENCH_UNRECORDED: '1' } : {});
    const { port, rule } = await processes.emulator.ready;
    // Over the WAN link, the sender and the listener each reach the relay through a link of their own.
    const listenPort = latency ? await forwarderTo(processes, 'listener link', port, latency) : port;
    const sendPort = latency ? await forwarderTo(processes, 'sender link', port, latency) : port;
    const hc = expose ? 'expose' : 'bench';
    const token = createRelayToken(`http://127.0.0.1/${hc}`, rule.name, rule.key, 6 * 3600);
    if (expose) {
      // The proxy is the listener; the direct server's HTTP side is its origin.
      processes.origin = spawnChild(['listener', 'direct'], env);
      const originPort = (await processes.origin.ready).port;
      processes.listener = spawnChild(['expose', createRelayListenUri(`${ws}://127.0.0.1:${listenPort}`, hc), token, `http://127.0.0.1:${originPort}`], env);
    } else processes.listener = spawnChild(['listener', mode, createRelayListenUri(`${ws}://127.0.0.1:${listenPort}`, hc), token], env);
    await processes.listener.ready;
    sendUri = createRelaySendUri(`${ws}://127.0.0.1:${sendPort}`, hc);
    // hyco-ws does not answer HTTP: the peer has no HTTP row. Through expose, the origin sees /bench as direct does.
    httpUri = mode === 'relayed' ? `${createRelayHttpsUri(`${ws}://127.0.0.1:${sendPort}`, hc)}${expose ? '/bench' : ''}` : undefined;
    headers = { ServiceBusAuthorization: token };
  }
  const config = { ...LIMITS, ...(cert ? { tlsOptions: { ca: cert.cert } } : {}) };
  const connect = () =>
    new Promise((resolve, reject) => {
      // websocket's client takes tlsOptions out of the config it is given: a copy each time.
      const client = new WebSocketClient({ ...config });
      client.once('connect', resolve);
      client.once('connectFailed', reject);
      client.connect(sendUri, null, null, headers);
    });
  return { mode, processes, connect, httpUri, headers, stop: () => Object.values(processes).forEach((p) => p.stop()) };
}

/** Resolves with the next message on a connection. */
function nextMessage(connection) {
  return new Promise((resolve) => connection.once('message', resolve));
}

const scenarios = {
  async setup({ connect }, count = P.connects) {
    const times = [];
    for (let i = 0; i < count; i++) {
      const t0 = now();
      const connection = await connect();
      const echoed = nextMessage(connection);
      connection.sendUTF('x');
      await echoed;
      times.push(now() - t0);
      connection.drop();
    }
    return { unit: 'ms', p50: percentile(times, 50), p99: percentile(times, 99), count: times.length };
  },

  async rtt({ connect }) {
    const connection = await connect();
    const payload = 'x'.repeat(64);
    const times = [];
    for (let i = 0; i < P.roundTrips; i++) {
      const t0 = now();
      const echoed = nextMessage(connection);
      connection.sendUTF(payload);
      await echoed;
      times.push((now() - t0) * 1000);
    }
    connection.drop();
    return { unit: 'µs', p50: percentile(times, 50), p99: percentile(times, 99), count: times.length };
  },

  'setup-tls': (ctx) => scenarios.setup(ctx),
  'rtt-tls': (ctx) => scenarios.rtt(ctx),

  /** Connection setup through the WAN link (latency D), in milliseconds and in the link's round trips (2D). */
  async wan(ctx) {
    const result = await scenarios.setup(ctx, P.wanConnects);
    const minimum = MINIMUM_ROUND_TRIPS[ctx.mode === 'direct' ? 'direct' : 'relayed'].tls;
    return { ...result, roundTrips: result.p50 / (2 * LATENCY), minimum };
  },
  /** The same through a link of latency 2D. */
  async 'wan-2x'(ctx) {
    return scenarios.setup(ctx, P.wanConnects);
  },

  async throughput(ctx) {
    const small = await stream(ctx, 64 * 1024, 16);
    const large = await stream(ctx, 1024 * 1024, 4);
    return { unit: 'MB/s', '64 KB': small.mbps, '1 MB': large.mbps, cpuPerMB: { '64 KB': small.cpuPerMB, '1 MB': large.cpuPerMB } };
  },

  async fanin({ connect }) {
    const connections = [];
    for (let i = 0; i < P.fanInConnections; i++) connections.push(await connect());
    const payload = 'y'.repeat(64);
    const window = 16;
    let echoed = 0;
    const end = now() + P.seconds * 1000;
    const t0 = now();
    await Promise.all(
      connections.map(
        (connection) =>
          new Promise((resolve) => {
            let inFlight = 0;
            const pump = () => {
              while (inFlight < window && now() < end) {
                inFlight++;
                connection.sendUTF(payload);
              }
              if (inFlight === 0) resolve();
            };
            connection.on('message', () => {
              inFlight--;
              echoed++;
              pump();
            });
            pump();
          }),
      ),
    );
    const seconds = (now() - t0) / 1000;
    connections.forEach((c) => c.drop());
    return { unit: 'msg/s', value: echoed / seconds, connections: connections.length };
  },

  async http({ httpUri, headers }) {
    if (!httpUri) return { unit: 'req/s', value: undefined, note: 'not supported by this listener' };
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    const end = now() + P.seconds * 1000;
    const t0 = now();
    let done = 0;
    const one = () =>
      new Promise((resolve, reject) => {
        const req = http.get(httpUri, { agent, headers }, (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
        });
        req.on('error', reject);
      });
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (now() < end) {
          await one();
          done++;
        }
      }),
    );
    agent.destroy();
    return { unit: 'req/s', value: done / ((now() - t0) / 1000), count: done };
  },

  /** The http row against an emulator that does not record (its inspector off): what recording costs. */
  'http-unrecorded': (ctx) => scenarios.http(ctx),

  /**
   * TCP through -L, the relay and -T (relayed), against the same through
   * the floor forwarder: the echo throughput of one connection kept full
   * (64 KB writes, with backpressure), and the time from connect to the
   * first echoed byte.
   */
  async forward({ tcpPort }) {
    const connect = () =>
      new Promise((resolve, reject) => {
        const socket = net.connect(tcpPort, '127.0.0.1');
        socket.setNoDelay(true);
        socket.once('connect', () => resolve(socket));
        socket.once('error', reject);
      });
    const times = [];
    for (let i = 0; i < Math.min(P.connects, 300); i++) {
      const t0 = now();
      const socket = await connect();
      await new Promise((resolve) => {
        socket.once('data', resolve);
        socket.write('x');
      });
      times.push(now() - t0);
      socket.destroy();
    }
    const socket = await connect();
    const chunk = Buffer.alloc(64 * 1024, 7);
    let echoed = 0;
    socket.on('data', (c) => (echoed += c.length));
    const t0 = now();
    const end = t0 + P.seconds * 1000;
    await new Promise((resolve) => {
      const pump = () => {
        while (now() < end) {
          if (!socket.write(chunk)) {
            socket.once('drain', pump);
            return;
          }
        }
        resolve();
      };
      pump();
    });
    const seconds = (now() - t0) / 1000;
    socket.destroy();
    return { throughput: echoed / 2 ** 20 / seconds, setup: { p50: percentile(times, 50), p99: percentile(times, 99) } };
  },

  /** HTTP through `relayedProxy` (relayed), against its origin direct and through the floor: req/s, and 1 MB GETs one at a time. */
  async expose(ctx) {
    const rate = await scenarios.http(ctx);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const times = [];
    let bytes = 0;
    const end = now() + P.seconds * 1000;
    while (now() < end || times.length < 5) {
      const t0 = now();
      bytes += await new Promise((resolve, reject) => {
        const req = http.get(`${ctx.httpUri}/1mb`, { agent, headers: ctx.headers }, (res) => {
          let n = 0;
          res.on('data', (chunk) => (n += chunk.length));
          res.on('end', () => (res.statusCode === 200 && n === 1024 * 1024 ? resolve(n) : reject(new Error(`status ${res.statusCode}, ${n} bytes`))));
        });
        req.on('error', reject);
      });
      times.push(now() - t0);
    }
    agent.destroy();
    const seconds = times.reduce((a, b) => a + b, 0) / 1000;
    return { unit: 'req/s', value: rate.value, p50: percentile(times, 50), mbPerSecond: bytes / 1e6 / seconds };
  },

  async scale({ connect, processes }) {
    await settle();
    const before = await memory(processes);
    const connections = [];
    const t0 = now();
    const concurrency = 100;
    let started = 0;
    let failed = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (started < P.scale) {
          started++;
          try {
            connections.push(await connect());
          } catch {
            failed++;
          }
        }
      }),
    );
    const seconds = (now() - t0) / 1000;
    await settle();
    const after = await memory(processes);
    const perConnection = {};
    for (const name of Object.keys(after)) perConnection[name] = (after[name] - before[name]) / connections.length / 1024;
    connections.forEach((c) => c.drop());
    await settle(500);
    if (failed) throw new Error(`${failed} of ${P.scale} connections failed`);
    return { unit: 'KB/conn', connections: connections.length, setupRate: connections.length / seconds, perConnection };
  },
};

/** Echoes messages of `size` for P.seconds; MB/s echoed, and each process's CPU ms per MB echoed. */
async function stream({ connect, processes }, size, window) {
  const connection = await connect();
  const before = await cpu(processes);
  const payload = Buffer.alloc(size, 7);
  let bytes = 0;
  let inFlight = 0;
  const t0 = now();
  const end = t0 + P.seconds * 1000;
  await new Promise((resolve) => {
    const pump = () => {
      while (inFlight < window && now() < end) {
        inFlight++;
        connection.sendBytes(payload);
      }
      if (inFlight === 0) resolve();
    };
    connection.on('message', (m) => {
      inFlight--;
      bytes += m.binaryData.length;
      pump();
    });
    pump();
  });
  const seconds = (now() - t0) / 1000;
  const after = await cpu(processes);
  connection.drop();
  const cpuPerMB = {};
  for (const name of Object.keys(after)) cpuPerMB[name] = (after[name] - before[name]) / (bytes / 1e6);
  return { mbps: bytes / 1e6 / seconds, cpuPerMB };
}

/** The median of each number in a list of results of the same shape (nested objects alike). */
function medianOf(list) {
  const first = list[0];
  if (typeof first === 'number') return percentile(list, 50);
  if (!first || typeof first !== 'object' || Array.isArray(first)) return first;
  const out = {};
  for (const key of Object.keys(first)) out[key] = medianOf(list.map((r) => r?.[key]));
  return out;
}

function settle(ms = 300) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function memory(processes) {
  const out = {};
  for (const [name, proc] of Object.entries(processes)) out[name] = (await proc.usage(true)).rss;
  return out;
}

async function cpu(processes) {
  const out = { sender: (await selfUsage()).cpuMs };
  for (const [name, proc] of Object.entries(processes)) out[name] = (await proc.usage()).cpuMs;
  return out;
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms / 1000} s`)), ms))),
  ]).finally(() => clearTimeout(timer));
}

/** The rows of the table: [scenario, metric, value getter, higher is better]. */
const ROWS = [
  ['setup', 'connect + first echo p50 (ms)', (r) => r.p50, false],
  ['setup', 'connect + first echo p99 (ms)', (r) => r.p99, false],
  ['setup', 'setup: relay hop CPU µs per connection (emulator; floor: forwarder)', (r) => r.cpuEach.emulator ?? r.cpuEach.forwarder, false],
  ['setup', 'setup: listener CPU µs per connection', (r) => r.cpuEach.listener, false],
  ['rtt', '64 B round trip p50 (µs)', (r) => r.p50, false],
  ['rtt', '64 B round trip p99 (µs)', (r) => r.p99, false],
  ['setup-tls', 'TLS: connect + first echo p50 (ms)', (r) => r.p50, false],
  ['setup-tls', 'TLS: connect + first echo p99 (ms)', (r) => r.p99, false],
  ['rtt-tls', 'TLS: 64 B round trip p50 (µs)', (r) => r.p50, false],
  ['rtt-tls', 'TLS: 64 B round trip p99 (µs)', (r) => r.p99, false],
  ['wan', `WAN (${LATENCY} ms each way, TLS): setup p50 (ms)`, (r) => r.p50, false],
  ['wan', 'WAN: setup in round trips (p50 / 2D, processing included)', (r) => r.roundTrips, false],
  ['wan', 'WAN: round trips taken ((p50 at 2D − p50 at D) / 2D)', (r) => r.taken, false],
  ['throughput', '64 KB messages (MB/s echoed)', (r) => r['64 KB'], true],
  ['throughput', '1 MB messages (MB/s echoed)', (r) => r['1 MB'], true],
  ['throughput', '1 MB: listener CPU ms per MB', (r) => r.cpuPerMB['1 MB'].listener, false],
  ['throughput', '1 MB: emulator CPU ms per MB', (r) => r.cpuPerMB['1 MB'].emulator, false],
  ['fanin', 'fan-in msg/s', (r) => r.value, true],
  ['http', 'HTTP GET req/s (16 at a time)', (r) => r.value, true],
  ['http', 'HTTP: relay hop CPU µs per request (emulator; floor: forwarder)', (r) => r.cpuEach.emulator ?? r.cpuEach.forwarder, false],
  ['http', 'HTTP: listener CPU µs per request', (r) => r.cpuEach.listener, false],
  ['http-unrecorded', 'HTTP GET req/s, inspector not recording', (r) => r.value, true],
  ['expose', 'expose: HTTP GET req/s (16 at a time)', (r) => r.value, true],
  ['expose', 'expose: 1 MB GET p50 (ms)', (r) => r.p50, false],
  ['expose', 'expose: 1 MB GETs (MB/s, one at a time)', (r) => r.mbPerSecond, true],
  ['forward', 'forward: TCP echo, one connection (MB/s)', (r) => r.throughput, true],
  ['forward', 'forward: connect to the first echoed byte p50 (ms)', (r) => r.setup.p50, false],
  ['scale', 'connections set up per s', (r) => r.setupRate, true],
  ['scale', 'listener KB per connection', (r) => r.perConnection.listener, false],
  ['scale', 'emulator KB per connection', (r) => r.perConnection.emulator, false],
];

function format(value) {
  if (value === undefined || Number.isNaN(value)) return '-';
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** A row's value for a mode, or undefined. */
function valueOf(results, mode, scenario, get) {
  const r = results[mode]?.[scenario];
  if (!r || r.error) return undefined;
  try {
    const v = get(r);
    return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function table(results) {
  const lines = [];
  const header = ['scenario', 'metric', 'direct', 'floor', 'relayed', 'peer', 'relayed/direct', 'relayed/floor', 'relayed/peer'];
  lines.push(`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`);
  const ratio = (a, b) => (a === undefined || b === undefined || !b ? '-' : `${(a / b).toFixed(2)}×`);
  for (const [scenario, metric, get] of ROWS) {
    if (!SCENARIOS.includes(scenario)) continue;
    const [d, f, r, p] = ['direct', 'floor', 'relayed', 'peer'].map((mode) => valueOf(results, mode, scenario, get));
    lines.push(`| ${scenario} | ${metric} | ${format(d)} | ${format(f)} | ${format(r)} | ${format(p)} | ${ratio(r, d)} | ${ratio(r, f)} | ${ratio(r, p)} |`);
  }
  return lines.join('\n');
}

function cpuTable(results) {
  const names = new Set();
  for (const mode of MODES) for (const scenario of SCENARIOS) for (const name of Object.keys(results[mode]?.[scenario]?.cpu ?? {})) names.add(name);
  const columns = [...names];
  const lines = [`| scenario | mode | ${columns.map((n) => `${n} CPU ms`).join(' | ')} |`, `| --- | --- | ${columns.map(() => '---').join(' | ')} |`];
  for (const scenario of SCENARIOS) {
    for (const mode of MODES) {
      const c = results[mode]?.[scenario]?.cpu;
      if (!c) continue;
      lines.push(`| ${scenario} | ${mode} | ${columns.map((n) => format(c[n])).join(' | ')} |`);
    }
  }
  return lines.join('\n');
}

function verdicts(results) {
  const checks = [];
  const check = (what, ok) => checks.push({ what, ok: ok === undefined ? null : ok });
  const ratio = (scenario, fn, base) => {
    const b = valueOf(results, base, scenario, fn);
    const r = valueOf(results, 'relayed', scenario, fn);
    return b && r ? r / b : undefined;
  };
  const x = (v) => (v === undefined ? '-' : `${v.toFixed(2)}×`);
  /** Setup and round trip at most, throughput at least, the given multiples of `base`'s. */
  const against = (base, limits) => {
    const setup = ratio('setup', (r) => r.p50, base);
    check(`relayed setup p50 ≤ ${limits.setup}× ${base} (${x(setup)})`, setup === undefined ? undefined : setup <= limits.setup);
    const rtt = ratio('rtt', (r) => r.p50, base);
    check(`relayed round trip p50 ≤ ${limits.rtt}× ${base} (${x(rtt)})`, rtt === undefined ? undefined : rtt <= limits.rtt);
    for (const size of ['64 KB', '1 MB']) {
      const t = ratio('throughput', (r) => r[size], base);
      check(`relayed ${size} throughput ≥ ${limits.throughput}× ${base} (${x(t)})`, t === undefined ? undefined : t >= limits.throughput);
    }
  };
  // Against the one-hop floor.
  against('floor', { setup: 1.3, rtt: 1.3, throughput: 0.8 });
  // HTTP: half the floor's rate at least; the emulator at most 3× the forwarder's CPU per request, the listener at most
  // 1.5× a plain Node HTTP server's (the direct mode's).
  const httpRate = ratio('http', (r) => r.value, 'floor');
  check(`relayed HTTP req/s ≥ 0.5× floor (${x(httpRate)})`, httpRate === undefined ? undefined : httpRate >= 0.5);
  const emulatorPerRequest = valueOf(results, 'relayed', 'http', (r) => r.cpuEach.emulator);
  const forwarderPerRequest = valueOf(results, 'floor', 'http', (r) => r.cpuEach.forwarder);
  const hopCpu = emulatorPerRequest && forwarderPerRequest ? emulatorPerRequest / forwarderPerRequest : undefined;
  check(`emulator CPU per HTTP request ≤ 3× the floor forwarder's (${format(emulatorPerRequest)} vs ${format(forwarderPerRequest)} µs: ${x(hopCpu)})`, hopCpu === undefined ? undefined : hopCpu <= 3);
  const listenerPerRequest = valueOf(results, 'relayed', 'http', (r) => r.cpuEach.listener);
  const plainPerRequest = valueOf(results, 'direct', 'http', (r) => r.cpuEach.listener);
  const listenerCpu = listenerPerRequest && plainPerRequest ? listenerPerRequest / plainPerRequest : undefined;
  check(`listener CPU per HTTP request ≤ 1.5× a plain Node HTTP server's (${format(listenerPerRequest)} vs ${format(plainPerRequest)} µs: ${x(listenerCpu)})`, listenerCpu === undefined ? undefined : listenerCpu <= 1.5);
  // Expose: HTTP through the proxy at half the floor's rate at least.
  const exposeRate = ratio('expose', (r) => r.value, 'floor');
  check(`expose HTTP req/s ≥ 0.5× floor (${x(exposeRate)})`, exposeRate === undefined ? undefined : exposeRate >= 0.5);
  // The inspector: relayed HTTP with recording on (capture off) within 10% of the same with recording off.
  const recorded = valueOf(results, 'relayed', 'http', (r) => r.value);
  const unrecorded = valueOf(results, 'relayed', 'http-unrecorded', (r) => r.value);
  const recording = recorded && unrecorded ? recorded / unrecorded : undefined;
  check(`relayed HTTP req/s recording ≥ 0.9× not recording (${x(recording)})`, recording === undefined ? undefined : recording >= 0.9);
  // Forward: TCP through -L, the relay and -T at 0.8× the floor's throughput at least.
  const forwardRate = ratio('forward', (r) => r.throughput, 'floor');
  check(`forward TCP throughput ≥ 0.8× floor (${x(forwardRate)})`, forwardRate === undefined ? undefined : forwardRate >= 0.8);
  // Through the WAN link: within 10% of the protocol's fewest round trips.
  const wan = results.relayed?.wan;
  if (wan && !wan.error && wan.taken !== undefined) {
    check(
      `relayed WAN setup ≤ the protocol's minimum + 10%: ${wan.taken.toFixed(2)} round trips taken, the minimum ${wan.minimum} (${wan.roundTrips.toFixed(2)} with processing)`,
      wan.taken <= wan.minimum * 1.1,
    );
  } else check('relayed WAN setup ≤ the protocol\'s minimum + 10%', undefined);
  // The emulator's CPU per relayed MB against the listener's.
  const emulatorPerMB = valueOf(results, 'relayed', 'throughput', (r) => r.cpuPerMB['1 MB'].emulator);
  const listenerPerMB = valueOf(results, 'relayed', 'throughput', (r) => r.cpuPerMB['1 MB'].listener);
  check(
    `emulator CPU per relayed MB ≤ the listener's, 1 MB messages (${format(emulatorPerMB)} vs ${format(listenerPerMB)} ms)`,
    emulatorPerMB === undefined || listenerPerMB === undefined ? undefined : emulatorPerMB <= listenerPerMB,
  );
  // Against no relay at all.
  against('direct', { setup: 3, rtt: 2.5, throughput: 0.5 });
  // Against Microsoft's listener, on every row.
  for (const [scenario, metric, fn, higher] of ROWS) {
    if (!SCENARIOS.includes(scenario)) continue;
    const r = valueOf(results, 'relayed', scenario, fn);
    const p = valueOf(results, 'peer', scenario, fn);
    if (r === undefined || p === undefined) continue;
    check(`relayed at least as good as peer: ${metric} (${format(r)} vs ${format(p)})`, higher ? r >= p : r <= p);
  }
  const lkb = valueOf(results, 'relayed', 'scale', (r) => r.perConnection.listener);
  const ekb = valueOf(results, 'relayed', 'scale', (r) => r.perConnection.emulator);
  check(`listener < 20 KB per relayed connection (${format(lkb)})`, lkb === undefined ? undefined : lkb < 20);
  check(`emulator < 20 KB per relayed connection (${format(ekb)})`, ekb === undefined ? undefined : ekb < 20);
  return checks;
}

async function main() {
  const started = Date.now();
  const results = {};
  let failures = 0;
  process.stdout.write(`hyco-websocket benchmark${QUICK ? ' (--quick)' : ''}: ${os.cpus()[0]?.model ?? 'cpu'} ×${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}\n`);
  process.stdout.write(`parameters: ${JSON.stringify({ ...P, latencyMs: LATENCY, repeat: REPEAT })}\n`);
  if (P.scale < 10000 && !QUICK) process.stdout.write(`note: scale capped at ${P.scale} connections by the open-file limit (${fileLimit()}; the emulator holds two sockets per connection)\n`);
  // Scenarios that share a variant (plain, TLS, WAN) share one set of processes per mode. The runs go
  // group by group, every mode in turn within a group, so that the modes compared in a row are measured
  // close together in time; scale, which cycles ten thousand connections, goes last; throughput goes first, on processes of its own, before any scenario has cycled
  // thousands of connections (after which this sandbox's network stack is slower for a minute or more).
  const jobs = [];
  const order = [];
  for (const mode of MODES) {
    results[mode] = {};
    const groups = new Map();
    for (const scenario of SCENARIOS) {
      const variant = VARIANTS[scenario];
      if (!variant) throw new Error(`unknown scenario ${scenario}`);
      if (variant.modes && !variant.modes.includes(mode)) continue;
      const key = variant.fresh || variant.last || variant.expose || variant.forward || variant.unrecorded ? scenario : `${variant.tls}/${variant.latency}`;
      if (!groups.has(key)) groups.set(key, { mode, key, variant, scenarios: [] });
      groups.get(key).scenarios.push(scenario);
      if (!order.includes(key)) order.push(key);
    }
    jobs.push(...groups.values());
  }
  const phase = (job) => (job.variant.fresh ? 0 : job.variant.last ? 2 : 1);
  const rank = (job) => phase(job) * order.length + order.indexOf(job.key);
  jobs.sort((a, b) => rank(a) - rank(b) || MODES.indexOf(a.mode) - MODES.indexOf(b.mode));
  // With --repeat, each phase runs its rounds before the next phase starts: throughput's rounds all come before any churn.
  const runs = Array.from({ length: REPEAT }, () => Object.fromEntries(MODES.map((mode) => [mode, {}])));
  const steps = [];
  for (const p of [0, 1, 2]) for (let round = 0; round < REPEAT; round++) steps.push({ round, jobs: jobs.filter((job) => phase(job) === p) });
  for (const { round, jobs: stepJobs } of steps) {
    if (REPEAT > 1 && stepJobs.length) process.stdout.write(`run ${round + 1} of ${REPEAT}\n`);
    const run = runs[round];
    for (const { mode, variant, scenarios: names } of stepJobs) {
      let ctx;
      try {
        ctx = await withTimeout(startMode(mode, variant), 30_000, `${mode} start`);
      } catch (err) {
        failures++;
        process.stdout.write(`${mode}: could not start${variant.tls ? ' (TLS)' : ''}: ${err.message}\n`);
        for (const s of names) run[mode][s] = { error: err.message };
        continue;
      }
      for (const scenario of names) {
        const t0 = Date.now();
        try {
          const before = await cpu(ctx.processes);
          const result = await withTimeout(scenarios[scenario](ctx), SCENARIO_TIMEOUT_MS, `${mode} ${scenario}`);
          const after = await cpu(ctx.processes);
          result.cpu = {};
          for (const name of Object.keys(after)) result.cpu[name] = after[name] - before[name];
          // Each process's CPU per connection set up (setup rows) or per request (HTTP rows), µs.
          if (result.count && (scenario === 'setup' || scenario === 'http')) {
            result.cpuEach = {};
            for (const name of Object.keys(result.cpu)) result.cpuEach[name] = (result.cpu[name] * 1000) / result.count;
          }
          run[mode][scenario] = result;
          process.stdout.write(`  ${mode.padEnd(8)} ${scenario.padEnd(11)} done in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
        } catch (err) {
          failures++;
          run[mode][scenario] = { error: err.message };
          process.stdout.write(`  ${mode.padEnd(8)} ${scenario.padEnd(11)} FAILED: ${err.message}\n`);
        }
      }
      ctx.stop();
      await settle(500);
    }
  }
  // Round trips taken: the setup's growth from latency D to 2D, in units of 2D (what processing costs cancels out).
  for (const run of runs) {
    for (const mode of MODES) {
      const wan = run[mode]?.wan;
      const wan2 = run[mode]?.['wan-2x'];
      if (wan && !wan.error && wan2 && !wan2.error) wan.taken = (wan2.p50 - wan.p50) / (2 * LATENCY);
    }
  }
  for (const mode of MODES) for (const scenario of SCENARIOS) {
    const all = runs.map((run) => run[mode][scenario]).filter(Boolean);
    if (all.length) results[mode][scenario] = all.find((r) => r.error) ?? medianOf(all);
  }
  const checks = verdicts(results);
  const report = [
    '',
    table(results),
    '',
    'CPU time per process and scenario:',
    '',
    cpuTable(results),
    '',
    'Targets:',
    ...checks.map((c) => `  ${c.ok === null ? '?' : c.ok ? 'met   ' : 'MISSED'} ${c.what}`),
    '',
    `total ${((Date.now() - started) / 1000).toFixed(0)} s${failures ? `, ${failures} scenario(s) FAILED` : ''}`,
  ].join('\n');
  process.stdout.write(`${report}\n`);
  const out = path.join(__dirname, 'results.json');
  fs.writeFileSync(
    out,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
        quick: QUICK,
        repeat: REPEAT,
        parameters: P,
        results,
        targets: checks,
      },
      null,
      2,
    ),
  );
  process.stdout.write(`results written to ${path.relative(process.cwd(), out)}\n`);
  process.exitCode = failures ? 1 : 0;
}

main().catch((err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});

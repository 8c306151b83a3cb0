'use strict';
// `npm run bench`: each scenario three ways in one run, on loopback:
//   direct   websocket client -> websocket.server (no relay: the floor)
//   relayed  the same client -> our emulator -> hyco-websocket relayedServer
//   peer     the same client -> our emulator -> Microsoft's hyco-ws@1.0.5
// The emulator and the listener run in their own processes, the sender here.
// Prints one table (medians, p99, ratios) and writes bench/results.json.
//   node bench/run.js [--quick] [--modes direct,relayed,peer] [--scenarios setup,rtt,throughput,fanin,http,scale] [--cpu-prof DIR]
const path = require('node:path');
const fs = require('node:fs');
const os = require('node:os');
const { fork, execSync } = require('node:child_process');
const http = require('node:http');
const { client: WebSocketClient } = require('websocket');
const { createRelayHttpsUri, createRelayListenUri, createRelaySendUri, createRelayToken } = require('hyco-websocket');

const argv = process.argv.slice(2);
const option = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i === -1 ? fallback : argv[i + 1];
};
const QUICK = argv.includes('--quick');
const MODES = option('modes', 'direct,relayed,peer').split(',');
const SCENARIOS = option('scenarios', 'setup,rtt,throughput,fanin,http,scale').split(',');
// --cpu-prof DIR: write a V8 CPU profile of each child process into DIR.
const CPU_PROF_DIR = option('cpu-prof', undefined);

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
  ? { connects: 200, roundTrips: 2000, seconds: 1.5, fanInConnections: 50, scale: Math.min(1000, SCALE_CAP) }
  : { connects: 1000, roundTrips: 10000, seconds: 5, fanInConnections: 100, scale: Math.min(10000, SCALE_CAP) };
const LIMITS = { maxReceivedFrameSize: 4 * 1024 * 1024, maxReceivedMessageSize: 4 * 1024 * 1024 };
const SCENARIO_TIMEOUT_MS = 180_000;

const now = () => Number(process.hrtime.bigint()) / 1e6; // ms
const percentile = (values, p) => {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};

/** A child process with a request/response usage channel. */
function spawnChild(args) {
  const execArgv = ['--expose-gc'];
  if (CPU_PROF_DIR) execArgv.push('--cpu-prof', `--cpu-prof-dir=${path.resolve(CPU_PROF_DIR)}`, `--cpu-prof-name=${args.slice(0, 2).join('-')}-${Date.now()}.cpuprofile`);
  const child = fork(path.join(__dirname, 'processes.js'), args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
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

/** Everything one mode needs: processes, addresses, a connect function. */
async function startMode(mode) {
  const processes = {};
  let sendUri;
  let httpUri;
  let headers = {};
  if (mode === 'direct') {
    processes.listener = spawnChild(['listener', 'direct']);
    sendUri = (await processes.listener.ready).uri;
    httpUri = `${sendUri.replace(/^ws/, 'http')}bench`;
  } else {
    processes.emulator = spawnChild(['emulator']);
    const { endpoint, rule } = await processes.emulator.ready;
    const token = createRelayToken('http://127.0.0.1/bench', rule.name, rule.key, 6 * 3600);
    processes.listener = spawnChild(['listener', mode, createRelayListenUri(endpoint, 'bench'), token]);
    await processes.listener.ready;
    sendUri = createRelaySendUri(endpoint, 'bench');
    // hyco-ws does not answer HTTP: the peer has no HTTP row.
    httpUri = mode === 'relayed' ? createRelayHttpsUri(endpoint, 'bench') : undefined;
    headers = { ServiceBusAuthorization: token };
  }
  const connect = () =>
    new Promise((resolve, reject) => {
      const client = new WebSocketClient(LIMITS);
      client.once('connect', resolve);
      client.once('connectFailed', reject);
      client.connect(sendUri, null, null, headers);
    });
  return { processes, connect, httpUri, headers, stop: () => Object.values(processes).forEach((p) => p.stop()) };
}

/** Resolves with the next message on a connection. */
function nextMessage(connection) {
  return new Promise((resolve) => connection.once('message', resolve));
}

const scenarios = {
  async setup({ connect }) {
    const times = [];
    for (let i = 0; i < P.connects; i++) {
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

  async throughput(ctx) {
    const small = await stream(ctx, 64 * 1024, 16);
    const large = await stream(ctx, 1024 * 1024, 4);
    return { unit: 'MB/s', '64 KB': small, '1 MB': large };
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
    return { unit: 'req/s', value: done / ((now() - t0) / 1000) };
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

async function stream({ connect }, size, window) {
  const connection = await connect();
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
  connection.drop();
  return bytes / 1e6 / seconds;
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
  ['rtt', '64 B round trip p50 (µs)', (r) => r.p50, false],
  ['rtt', '64 B round trip p99 (µs)', (r) => r.p99, false],
  ['throughput', '64 KB messages (MB/s echoed)', (r) => r['64 KB'], true],
  ['throughput', '1 MB messages (MB/s echoed)', (r) => r['1 MB'], true],
  ['fanin', 'fan-in msg/s', (r) => r.value, true],
  ['http', 'HTTP GET req/s (16 at a time)', (r) => r.value, true],
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

function table(results) {
  const lines = [];
  const header = ['scenario', 'metric', 'direct', 'relayed', 'peer', 'relayed/direct', 'relayed/peer'];
  lines.push(`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`);
  for (const [scenario, metric, get] of ROWS) {
    if (!SCENARIOS.includes(scenario)) continue;
    const value = (mode) => {
      const r = results[mode]?.[scenario];
      if (!r || r.error) return undefined;
      try {
        return get(r);
      } catch {
        return undefined;
      }
    };
    const [d, r, p] = ['direct', 'relayed', 'peer'].map(value);
    const ratio = (a, b) => (a === undefined || b === undefined || !b ? '-' : `${(a / b).toFixed(2)}×`);
    lines.push(`| ${scenario} | ${metric} | ${format(d)} | ${format(r)} | ${format(p)} | ${ratio(r, d)} | ${ratio(r, p)} |`);
  }
  return lines.join('\n');
}

function cpuTable(results) {
  const lines = ['| scenario | mode | sender CPU ms | listener CPU ms | emulator CPU ms |', '| --- | --- | --- | --- | --- |'];
  for (const scenario of SCENARIOS) {
    for (const mode of MODES) {
      const c = results[mode]?.[scenario]?.cpu;
      if (!c) continue;
      lines.push(`| ${scenario} | ${mode} | ${format(c.sender)} | ${format(c.listener)} | ${format(c.emulator)} |`);
    }
  }
  return lines.join('\n');
}

function verdicts(results) {
  const get = (mode, scenario, fn) => {
    const r = results[mode]?.[scenario];
    return r && !r.error ? fn(r) : undefined;
  };
  const checks = [];
  const check = (what, ok) => checks.push({ what, ok: ok === undefined ? null : ok });
  const ratio = (scenario, fn) => {
    const d = get('direct', scenario, fn);
    const r = get('relayed', scenario, fn);
    return d && r ? r / d : undefined;
  };
  const setup = ratio('setup', (r) => r.p50);
  check(`relayed setup p50 ≤ 3× direct (${setup?.toFixed(2)}×)`, setup === undefined ? undefined : setup <= 3);
  const rtt = ratio('rtt', (r) => r.p50);
  check(`relayed round trip p50 ≤ 2.5× direct (${rtt?.toFixed(2)}×)`, rtt === undefined ? undefined : rtt <= 2.5);
  for (const size of ['64 KB', '1 MB']) {
    const t = ratio('throughput', (r) => r[size]);
    check(`relayed ${size} throughput ≥ 0.5× direct (${t?.toFixed(2)}×)`, t === undefined ? undefined : t >= 0.5);
  }
  for (const [scenario, metric, fn, higher] of ROWS) {
    const r = get('relayed', scenario, fn);
    const p = get('peer', scenario, fn);
    if (r === undefined || p === undefined) continue;
    check(`relayed at least as good as peer: ${metric} (${format(r)} vs ${format(p)})`, higher ? r >= p : r <= p);
  }
  const lkb = get('relayed', 'scale', (r) => r.perConnection.listener);
  const ekb = get('relayed', 'scale', (r) => r.perConnection.emulator);
  check(`listener < 20 KB per relayed connection (${format(lkb)})`, lkb === undefined ? undefined : lkb < 20);
  check(`emulator < 20 KB per relayed connection (${format(ekb)})`, ekb === undefined ? undefined : ekb < 20);
  return checks;
}

async function main() {
  const started = Date.now();
  const results = {};
  let failures = 0;
  process.stdout.write(`hyco-websocket benchmark${QUICK ? ' (--quick)' : ''}: ${os.cpus()[0]?.model ?? 'cpu'} ×${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}\n`);
  process.stdout.write(`parameters: ${JSON.stringify(P)}\n`);
  if (P.scale < 10000 && !QUICK) process.stdout.write(`note: scale capped at ${P.scale} connections by the open-file limit (${fileLimit()}; the emulator holds two sockets per connection)\n`);
  for (const mode of MODES) {
    results[mode] = {};
    let ctx;
    try {
      ctx = await withTimeout(startMode(mode), 30_000, `${mode} start`);
    } catch (err) {
      failures++;
      process.stdout.write(`${mode}: could not start: ${err.message}\n`);
      for (const s of SCENARIOS) results[mode][s] = { error: err.message };
      continue;
    }
    for (const scenario of SCENARIOS) {
      const t0 = Date.now();
      try {
        const before = await cpu(ctx.processes);
        const result = await withTimeout(scenarios[scenario](ctx), SCENARIO_TIMEOUT_MS, `${mode} ${scenario}`);
        const after = await cpu(ctx.processes);
        result.cpu = {};
        for (const name of Object.keys(after)) result.cpu[name] = after[name] - before[name];
        results[mode][scenario] = result;
        process.stdout.write(`  ${mode.padEnd(8)} ${scenario.padEnd(11)} done in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
      } catch (err) {
        failures++;
        results[mode][scenario] = { error: err.message };
        process.stdout.write(`  ${mode.padEnd(8)} ${scenario.padEnd(11)} FAILED: ${err.message}\n`);
      }
    }
    ctx.stop();
    await settle(500);
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

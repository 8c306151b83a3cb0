'use strict';
// A real HTTP proxy for the tests: Debian's tinyproxy, started on a
// loopback port with a generated configuration (Allow 127.0.0.1, the
// CONNECT ports allowed, Basic authentication on request), its log in a
// temporary file. A missing tinyproxy fails the test with the command that
// installs it; it is never skipped.
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');

const TINYPROXY = process.env.TINYPROXY || '/usr/bin/tinyproxy';
/** The source address tinyproxy's outgoing connections use (Bind), so the emulator can tell them from direct ones. */
const PROXY_SOURCE = '127.0.0.2';

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function accepts(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Starts tinyproxy. Options: `auth` ({ user, password }: Basic
 * authentication), `connectPorts` (the ports CONNECT may reach; default
 * all), `bind` (false: outgoing connections from 127.0.0.1 rather than
 * 127.0.0.2). Resolves with { port, url(user?, password?), connects(),
 * log(), stop(), start() }; stopped and removed after the test.
 */
async function startProxy(t, opts = {}) {
  if (!fs.existsSync(TINYPROXY)) {
    throw new Error(`tinyproxy is not installed (${TINYPROXY}): apt-get install -y tinyproxy (.ci/run installs it)`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyco-proxy-'));
  const port = await freePort();
  const logFile = path.join(dir, 'tinyproxy.log');
  const config = [
    `Port ${port}`,
    'Listen 127.0.0.1',
    'Timeout 600',
    `LogFile "${logFile}"`,
    'LogLevel Connect',
    'MaxClients 200',
    'Allow 127.0.0.1',
    'DisableViaHeader Yes',
  ];
  if (opts.bind !== false) config.push(`Bind ${PROXY_SOURCE}`);
  for (const p of opts.connectPorts ?? []) config.push(`ConnectPort ${p}`);
  if (opts.auth) config.push(`BasicAuth ${opts.auth.user} ${opts.auth.password}`);
  const configFile = path.join(dir, 'tinyproxy.conf');
  fs.writeFileSync(configFile, `${config.join('\n')}\n`);
  let child;
  let output = '';
  const proxy = {
    port,
    /** `http://[user:password@]127.0.0.1:port` */
    url(user, password) {
      const auth = user === undefined ? '' : `${encodeURIComponent(user)}:${encodeURIComponent(password ?? '')}@`;
      return `http://${auth}127.0.0.1:${port}`;
    },
    log: () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : ''),
    /** The `host:port` of every CONNECT the proxy received, in order. */
    connects: () => [...proxy.log().matchAll(/Request \(file descriptor \d+\): CONNECT (\S+) HTTP/g)].map((m) => m[1]),
    async start() {
      child = spawn(TINYPROXY, ['-d', '-c', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.on('data', (d) => (output += d));
      child.stderr.on('data', (d) => (output += d));
      const exited = new Promise((resolve) => child.once('exit', resolve));
      const end = Date.now() + 10000;
      while (!(await accepts(port))) {
        if (child.exitCode !== null || Date.now() > end) {
          throw new Error(`tinyproxy did not start on port ${port}: ${output.trim() || `exit ${child.exitCode}`}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      child.exited = exited;
    },
    async stop() {
      if (!child || child.exitCode !== null) return;
      child.kill('SIGKILL');
      await child.exited;
    },
  };
  t.after(async () => {
    await proxy.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  await proxy.start();
  return proxy;
}

/**
 * A host name that is not loopback by name (not `localhost`) but that this
 * machine's /etc/hosts maps to a loopback address: proxies taken from the
 * environment skip loopback targets, so the tests of environment proxies
 * address the emulator by such a name. Resolves with { name, address }.
 */
function loopbackAlias() {
  const hosts = fs.readFileSync('/etc/hosts', 'utf8');
  for (const line of hosts.split('\n')) {
    const [address, ...names] = line.replace(/#.*/, '').trim().split(/\s+/);
    if (!address || !(/^127\./.test(address) || address === '::1')) continue;
    const name = names.find((n) => n && n !== 'localhost' && !n.endsWith('.localhost'));
    if (name) return { name, address };
  }
  throw new Error('no host name in /etc/hosts maps to a loopback address (other than localhost): the environment-proxy tests need one, e.g. "127.0.1.1 $(hostname)"');
}

module.exports = { startProxy, loopbackAlias, PROXY_SOURCE };

'use strict';
// Every JavaScript block of the READMEs runs here, as a user would paste
// it into a file, against the emulator. The few placeholders a block may
// use without defining are filled in: `ns`, `keyName`, `key`, `listenUri`,
// `token`, `httpServer`, `handleWebSocket`, HYCO_CONNECTION_STRING
// (EntityPath=chat), and a managed identity (IDENTITY_ENDPOINT and
// IDENTITY_HEADER, the emulator's) for DefaultAzureCredential; an echo
// listener serves sender blocks on "echo". A block passes when it throws nothing, leaves no
// unhandled rejection, and, where it shows a result in a comment
// (`expr; // 'value'`, or the value on the comment line below), gives that
// result. A block that starts a relayed server must come online, and then
// survive senders like examples/sender.js (no subprotocol, no Origin) and
// like a browser page (an Origin, no subprotocol).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const hyco = require('hyco-websocket');
const { RelayEmulator } = require('hyco-relay-emulator');

const ROOT = path.join(__dirname, '..', '..');
const READMES = ['README.md', 'packages/hyco-websocket/README.md', 'packages/relay-emulator/README.md'];
const KEY = 'cmVhZG1lLXNuaXBwZXQta2V5';

/** The ```js blocks of a Markdown file: { file, line, code }. */
function blocks(file) {
  const lines = fs.readFileSync(path.join(ROOT, file), 'utf8').split('\n');
  const found = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(js|javascript)\s*$/.test(lines[i])) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end])) end++;
    found.push({ file, line: start + 1, code: lines.slice(start, end).join('\n') });
    i = end;
  }
  return found;
}

/**
 * Results shown in comments become assertions: `expr; // 'value'` and an
 * expression line followed by a comment line holding only a literal. Values
 * with placeholders (`...`, PORT) are illustrations and are left alone.
 */
function withChecks(code) {
  const lines = code.split('\n');
  const out = [];
  const literal = /^'(?:[^'\\]|\\.)*'$/;
  const checkable = (value) => literal.test(value) && !value.includes('...') && !/PORT/.test(value);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const inline = /^(\s*)([^/].*?);\s*\/\/\s*('.*')\s*$/.exec(line);
    const expression = /^(\s*)([A-Za-z_$][\w$.]*\(.*\));\s*(\/\/.*)?$/.exec(line);
    const next = lines[i + 1] !== undefined ? /^\s*\/\/\s*('.*')\s*$/.exec(lines[i + 1]) : null;
    if (inline && checkable(inline[3])) out.push(`${inline[1]}__check(${inline[2]}, ${inline[3]}, ${JSON.stringify(line.trim())});`);
    else if (expression && next && checkable(next[1])) {
      out.push(`${expression[1]}__check(${expression[2]}, ${next[1]}, ${JSON.stringify(line.trim())});`);
      out.push(lines[++i]);
    } else out.push(line);
  }
  return out.join('\n');
}

const PRELUDE = `'use strict';
const __assert = require('node:assert/strict');
let __failed = false;
function __fail(what, err) {
  __failed = true;
  process.stdout.write('[snippet] ' + what + ': ' + (err && err.stack || err) + '\\n');
  process.exitCode = 1;
}
process.on('uncaughtException', (err) => { __fail('uncaught exception', err); process.exit(1); });
process.on('unhandledRejection', (err) => { __fail('unhandled rejection', err); process.exit(1); });
function __check(actual, expected, where) {
  try { __assert.deepStrictEqual(actual, expected); } catch (err) { __fail('the result shown differs (' + where + ')', err.message); }
}
// Placeholders a block may use without defining them.
const __settings = JSON.parse(process.env.SNIPPET_SETTINGS);
globalThis.ns = __settings.ns;
globalThis.keyName = __settings.keyName;
globalThis.key = __settings.key;
globalThis.listenUri = require('hyco-websocket').createRelayListenUri(__settings.ns, 'web');
globalThis.token = () => require('hyco-websocket').createRelayToken(globalThis.listenUri, __settings.keyName, __settings.key);
globalThis.httpServer = require('node:http').createServer().listen(0, '127.0.0.1').unref();
globalThis.handleWebSocket = (request) => request.reject(404, 'not here');
// Say when a relayed server comes online, and on which address.
const __proto = require('hyco-websocket').relayedServer.prototype;
const __emit = __proto.emit;
__proto.emit = function (name, ...args) {
  if (name === 'online') process.stdout.write('[snippet] online ' + this.config.server + '\\n');
  return __emit.call(this, name, ...args);
};
`;

/** Runs one block in a process of its own; resolves with { child, output, online() }. */
function runBlock(block, settings, dir) {
  const file = path.join(dir, `${path.basename(block.file, '.md')}-${block.line}.js`);
  fs.writeFileSync(file, `${PRELUDE}\n${withChecks(block.code)}\n`);
  const env = {
    ...process.env,
    ...settings.identity,
    NODE_PATH: path.join(ROOT, 'node_modules'),
    SNIPPET_SETTINGS: JSON.stringify(settings),
    HYCO_CONNECTION_STRING: settings.connectionString,
  };
  const child = spawn(process.execPath, [file], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const run = { child, output: '', exit: new Promise((resolve) => child.on('exit', (code) => resolve(code))) };
  child.stdout.on('data', (d) => (run.output += d));
  child.stderr.on('data', (d) => (run.output += d));
  return run;
}

/** A sender through the relay; resolves with 'echoed', 'accepted', or the status it was refused with. */
function sender(uri, settings, origin) {
  return new Promise((resolve) => {
    const client = new hyco.client();
    const timer = setTimeout(() => {
      client.abort();
      resolve('no answer');
    }, 3000);
    client.on('connectFailed', (err) => {
      clearTimeout(timer);
      resolve(Number(/non-101 status: (\d+)/.exec(err.message)?.[1] ?? 0));
    });
    client.on('connect', (connection) => {
      clearTimeout(timer);
      const echoed = setTimeout(() => {
        connection.drop();
        resolve('accepted');
      }, 500);
      connection.once('message', () => {
        clearTimeout(echoed);
        connection.close();
        resolve('echoed');
      });
      connection.sendUTF('ping from a README test');
    });
    client.connect(uri, null, origin, { ServiceBusAuthorization: hyco.createRelayToken(uri, settings.keyName, settings.key) });
  });
}

test('every JavaScript block of the READMEs runs against the emulator as written', async (t) => {
  const relay = await RelayEmulator.start({
    autoCreate: true,
    hybridConnections: ['hyco', 'chat', 'echo', 'web'],
    rules: [{ name: 'RootManageSharedAccessKey', key: KEY, rights: ['Listen', 'Send', 'Manage'] }],
    // Keyless blocks (DefaultAzureCredential) get their tokens from the emulator's managed identity endpoint.
    managedIdentity: { principal: 'readme-app' },
    roleAssignments: [{ principal: 'readme-app', role: 'Azure Relay Owner' }],
  });
  t.after(() => relay.close());
  // Sender blocks talk to an echo listener on "echo" (WebSocket and HTTP).
  const echo = new hyco.relayedServer({ server: hyco.createRelayListenUri(relay.endpoint, 'echo'), credential: { name: 'RootManageSharedAccessKey', key: KEY }, id: 'readme-echo' });
  echo.on('request', (request) => request.accept(request.requestedProtocols[0] ?? null).then((c) => c.on('message', (m) => c.sendUTF(m.utf8Data ?? '')), () => {}));
  echo.on('httpRequest', (req, res) => res.end(JSON.stringify({ method: req.method, url: req.url })));
  t.after(() => echo.close());
  await new Promise((resolve) => echo.once('online', resolve));
  const settings = {
    ns: relay.endpoint,
    keyName: 'RootManageSharedAccessKey',
    key: KEY,
    connectionString: `${relay.connectionString()};EntityPath=chat`,
    identity: relay.managedIdentityEnvironment,
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyco-readme-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const all = READMES.flatMap(blocks);
  assert.ok(all.length >= 10, `found ${all.length} blocks`);
  const failures = [];
  const check = async (block) => {
    const where = `${block.file}:${block.line}`;
    const run = runBlock(block, settings, dir);
    const startsServer = /relayedServer(\.fromConnectionString)?\(/.test(block.code);
    // A server block is done starting once it says it is online (or it exits); another one must exit.
    const online = new Promise((resolve) => {
      if (!startsServer) return;
      const poll = setInterval(() => {
        if (/\[snippet\] online /.test(run.output) || run.child.exitCode !== null) {
          clearInterval(poll);
          resolve({ running: true });
        }
      }, 20);
      setTimeout(() => clearInterval(poll), 10000);
    });
    const outcome = await Promise.race([run.exit.then((code) => ({ code })), online, new Promise((resolve) => setTimeout(() => resolve({ running: true }), startsServer ? 10000 : 15000))]);
    if (startsServer) {
      const online = /\[snippet\] online (\S+)/.exec(run.output);
      if (!online) failures.push(`${where}: the relayed server did not come online\n${run.output}`);
      else {
        const listen = new URL(online[1]);
        const send = hyco.createRelaySendUri(`ws://${listen.host}`, listen.pathname.replace(/^\/\$hc\//, ''));
        // Like examples/sender.js (no subprotocol, no Origin), then like a browser page (an Origin).
        for (const origin of [null, 'https://app.example']) {
          const answer = await sender(send, settings, origin);
          if (answer === 'no answer') failures.push(`${where}: a sender (origin ${origin}) got no answer`);
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
        if (run.child.exitCode !== null && run.child.exitCode !== 0) failures.push(`${where}: the process died after a sender came:\n${run.output}`);
      }
    } else if (outcome.running) failures.push(`${where}: still running after 15 s\n${run.output}`);
    if (run.child.exitCode === null) run.child.kill('SIGKILL');
    const code = await run.exit;
    if (/\[snippet\] (uncaught|unhandled|the result shown differs)/.test(run.output) || (!startsServer && code !== 0)) {
      failures.push(`${where}: exited ${code}\n${run.output}`);
    }
  };
  // Blocks that only compute run side by side; servers one at a time, so that each one's senders reach it.
  const servers = all.filter((b) => /relayedServer(\.fromConnectionString)?\(/.test(b.code));
  await Promise.all(all.filter((b) => !servers.includes(b)).map(check));
  for (const block of servers) await check(block);
  assert.deepEqual(failures, [], `${failures.length} of ${all.length} README blocks failed:\n\n${failures.join('\n\n')}`);
  t.diagnostic(`${all.length} README blocks ran`);
});

'use strict';
// The tested publishing path: both packages packed (npm pack, as published: library first, then the
// emulator that depends on it), their tarballs installed together into fresh projects. A JavaScript
// project gets no @types/* package; a TypeScript project set up as the README's "TypeScript" section
// says compiles its listener and sender against the packed declarations.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFile } = require('node:child_process');
const { promisify } = require('node:util');

const run = promisify(execFile);
const ROOT = path.join(__dirname, '..', '..', '..');
const NPM = process.env.npm_execpath;

/** npm, as the test was started (npm test) or from PATH. */
function npm(args, cwd) {
  const [file, argv] = NPM && /\.c?js$/.test(NPM) ? [process.execPath, [NPM, ...args]] : ['npm', args];
  return run(file, argv, { cwd, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024, env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' } });
}

/** The ```ts block of the root README's TypeScript section. */
function readmeTypeScript() {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### TypeScript'));
  const match = /```ts\n([\s\S]*?)```/.exec(section);
  assert.ok(match, 'the README\'s TypeScript section has a ts block');
  return match[1];
}

/** Every package folder under node_modules (scoped ones as @scope/name). */
function installed(dir) {
  const names = [];
  for (const entry of fs.readdirSync(path.join(dir, 'node_modules'))) {
    if (entry.startsWith('.')) continue;
    if (entry.startsWith('@')) for (const inner of fs.readdirSync(path.join(dir, 'node_modules', entry))) names.push(`${entry}/${inner}`);
    else names.push(entry);
  }
  return names;
}

test('packed tarballs install together: a JavaScript project gets no @types/*, a TypeScript project as the README says compiles a listener and a sender', { timeout: 170_000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyco-packed-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  // The built dist/ as it is (npm run build): --ignore-scripts skips prepack's clean build, which would
  // pull dist/ from under the tests running beside this one.
  const packed = await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', dir, path.join(ROOT, 'packages/hyco-websocket'), path.join(ROOT, 'packages/relay-emulator')], ROOT);
  const tarballs = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))).map((p) => path.join(dir, p.filename));
  assert.equal(tarballs.length, 2);
  assert.match(path.basename(tarballs[0]), /^hyco-websocket-/, 'the library is packed (and published) first');

  const js = path.join(dir, 'js');
  fs.mkdirSync(js);
  fs.writeFileSync(path.join(js, 'package.json'), JSON.stringify({ name: 'js-user', version: '1.0.0', private: true }));
  await npm(['install', '--prefer-offline', '--ignore-scripts', ...tarballs], js);
  const jsPackages = installed(js);
  assert.deepEqual(jsPackages.filter((n) => n.startsWith('@types/')), [], 'no @types/* in a JavaScript install');
  assert.ok(jsPackages.includes('hyco-websocket') && jsPackages.includes('hyco-relay-emulator'));
  assert.equal(fs.existsSync(path.join(js, 'node_modules', 'hyco-relay-emulator', 'node_modules', 'hyco-websocket')), false, 'the emulator uses the packed library, not a registry copy');
  // Both work from the install: the emulator relays for the library.
  const smoke = `
    const WebSocket = require('hyco-websocket');
    const { RelayEmulator } = require('hyco-relay-emulator');
    (async () => {
      const relay = await RelayEmulator.start({ hybridConnections: ['echo'] });
      const cs = WebSocket.parseConnectionString(relay.connectionString());
      const server = WebSocket.relayedServer.fromConnectionString(relay.connectionString() + ';EntityPath=echo', { autoAcceptConnections: true });
      server.on('connect', (c) => c.on('message', (m) => c.sendUTF(m.utf8Data)));
      await new Promise((r) => server.once('online', r));
      const c = await WebSocket.relayedConnect(WebSocket.createRelaySendUri(cs.address, 'echo'), { token: () => WebSocket.createRelayToken('http://' + cs.namespace + '/echo', cs.sharedAccessKeyName, cs.sharedAccessKey) });
      c.sendUTF('packed');
      const reply = await new Promise((r) => c.once('message', (m) => r(m.utf8Data)));
      c.close();
      await server.close();
      await relay.close();
      process.stdout.write(reply);
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const { stdout } = await run(process.execPath, ['-e', smoke], { cwd: js, encoding: 'utf8', timeout: 30000 });
  assert.equal(stdout, 'packed');

  const ts = path.join(dir, 'ts');
  fs.mkdirSync(ts);
  fs.writeFileSync(path.join(ts, 'package.json'), JSON.stringify({ name: 'ts-user', version: '1.0.0', private: true }));
  // As the README says: the package, then @types/websocket and Node's types as dev dependencies
  // (TypeScript itself is this repository's, to keep the test short).
  await npm(['install', '--prefer-offline', '--ignore-scripts', ...tarballs], ts);
  await npm(['install', '--prefer-offline', '--ignore-scripts', '--save-dev', '@types/websocket@^1.0.10', '@types/node@20'], ts);
  fs.writeFileSync(path.join(ts, 'app.ts'), readmeTypeScript());
  fs.writeFileSync(
    path.join(ts, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { target: 'es2022', module: 'node16', moduleResolution: 'node16', strict: true, noEmit: true, skipLibCheck: false, types: ['node'] }, files: ['app.ts'] }),
  );
  const tsc = require.resolve('typescript/bin/tsc', { paths: [ROOT] });
  const compiled = await run(process.execPath, [tsc, '-p', ts], { cwd: ts, encoding: 'utf8' }).catch((err) => err);
  assert.equal(compiled.code ?? 0, 0, `the README's TypeScript compiles:\n${compiled.stdout ?? ''}${compiled.stderr ?? ''}`);
});

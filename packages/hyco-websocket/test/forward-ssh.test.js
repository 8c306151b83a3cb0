'use strict';
// A real client program through the tunnel: OpenSSH's `ssh` to Debian's
// `sshd` (openssh-server), started here on a loopback port with a
// throwaway host key and an authorized key made for the test, through
// createLocalForward -> the emulator -> createRemoteForward. The test fails
// (it does not skip) when the programs are missing: `apt-get install -y
// openssh-server openssh-client`.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');
const { spawn, spawnSync } = require('node:child_process');
const { startRelay } = require('hyco-test-support');
const { remoteForward, localForward, freePort } = require('./fixtures/forward');

/** The path of `program`, looked up on PATH and in the sbin folders; fails the test when missing. */
function find(program) {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin', '/sbin']) {
    const candidate = path.join(dir, program);
    if (dir && fs.existsSync(candidate)) return candidate;
  }
  assert.fail(`${program} is not installed: apt-get install -y openssh-server openssh-client`);
}

/** Runs a program to its end; resolves with { code, stdout, stderr }. */
function run(file, args, input) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, bytes: Buffer.concat(out), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
    child.stdin.end(input);
  });
}

/** Starts sshd on a loopback port with keys made in `dir`; resolves with its port and the client key. */
async function startSshd(t, dir) {
  const sshd = find('sshd');
  const keygen = find('ssh-keygen');
  for (const name of ['host_key', 'client_key']) {
    const made = spawnSync(keygen, ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, name)], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
  }
  fs.copyFileSync(path.join(dir, 'client_key.pub'), path.join(dir, 'authorized_keys'));
  fs.chmodSync(path.join(dir, 'authorized_keys'), 0o600);
  // sshd refuses to start without its privilege separation directory (Debian makes it when the service starts).
  if (!fs.existsSync('/run/sshd') && process.getuid?.() === 0) fs.mkdirSync('/run/sshd', { mode: 0o755 });
  const port = await freePort();
  const config = path.join(dir, 'sshd_config');
  fs.writeFileSync(
    config,
    [
      `ListenAddress 127.0.0.1:${port}`,
      `HostKey ${path.join(dir, 'host_key')}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      '',
    ].join('\n'),
  );
  const child = spawn(sshd, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null) child.kill();
  });
  let log = '';
  await new Promise((resolve, reject) => {
    child.stderr.on('data', (chunk) => {
      log += chunk;
      if (/Server listening/.test(log)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`sshd exited with ${code}: ${log}`)));
    setTimeout(() => reject(new Error(`sshd did not start: ${log}`)), 10000).unref();
  });
  return { port, key: path.join(dir, 'client_key') };
}

test('ssh through the tunnel: OpenSSH logs in to sshd through -L, the relay and -T, runs commands, and carries 4 MB both ways', async (t) => {
  const ssh = find('ssh');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyco-forward-ssh-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const sshd = await startSshd(t, dir);
  const relay = await startRelay(t, { hybridConnections: ['ssh'] });
  const remote = await remoteForward(t, relay, [{ host: '127.0.0.1', hostPort: sshd.port, portName: 'ssh' }], {}, 'ssh');
  const local = await localForward(t, relay, [{ bindPort: 0, portName: 'ssh' }], {}, 'ssh');
  const args = (command) => [
    '-F', '/dev/null',
    '-i', sshd.key,
    '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'BatchMode=yes',
    '-o', 'LogLevel=ERROR',
    '-p', String(local.addresses[0].port),
    '127.0.0.1',
    command,
  ];
  const hello = await run(ssh, args('echo ok'));
  assert.equal(hello.code, 0, hello.stderr);
  assert.equal(hello.stdout, 'ok\n');

  const upload = crypto.randomBytes(4 * 1024 * 1024);
  const uploaded = await run(ssh, args('sha256sum'), upload);
  assert.equal(uploaded.code, 0, uploaded.stderr);
  assert.equal(uploaded.stdout.split(' ')[0], crypto.createHash('sha256').update(upload).digest('hex'), 'the upload arrived whole');

  const downloaded = await run(ssh, args('f=$(mktemp) && head -c 4194304 /dev/urandom > "$f" && sha256sum < "$f" >&2 && cat "$f"; rm -f "$f"'));
  assert.equal(downloaded.code, 0, downloaded.stderr);
  assert.equal(downloaded.bytes.length, 4 * 1024 * 1024);
  assert.equal(downloaded.stderr.split(' ')[0], crypto.createHash('sha256').update(downloaded.bytes).digest('hex'), 'the download arrived whole');
  assert.ok(local.stats.bytesFromRelay > 4 * 1024 * 1024 && local.stats.bytesToRelay > 4 * 1024 * 1024);
  assert.equal(local.stats.connectionsTotal, 3);
  assert.equal(remote.stats.connectionsTotal, 3);
});

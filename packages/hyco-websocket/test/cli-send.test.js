'use strict';
// `send` as good as wscat: piped input sends every line and waits for the replies (idle time or --replies);
// -m waits for --replies; --binary/--hex; --header; --json; against an echo and against npm start's chat.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { relayedServer: RelayedServer, createRelayListenUri } = require('hyco-websocket');
const { startRelay, token } = require('hyco-test-support');
const { startHybrid } = require('../../../examples/hybrid');

const CLI = path.join(__dirname, '..', 'bin', 'hyco-websocket.js');
const env = { ...process.env };
delete env.HYCO_CONNECTION_STRING;

/** Runs `send` with `input` piped (or none): { code, stdout, stderr, ms }. */
function send(args, input) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [CLI, 'send', ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
    child.stdin.end(input ?? '');
  });
}

/** A relayed listener on `echo` that answers each message with `reply(message, connection)`; records request headers. */
async function listener(t, relay, reply) {
  const server = new RelayedServer({ server: createRelayListenUri(`ws://127.0.0.1:${relay.port}`, 'echo'), token: () => token('echo') });
  t.after(() => server.close());
  const headers = [];
  server.on('request', async (request) => {
    headers.push(request.httpRequest.headers);
    const connection = await request.accept(null, request.origin);
    connection.on('message', (m) => reply(m, connection));
  });
  await new Promise((resolve) => server.once('online', resolve));
  return headers;
}

const echo = (m, c) => (m.type === 'utf8' ? c.sendUTF(m.utf8Data) : c.sendBytes(m.binaryData));

test('piped: every line is sent and every reply printed as it is, however many each line gets and however late, until none comes for --wait ms', async (t) => {
  const relay = await startRelay(t);
  // Two replies per line, the second 300 ms later: a count of lines would stop too early.
  await listener(t, relay, (m, c) => {
    c.sendUTF(`${m.utf8Data} 1`);
    setTimeout(() => c.connected && c.sendUTF(`${m.utf8Data} 2`), 300);
  });
  const cs = `${relay.connectionString()};EntityPath=echo`;
  const piped = await send(['-c', cs, '--wait', '800'], 'a\nb\nc\n');
  assert.equal(piped.code, 0, piped.stderr);
  assert.deepEqual(piped.stdout.trim().split('\n').sort(), ['a 1', 'a 2', 'b 1', 'b 2', 'c 1', 'c 2']);
  const counted = await send(['-c', cs, '--wait', '5000', '--replies', '2'], 'a\nb\n');
  assert.equal(counted.code, 0, counted.stderr);
  assert.equal(counted.stdout.trim().split('\n').length, 2, '--replies 2: stops at two');
  assert.ok(counted.ms < 4500, `it did not wait out --wait (${counted.ms} ms)`);
});

test('-m waits for --replies (default 1) and prints them; too few within --wait is exit 1', async (t) => {
  const relay = await startRelay(t);
  await listener(t, relay, (m, c) => {
    c.sendUTF(`first ${m.utf8Data}`);
    setTimeout(() => c.connected && c.sendUTF(`second ${m.utf8Data}`), 200);
  });
  const cs = `${relay.connectionString()};EntityPath=echo`;
  const one = await send(['-c', cs, '-m', 'hi']);
  assert.equal(one.code, 0, one.stderr);
  assert.equal(one.stdout, 'first hi\n');
  const two = await send(['-c', cs, '-m', 'hi', '--replies', '2']);
  assert.equal(two.stdout, 'first hi\nsecond hi\n');
  const many = await send(['-c', cs, '-m', 'a', '-m', 'b', '--replies', '4']);
  assert.deepEqual(many.stdout.trim().split('\n').sort(), ['first a', 'first b', 'second a', 'second b']);
  const tooFew = await send(['-c', cs, '-m', 'hi', '--replies', '3', '--wait', '500']);
  assert.equal(tooFew.code, 1);
  assert.match(tooFew.stderr, /2 of 3 replies came within 500 ms/);
});

test('--hex and --binary send binary messages and show binary replies; --header reaches the listener; --json is one object per line', async (t) => {
  const relay = await startRelay(t);
  const headers = await listener(t, relay, echo);
  const cs = `${relay.connectionString()};EntityPath=echo`;
  const hex = await send(['-c', cs, '--hex', '-m', '68 69 00 ff']);
  assert.equal(hex.stdout, '686900ff\n');
  const binary = await send(['-c', cs, '--binary', '-m', 'bytes']);
  assert.equal(binary.stdout, 'bytes\n');
  const plain = await send(['-c', cs, '--header', 'X-Trace: abc', '-H', 'X-Other:2', '-m', 'x']);
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(headers.at(-1)['x-trace'], 'abc');
  assert.equal(headers.at(-1)['x-other'], '2');
  const json = await send(['-c', cs, '--json', '--wait', '300'], 'one\ntwo\n');
  const lines = json.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines[0].type, 'connected');
  assert.equal(lines[0].path, 'echo');
  assert.deepEqual(lines.filter((l) => l.type === 'message').map((l) => l.text), ['one', 'two']);
  assert.deepEqual(lines.at(-1), { type: 'closed', code: 1000, reason: 'Normal connection closure' });
  const jsonBinary = JSON.parse((await send(['-c', cs, '--json', '--hex', '-m', '0102'])).stdout.split('\n')[1]);
  assert.deepEqual(jsonBinary, { type: 'message', base64: 'AQI=' });
  const badHeader = await send(['-c', cs, '--header', 'no colon', '-m', 'x']);
  assert.equal(badHeader.code, 2);
});

test('against npm start\'s chat: piped, the welcome and the broadcast of every line are printed; -m --replies 2 prints the welcome and the echo', async (t) => {
  const relay = await startRelay(t, { hybridConnections: ['chat'] });
  const { parseConnectionString } = require('hyco-websocket');
  const settings = parseConnectionString(relay.connectionString());
  const app = await startHybrid({ settings, path: 'chat', httpPort: 0 });
  t.after(() => app.close());
  const cs = `${relay.connectionString()};EntityPath=chat`;
  const piped = await send(['-c', cs, '--wait', '800'], 'first\nsecond\n');
  assert.equal(piped.code, 0, piped.stderr);
  const replies = piped.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(replies[0].system, 'welcome');
  assert.deepEqual(replies.slice(1).map((r) => r.text), ['first', 'second'], 'the reply to the second line is not lost');
  const m = await send(['-c', cs, '-m', 'hello', '--replies', '2']);
  assert.equal(m.code, 0, m.stderr);
  const two = m.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(two.length, 2);
  assert.equal(two[0].system, 'welcome');
  assert.equal(two[1].text, 'hello');
});

/** Runs `send` on a terminal (util-linux `script` gives it a pty): types `lines`, then Ctrl-D; resolves with what the terminal showed. */
function sendOnTerminal(args, lines, extraEnv) {
  return new Promise((resolve, reject) => {
    const quoted = [process.execPath, CLI, 'send', ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const child = spawn('script', ['-qfec', quoted, '/dev/null'], { env: { ...env, ...extraEnv }, stdio: ['pipe', 'pipe', 'pipe'] });
    let shown = '';
    let typed = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
    child.stdout.on('data', (d) => {
      shown += d;
      if (!typed && shown.includes('type lines to send')) {
        typed = true;
        for (const line of lines) child.stdin.write(`${line}\r`);
      }
      if (typed && lines.every((l) => shown.includes(`< ${l}`) || shown.includes(`<\x1b[0m ${l}`))) child.stdin.write('\x04');
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, shown });
    });
  });
}

test('on a terminal: a "> " prompt, replies marked "< " (coloured unless NO_COLOR), Ctrl-D closes', async (t) => {
  const relay = await startRelay(t);
  await listener(t, relay, echo);
  const cs = `${relay.connectionString()};EntityPath=echo`;
  const plain = await sendOnTerminal(['-c', cs], ['hello', 'again'], { NO_COLOR: '1' });
  assert.equal(plain.code, 0, plain.shown);
  // eslint-disable-next-line no-control-regex
  assert.match(plain.shown, /\x1b\[0J> /, 'a prompt (readline draws it after clearing the line)');
  assert.match(plain.shown, /< hello/);
  assert.match(plain.shown, /< again/);
  // eslint-disable-next-line no-control-regex
  assert.doesNotMatch(plain.shown, /\x1b\[3\dm/, 'NO_COLOR: no colour');
  const coloured = await sendOnTerminal(['-c', cs], ['hi'], { NO_COLOR: '' });
  assert.equal(coloured.code, 0, coloured.shown);
  assert.ok(coloured.shown.includes('\x1b[36m<\x1b[0m hi'), 'the reply marker in colour');
  assert.ok(coloured.shown.includes('\x1b[32m>\x1b[0m '), 'the prompt in colour');
});

test('a wait over a second shows a spinner line on a terminal (and none when piped)', async (t) => {
  const net = require('node:net');
  // A "relay" that takes the connection and never answers the upgrade.
  const silent = net.createServer(() => {});
  await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    silent.close();
  });
  const args = ['--namespace', `ws://127.0.0.1:${silent.address().port}`, '--key-name', 'R', '--key', 'a2V5', '--path', 'echo', '-m', 'hi'];
  const quoted = [process.execPath, CLI, 'send', ...args].map((a) => `'${a}'`).join(' ');
  const onTerminal = await new Promise((resolve) => {
    const child = spawn('script', ['-qfec', quoted, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let shown = '';
    child.stdout.on('data', (d) => (shown += d));
    setTimeout(() => {
      child.kill('SIGKILL');
      resolve(shown);
    }, 2500);
  });
  assert.match(onTerminal, /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] connecting to "echo" through ws:\/\/127\.0\.0\.1:\d+ \(\d s\)/);
  const piped = await new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'send', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let all = '';
    child.stdout.on('data', (d) => (all += d));
    child.stderr.on('data', (d) => (all += d));
    setTimeout(() => {
      child.kill('SIGKILL');
      resolve(all);
    }, 2000);
  });
  assert.equal(piped, '', 'nothing while it waits, when nobody watches');
});

// Found by CI under load: a greeting that came in the same packet as the handshake was counted as the one reply
// -m waits for before -m's message was sent, so the CLI closed first, the message was never sent, and it exited 0.
test('-m: a greeting that arrives with the handshake never makes send close before its messages are sent', async (t) => {
  const { encodeFrame, FrameReader, greetingServer } = require('hyco-test-support/raw');
  let received;
  let closeAtOnce = false;
  const server = await greetingServer(
    () =>
      Buffer.concat([
        encodeFrame({ opcode: 0x1, payload: Buffer.from('welcome'), mask: false }),
        ...(closeAtOnce ? [encodeFrame({ opcode: 0x8, payload: Buffer.from([0x03, 0xe8]), mask: false })] : []),
      ]),
    (socket) => {
      const reader = new FrameReader(socket, Buffer.alloc(0), { masked: true });
      // The close frame is answered, as a server does.
      socket.on('data', () => {
        if (reader.frames.some((f) => f.opcode === 0x8) && !socket.writableEnded) socket.end(encodeFrame({ opcode: 0x8, payload: Buffer.from([0x03, 0xe8]), mask: false }));
      });
      received = new Promise((resolve) => socket.on('close', () => resolve(reader.frames)));
    },
  );
  t.after(() => server.close());
  const cs = `Endpoint=sb://127.0.0.1:${server.port}/;SharedAccessKeyName=Root;SharedAccessKey=${Buffer.from('k'.repeat(32)).toString('base64')};UseDevelopmentEmulator=true;EntityPath=echo`;
  const result = await send(['-c', cs, '-m', 'hello', '--wait', '2000']);
  assert.equal(result.stdout.trim(), 'welcome', 'the greeting is printed as the reply');
  assert.equal(result.code, 0, result.stderr);
  assert.doesNotMatch(result.stderr, /1006|WRITE_AFTER_END/);
  const frames = await received;
  assert.deepEqual(
    frames.map((f) => [f.opcode, f.opcode === 0x1 ? f.payload.toString() : '']),
    [
      [0x1, 'hello'],
      [0x8, ''],
    ],
    'the message went out before the close frame',
  );
  // A listener that closes before piped input has been sent: the lines not sent are reported, exit 1.
  closeAtOnce = true;
  const cut = await send(['-c', cs, '--wait', '500'], 'a\nb\nc\n');
  assert.equal(cut.code, 1, cut.stderr);
  assert.match(cut.stderr, /the connection closed before the end of the input: the rest was not sent/);
});

/**
 * `hyco-websocket send`: a WebSocket sender through the relay, as wscat is
 * one for plain WebSockets.
 *
 * - stdin a terminal: a `> ` prompt; each line typed is sent, each reply
 *   printed `< ` as it comes; Ctrl-D closes.
 * - stdin piped: every line is sent; replies are printed as they are (no
 *   markers) until `--replies N` have come or none has come for `--wait` ms
 *   after the input ended.
 * - `-m TEXT` (repeatable): sends the messages, prints `--replies` (default
 *   1) replies and closes; gives up after `--wait` ms without one.
 *
 * `--binary` sends binary messages (the UTF-8 bytes of each line) and shows
 * binary replies as text; `--hex` sends and shows binary messages as hex.
 * `--json`: one object per line on stdout (`connected`, `message`,
 * `closed`, `error`), nothing else.
 */
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { connection as WebSocketConnection, Message } from 'websocket';
import { HybridConnectionsWebSocketClient } from '../client';
import type { RelayError } from '../errors';
import { RelayArgumentError } from '../errors';
import { createRelaySendUri } from '../protocol/uri';
import { explainFailure } from './failures';
import { needPath, proxyOptions, relayOptions, resolveRelay, tokenFor } from './relay-flags';
import type { RelayFlags } from './relay-flags';
import { complain, out, outJson, outParts, paint, progress } from './terminal';
import { caOption, caTls } from './tls';

export interface SendFlags extends RelayFlags {
  message: string[];
  protocol?: string;
  allowedListener: string[];
  wait: number;
  replies?: number;
  binary?: boolean;
  hex?: boolean;
  header: string[];
  json?: boolean;
  ca?: string;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function milliseconds(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number of milliseconds');
  return Number(value);
}

function count(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('must be a whole number, 1 or more');
  return Number(value);
}

/** `Name:Value` as a header pair. */
function header(value: string): [string, string] {
  const colon = value.indexOf(':');
  const name = colon > 0 ? value.slice(0, colon).trim() : '';
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw new RelayArgumentError(`--header ${value}: expected Name:Value`);
  return [name, value.slice(colon + 1).trim()];
}

/** The bytes of a --hex line. */
function fromHex(text: string): Buffer {
  const digits = text.replace(/[\s:]/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(digits)) throw new RelayArgumentError(`not hex bytes: ${text.slice(0, 40)}`);
  return Buffer.from(digits, 'hex');
}

/** Registers `send`. */
export function registerSendCommand(program: Command): void {
  caOption(proxyOptions(relayOptions(program.command('send').description('connect through the relay; send lines from stdin (a prompt on a terminal) or -m messages, and print the replies'))))
    .option('-m, --message <text>', 'send this message (repeatable), print --replies replies and exit', collect, [])
    .option('--replies <n>', 'stop once this many replies have come (with -m: default 1)', count)
    .option('--wait <ms>', 'give up waiting after this long without a reply (piped input: after its end)', milliseconds, 2000)
    .option('--binary', 'send binary messages (the bytes of each line); show binary replies as text')
    .option('--hex', 'send and show binary messages as hex (each line or -m: hex digits)')
    .option('-H, --header <name:value>', 'a header for the listener (repeatable)', collect, [])
    .option('--protocol <name>', 'subprotocol to request')
    .option('--allowed-listener <id>', 'only this listener may take the connection (repeatable; see listen\'s id)', collect, [])
    .option('--json', 'one JSON object per line on stdout: connected, message, closed, error')
    .action((flags: SendFlags, command: Command) => send(flags, command));
}

async function send(flags: SendFlags, command: Command): Promise<void> {
  const relay = resolveRelay(flags, command);
  const path = needPath(relay);
  const headers = Object.fromEntries(flags.header.map(header));
  const outgoing = flags.message.map((m) => (flags.hex ? fromHex(m) : m));
  const client = new HybridConnectionsWebSocketClient({
    token: relay.credential ?? (() => tokenFor(relay, flags.ttl, path)),
    ...(flags.proxy === undefined ? {} : { proxy: flags.proxy }),
    ...(flags.allowedListener.length ? { allowedListeners: flags.allowedListener } : {}),
    ...caTls(flags),
  });
  const stopProgress = progress(`connecting to "${path}" through ${relay.address}`);
  // Messages that arrive before the handlers below are in place (a listener's greeting, sent the
  // moment it accepts, may come before this function resumes) are kept, not lost.
  const early: Message[] = [];
  const keep = (m: Message) => early.push(m);
  const connection = await new Promise<WebSocketConnection | undefined>((resolve) => {
    client.once('connect', (c: WebSocketConnection) => {
      c.on('message', keep);
      resolve(c);
    });
    client.once('connectFailed', (err: RelayError) => {
      stopProgress();
      const failure = explainFailure(err, { address: relay.address, path, side: 'sender', verbose: flags.verbose === true });
      if (flags.json) outJson({ type: 'error', code: err.code ?? null, statusCode: err.statusCode ?? null, message: failure.line, exitCode: failure.exitCode });
      complain(failure.line);
      process.exitCode = failure.exitCode;
      resolve(undefined);
    });
    client.connect(createRelaySendUri(relay.address, path), flags.protocol, undefined, headers);
  });
  stopProgress();
  if (!connection) return;
  const interactive = flags.message.length === 0 && process.stdin.isTTY === true && !flags.json;
  const wanted = flags.replies ?? (flags.message.length ? 1 : Infinity);
  let replies = 0;
  // Replies end the exchange only once everything has been sent (-m: at once; piped: at the input's end).
  let inputEnded = false;
  let unsent = 0;
  let idle: NodeJS.Timeout | undefined;
  const finish = () => {
    if (idle) clearTimeout(idle);
    if (connection.connected) connection.close();
  };
  // After the input: wait until --replies have come, or none for --wait ms.
  const armIdle = () => {
    if (idle) clearTimeout(idle);
    if (inputEnded && !interactive) idle = setTimeout(finish, flags.wait);
  };
  const show = (m: Message): string => {
    if (m.type === 'utf8') return m.utf8Data;
    if (flags.hex) return m.binaryData.toString('hex');
    if (flags.binary) return m.binaryData.toString('utf8');
    return `<${m.binaryData.length} bytes>`;
  };
  let lines: ReturnType<typeof createInterface> | undefined;
  const onMessage = (m: Message) => {
    replies++;
    if (flags.json) {
      outJson(m.type === 'utf8' ? { type: 'message', text: m.utf8Data } : { type: 'message', base64: m.binaryData.toString('base64') });
    } else if (interactive) {
      // The reply goes above the prompt, which is drawn again under it.
      if (lines) process.stdout.write('\r\x1b[2K');
      outParts(['<', 'cyan'], ` ${show(m)}`);
      lines?.prompt(true);
    } else out(show(m));
    if (replies >= wanted && inputEnded) finish();
    else armIdle();
  };
  connection.off('message', keep);
  connection.on('message', onMessage);
  connection.on('close', (code: number, description: string) => {
    if (idle) clearTimeout(idle);
    if (flags.json) outJson({ type: 'closed', code, reason: description || null });
    else if (interactive || code !== 1000) complain(`closed (${code}${description ? `: ${description}` : ''})`);
    if (wanted !== Infinity && replies < wanted) {
      complain(`${replies} of ${wanted} replies came within ${flags.wait} ms`);
      process.exitCode = 1;
    }
    if (unsent || (!inputEnded && !interactive)) {
      complain('the connection closed before the end of the input: the rest was not sent');
      process.exitCode = 1;
    }
    lines?.close();
    process.stdin.pause();
  });
  if (flags.json) outJson({ type: 'connected', path, address: relay.address, protocol: connection.protocol ?? null });
  const sendOne = (data: string | Buffer) => {
    if (typeof data !== 'string') connection.sendBytes(data);
    else if (flags.binary) connection.sendBytes(Buffer.from(data, 'utf8'));
    else connection.sendUTF(data);
  };
  if (flags.message.length) {
    // Sent before the early messages count: a greeting that came with the handshake must not end the exchange first.
    for (const m of outgoing) sendOne(m);
    inputEnded = true;
    for (const m of early.splice(0)) onMessage(m);
    if (replies < wanted) armIdle();
    return;
  }
  if (interactive) {
    complain(`connected to "${path}"; type lines to send, Ctrl-D to close`);
    lines = createInterface({ input: process.stdin, output: process.stdout, prompt: `${paint('>', 'green')} ` });
    lines.prompt();
  } else lines = createInterface({ input: process.stdin });
  for (const m of early.splice(0)) onMessage(m);
  lines.on('line', (line) => {
    if (!connection.connected) {
      unsent++;
      return;
    }
    try {
      sendOne(flags.hex ? fromHex(line) : line);
    } catch (err) {
      complain((err as Error).message);
    }
    if (interactive) lines?.prompt();
  });
  lines.on('close', () => {
    inputEnded = true;
    if (interactive) finish();
    // Piped input: the replies to what was sent may still be on their way.
    else if (replies >= wanted) finish();
    else armIdle();
  });
}

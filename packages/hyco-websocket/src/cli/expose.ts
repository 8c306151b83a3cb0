/**
 * `hyco-websocket expose <origin>`: a local HTTP and WebSocket server made
 * reachable through the relay. Parsing and printing only: the work is the
 * library's `relayedProxy`. Once online it prints the public addresses and
 * commands a sender can paste; then one line per request or connection.
 * No line ever holds a key, a token or a connection string, and every
 * value from the network is escaped (`printable`).
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { RelayArgumentError } from '../errors';
import { relayedProxy } from '../expose';
import type { ProxyExchange } from '../expose';
import { MAX_SHOWN, printable } from '../protocol/printable';
import { createRelayListenUri } from '../protocol/uri';
import { needPath, out, proxyOptions, relayOptions, resolveRelay, tokenFor } from './relay-flags';
import { outJson, outParts } from './terminal';
import { watchListener } from './watch';
import type { Relay, RelayFlags } from './relay-flags';

interface ExposeFlags extends RelayFlags {
  originCa?: string;
  insecureOrigin?: boolean;
  json?: boolean;
}

/** `text` as one shell word (quoted unless it is plainly safe). */
function shellWord(text: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * The relay settings a sender gives `hyco-websocket token` or `send` to
 * reach the same hybrid connection, without a secret: the connection
 * string comes from the sender's environment (`HYCO_CONNECTION_STRING`),
 * a key from `HYCO_KEY`.
 */
function senderFlags(flags: ExposeFlags, relay: Relay, path: string): { args: string; needs: string | undefined } {
  const pathFlag = `--path ${shellWord(path)}`;
  if (flags.entra) return { args: `--entra --namespace ${shellWord(flags.namespace ?? relay.address)} ${pathFlag}`, needs: 'an Entra ID sign-in with the Azure Relay Sender role' };
  if ((flags.connectionString || process.env.HYCO_CONNECTION_STRING) && flags.namespace === undefined && flags.key === undefined) return { args: pathFlag, needs: 'HYCO_CONNECTION_STRING set to a connection string with Send rights' };
  return { args: `--namespace ${shellWord(flags.namespace ?? relay.address)} --key-name ${shellWord(relay.keyName ?? '')} --key "$HYCO_KEY" ${pathFlag}`, needs: 'HYCO_KEY set to the rule\'s key' };
}

/** Bytes, short: `512 B`, `1.5 kB`, `3.2 MB`. */
function bytes(n: number): string {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

/** One line for a request or connection that has ended. */
export function exchangeLine(e: ProxyExchange): string {
  const what = e.kind === 'websocket' ? `WS ${printable(e.path, MAX_SHOWN)}` : `${printable(e.method, 20)} ${printable(e.path, MAX_SHOWN)}`;
  const parts = [what, e.status === 0 ? '-' : String(e.status), `${Math.round(e.durationMs)} ms`, `${bytes(e.bytesIn)} in`, `${bytes(e.bytesOut)} out`];
  if (e.closeCode !== undefined) parts.push(`close ${e.closeCode}`);
  // Why it was cut or refused, or what the proxy answered for (502: the origin is not reachable).
  if (e.error) parts.push(`(${printable(e.error.message, MAX_SHOWN)})`);
  return parts.join('  ');
}

/** Registers `expose` on the program. */
export function registerExposeCommand(program: Command): void {
  proxyOptions(
    relayOptions(
      program
        .command('expose')
        .argument('<origin>', 'the local server, e.g. http://127.0.0.1:3000 (https:// too; a base path is kept: http://127.0.0.1:3000/app)')
        .description('make a local HTTP and WebSocket server reachable through the relay (Ctrl-C stops it)'),
    ),
  )
    .option('--origin-ca <file>', 'PEM file of CA certificates to trust for an https:// origin')
    .option('--insecure-origin', 'accept any certificate from an https:// origin (self-signed development servers)')
    .option('--json', 'one JSON object per line on stdout: online, exchange, reconnecting, error')
    .action((origin: string, flags: ExposeFlags, command: Command) => {
      const relay = resolveRelay(flags, command);
      const path = needPath(relay);
      if (!relay.credential) tokenFor(relay, flags.ttl); // Fails now, clearly, rather than on every reconnect.
      let originCa: Buffer | undefined;
      if (flags.originCa !== undefined) {
        try {
          originCa = readFileSync(flags.originCa);
        } catch (err) {
          throw new RelayArgumentError(`cannot read --origin-ca ${flags.originCa}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        }
      }
      const proxy = relayedProxy({
        server: createRelayListenUri(relay.address, path),
        token: relay.credential ?? (() => tokenFor(relay, flags.ttl)),
        origin,
        ...(originCa ? { originCa } : {}),
        ...(flags.insecureOrigin ? { insecureOrigin: true } : {}),
        ...(flags.proxy === undefined ? {} : { proxy: flags.proxy }),
      });
      const json = flags.json === true;
      const watch = watchListener(proxy, { address: relay.address, path, side: 'listener', verbose: flags.verbose === true }, json);
      let announced = false;
      proxy.on('online', () => {
        watch.online();
        if (json) {
          outJson({ type: 'online', again: announced, path, address: relay.address, origin: proxy.origin, listenerId: proxy.listenerId, httpUrl: proxy.httpUrl, webSocketUrl: proxy.webSocketUrl });
          announced = true;
          return;
        }
        if (announced) {
          outParts(['online again', 'green']);
          return;
        }
        announced = true;
        const sender = senderFlags(flags, relay, path);
        outParts(['exposing', 'green'], ` ${proxy.origin} on "${path}" through ${relay.address} (listener id ${proxy.listenerId})`);
        // Labelled by their own scheme: against the emulator they are http:// and ws://.
        const label = (url: string) => `${new URL(url).protocol}`.padEnd(12);
        out(`  ${label(proxy.httpUrl)}${proxy.httpUrl}`);
        out(`  ${label(proxy.webSocketUrl)}${proxy.webSocketUrl}`);
        out(`  try:        curl -H "ServiceBusAuthorization: $(npx hyco-websocket token ${sender.args})" ${shellWord(proxy.httpUrl)}`);
        out(`  WebSocket:  npx hyco-websocket send ${sender.args}`);
        if (sender.needs) out(`  (in a shell with ${sender.needs})`);
      });
      proxy.on('exchange', (e) => {
        if (!json) return out(exchangeLine(e));
        outJson({
          type: 'exchange',
          kind: e.kind,
          method: e.method,
          path: e.path,
          status: e.status,
          durationMs: Math.round(e.durationMs),
          bytesIn: e.bytesIn,
          bytesOut: e.bytesOut,
          closeCode: e.closeCode ?? null,
          error: e.error ? e.error.message : null,
        });
      });
      const stop = () => void proxy.close();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}

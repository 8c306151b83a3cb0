'use strict';
// Exercises every path that might print a secret (renewals, failed auth,
// rejections, drops, errors, the emulator's activity log) with all logging
// on, and prints every error message and status text it meets. The secrets
// it used are written to the file named in argv[2] for the test to search
// the output for; they are never printed.
const fs = require('node:fs');
const hyco = require('hyco-websocket');
const { RelayEmulator } = require('hyco-relay-emulator');

const KEY = 'c2VjcmV0LXNjZW5hcmlvLWtleS1kby1ub3QtbG9n';
const rules = [{ name: 'RootManageSharedAccessKey', key: KEY, rights: ['Manage', 'Listen', 'Send'] }];
const secrets = new Set([KEY]);
const remember = (token) => {
  const parsed = hyco.parseRelayToken(token);
  secrets.add(parsed.signature);
  secrets.add(encodeURIComponent(parsed.signature));
  return token;
};
const tok = (path, ttl = 60, key = KEY) => remember(hyco.createRelayToken(`http://127.0.0.1/${path}`, 'RootManageSharedAccessKey', key, ttl));
const out = (line) => process.stdout.write(`${line}\n`);

function connect(relay, path, token) {
  return new Promise((resolve) => {
    const client = new hyco.client();
    client.on('connect', resolve);
    client.on('connectFailed', (err) => {
      out(`sender failed: ${err.message}`);
      resolve(undefined);
    });
    client.connect(hyco.createRelaySendUri(relay.endpoint, path), null, null, { ServiceBusAuthorization: token });
  });
}

async function main() {
  const relay = await RelayEmulator.start({ rules, hybridConnections: ['s'] });
  relay.on('activity', (a) => out(`activity: ${JSON.stringify(a)}`));
  const server = new hyco.relayedServer({ server: hyco.createRelayListenUri(relay.endpoint, 's'), token: () => tok('s', 3) });
  server.on('error', (e) => out(`listener error: ${e.code} ${e.message}`));
  server.on('warning', (e) => out(`listener warning: ${e.code} ${e.message}`));
  server.on('request', (request) => {
    if (request.resource === '/reject') request.reject(403, 'go away').catch((e) => out(`reject failed: ${e.message}`));
    else request.accept().then((c) => c.on('message', (m) => c.sendUTF(m.utf8Data)), (e) => out(`accept failed: ${e.message}`));
  });
  await new Promise((resolve) => server.once('online', resolve));
  const good = await connect(relay, 's', tok('s'));
  good.sendUTF('hello');
  await new Promise((resolve) => good.once('message', resolve));
  await connect(relay, 's/reject', tok('s'));
  await connect(relay, 's', tok('s', 60, 'd3Jvbmcta2V5'));
  await connect(relay, 's', tok('other'));
  // A listener with a bad token, and one with a fixed token that expires.
  const bad = new hyco.relayedServer({ server: hyco.createRelayListenUri(relay.endpoint, 's'), token: tok('s', 60, 'd3Jvbmcta2V5'), reconnectBackoff: [50] });
  bad.on('error', (e) => out(`bad listener error: ${e.code} ${e.message}`));
  const fixed = new hyco.relayedServer({ server: hyco.createRelayListenUri(relay.endpoint, 's'), token: tok('s', 2), reconnectBackoff: [100] });
  fixed.on('error', (e) => out(`fixed listener error: ${e.code} ${e.message}`));
  fixed.on('warning', (e) => out(`fixed listener warning: ${e.code} ${e.message}`));
  await new Promise((resolve) => setTimeout(resolve, 4000)); // renewals, expiry, retries
  relay.dropControlChannels('s');
  await new Promise((resolve) => setTimeout(resolve, 300));
  // The status page and a parsed connection string, as a user might log them.
  out(`status: ${await (await fetch(`http://127.0.0.1:${relay.port}/`)).text()}`);
  try {
    hyco.parseConnectionString(`Endpoint=ftp://x/;SharedAccessKeyName=R;SharedAccessKey=${KEY}`);
  } catch (e) {
    out(`connection string error: ${e.message}`);
  }
  try {
    hyco.parseRelayToken(`SharedAccessSignature sr=x&sig=${KEY}&se=soon&skn=r`);
  } catch (e) {
    out(`token error: ${e.message}`);
  }
  good.close();
  await Promise.all([server.close(), bad.close(), fixed.close()]);
  await relay.close();
  fs.writeFileSync(process.argv[2], JSON.stringify([...secrets]));
  out('scenario complete');
}

main().catch((err) => {
  out(`scenario failed: ${err.stack}`);
  process.exitCode = 1;
});

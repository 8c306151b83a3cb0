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
const PROXY_PASSWORD = 'pr0xy-pa55word-n0t-f0r-l0gs';
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
/** Entra ID tokens: a JWT's signature segment, found anywhere, means the token leaked. */
const rememberJwt = (jwt) => {
  secrets.add(jwt.split('.')[2]);
  return jwt;
};
/** A TokenCredential that records every token it hands out. */
const recording = (credential) => ({
  getToken: async (scopes, options) => {
    const result = await credential.getToken(scopes, options);
    if (result) rememberJwt(result.token);
    return result;
  },
});

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
  // Keyless: a listener with 2-second JWTs (renewed twice a second), one
  // whose credential fails after a while, and senders with JWTs the emulator
  // refuses (a role on another entity, another key's signature).
  const listenCred = recording(relay.createTokenCredential({ principal: 'listen-app', roles: [{ role: 'Azure Relay Listener', scope: 's' }], lifetimeSeconds: 2 }));
  const keyless = new hyco.relayedServer({ server: hyco.createRelayListenUri(relay.endpoint, 's'), credential: listenCred, reconnectBackoff: [100] });
  keyless.on('error', (e) => out(`keyless listener error: ${e.code} ${e.message}`));
  keyless.on('warning', (e) => out(`keyless listener warning: ${e.code} ${e.message}`));
  keyless.on('request', (request) => request.reject(404).catch(() => {}));
  let failing = false;
  const flaky = new hyco.relayedServer({
    server: hyco.createRelayListenUri(relay.endpoint, 's'),
    credential: { getToken: async (scopes) => (failing ? Promise.reject(new Error('identity endpoint unavailable')) : listenCred.getToken(scopes)) },
    reconnectBackoff: [100],
  });
  flaky.on('error', (e) => out(`flaky credential error: ${e.code} ${e.message}`));
  const sendCred = recording(relay.createTokenCredential({ principal: 'send-app', roles: [{ role: 'Azure Relay Sender', scope: 'other' }], lifetimeSeconds: 1 }));
  await connect(relay, 's', (await sendCred.getToken(hyco.RELAY_SCOPE)).token); // a role on another entity: 403
  const foreign = await RelayEmulator.start({ rules, hybridConnections: ['s'] });
  const foreignJwt = rememberJwt((await foreign.createTokenCredential({ principal: 'listen-app', roles: [{ role: 'Owner' }] }).getToken(hyco.RELAY_SCOPE)).token);
  await foreign.close();
  await connect(relay, 's', foreignJwt); // another key's signature: 401
  // A proxy with credentials in its URL that cannot be reached: its password must not show anywhere,
  // the proxy agent's own debug output (DEBUG=*) included.
  secrets.add(PROXY_PASSWORD);
  const proxied = new hyco.relayedServer({
    server: hyco.createRelayListenUri(relay.endpoint, 's'),
    token: () => tok('s'),
    proxy: `http://relay-user:${PROXY_PASSWORD}@127.0.0.1:9`,
    reconnectBackoff: [100],
  });
  proxied.on('error', (e) => out(`proxied listener error: ${e.code} ${e.message} ${String(e.cause ?? '')}`));
  try {
    new hyco.relayedServer({ server: hyco.createRelayListenUri(relay.endpoint, 's'), token: 't', proxy: `socks5://relay-user:${PROXY_PASSWORD}@127.0.0.1:9` });
  } catch (e) {
    out(`proxy option error: ${e.message}`);
  }
  // The sender side: relayedConnect, runtime information and relayedFetch with refused tokens.
  await hyco.relayedConnect(hyco.createRelaySendUri(relay.endpoint, 's'), { token: tok('other') }).catch((e) => out(`relayedConnect error: ${e.code} ${e.message}`));
  await hyco.getRuntimeInformation(relay.endpoint, 's', { token: tok('s', 60, 'd3Jvbmcta2V5') }).catch((e) => out(`runtime information error: ${e.code} ${e.message}`));
  const fetched = await hyco.relayedFetch(`${hyco.createRelayHttpsUri(relay.endpoint, 's')}/x`, {}, { token: tok('other') });
  out(`relayedFetch: ${fetched.status} ${fetched.statusText} ${await fetched.text()}`);
  await new Promise((resolve) => setTimeout(resolve, 1500)); // the keyless listeners renew
  failing = true;
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
  await Promise.all([server.close(), bad.close(), fixed.close(), keyless.close(), flaky.close(), proxied.close()]);
  await relay.close();
  fs.writeFileSync(process.argv[2], JSON.stringify([...secrets]));
  out('scenario complete');
}

main().catch((err) => {
  out(`scenario failed: ${err.stack}`);
  process.exitCode = 1;
});

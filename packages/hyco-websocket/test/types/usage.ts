// Compiled (not run) by `npm run lint`: what a TypeScript user writes must
// type-check against the published declarations.
import {
  appendRelayToken,
  client,
  connection,
  createRelayListenUri,
  createRelayToken,
  parseConnectionString,
  relayedServer,
  server,
  RelayError,
} from 'hyco-websocket';
import type { HybridConnectionsWebSocketRequest, Message, IServerConfig, RelayConnectionString } from 'hyco-websocket';

const cs: RelayConnectionString = parseConnectionString('Endpoint=sb://127.0.0.1:9030/;UseDevelopmentEmulator=true');
const wss = new relayedServer({
  server: createRelayListenUri(cs.address, 'echo'),
  token: async () => Promise.resolve(createRelayToken('http://127.0.0.1/echo', 'rule', 'key', 60)),
  autoAcceptConnections: false,
  keepaliveInterval: 20000,
});
wss.on('request', (request: HybridConnectionsWebSocketRequest) => {
  const accepted: Promise<connection> = request.accept(request.requestedProtocols[0] ?? null, request.origin, null, (result) => {
    if (result instanceof Error) return;
    result.on('message', (message: Message) => {
      if (message.type === 'utf8') result.sendUTF(message.utf8Data);
    });
  });
  void accepted;
  const rejected: Promise<void> = request.reject(404, 'nope');
  void rejected;
});
wss.on('error', (err: RelayError) => void err.code);
const closed: Promise<void> = wss.close();
void closed;

const config: IServerConfig = { httpServer: [] };
void config;
void server;
void new client();
void appendRelayToken('wss://ns/$hc/a', 'rule', 'key');

// Options: tlsOptions are Node's TLS connection options; the keepalive mode is a union.
const withTls = new relayedServer({
  server: createRelayListenUri('wss://127.0.0.1:9443', 'echo'),
  token: 'SharedAccessSignature sr=x&sig=y&se=1&skn=z',
  tlsOptions: { ca: '-----BEGIN CERTIFICATE-----', servername: 'localhost', minVersion: 'TLSv1.2' },
  controlChannelKeepalive: 'pong',
});
// @ts-expect-error: a certificate authority is text or bytes, not a number
void new relayedServer({ server: 'wss://x/$hc/a', token: 't', tlsOptions: { ca: 42 } });
// @ts-expect-error: not a keepalive mode
void new relayedServer({ server: 'wss://x/$hc/a', token: 't', controlChannelKeepalive: 'shout' });
const mode: 'auto' | 'ping' | 'pong' = withTls.controlChannelKeepalive;
void mode;

// The emulator's events are typed too.
import { RelayEmulator } from 'hyco-relay-emulator';
import type { RelayActivity } from 'hyco-relay-emulator';
async function emulator(): Promise<void> {
  const relay = await RelayEmulator.start({ hybridConnections: ['echo'], listenerPings: 'close' });
  relay.on('activity', (a) => {
    const typed: RelayActivity = a;
    const kind: 'listener-online' | 'listener-offline' | 'listener-error' | 'sender-accepted' | 'sender-rejected' | 'sender-timed-out' | 'connection-closed' | 'refused' | 'hybrid-connection-created' | 'hybrid-connection-deleted' = a.type;
    void typed;
    void kind;
    // @ts-expect-error: activity carries no payload
    void a.payload;
  });
  // @ts-expect-error: not an emulator event
  relay.on('bogus', () => undefined);
  await relay.close();
}
void emulator;

// The Azure SDK's credentials fit `credential` and `token` as they are
// (taken by shape: no @azure/core-auth needed at run time).
import { AzureNamedKeyCredential, AzureSASCredential } from '@azure/core-auth';
import type { TokenCredential } from '@azure/core-auth';
import { DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';
import { RELAY_SCOPE } from 'hyco-websocket';
const keyless = new relayedServer({ server: 'wss://x/$hc/a', credential: new DefaultAzureCredential() });
void new relayedServer({ server: 'wss://x/$hc/a', token: new ManagedIdentityCredential() });
void new relayedServer({ server: 'wss://x/$hc/a', credential: new AzureNamedKeyCredential('Listen', 'key') });
void new relayedServer({ server: 'wss://x/$hc/a', credential: new AzureSASCredential('SharedAccessSignature sr=x&sig=y&se=1&skn=z') });
const anyCredential: TokenCredential = { getToken: () => Promise.resolve({ token: 'jwt', expiresOnTimestamp: Date.now() + 3600_000, refreshAfterTimestamp: Date.now() + 1800_000 }) };
void new relayedServer({ server: 'wss://x/$hc/a', credential: anyCredential });
void relayedServer.fromConnectionString('Endpoint=sb://x/;Authentication=Managed Identity', { path: 'a', keepalive: false });
// @ts-expect-error: a credential needs getToken, a key, or a signature
void new relayedServer({ server: 'wss://x/$hc/a', credential: { name: 'only-a-name' } });
const scope: string = RELAY_SCOPE;
void scope;
void keyless;

// The sender side is typed: websocket's client, a Promise form, fetch and runtime information.
import { relayedClient, relayedConnect, relayedFetch, getRuntimeInformation, client as WebSocketClient } from 'hyco-websocket';
import type { RuntimeInformation, connection as WebSocketConnection } from 'hyco-websocket';
const sender = new relayedClient({ credential: new AzureNamedKeyCredential('Send', 'key'), allowedListeners: ['a'], proxy: false, maxReceivedFrameSize: 1024 });
const asClient: WebSocketClient = sender;
void asClient;
sender.on('connectFailed', (err) => void err.message);
// @ts-expect-error: listener ids are strings
void new relayedClient({ allowedListeners: [1] });
async function senders(): Promise<void> {
  const c: WebSocketConnection = await relayedConnect('wss://x/$hc/a', { token: 't', abortSignal: AbortSignal.timeout(1000), protocols: ['chat'] });
  c.close();
  const res: Response = await relayedFetch('https://x/a/b', { method: 'POST' }, { credential: new DefaultAzureCredential() });
  void res.status;
  const info: RuntimeInformation = await getRuntimeInformation('x.servicebus.windows.net', 'a', { token: () => 't' });
  const n: number = info.listenerCount;
  const when: Date | undefined = info.createdAt;
  void n;
  void when;
  const fromCs = relayedClient.fromConnectionString('Endpoint=sb://x/;SharedAccessKeyName=a;SharedAccessKey=b;EntityPath=c');
  const address: string = fromCs.address;
  void address;
}
void senders;
const id: string = keyless.listenerId;
void id;

// Expose: a relayed proxy to a local origin, its events typed.
import { relayedProxy, RelayedProxy } from 'hyco-websocket';
import type { ProxyExchange, RelayedProxyOptions } from 'hyco-websocket';
const proxyOptions: RelayedProxyOptions = { server: createRelayListenUri('ws://127.0.0.1:9030', 'app'), credential: { name: 'rule', key: 'key' }, origin: 'http://127.0.0.1:3000', originTimeout: 30_000 };
const exposed: RelayedProxy = relayedProxy(proxyOptions);
exposed.on('exchange', (e: ProxyExchange) => {
  const line: string = `${e.kind} ${e.method} ${e.path} ${e.status} ${e.durationMs} ${e.bytesIn} ${e.bytesOut} ${e.complete} ${e.error?.code ?? ''} ${e.closeCode ?? ''}`;
  void line;
});
exposed.on('offline', (err?: RelayError) => void err);
const exposedUrls: string[] = [exposed.httpUrl, exposed.webSocketUrl, exposed.listenerId, exposed.origin];
void exposedUrls;
const fromCs: RelayedProxy = RelayedProxy.fromConnectionString('Endpoint=sb://127.0.0.1:9030/;SharedAccessKeyName=a;SharedAccessKey=b;UseDevelopmentEmulator=true', { path: 'app', origin: 'https://127.0.0.1:8443/base', insecureOrigin: true });
const proxyClosed: Promise<void> = fromCs.close();
void proxyClosed;

// Forward: TCP, UDP and Unix sockets (azbridge's -L and -T), bindings as objects, events and counts typed.
import { createLocalForward, createRemoteForward } from 'hyco-websocket';
import type { ForwardedConnection, ForwardStats, LocalForward, LocalForwardOptions, RemoteForward, RemoteForwardBinding } from 'hyco-websocket';
const localOptions: LocalForwardOptions = {
  connectionString: 'Endpoint=sb://x/;SharedAccessKeyName=a;SharedAccessKey=b',
  path: 'db',
  bindings: [{ bindPort: 5432, portName: 'pg' }, { protocol: 'udp', bindAddress: '127.0.0.1', bindPort: 5353 }, { bindLocalSocket: '/tmp/x.sock' }],
  udpIdleTimeout: 60_000,
};
const toRelay: LocalForward = createLocalForward(localOptions);
toRelay.on('connectionClosed', (c: ForwardedConnection, error?: RelayError) => void `${c.id} ${c.portName} ${c.protocol} ${c.peer} ${c.bytesToRelay} ${c.durationMs} ${error?.code ?? ''}`);
const targets: RemoteForwardBinding[] = [{ host: 'localhost', hostPort: 5432, portName: 'pg' }, { localSocket: '/var/run/x.sock' }];
const fromRelay: RemoteForward = createRemoteForward({ namespace: 'x.servicebus.windows.net', path: 'db', credential: new DefaultAzureCredential(), bindings: targets, proxy: false });
const counts: ForwardStats = fromRelay.stats;
const forwardState: [boolean, boolean, string, number] = [toRelay.isListening, fromRelay.isOnline, fromRelay.listenerId, counts.connectionsOpen];
void forwardState;
const forwardsClosed: Promise<void[]> = Promise.all([toRelay.close(), fromRelay.close()]);
void forwardsClosed;

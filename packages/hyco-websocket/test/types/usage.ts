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

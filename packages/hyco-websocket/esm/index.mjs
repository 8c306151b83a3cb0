// ES module entry: the CommonJS build, re-exported by name, so that
// `import { client, relayedServer } from 'hyco-websocket'` works.
import cjs from '../dist/index.js';

export const {
  server,
  client,
  router,
  frame,
  request,
  connection,
  w3cwebsocket,
  deprecation,
  version,
  relayedServer,
  relayedRequest,
  HybridConnectionsWebSocketServer,
  HybridConnectionsWebSocketRequest,
  relayedClient,
  HybridConnectionsWebSocketClient,
  relayedConnect,
  relayedFetch,
  getRuntimeInformation,
  createRelayBaseUri,
  createRelayListenUri,
  createRelaySendUri,
  createRelayHttpsUri,
  appendRelayToken,
  parseRelayNamespace,
  createRelayToken,
  parseRelayToken,
  tokenExpiry,
  parseConnectionString,
  RelayError,
  RelayArgumentError,
  RELAY_SCOPE,
} = cjs;

export default cjs;

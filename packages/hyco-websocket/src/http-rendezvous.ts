/**
 * The HTTP rendezvous, listener side: the WebSocket a listener opens at a
 * request's address when the request (or its response) is too large for
 * the control channel. The request arrives on it as a JSON message and its
 * body as one binary message in fragments, delivered as they come with
 * backpressure; the response goes back the same way.
 */
import createDebug from 'debug';
import type { connection as WebSocketConnection, frame as WebSocketFrame, IClientConfig } from 'websocket';
import { dial } from './dial';
import type { ConnectionCache } from './dial';
import { RelayError } from './errors';
import type { RequestMessage } from './protocol/messages';
import { parseServiceMessage } from './protocol/messages';
import type { ProxyOption } from './proxy';

const debug = createDebug('hyco-websocket:http');

/** The largest request message (JSON with its headers) accepted on a rendezvous, characters. */
const MAX_REQUEST_MESSAGE = 96 * 1024;

/** Opens a rendezvous WebSocket for HTTP (frames delivered one by one). */
export async function openHttpRendezvous(
  address: string,
  clientConfig: IClientConfig,
  timeoutMs: number,
  network: { proxy: ProxyOption; cache: ConnectionCache },
): Promise<WebSocketConnection> {
  debug('opening HTTP rendezvous');
  const outcome = await dial(address, { clientConfig: { ...clientConfig, assembleFragments: false }, proxy: network.proxy, cache: network.cache, timeoutMs }).result;
  switch (outcome.kind) {
    case 'connect':
      return outcome.connection;
    case 'proxy':
      throw outcome.error;
    case 'status':
      throw new RelayError('ERR_HYCO_RENDEZVOUS_FAILED', `The HTTP rendezvous failed with status ${outcome.status}`, { statusCode: outcome.status });
    case 'failed':
      throw new RelayError('ERR_HYCO_RENDEZVOUS_FAILED', `The HTTP rendezvous failed: ${outcome.error.message.split('\n')[0]}`, { cause: outcome.error });
    default:
      throw new RelayError('ERR_HYCO_RENDEZVOUS_FAILED', `The HTTP rendezvous did not answer within ${timeoutMs} ms`);
  }
}

/** Where the body of a request read from a rendezvous goes. */
export interface RendezvousRequestSink {
  /** Body bytes (`null` ends the body); false when the reader wants no more for now. */
  push(chunk: Buffer | null): boolean;
  /** Registers the function to call when the reader wants more. */
  onRead(fn: () => void): void;
  /** The rendezvous closed before the request's body ended. */
  cut(error: RelayError): void;
}

/**
 * Reads a request (a JSON message, then its body fragments) from an HTTP
 * rendezvous. `onRequest` gets the parsed request and returns where its
 * body goes; a malformed request is reported and the rendezvous closed. A
 * rendezvous whose request message has not arrived whole within
 * `timeoutMs` (a relay that goes silent, or trickles fragments) is
 * reported and dropped.
 */
export function readRendezvousRequest(
  connection: WebSocketConnection,
  address: string,
  onRequest: (request: RequestMessage['request']) => RendezvousRequestSink,
  report: (error: RelayError) => void,
  timeoutMs: number,
): void {
  let json = '';
  let sink: RendezvousRequestSink | undefined;
  let bodyDone = false;
  let paused = false;
  let timer: NodeJS.Timeout | undefined = setTimeout(() => {
    timer = undefined;
    report(new RelayError('ERR_HYCO_RENDEZVOUS_FAILED', `No request arrived on the HTTP rendezvous within ${timeoutMs} ms`));
    connection.drop(1008, 'No request arrived', true);
  }, timeoutMs);
  const stopWaiting = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
  };
  connection.on('error', (err: Error) => debug('HTTP rendezvous error: %s', err.message));
  connection.on('close', () => {
    stopWaiting();
    if (sink && !bodyDone) sink.cut(new RelayError('ERR_HYCO_CONNECTION', 'The HTTP rendezvous closed before the request body ended'));
  });
  connection.on('frame', (frame: WebSocketFrame) => {
    if (!sink) {
      json += frame.binaryPayload.toString('utf8');
      if (json.length > MAX_REQUEST_MESSAGE) {
        report(new RelayError('ERR_HYCO_MALFORMED_MESSAGE', 'The request message on the HTTP rendezvous is too large'));
        connection.drop(1009, 'Request message too large');
        return;
      }
      if (!frame.fin) return;
      let request: RequestMessage['request'];
      try {
        const raw = JSON.parse(json) as { request?: { address?: string } };
        if (raw.request && !raw.request.address) raw.request.address = address;
        const parsed = parseServiceMessage(JSON.stringify(raw));
        if (!('request' in parsed)) throw new RelayError('ERR_HYCO_MALFORMED_MESSAGE', 'Malformed control message: expected a request on the HTTP rendezvous');
        request = parsed.request;
      } catch (err) {
        report(err instanceof RelayError ? err : new RelayError('ERR_HYCO_MALFORMED_MESSAGE', 'Malformed request on the HTTP rendezvous'));
        connection.close();
        return;
      }
      stopWaiting();
      const current = onRequest(request);
      sink = current;
      current.onRead(() => {
        if (paused) {
          paused = false;
          connection.resume();
        }
      });
      if (!request.body) {
        bodyDone = true;
        current.push(null);
      }
      return;
    }
    if (bodyDone) return;
    const more = sink.push(frame.binaryPayload);
    if (frame.fin) {
      bodyDone = true;
      sink.push(null);
    } else if (!more) {
      paused = true;
      connection.pause();
    }
  });
}

/**
 * Is anyone listening? `getRuntimeInformation` asks the service as
 * Microsoft's .NET client does (PROTOCOL.md, "Runtime information"):
 *
 *     GET https://{ns}/{path}?api-version=2016-07
 *     Authorization: {SAS token or raw JWT}
 *     X-PROCESS-AT: ServiceBus
 *
 * and reads the Atom entry it answers with (a `HybridConnectionDescription`
 * in the service's XML namespace) with a real XML parser. An Atom feed
 * instead of an entry means there is no such hybrid connection.
 */
import http from 'node:http';
import https from 'node:https';
import type { ConnectionOptions } from 'node:tls';
import { SaxesParser } from 'saxes';
import { statusError } from './control-channel';
import { RelayArgumentError, RelayError, optionalAbortSignal, readOptions, requireString, trackingIdFrom } from './errors';
import { parseRelayNamespace } from './protocol/uri';
import { ProxyTunnel, checkProxyOption, proxyFor } from './proxy';
import { TokenProvider } from './token-provider';
import type { TokenSource } from './token-provider';

/** The XML namespace of the service's entity descriptions. */
const CONNECT_NAMESPACE = 'http://schemas.microsoft.com/netservices/2010/10/servicebus/connect';
const ATOM_NAMESPACE = 'http://www.w3.org/2005/Atom';
const API_VERSION = '2016-07';
/**
 * The largest answer read, bytes: an entry is about 1 KB, and its largest
 * field, `UserMetadata`, holds at most 1,024 characters (up to 6 bytes each escaped).
 */
const MAX_ANSWER = 64 * 1024;
/** The deepest element nesting read (an entry nests 4 deep); deeper answers are refused before the parser's cost grows with depth. */
const MAX_DEPTH = 16;

export interface RuntimeInformation {
  listenerCount: number;
  createdAt: Date | undefined;
  updatedAt: Date | undefined;
  requiresClientAuthorization: boolean | undefined;
  userMetadata: string | undefined;
}

export interface RuntimeInformationOptions {
  /** A token source with any right on the hybrid connection (as `relayedServer`'s `token`). */
  token?: TokenSource;
  credential?: TokenSource;
  /** An HTTP proxy, or false for none. Default: the environment's. */
  proxy?: string | false;
  /** TLS options (e.g. `ca`) for the connection to the relay. */
  tlsOptions?: ConnectionOptions;
  /** Give up after this long, ms (token included). Default 30000. */
  timeoutMs?: number;
  abortSignal?: AbortSignal;
}

/**
 * The hybrid connection's runtime information: how many listeners are
 * online, when it was created and updated, whether senders need a token,
 * its user metadata. Rejects with a `RelayError`: `ERR_HYCO_NOT_FOUND` for
 * a path that is no hybrid connection, `ERR_HYCO_UNAUTHORIZED` /
 * `ERR_HYCO_FORBIDDEN` (with `statusCode` and `trackingId`) when the relay
 * refuses the token.
 */
export async function getRuntimeInformation(namespace: string, path: string, given: RuntimeInformationOptions = {}): Promise<RuntimeInformation> {
  const options = readOptions(given);
  const endpoint = parseRelayNamespace(namespace);
  const entity = requireString(path, 'path').replace(/^\/+|\/+$/g, '');
  if (!entity) throw new RelayArgumentError('The "path" argument must name a hybrid connection');
  if (typeof options !== 'object' || options === null) throw new RelayArgumentError('The options argument must be an object');
  if (options.token != null && options.credential != null) throw new RelayArgumentError('Give either the "token" option or the "credential" option, not both');
  const source = options.token ?? options.credential;
  if (source == null) throw new RelayArgumentError('The "token" (or "credential") option is required: runtime information needs a token with a right on the hybrid connection');
  const timeoutMs = options.timeoutMs ?? 30_000;
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RelayArgumentError('The "timeoutMs" option must be a positive number');
  const proxyOption = checkProxyOption(options.proxy);
  const abortSignal = optionalAbortSignal(options.abortSignal, 'abortSignal');
  const secure = endpoint.scheme === 'wss';
  const defaultPort = secure ? 443 : 80;
  const encodedPath = entity.split('/').map(encodeURIComponent).join('/');
  const url = `${secure ? 'https' : 'http'}://${endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host}${endpoint.port === defaultPort ? '' : `:${endpoint.port}`}/${encodedPath}?api-version=${API_VERSION}`;

  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new RelayError('ERR_HYCO_CONNECTION', `Runtime information did not arrive within ${timeoutMs} ms`)), timeoutMs);
  const onAbort = () => controller.abort(new RelayError('ERR_HYCO_ABORTED', 'Getting runtime information was aborted', { cause: abortSignal?.reason }));
  if (abortSignal?.aborted) onAbort();
  abortSignal?.addEventListener('abort', onAbort, { once: true });
  try {
    const token = (await new TokenProvider(source, `http://${endpoint.host}/${entity}/`).get(timeoutMs, controller.signal)).token;
    if (controller.signal.aborted) throw controller.signal.reason;
    const answer = await get(url, token, proxyOption, options.tlsOptions, controller.signal);
    if (answer.status !== 200) throw refusal(answer.status, answer.statusText, answer.body);
    return parseAnswer(answer.body, entity);
  } finally {
    clearTimeout(timer);
    abortSignal?.removeEventListener('abort', onAbort);
  }
}

interface Answer {
  status: number;
  statusText: string | undefined;
  body: string;
}

function get(url: string, token: string, proxyOption: string | false | undefined, tlsOptions: ConnectionOptions | undefined, signal: AbortSignal): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let tunnel: ProxyTunnel | undefined;
    try {
      const proxy = proxyFor(url, proxyOption);
      if (proxy) tunnel = new ProxyTunnel(proxy, signal);
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    const secure = url.startsWith('https:');
    const request = (secure ? https : http).request(url, {
      method: 'GET',
      headers: { Authorization: token, 'X-PROCESS-AT': 'ServiceBus', Accept: 'application/atom+xml' },
      signal,
      ...(tunnel ? { agent: tunnel } : {}),
      ...(secure && tlsOptions ? tlsOptions : {}),
    });
    request.on('error', (err: Error) => {
      if (signal.aborted) reject(signal.reason as Error);
      else reject(tunnel?.problem(url) ?? new RelayError('ERR_HYCO_CONNECTION', `Getting runtime information failed: ${err.message}`, { cause: err }));
    });
    request.on('response', (response) => {
      const problem = tunnel?.problem(url);
      if (problem) {
        response.resume();
        reject(problem);
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_ANSWER) {
          request.destroy();
          reject(new RelayError('ERR_HYCO_MALFORMED_MESSAGE', `The runtime information answer is larger than ${MAX_ANSWER} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, statusText: response.statusMessage, body: Buffer.concat(chunks).toString('utf8') }));
      // A cut answer is reported as cut, never parsed as if whole.
      response.on('aborted', () => reject(new RelayError('ERR_HYCO_CONNECTION', 'The runtime information answer was cut')));
      response.on('error', (err: Error) => reject(signal.aborted ? (signal.reason as Error) : new RelayError('ERR_HYCO_CONNECTION', `The runtime information answer was cut: ${err.message}`, { cause: err })));
    });
    request.end();
  });
}

/** The error for a refused GET: the status, and the `<Detail>` (with its TrackingId) when the body has one. */
function refusal(status: number, statusText: string | undefined, body: string): RelayError {
  let detail: string | undefined;
  try {
    detail = elementTexts(body, undefined).get('Detail');
  } catch {
    // Not XML: the status text says what there is to say.
  }
  const text = detail ?? statusText;
  const error = statusError(status, text, 'Getting runtime information');
  const trackingId = trackingIdFrom(text);
  return trackingId && !error.trackingId ? new RelayError(error.code, error.message, { statusCode: status, trackingId }) : error;
}

/** The text of each element (first occurrence) in namespace `uri` (any, when undefined), and the root's name. */
function elementTexts(xml: string, uri: string | undefined): Map<string, string> & { root?: string; rootUri?: string } {
  const parser = new SaxesParser({ xmlns: true });
  const texts = new Map<string, string>() as Map<string, string> & { root?: string; rootUri?: string };
  const open: { local: string; uri: string; text: string }[] = [];
  let failure: Error | undefined;
  parser.on('opentag', (tag) => {
    if (open.length >= MAX_DEPTH) throw new Error(`elements nest deeper than ${MAX_DEPTH} levels`);
    if (texts.root === undefined) {
      texts.root = tag.local;
      texts.rootUri = tag.uri;
    }
    open.push({ local: tag.local ?? '', uri: tag.uri ?? '', text: '' });
  });
  parser.on('text', (text) => {
    const top = open.at(-1);
    if (top) top.text += text;
  });
  parser.on('closetag', () => {
    const done = open.pop();
    if (done && (uri === undefined || done.uri === uri) && !texts.has(done.local)) texts.set(done.local, done.text);
  });
  parser.on('error', (err) => {
    failure ??= err;
  });
  parser.write(xml).close();
  if (failure) throw failure;
  return texts;
}

function parseAnswer(body: string, path: string): RuntimeInformation {
  let texts: ReturnType<typeof elementTexts>;
  try {
    texts = elementTexts(body, CONNECT_NAMESPACE);
  } catch (err) {
    throw new RelayError('ERR_HYCO_MALFORMED_MESSAGE', `The runtime information answer is not valid XML: ${(err as Error).message}`, { cause: err });
  }
  if (texts.root === 'feed' && texts.rootUri === ATOM_NAMESPACE) {
    throw new RelayError('ERR_HYCO_NOT_FOUND', `There is no hybrid connection "${path}" (the relay answered with a feed, not an entry)`, { statusCode: 404 });
  }
  if (texts.root !== 'entry' || texts.rootUri !== ATOM_NAMESPACE) {
    throw new RelayError('ERR_HYCO_MALFORMED_MESSAGE', `The runtime information answer is not an Atom entry (its root is "${texts.root ?? ''}")`);
  }
  const count = texts.get('ListenerCount');
  const date = (name: string) => {
    const value = texts.get(name);
    const parsed = value === undefined ? undefined : new Date(value.trim());
    return parsed && !Number.isNaN(parsed.getTime()) ? parsed : undefined;
  };
  const auth = texts.get('RequiresClientAuthorization')?.trim();
  return {
    // The service leaves ListenerCount out when it is 0 (EmitDefaultValue = false).
    listenerCount: count === undefined ? 0 : Number.parseInt(count.trim(), 10) || 0,
    createdAt: date('CreatedAt'),
    updatedAt: date('UpdatedAt'),
    requiresClientAuthorization: auth === undefined ? undefined : auth === 'true',
    userMetadata: texts.get('UserMetadata'),
  };
}

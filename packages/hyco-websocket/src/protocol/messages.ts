/**
 * Control-channel messages (JSON in text frames), typed, and the one place
 * where untrusted JSON from either side is turned into them.
 */
import { RelayError } from '../errors';

export interface RemoteEndpoint {
  address: string;
  port: number;
}

/** Service → listener: a sender is waiting. */
export interface AcceptMessage {
  accept: {
    address: string;
    id: string;
    connectHeaders: Record<string, string>;
    remoteEndpoint?: RemoteEndpoint;
  };
}

/** Service → listener: an HTTP request. */
export interface RequestMessage {
  request: {
    address: string;
    id?: string;
    requestTarget?: string;
    method?: string;
    requestHeaders?: Record<string, string>;
    remoteEndpoint?: RemoteEndpoint;
    body?: boolean;
  };
}

/** Listener → service: replace the channel's token. */
export interface RenewTokenMessage {
  renewToken: { token: string };
}

/** Listener → service: answer an HTTP request. */
export interface ResponseMessage {
  response: {
    requestId: string;
    statusCode: number;
    statusDescription?: string;
    responseHeaders?: Record<string, string>;
    body?: boolean;
  };
}

export type ServiceMessage = AcceptMessage | RequestMessage;
export type ListenerMessage = RenewTokenMessage | ResponseMessage;

function malformed(what: string): RelayError {
  return new RelayError('ERR_HYCO_MALFORMED_MESSAGE', `Malformed control message: ${what}`);
}

function parseObject(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw malformed('not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw malformed('not a JSON object');
  return value as Record<string, unknown>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringMap(value: unknown, field: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) throw malformed(`"${field}" is not an object`);
  const out: Record<string, string> = {};
  for (const [name, v] of Object.entries(value)) {
    if (typeof v === 'string') out[name] = v;
    else if (typeof v === 'number' || typeof v === 'boolean') out[name] = String(v);
    else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) out[name] = v.join(', ');
    else throw malformed(`"${field}.${name}" is not a string`);
  }
  return out;
}

function remoteEndpoint(value: unknown): RemoteEndpoint | undefined {
  if (!isRecord(value)) return undefined;
  const address = typeof value.address === 'string' ? value.address : undefined;
  const port = typeof value.port === 'number' && Number.isInteger(value.port) ? value.port : 0;
  return address ? { address, port } : undefined;
}

function wsAddress(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0) throw malformed(`"${field}" is missing`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw malformed(`"${field}" is not a URL`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw malformed(`"${field}" is not a ws:// or wss:// URL`);
  return value;
}

/** Parses a message from the service. Throws `ERR_HYCO_MALFORMED_MESSAGE` on anything else. */
export function parseServiceMessage(text: string): ServiceMessage {
  const obj = parseObject(text);
  if (isRecord(obj.accept)) {
    const a = obj.accept;
    const message: AcceptMessage = {
      accept: {
        address: wsAddress(a.address, 'accept.address'),
        id: typeof a.id === 'string' ? a.id : '',
        connectHeaders: stringMap(a.connectHeaders, 'accept.connectHeaders'),
      },
    };
    const remote = remoteEndpoint(a.remoteEndpoint);
    if (remote) message.accept.remoteEndpoint = remote;
    return message;
  }
  if (isRecord(obj.request)) {
    const r = obj.request;
    const message: RequestMessage = { request: { address: wsAddress(r.address, 'request.address') } };
    if (typeof r.id === 'string') message.request.id = r.id;
    if (typeof r.requestTarget === 'string') message.request.requestTarget = r.requestTarget;
    if (typeof r.method === 'string') message.request.method = r.method;
    if (r.requestHeaders !== undefined) message.request.requestHeaders = stringMap(r.requestHeaders, 'request.requestHeaders');
    if (typeof r.body === 'boolean') message.request.body = r.body;
    const remote = remoteEndpoint(r.remoteEndpoint);
    if (remote) message.request.remoteEndpoint = remote;
    return message;
  }
  throw malformed('unknown message (expected "accept" or "request")');
}

/** Parses a message from a listener. Throws `ERR_HYCO_MALFORMED_MESSAGE` on anything else. */
export function parseListenerMessage(text: string): ListenerMessage {
  const obj = parseObject(text);
  if (isRecord(obj.renewToken)) {
    if (typeof obj.renewToken.token !== 'string' || !obj.renewToken.token) throw malformed('"renewToken.token" is missing');
    return { renewToken: { token: obj.renewToken.token } };
  }
  if (isRecord(obj.response)) {
    const r = obj.response;
    if (typeof r.requestId !== 'string' || !r.requestId) throw malformed('"response.requestId" is missing');
    if (typeof r.statusCode !== 'number' || !Number.isInteger(r.statusCode) || r.statusCode < 100 || r.statusCode > 999) {
      throw malformed('"response.statusCode" is not an HTTP status');
    }
    const message: ResponseMessage = { response: { requestId: r.requestId, statusCode: r.statusCode } };
    if (typeof r.statusDescription === 'string') message.response.statusDescription = r.statusDescription;
    if (r.responseHeaders !== undefined) message.response.responseHeaders = stringMap(r.responseHeaders, 'response.responseHeaders');
    if (typeof r.body === 'boolean') message.response.body = r.body;
    return message;
  }
  throw malformed('unknown command (expected "renewToken" or "response")');
}

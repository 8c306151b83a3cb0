/**
 * HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/) of recorded
 * requests: what `GET /$requests.har` serves. Made from the records, which
 * hold nothing secret (headers and queries were redacted when recorded).
 */
import type { BodyView, HttpRequestRecord } from './http-record';

interface HarNameValue {
  name: string;
  value: string;
}

export interface HarEntry {
  startedDateTime: string;
  time: number;
  request: {
    method: string;
    url: string;
    httpVersion: string;
    cookies: HarNameValue[];
    headers: HarNameValue[];
    queryString: HarNameValue[];
    postData?: { mimeType: string; text: string; comment?: string };
    headersSize: number;
    bodySize: number;
  };
  response: {
    status: number;
    statusText: string;
    httpVersion: string;
    cookies: HarNameValue[];
    headers: HarNameValue[];
    content: { size: number; mimeType: string; text?: string; encoding?: string; comment?: string };
    redirectURL: string;
    headersSize: number;
    bodySize: number;
  };
  cache: Record<string, never>;
  timings: { send: number; wait: number; receive: number };
  comment?: string;
  /** The inspector's record id, outcome and listener (custom fields start with `_`). */
  _id: string;
  _outcome: string;
  _listenerId?: string;
  _replayOf?: string;
}

export interface Har {
  log: {
    version: '1.2';
    creator: { name: string; version: string };
    entries: HarEntry[];
  };
}

function pairs(headers: [string, string][]): HarNameValue[] {
  return headers.map(([name, value]) => ({ name, value }));
}

function header(headers: [string, string][], name: string): string | undefined {
  return headers.find(([n]) => n.toLowerCase() === name)?.[1];
}

function queryString(url: string): HarNameValue[] {
  const q = url.indexOf('?');
  if (q < 0) return [];
  return url
    .slice(q + 1)
    .split('&')
    .filter(Boolean)
    .map((pair) => {
      const eq = pair.indexOf('=');
      const decode = (t: string) => {
        try {
          return decodeURIComponent(t.replace(/\+/g, ' '));
        } catch {
          return t;
        }
      };
      return eq < 0 ? { name: decode(pair), value: '' } : { name: decode(pair.slice(0, eq)), value: decode(pair.slice(eq + 1)) };
    });
}

/** A body's bytes as HAR text: UTF-8 when it is valid text, else base64. */
function bodyText(body: BodyView): { text: string; encoding?: 'base64' } | undefined {
  if (body.base64 === undefined) return undefined;
  const bytes = Buffer.from(body.base64, 'base64');
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  if (!text.includes('\uFFFD')) return { text };
  return { text: body.base64, encoding: 'base64' };
}

/** The HAR of `records` (newest first as given; HAR lists oldest first). */
export function toHar(records: HttpRequestRecord[], version: string): Har {
  const entries = [...records].reverse().map((r): HarEntry => {
    const wait = Math.max(0, r.ttfbMs ?? r.durationMs);
    const receive = Math.max(0, r.durationMs - wait);
    const requestType = header(r.requestHeaders, 'content-type') ?? 'application/octet-stream';
    const responseType = header(r.responseHeaders, 'content-type') ?? (r.status ? 'application/octet-stream' : '');
    const reqText = bodyText(r.requestBody);
    const resText = bodyText(r.responseBody);
    const httpVersion = `HTTP/${r.httpVersion}`;
    const entry: HarEntry = {
      startedDateTime: r.startedAt,
      time: wait + receive,
      request: {
        method: r.method,
        url: r.url,
        httpVersion,
        cookies: [],
        headers: pairs(r.requestHeaders),
        queryString: queryString(r.url),
        headersSize: -1,
        bodySize: r.requestBody.size,
      },
      response: {
        status: r.status,
        statusText: r.statusText,
        httpVersion,
        cookies: [],
        headers: pairs(r.responseHeaders),
        content: { size: r.responseBody.size, mimeType: responseType },
        redirectURL: header(r.responseHeaders, 'location') ?? '',
        headersSize: -1,
        bodySize: r.status ? r.responseBody.size : -1,
      },
      cache: {},
      timings: { send: 0, wait, receive },
      _id: r.id,
      _outcome: r.outcome,
    };
    if (r.requestBody.size > 0 && reqText) {
      entry.request.postData = { mimeType: requestType, text: reqText.encoding ? '' : reqText.text };
      if (reqText.encoding) entry.request.postData.comment = `base64: ${reqText.text}`;
      if (r.requestBody.truncated) entry.request.postData.comment = `${entry.request.postData.comment ?? ''}truncated`.trim();
    }
    if (resText) {
      entry.response.content.text = resText.text;
      if (resText.encoding) entry.response.content.encoding = resText.encoding;
      if (r.responseBody.truncated) entry.response.content.comment = 'truncated';
    }
    if (r.why) entry.comment = `${r.outcome}: ${r.why}`;
    if (r.listenerId) entry._listenerId = r.listenerId;
    if (r.replayOf) entry._replayOf = r.replayOf;
    return entry;
  });
  return { log: { version: '1.2', creator: { name: 'hyco-relay-emulator', version }, entries } };
}

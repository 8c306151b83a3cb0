/**
 * The inspector over HTTP: `GET /$requests` (JSON, newest first; filters
 * `hc`, `status`, `limit`), `GET /$requests/{id}`, `GET /$requests.har`,
 * `POST /$requests/{id}/replay`, `GET /$connections`, `GET /$listeners`,
 * `GET /metrics` and the dashboard's `GET /$inspector.js`. The emulator
 * checks the Host header first (the dashboard's rule); a replay is also
 * refused to a page of another origin (cross-site requests).
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { toHar } from './har';
import type { Inspector } from './inspector';
import { INSPECTOR_SCRIPT } from './page';
import { ReplayError } from './replay';

const REPLAY = /^\/\$requests\/([0-9a-z]{1,16})\/replay$/;
const ONE = /^\/\$requests\/([0-9a-z]{1,16})$/;
const GETS = new Set(['/$requests', '/$requests.har', '/$connections', '/$listeners', '/metrics', '/$inspector.js']);

/** Whether `method path` is the inspector's. */
export function isInspectorRequest(method: string | undefined, path: string): boolean {
  if (method === 'POST') return REPLAY.test(path);
  if (method !== 'GET' && method !== 'HEAD') return false;
  return GETS.has(path) || ONE.test(path);
}

function json(res: ServerResponse, status: number, value: unknown, download?: string): void {
  const headers: Record<string, string> = { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' };
  if (download) headers['Content-Disposition'] = `attachment; filename="${download}"`;
  res.writeHead(status, headers);
  res.end(JSON.stringify(value, null, 2));
}

function problem(res: ServerResponse, status: number, code: string, message: string): void {
  json(res, status, { error: { code, message } });
}

/** A browser's request from a page of another origin (`Sec-Fetch-Site`, or an `Origin` that is not this host). */
function crossSite(req: IncomingMessage): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') return true;
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  try {
    return new URL(origin).host.toLowerCase() !== (req.headers.host ?? '').toLowerCase();
  } catch {
    return true;
  }
}

function limitOf(value: string | null): number | undefined {
  if (value === null || !/^\d{1,6}$/.test(value)) return undefined;
  return Number(value);
}

/** Answers an inspector request (the Host header already checked). */
export async function answerInspector(inspector: Inspector, req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  const query = new URL(req.url ?? '/', 'http://x').searchParams;
  const hc = query.get('hc') ?? undefined;
  const replay = REPLAY.exec(path);
  if (replay) {
    req.resume();
    if (crossSite(req)) return problem(res, 403, 'ERR_HYCO_CROSS_SITE', 'A replay is not taken from a page of another origin');
    if (!inspector.recording) return problem(res, 404, 'ERR_HYCO_NOT_RECORDING', 'Recording is off');
    try {
      const record = await inspector.replay(replay[1]);
      return json(res, 200, record.view());
    } catch (err) {
      if (err instanceof ReplayError) return problem(res, err.statusCode, err.code, err.message);
      throw err;
    }
  }
  req.resume();
  if (path === '/metrics') {
    const text = await inspector.metrics.text();
    res.writeHead(200, { 'Content-Type': inspector.metrics.contentType, 'Cache-Control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : text);
    return;
  }
  if (path === '/$inspector.js') {
    res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(INSPECTOR_SCRIPT);
    return;
  }
  if (path === '/$requests') return json(res, 200, inspector.requests.list({ hybridConnection: hc, status: query.get('status') ?? undefined, limit: limitOf(query.get('limit')) }));
  if (path === '/$requests.har') return json(res, 200, toHar(inspector.requests.list({ hybridConnection: hc }), VERSION), 'hyco-relay-emulator.har');
  if (path === '/$connections') return json(res, 200, inspector.connections.list(hc), query.has('download') ? 'hyco-relay-emulator-connections.json' : undefined);
  if (path === '/$listeners') return json(res, 200, inspector.listeners.list(hc));
  const one = ONE.exec(path);
  const record = one ? inspector.requests.get(one[1]) : undefined;
  if (!record) return problem(res, 404, 'ERR_HYCO_RECORD_NOT_FOUND', 'No such recorded request (it may have left the ring)');
  return json(res, 200, record.view());
}

/** The emulator's version, for the HAR's creator. */
const VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
})();

/**
 * The readiness check for scripts, CI and containers, as the Event Hubs
 * emulator has one: `GET /health` answers 200 `{"status":"healthy"}` once
 * the emulator's socket is bound and everything behind it is in place, and
 * 503 `{"status":"unhealthy","state":...}` while it starts or stops (while
 * it stops, it keeps its socket open and answers so until every connection
 * has ended). It tells nothing else: any `Host` may ask, and `/$health`
 * (which no hybrid connection can shadow) answers the same.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Where the emulator is in its life. */
export type EmulatorState = 'starting' | 'ready' | 'stopping' | 'closed';

/** The health paths: `/health`, and `/$health`, which no hybrid connection name can take. */
export const HEALTH_PATH = '/health';
export const RESERVED_HEALTH_PATH = '/$health';

/** Answers a health check (GET or HEAD; anything else 405). */
export function answerHealth(req: IncomingMessage, res: ServerResponse, state: EmulatorState): void {
  req.resume();
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('MethodNotAllowed: the health check is read with GET\n');
    return;
  }
  const healthy = state === 'ready';
  const body = JSON.stringify(healthy ? { status: 'healthy' } : { status: 'unhealthy', state });
  const headers: Record<string, string | number> = { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body) };
  // While stopping, a kept-alive connection is not kept: the socket is about to go.
  if (!healthy) headers.Connection = 'close';
  res.writeHead(healthy ? 200 : 503, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}

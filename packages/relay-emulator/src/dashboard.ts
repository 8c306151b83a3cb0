/**
 * The emulator's dashboard: `GET /` in a browser. A live page of the hybrid
 * connections, their listeners (by tracking id), the relayed connections,
 * messages and bytes relayed, and recent activity with statuses and
 * tracking ids, fed by server-sent events (`/$events`). It shows what the
 * emulator reports and nothing more: never a token, key or payload; every
 * client-supplied string was made printable before it got here, and the
 * page inserts text, never markup.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TimedActivity } from './context';
import type { FrameRelay } from './frame-relay';
import { parseHost } from './request-target';
import type { RelayEmulatorStats } from './stats';

/** How many connections and activity entries a snapshot carries (newest first). */
const SHOWN = 50;
/** Snapshots go out at least this often, and at most this often on activity, ms. */
const REFRESH_MS = 1000;
const THROTTLE_MS = 200;
/** The most live feeds (`/$events`) open at once; one more is refused with 503. */
export const MAX_FEEDS = 16;
/**
 * The bound on what waits, unsent, for one feed, bytes: while more than this
 * is queued for a client (it reads slowly or not at all), it gets no new
 * snapshot; once it has taken its queue down, it gets the latest one only
 * (snapshots replace each other, so none is worth queueing). A feed holds at
 * most this plus one snapshot.
 */
const MAX_FEED_BUFFER = 16 * 1024;
/** A feed that stays over its bound this long is ended (a browser's EventSource reconnects), ms. */
const STALLED_FEED_MS = 30_000;

/** The dashboard's paths (GET). */
const PATHS = new Set(['/', '/$status', '/$events', '/$dashboard.js']);

/** Whether a GET for `path` is the dashboard's. */
export function isDashboardPath(path: string): boolean {
  return PATHS.has(path);
}

export interface DashboardSnapshot {
  service: 'hyco-relay-emulator';
  endpoint: string;
  time: string;
  stats: RelayEmulatorStats;
  connections: { id: string; path: string; since: string; bytesToListener: number; bytesToSender: number; messages: number }[];
  activity: TimedActivity[];
}

/** A snapshot of what the dashboard shows. */
export function snapshot(endpoint: string, stats: RelayEmulatorStats, relays: Iterable<FrameRelay>, recent: TimedActivity[]): DashboardSnapshot {
  const connections = [...relays]
    .sort((a, b) => b.info.since - a.info.since)
    .slice(0, SHOWN)
    .map((r) => ({ id: r.info.id, path: r.info.path, since: new Date(r.info.since).toISOString(), bytesToListener: r.bytes.toListener, bytesToSender: r.bytes.toSender, messages: r.messages }));
  return { service: 'hyco-relay-emulator', endpoint, time: new Date().toISOString(), stats, connections, activity: recent.slice(-SHOWN).reverse() };
}

/** Whether a request for `/` wants the page rather than JSON. */
export function wantsPage(req: IncomingMessage): boolean {
  const accept = req.headers.accept ?? '';
  return /\btext\/html\b/.test(accept) && !/^\s*application\/json/.test(accept);
}

/** One live feed: its response, and since when it has been over its bound (undefined: it is not). */
interface Feed {
  res: ServerResponse;
  behindSince: number | undefined;
}

export class Dashboard {
  private readonly feeds = new Set<Feed>();
  private timer: NodeJS.Timeout | undefined;
  private pending: NodeJS.Timeout | undefined;
  /** The host names the dashboard answers as (lower-case; IPv6 in brackets). */
  private readonly names: Set<string>;

  /**
   * `current` makes a snapshot; `hostNames` are the names besides the
   * loopback ones that the dashboard answers as (the address bound, the
   * namespace's host name).
   */
  constructor(
    private readonly current: () => DashboardSnapshot,
    hostNames: (string | undefined)[] = [],
  ) {
    this.names = new Set(['localhost', '[::1]']);
    for (const name of hostNames) {
      if (!name || name === '0.0.0.0' || name === '::' || name === '[::]') continue;
      const lower = name.toLowerCase();
      this.names.add(lower.includes(':') && !lower.startsWith('[') ? `[${lower}]` : lower);
    }
  }

  /**
   * Whether `req` names a host the dashboard answers as: `localhost`, a
   * 127.x.x.x address, `[::1]`, the address bound or the namespace's host
   * name (any port). A page on another origin that got its name to resolve
   * to this machine (DNS rebinding) sends its own name, and is refused: the
   * browser then cannot read the dashboard as that origin. No `Host` at all
   * (HTTP/1.0) is no browser's request, and is answered. Other names,
   * `*.localhost` included, are not loopback by their spelling alone.
   */
  answersHost(req: IncomingMessage): boolean {
    const header = req.headers.host;
    if (header === undefined) return true;
    const hostname = parseHost(header)?.hostname;
    if (hostname === undefined) return false;
    return this.names.has(hostname) || /^127(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(hostname);
  }

  /** Refuses a request for another host name: 403, with a short reason. */
  refuseHost(req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    res.writeHead(403, 'Forbidden', { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end('Forbidden: the dashboard answers only as localhost, a loopback address or the relay\'s own host name (this Host header is none of them)\n');
  }

  /** The page. */
  page(res: ServerResponse): void {
    res.writeHead(200, {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Security-Policy': "default-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:",
      'Cache-Control': 'no-store',
    });
    res.end(PAGE);
  }

  /** The page's script. */
  script(res: ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(SCRIPT);
  }

  /** The live feed: a snapshot now, then on activity and every second; at most MAX_FEEDS at once. */
  events(req: IncomingMessage, res: ServerResponse): void {
    if (this.feeds.size >= MAX_FEEDS) {
      req.resume();
      res.writeHead(503, 'Service Unavailable', { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', 'Retry-After': '5' });
      res.end(`ServiceUnavailable: too many live feeds open (at most ${MAX_FEEDS}); close one, or read /$status\n`);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
    const feed: Feed = { res, behindSince: undefined };
    this.feeds.add(feed);
    res.write(this.frame());
    req.socket.setTimeout(0);
    res.on('close', () => {
      this.feeds.delete(feed);
      if (this.feeds.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    });
    this.timer ??= setInterval(() => this.broadcast(), REFRESH_MS);
  }

  /** Something happened: clients hear of it soon (at most every 200 ms). */
  notify(): void {
    if (this.feeds.size === 0 || this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      this.broadcast();
    }, THROTTLE_MS);
  }

  /** Ends every feed and timer. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.pending) clearTimeout(this.pending);
    this.timer = this.pending = undefined;
    // A feed that is over its bound would not take its end either: it is cut.
    for (const feed of this.feeds) {
      if (feed.res.writableLength > MAX_FEED_BUFFER) feed.res.destroy();
      else feed.res.end();
    }
    this.feeds.clear();
  }

  private frame(): string {
    return `data: ${JSON.stringify(this.current())}\n\n`;
  }

  /** The latest snapshot to every feed with room for it; the others skip it (and a long-stalled one is ended). */
  private broadcast(): void {
    if (this.feeds.size === 0) return;
    let frame: string | undefined;
    const now = Date.now();
    for (const feed of this.feeds) {
      if (feed.res.writableLength > MAX_FEED_BUFFER) {
        feed.behindSince ??= now;
        if (now - feed.behindSince > STALLED_FEED_MS) feed.res.destroy();
        continue;
      }
      feed.behindSince = undefined;
      frame ??= this.frame();
      feed.res.write(frame);
    }
  }
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>hyco-relay-emulator</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<link rel="alternate icon" href="/favicon.ico">
<style>
  body { font: 15px/1.45 system-ui, sans-serif; margin: 1.5rem auto; max-width: 72rem; padding: 0 1rem; color: #1b1b1b; }
  h1 { font-size: 1.35rem; margin: 0; }
  h2 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
  header { display: flex; align-items: baseline; gap: 1rem; flex-wrap: wrap; }
  #state { font-size: .9rem; color: #555; }
  #state.live::before { content: '\\25CF  '; color: #107c10; }
  #state.down::before { content: '\\25CF  '; color: #a4262c; }
  .totals { display: flex; gap: .8rem; flex-wrap: wrap; margin-top: 1rem; }
  .totals div { border: 1px solid #ddd; border-radius: 6px; padding: .4rem .8rem; min-width: 7.5rem; }
  .totals b { display: block; font-size: 1.3rem; }
  table { border-collapse: collapse; width: 100%; font-size: .9rem; }
  th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #eee; vertical-align: top; }
  th { color: #555; font-weight: 600; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  code { font-size: .85rem; }
  .ok { color: #107c10; } .bad { color: #a4262c; } .muted { color: #777; }
  .empty { color: #777; font-style: italic; }
</style>
</head>
<body>
<header>
  <h1>hyco-relay-emulator</h1>
  <span id="endpoint" class="muted"></span>
  <span id="state">connecting…</span>
</header>
<div class="totals" id="totals"></div>
<h2>Hybrid connections</h2>
<table><thead><tr><th>path</th><th>senders</th><th>listeners online (tracking ids)</th><th class="num">waiting</th><th class="num">relayed</th></tr></thead><tbody id="hcs"></tbody></table>
<h2>Relayed connections</h2>
<table><thead><tr><th>tracking id</th><th>hybrid connection</th><th>since</th><th class="num">messages</th><th class="num">bytes to listener</th><th class="num">bytes to sender</th></tr></thead><tbody id="connections"></tbody></table>
<h2>Recent activity</h2>
<table><thead><tr><th>time</th><th>what</th><th>hybrid connection</th><th>status</th><th>tracking id</th><th>detail</th></tr></thead><tbody id="activity"></tbody></table>
<p class="muted">Live from <code>/$events</code>; the same as JSON at <code>/$status</code>. No token, key or payload is ever shown.</p>
<script src="/$dashboard.js"></script>
</body>
</html>
`;

const SCRIPT = `(function () {
  'use strict';
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function row(cells) {
    var tr = document.createElement('tr');
    cells.forEach(function (c) { tr.appendChild(c); });
    return tr;
  }
  function fill(id, rows, columns, empty) {
    var body = document.getElementById(id);
    body.textContent = '';
    if (!rows.length) body.appendChild(row([(function () { var td = el('td', empty, 'empty'); td.colSpan = columns; return td; })()]));
    rows.forEach(function (r) { body.appendChild(r); });
  }
  function bytes(n) {
    if (n < 1024) return n + ' B';
    if (n < 1048576) return (n / 1024).toFixed(1) + ' KB';
    return (n / 1048576).toFixed(1) + ' MB';
  }
  function time(iso) { return new Date(iso).toLocaleTimeString(); }
  function render(s) {
    document.getElementById('endpoint').textContent = s.endpoint;
    var t = s.stats.totals;
    var listeners = s.stats.hybridConnections.reduce(function (n, h) { return n + h.listeners; }, 0);
    var totals = document.getElementById('totals');
    totals.textContent = '';
    [['hybrid connections', s.stats.hybridConnections.length], ['listeners online', listeners], ['relayed connections', s.stats.relayedConnections],
     ['messages relayed', t.messagesRelayed], ['bytes relayed', bytes(t.bytesRelayed)], ['senders accepted', t.sendersAccepted], ['refused', t.handshakesRefused]]
      .forEach(function (p) { var d = el('div'); d.appendChild(el('b', p[1])); d.appendChild(el('span', p[0], 'muted')); d.setAttribute('data-total', p[0]); totals.appendChild(d); });
    fill('hcs', s.stats.hybridConnections.map(function (h) {
      return row([el('td', h.path), el('td', h.requiresClientAuthorization ? 'with a token' : 'anonymous'),
        el('td', h.listenerIds.length ? h.listenerIds.join(', ') : 'none', h.listenerIds.length ? 'ok' : 'muted'),
        el('td', h.pendingSenders, 'num'), el('td', h.relayedConnections, 'num')]);
    }), 5, 'no hybrid connection yet');
    fill('connections', s.connections.map(function (c) {
      return row([el('td', c.id), el('td', c.path), el('td', time(c.since)), el('td', c.messages, 'num'), el('td', bytes(c.bytesToListener), 'num'), el('td', bytes(c.bytesToSender), 'num')]);
    }), 6, 'none open');
    fill('activity', s.activity.map(function (a) {
      var bad = a.type === 'refused' || a.type === 'listener-error' || a.type === 'sender-timed-out';
      return row([el('td', time(a.time)), el('td', a.type, bad ? 'bad' : ''), el('td', a.path || '-'), el('td', a.status === undefined ? '' : a.status), el('td', a.id), el('td', a.detail || '', 'muted')]);
    }), 6, 'nothing yet');
  }
  var state = document.getElementById('state');
  var source = new EventSource('/$events');
  source.onmessage = function (e) { state.textContent = 'live'; state.className = 'live'; render(JSON.parse(e.data)); };
  source.onerror = function () { state.textContent = 'disconnected (retrying)'; state.className = 'down'; };
})();
`;

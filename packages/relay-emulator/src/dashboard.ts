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
  /** The inspector: whether it records and captures bodies, and its version (it changes whenever a record does). */
  inspector: InspectorState;
}

/** What the dashboard's tabs need to know of the inspector. */
export interface InspectorState {
  recording: boolean;
  captureBodies: boolean;
  version: number;
}

/** A snapshot of what the dashboard shows. */
export function snapshot(endpoint: string, stats: RelayEmulatorStats, relays: Iterable<FrameRelay>, recent: TimedActivity[], inspector: InspectorState): DashboardSnapshot {
  const connections = [...relays]
    .sort((a, b) => b.info.since - a.info.since)
    .slice(0, SHOWN)
    .map((r) => ({ id: r.info.id, path: r.info.path, since: new Date(r.info.since).toISOString(), bytesToListener: r.bytes.toListener, bytesToSender: r.bytes.toSender, messages: r.messages }));
  return { service: 'hyco-relay-emulator', endpoint, time: new Date().toISOString(), stats, connections, activity: recent.slice(-SHOWN).reverse(), inspector };
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
  body { font: 15px/1.45 system-ui, sans-serif; margin: 1.5rem auto; max-width: 110rem; padding: 0 1rem; color: #1b1b1b; }
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
  .warn { color: #8a5300; }
  nav.tabs { display: flex; gap: .25rem; margin: 1rem 0 0; border-bottom: 1px solid #ccc; flex-wrap: wrap; }
  nav.tabs button { font: inherit; border: 1px solid transparent; border-bottom: none; background: none; padding: .4rem .9rem; cursor: pointer; border-radius: 6px 6px 0 0; color: #333; }
  nav.tabs button[aria-selected="true"] { border-color: #ccc; background: #fff; margin-bottom: -1px; font-weight: 600; color: #0b57d0; }
  .filters { display: flex; gap: .5rem; flex-wrap: wrap; align-items: center; margin: .8rem 0 .5rem; }
  .filters select, .filters input { font: inherit; font-size: .9rem; padding: .2rem .35rem; max-width: 100%; }
  .filters a { margin-left: auto; font-size: .9rem; }
  .scroll { overflow-x: auto; }
  td.time { white-space: nowrap; font-variant-numeric: tabular-nums; }
  td.path { word-break: break-all; }
  tr.clickable { cursor: pointer; } tr.clickable:hover { background: #f4f7fc; } tr.selected { background: #e8f0fe; }
  .id { font-family: ui-monospace, monospace; font-size: .85rem; cursor: copy; border-bottom: 1px dotted #999; }
  .id.copied { background: #dff6dd; }
  .tag { font-size: .72rem; background: #0b57d0; color: #fff; border-radius: 4px; padding: 0 .3rem; margin-left: .4rem; }
  #detail, #conn-detail { border: 1px solid #ccc; border-radius: 8px; padding: .8rem; margin-top: 1rem; }
  .detail-head { display: flex; gap: .6rem; align-items: center; flex-wrap: wrap; word-break: break-all; }
  .detail-head b { flex: 1 1 16rem; }
  button { font: inherit; font-size: .9rem; padding: .25rem .7rem; border: 1px solid #aaa; border-radius: 5px; background: #f6f6f6; cursor: pointer; }
  button.primary { background: #0b57d0; color: #fff; border-color: #0b57d0; }
  button[aria-pressed="true"] { background: #333; color: #fff; }
  dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .15rem .8rem; font-size: .9rem; }
  dl.facts dt { color: #555; } dl.facts dd { margin: 0; word-break: break-all; }
  .cols { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
  .cols > div { min-width: 0; }
  h3 { font-size: .95rem; margin: .8rem 0 .3rem; }
  table.headers th { width: 30%; word-break: break-all; } table.headers td { word-break: break-all; font-family: ui-monospace, monospace; font-size: .82rem; }
  pre.body { background: #f6f6f6; padding: .6rem; overflow: auto; max-height: 24rem; font-size: .82rem; white-space: pre-wrap; word-break: break-all; }
  @media (max-width: 700px) {
    body { font-size: 14px; margin: .8rem auto; padding: 0 .5rem; }
    .wide { display: none; }
    .cols { grid-template-columns: 1fr; }
    th, td { padding: .25rem .3rem; }
    .totals div { min-width: 5.5rem; }
    .filters a { margin-left: 0; }
    td.time { white-space: normal; min-width: 5.6rem; }
    td.path { min-width: 9rem; }
  }
  pre.body.hex { white-space: pre; word-break: normal; }
</style>
</head>
<body>
<header>
  <h1>hyco-relay-emulator</h1>
  <span id="endpoint" class="muted"></span>
  <span id="state">connecting…</span>
</header>
<nav class="tabs" role="tablist">
  <button data-tab="overview" role="tab">Overview</button>
  <button data-tab="requests" role="tab">Requests</button>
  <button data-tab="connections" role="tab">Connections</button>
  <button data-tab="listeners" role="tab">Listeners</button>
</nav>
<section class="tab" id="tab-overview">
<div class="totals" id="totals"></div>
<h2>Hybrid connections</h2>
<div class="scroll"><table><thead><tr><th>path</th><th>senders</th><th>listeners online (tracking ids)</th><th class="num">waiting</th><th class="num">relayed</th></tr></thead><tbody id="hcs"></tbody></table></div>
<h2>Relayed connections</h2>
<div class="scroll"><table><thead><tr><th>tracking id</th><th>hybrid connection</th><th>since</th><th class="num">messages</th><th class="num">bytes to listener</th><th class="num">bytes to sender</th></tr></thead><tbody id="connections"></tbody></table></div>
<h2>Recent activity</h2>
<div class="scroll"><table><thead><tr><th>time</th><th>what</th><th>hybrid connection</th><th>status</th><th>tracking id</th><th>detail</th></tr></thead><tbody id="activity"></tbody></table></div>
<p class="muted">Live from <code>/$events</code>; the same as JSON at <code>/$status</code>. No token or key is ever shown; bodies only when the emulator captures them (<code>--capture-bodies</code>).</p>
</section>
<section class="tab" id="tab-requests" hidden>
  <div class="filters">
    <select id="req-hc" aria-label="hybrid connection"></select>
    <select id="req-status" aria-label="status"><option value="">any status</option><option>2xx</option><option>3xx</option><option>4xx</option><option>5xx</option><option value="aborted">aborted</option><option value="failed">failed (502/504)</option><option value="refused">refused</option><option value="client-gone">client gone</option><option value="in-progress">in progress</option><option value="replay">replays</option></select>
    <input id="req-text" type="search" placeholder="filter method or path" aria-label="filter method or path">
    <span id="recording" class="muted"></span>
    <a href="/$requests.har" download>Download HAR</a>
  </div>
  <div class="scroll"><table><thead><tr><th>time</th><th>method</th><th>path</th><th class="num">status</th><th class="wide">outcome</th><th class="num wide">duration</th><th class="num wide">response</th><th class="wide">hybrid connection</th><th class="wide">listener</th></tr></thead><tbody id="requests"></tbody></table></div>
  <div id="detail" hidden></div>
</section>
<section class="tab" id="tab-connections" hidden>
  <div class="filters">
    <select id="conn-hc" aria-label="hybrid connection"></select>
    <select id="conn-status" aria-label="state"><option value="">open and closed</option><option value="open">open</option><option value="closed">closed</option></select>
    <a href="/$connections?download" download>Download JSON</a>
  </div>
  <div class="scroll"><table><thead><tr><th>opened</th><th class="wide">closed</th><th>hybrid connection</th><th>sender</th><th class="wide">listener</th><th class="wide">subprotocol</th><th class="num">from sender (msgs / bytes)</th><th class="num">from listener</th><th class="wide">sender's close</th><th class="wide">listener's close</th></tr></thead><tbody id="conns"></tbody></table></div>
  <div id="conn-detail" class="detail" hidden></div>
</section>
<section class="tab" id="tab-listeners" hidden>
  <div class="filters">
    <select id="lst-hc" aria-label="hybrid connection"></select>
    <select id="lst-status" aria-label="event"><option value="">online and offline</option><option value="online">online</option><option value="offline">offline</option></select>
  </div>
  <div class="scroll"><table><thead><tr><th>time</th><th>hybrid connection</th><th>listener</th><th>event</th><th class="num">code</th><th>why</th></tr></thead><tbody id="lsts"></tbody></table></div>
</section>
<script src="/$dashboard.js"></script>
<script src="/$inspector.js"></script>
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
  function time(iso) { var d = new Date(iso); return d.toLocaleDateString() + ' ' + d.toLocaleTimeString(); }
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
  source.onmessage = function (e) {
    state.textContent = 'live';
    state.className = 'live';
    var s = JSON.parse(e.data);
    render(s);
    window.dispatchEvent(new CustomEvent('hyco-snapshot', { detail: s }));
  };
  source.onerror = function () { state.textContent = 'disconnected (retrying)'; state.className = 'down'; };
})();
`;

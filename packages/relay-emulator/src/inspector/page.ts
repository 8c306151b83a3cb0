/**
 * The dashboard's inspector tabs (Requests, Connections, Listeners): the
 * script served as `/$inspector.js`. It re-reads `/$requests`,
 * `/$connections` or `/$listeners` when the live feed says a record
 * changed, filters by hybrid connection and status, shows bodies as text,
 * pretty JSON or hex, and replays with one click. It inserts text, never
 * markup: every string shown came from a client.
 */
export const INSPECTOR_SCRIPT = `(function () {
  'use strict';
  var state = { tab: 'overview', version: -1, loaded: {}, selected: null, view: 'text', hcs: [], requests: [], connections: [], listeners: [] };
  function $(id) { return document.getElementById(id); }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function td(text, cls) { return el('td', text, cls); }
  function pad(n, w) { n = String(n); while (n.length < (w || 2)) n = '0' + n; return n; }
  function when(iso) {
    if (!iso) return '';
    var d = new Date(iso);
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' + pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()) + '.' + pad(d.getMilliseconds(), 3);
  }
  function bytes(n) {
    if (n < 1024) return n + ' B';
    if (n < 1048576) return (n / 1024).toFixed(1) + ' KB';
    return (n / 1048576).toFixed(1) + ' MB';
  }
  /** A tracking id shortened; the whole one on hover, copied on click. */
  function shortId(id) {
    var s = el('span', id ? (id.length > 10 ? id.slice(0, 8) + '\\u2026' : id) : '-', 'id');
    if (id) {
      s.title = id + ' (click to copy)';
      s.addEventListener('click', function (e) {
        e.stopPropagation();
        if (navigator.clipboard) navigator.clipboard.writeText(id).catch(function () {});
        s.classList.add('copied');
        setTimeout(function () { s.classList.remove('copied'); }, 800);
      });
    }
    return s;
  }
  function cell(node, cls) { var c = el('td', undefined, cls); c.appendChild(node); return c; }
  function target(r) { return r.path + (r.query ? '?' + r.query : ''); }
  function statusClass(r) {
    if (r.outcome === 'in-progress') return 'muted';
    if (r.outcome !== 'complete' || r.status >= 500) return 'bad';
    if (r.status >= 400) return 'warn';
    return 'ok';
  }
  function fill(body, rows, columns, empty) {
    body.textContent = '';
    if (!rows.length) { var c = el('td', empty, 'empty'); c.colSpan = columns; var tr = el('tr'); tr.appendChild(c); body.appendChild(tr); }
    rows.forEach(function (r) { body.appendChild(r); });
  }
  function hcFilter(id) { return $(id).value; }
  function syncHcs(select, hcs) {
    var current = select.value;
    var want = [''].concat(hcs);
    if (select.options.length === want.length && want.every(function (v, i) { return select.options[i].value === v; })) return;
    select.textContent = '';
    want.forEach(function (v) { var o = el('option', v || 'all hybrid connections'); o.value = v; select.appendChild(o); });
    select.value = want.indexOf(current) >= 0 ? current : '';
  }
  function getJson(url) {
    return fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store' }).then(function (r) {
      if (!r.ok) throw new Error(url + ': ' + r.status);
      return r.json();
    });
  }

  // Tabs
  function show(tab) {
    state.tab = tab;
    Array.prototype.forEach.call(document.querySelectorAll('[data-tab]'), function (b) { b.setAttribute('aria-selected', String(b.getAttribute('data-tab') === tab)); });
    Array.prototype.forEach.call(document.querySelectorAll('section.tab'), function (s) { s.hidden = s.id !== 'tab-' + tab; });
    if (location.hash.slice(1) !== tab) history.replaceState(null, '', '#' + tab);
    refresh();
  }
  Array.prototype.forEach.call(document.querySelectorAll('[data-tab]'), function (b) {
    b.addEventListener('click', function () { show(b.getAttribute('data-tab')); });
  });

  function refresh() {
    if (state.tab === 'requests') getJson('/$requests').then(function (list) { state.requests = list; renderRequests(); }).catch(function () {});
    else if (state.tab === 'connections') getJson('/$connections').then(function (list) { state.connections = list; renderConnections(); }).catch(function () {});
    else if (state.tab === 'listeners') getJson('/$listeners').then(function (list) { state.listeners = list; renderListeners(); }).catch(function () {});
  }

  window.addEventListener('hyco-snapshot', function (e) {
    var s = e.detail;
    state.hcs = s.stats.hybridConnections.map(function (h) { return h.path; });
    ['req-hc', 'conn-hc', 'lst-hc'].forEach(function (id) { syncHcs($(id), state.hcs); });
    var ins = s.inspector;
    $('recording').textContent = ins.recording ? ('recording' + (ins.captureBodies ? ', with bodies' : ', sizes only (start with --capture-bodies to keep bodies)')) : 'recording is off';
    if (ins.version !== state.version) { state.version = ins.version; refresh(); }
  });

  // Requests
  function matches(r) {
    var hc = hcFilter('req-hc');
    var st = $('req-status').value;
    var text = $('req-text').value.toLowerCase();
    if (hc && r.hybridConnection !== hc) return false;
    if (st) {
      if (/^\\dxx$/.test(st)) { if (Math.floor(r.status / 100) !== Number(st[0])) return false; }
      else if (st === 'replay') { if (!r.replayOf) return false; }
      else if (r.outcome !== st) return false;
    }
    if (text && (r.method + ' ' + target(r)).toLowerCase().indexOf(text) < 0) return false;
    return true;
  }
  function renderRequests() {
    var rows = state.requests.filter(matches).map(function (r) {
      var tr = el('tr', undefined, 'clickable');
      tr.setAttribute('data-id', r.id);
      if (state.selected === r.id) tr.classList.add('selected');
      var path = el('td', target(r), 'path');
      path.title = r.url;
      if (r.replayOf) path.appendChild(el('span', 'replay', 'tag'));
      [td(when(r.startedAt), 'time'), td(r.method), path, td(r.status || '-', 'num ' + statusClass(r)), td(r.outcome, statusClass(r) + ' wide'),
       td(r.outcome === 'in-progress' ? '\\u2026' : r.durationMs.toFixed(1) + ' ms', 'num wide'), td(bytes(r.responseBody.size), 'num wide'), td(r.hybridConnection, 'wide'), cell(shortId(r.listenerId), 'wide')]
        .forEach(function (c) { tr.appendChild(c); });
      tr.addEventListener('click', function () { state.selected = r.id; renderRequests(); });
      return tr;
    });
    fill($('requests'), rows, 9, state.requests.length ? 'none matches the filters' : 'no request yet');
    renderDetail();
  }
  function headerTable(pairs) {
    var t = el('table', undefined, 'headers');
    pairs.forEach(function (p) { var tr = el('tr'); tr.appendChild(el('th', p[0])); tr.appendChild(el('td', p[1])); t.appendChild(tr); });
    if (!pairs.length) { var tr = el('tr'); tr.appendChild(el('td', 'none', 'empty')); t.appendChild(tr); }
    return t;
  }
  function decode(b64) {
    var bin = atob(b64 || '');
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function hex(data) {
    var lines = [];
    for (var i = 0; i < data.length; i += 16) {
      var part = data.slice(i, i + 16), h = [], a = '';
      for (var j = 0; j < part.length; j++) { h.push(pad(part[j].toString(16))); a += part[j] >= 32 && part[j] < 127 ? String.fromCharCode(part[j]) : '.'; }
      lines.push(pad(i.toString(16), 8) + '  ' + (h.join(' ') + new Array(17 - part.length).join('   ')) + '  ' + a);
    }
    return lines.join('\\n');
  }
  function bodyBlock(body) {
    var wrap = el('div');
    if (body.base64 === undefined) { wrap.appendChild(el('p', bytes(body.size) + ', not kept (capture is off)', 'muted')); return wrap; }
    if (!body.size) { wrap.appendChild(el('p', 'empty', 'muted')); return wrap; }
    var data = decode(body.base64);
    var text = new TextDecoder().decode(data);
    var shown = text;
    if (state.view === 'hex') shown = hex(data);
    else if (state.view === 'json') { try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { shown = text + '\\n\\n(not JSON)'; } }
    wrap.appendChild(el('pre', shown, state.view === 'hex' ? 'body hex' : 'body'));
    if (body.truncated) wrap.appendChild(el('p', 'the first ' + bytes(data.length) + ' of ' + bytes(body.size) + ' (truncated)', 'muted'));
    return wrap;
  }
  function renderDetail() {
    var box = $('detail');
    var r = state.requests.filter(function (x) { return x.id === state.selected; })[0];
    box.hidden = !r;
    if (!r) return;
    box.textContent = '';
    var head = el('div', undefined, 'detail-head');
    head.appendChild(el('b', r.method + ' ' + target(r)));
    var replay = el('button', 'Replay', 'primary');
    replay.id = 'replay';
    replay.addEventListener('click', function () {
      replay.disabled = true;
      replay.textContent = 'Replaying\\u2026';
      fetch('/$requests/' + encodeURIComponent(r.id) + '/replay', { method: 'POST' }).then(function (res) {
        return res.json().then(function (body) {
          if (!res.ok) throw new Error(body.error ? body.error.message : String(res.status));
          state.selected = body.id;
          state.version = -1;
          refresh();
        });
      }).catch(function (err) { $('replay-error').textContent = String(err.message || err); replay.disabled = false; replay.textContent = 'Replay'; });
    });
    head.appendChild(replay);
    var close = el('button', 'Close');
    close.addEventListener('click', function () { state.selected = null; renderRequests(); });
    head.appendChild(close);
    box.appendChild(head);
    box.appendChild(el('p', '', 'bad')).id = 'replay-error';
    var facts = el('dl', undefined, 'facts');
    [['status', (r.status || '-') + ' ' + (r.statusText || '')], ['outcome', r.outcome + (r.why ? ': ' + r.why : '')], ['started', when(r.startedAt)],
     ['time to first byte', r.ttfbMs === undefined ? '-' : r.ttfbMs + ' ms'], ['duration', r.outcome === 'in-progress' ? 'so far ' + r.durationMs + ' ms' : r.durationMs + ' ms'],
     ['hybrid connection', r.hybridConnection], ['listener', shortId(r.listenerId)], ['tracking id', shortId(r.trackingId)], ['client', r.clientAddress],
     ['replay of', r.replayOf || '-']].forEach(function (f) {
      facts.appendChild(el('dt', f[0]));
      var dd = el('dd');
      if (typeof f[1] === 'object') dd.appendChild(f[1]); else dd.textContent = f[1];
      facts.appendChild(dd);
    });
    box.appendChild(facts);
    var views = el('div', undefined, 'views');
    views.appendChild(el('span', 'bodies as ', 'muted'));
    ['text', 'json', 'hex'].forEach(function (v) {
      var b = el('button', v === 'json' ? 'JSON' : v);
      b.setAttribute('aria-pressed', String(state.view === v));
      b.addEventListener('click', function () { state.view = v; renderDetail(); });
      views.appendChild(b);
    });
    box.appendChild(views);
    var cols = el('div', undefined, 'cols');
    var req = el('div'); req.appendChild(el('h3', 'Request')); req.appendChild(headerTable(r.requestHeaders)); req.appendChild(bodyBlock(r.requestBody));
    var res = el('div'); res.appendChild(el('h3', 'Response')); res.appendChild(headerTable(r.responseHeaders)); res.appendChild(bodyBlock(r.responseBody));
    cols.appendChild(req); cols.appendChild(res);
    box.appendChild(cols);
  }
  ['req-hc', 'req-status'].forEach(function (id) { $(id).addEventListener('change', renderRequests); });
  $('req-text').addEventListener('input', renderRequests);

  // Connections
  function closeText(d) {
    var c = d.close || d.relayClose;
    if (!c) return '-';
    return c.code + (c.reason ? ' ' + c.reason : '') + (d.close ? '' : ' (relay)');
  }
  function renderConnections() {
    var hc = hcFilter('conn-hc');
    var st = $('conn-status').value;
    var rows = state.connections.filter(function (c) { return (!hc || c.hybridConnection === hc) && (!st || (st === 'open') === c.open); }).map(function (c) {
      var tr = el('tr');
      [td(when(c.openedAt), 'time'), td(c.closedAt ? when(c.closedAt) : 'open', c.closedAt ? 'time wide' : 'ok'), td(c.hybridConnection), cell(shortId(c.senderId)), cell(shortId(c.listenerId), 'wide'),
       td(c.subprotocol || '-', 'wide'), td(c.fromSender.messages + ' / ' + bytes(c.fromSender.bytes), 'num'), td(c.fromListener.messages + ' / ' + bytes(c.fromListener.bytes), 'num'),
       td(closeText(c.fromSender), 'wide'), td(closeText(c.fromListener), 'wide')].forEach(function (x) { tr.appendChild(x); });
      tr.className = 'clickable' + (state.connection === c.id ? ' selected' : '');
      tr.addEventListener('click', function () { state.connection = state.connection === c.id ? null : c.id; renderConnections(); });
      return tr;
    });
    fill($('conns'), rows, 10, state.connections.length ? 'none matches the filters' : 'no relayed connection yet');
    var box = $('conn-detail');
    var c = state.connections.filter(function (x) { return x.id === state.connection; })[0];
    box.hidden = !c;
    if (!c) return;
    box.textContent = '';
    box.appendChild(el('b', 'Connection ' + c.id));
    var msgs = [];
    [['from sender', c.fromSender], ['from listener', c.fromListener]].forEach(function (side) {
      (side[1].captured || []).forEach(function (m) { msgs.push({ side: side[0], m: m }); });
    });
    msgs.sort(function (a, b) { return a.m.time < b.m.time ? -1 : 1; });
    if (!msgs.length) box.appendChild(el('p', 'No message kept (start the emulator with --capture-bodies to keep the first ones each way).', 'muted'));
    var t = el('table', undefined, 'headers');
    msgs.forEach(function (x) {
      var tr = el('tr');
      tr.appendChild(el('td', when(x.m.time), 'time'));
      tr.appendChild(el('td', x.side));
      tr.appendChild(el('td', (x.m.text !== undefined ? x.m.text : hex(decode(x.m.base64))) + (x.m.truncated ? ' \\u2026 (truncated)' : '')));
      t.appendChild(tr);
    });
    box.appendChild(t);
  }
  ['conn-hc', 'conn-status'].forEach(function (id) { $(id).addEventListener('change', renderConnections); });

  // Listeners
  function renderListeners() {
    var hc = hcFilter('lst-hc');
    var st = $('lst-status').value;
    var rows = state.listeners.filter(function (l) { return (!hc || l.hybridConnection === hc) && (!st || l.event === st); }).map(function (l) {
      var tr = el('tr');
      [td(when(l.time), 'time'), td(l.hybridConnection), cell(shortId(l.listenerId)), td(l.event, l.event === 'online' ? 'ok' : 'bad'),
       td(l.code === undefined ? '' : l.code, 'num'), td(l.detail || l.address || '', 'muted')].forEach(function (x) { tr.appendChild(x); });
      return tr;
    });
    fill($('lsts'), rows, 6, state.listeners.length ? 'none matches the filters' : 'no listener yet');
  }
  ['lst-hc', 'lst-status'].forEach(function (id) { $(id).addEventListener('change', renderListeners); });

  var first = location.hash.slice(1);
  show(['overview', 'requests', 'connections', 'listeners'].indexOf(first) >= 0 ? first : 'overview');
})();
`;

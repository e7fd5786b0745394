/**
 * GET /: a self-contained dashboard (no external assets, works offline): live counters,
 * throughput and duplicate-rate charts drawn on canvas from /stats, the topic table from
 * /topics, an event browser on /events with a topic filter and paging, and a live tail of
 * /subscribe (SSE).
 *
 * Access: when the server answers 401, the page asks for a key and keeps it in
 * sessionStorage (this tab only, gone when it closes; never localStorage or a cookie).
 * Every fetch sends it as a bearer header; the EventSource, which cannot send headers,
 * passes it as ?access_token=. A later 401 (key revoked) asks again.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>logsieve</title>
<link rel="icon" href="data:,">
<style>
  :root { --bg:#0f1419; --panel:#171d24; --text:#e6e6e6; --muted:#8b96a3; --accent:#4fb3ff; --warn:#f0a04b; --ok:#5fd38d; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, sans-serif; background:var(--bg); color:var(--text); }
  header { display:flex; align-items:baseline; gap:1rem; padding:1rem 1.5rem; border-bottom:1px solid #222b35; }
  header h1 { margin:0; font-size:1.2rem; }
  header .meta { color:var(--muted); }
  main { padding:1rem 1.5rem; display:grid; gap:1rem; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); }
  section { background:var(--panel); border-radius:8px; padding:1rem; min-width:0; overflow-x:auto; }
  section.wide { grid-column: 1 / -1; }
  h2 { margin:0 0 .75rem; font-size:1rem; color:var(--muted); font-weight:600; }
  .counters { display:grid; grid-template-columns: repeat(auto-fit, minmax(130px,1fr)); gap:.75rem; }
  .counter { background:#10161c; border-radius:6px; padding:.6rem .8rem; }
  .counter .v { font-size:1.5rem; font-variant-numeric: tabular-nums; }
  .counter .k { color:var(--muted); font-size:.8rem; }
  canvas { width:100%; height:160px; background:#10161c; border-radius:6px; }
  table { width:100%; border-collapse:collapse; font-variant-numeric: tabular-nums; }
  th, td { text-align:left; padding:.3rem .5rem; border-bottom:1px solid #222b35; vertical-align:top; white-space:nowrap; }
  td.name { white-space:normal; overflow-wrap:anywhere; min-width:6rem; }
  th { color:var(--muted); font-weight:600; }
  td.payload { font-family: ui-monospace, monospace; font-size:.8rem; white-space:pre-wrap; word-break:break-all; max-width:40rem; }
  input { max-width:100%; width:16rem; }
  input, button { background:#10161c; color:var(--text); border:1px solid #2c3743; border-radius:4px; padding:.3rem .6rem; }
  .bad { color:var(--warn); } .good { color:var(--ok); }
  #key-form { display:none; gap:.5rem; align-items:center; margin-left:auto; }
  #key-form.shown { display:flex; }
  input { background:#10161c; color:var(--text); border:1px solid #2c3743; border-radius:4px; padding:.3rem .6rem; }
</style>
</head>
<body>
<header><h1>logsieve</h1><span class="meta" id="meta">connecting…</span>
  <form id="key-form" autocomplete="off"><label for="key-input">This server needs an API key:</label>
    <input id="key-input" type="password" placeholder="API key (read or full)">
    <button id="key-save" type="submit">Use key</button></form></header>
<main>
  <section class="wide">
    <h2>Counters</h2>
    <div class="counters" id="counters"></div>
    <p class="meta" id="retention"></p>
  </section>
  <section><h2>Throughput (events/s processed)</h2><canvas id="rate"></canvas></section>
  <section><h2>Duplicate rate (% of processed)</h2><canvas id="dups"></canvas></section>
  <section class="wide">
    <h2>Topics</h2>
    <table><thead><tr><th>topic</th><th>unique</th><th>duplicates</th><th>stored</th><th>last offset</th><th>last processed</th></tr></thead>
    <tbody id="topics"></tbody></table>
  </section>
  <section class="wide">
    <h2>Events <input id="topic-filter" list="topic-names" placeholder="all topics" spellcheck="false" aria-label="topic filter"><datalist id="topic-names"></datalist>
      <button id="newer">newest</button> <button id="older">older</button></h2>
    <table><thead><tr><th>offset</th><th>topic</th><th>event_id</th><th>timestamp</th><th>source</th><th>payload</th></tr></thead>
    <tbody id="events"></tbody></table>
  </section>
  <section class="wide">
    <h2>Live <span class="meta" id="live-state"></span></h2>
    <table><thead><tr><th>offset</th><th>topic</th><th>event_id</th><th>source</th></tr></thead>
    <tbody id="live"></tbody></table>
  </section>
</main>
<script>
(() => {
  const $ = (id) => document.getElementById(id);
  const fmt = new Intl.NumberFormat();
  const history = [];
  let before = null;
  const KEY = 'logsieve.apiKey';
  let live = null;
  const keyNow = () => sessionStorage.getItem(KEY);
  function askForKey(message) {
    $('key-form').classList.add('shown');
    $('meta').textContent = message;
    if (live) { live.close(); live = null; }
  }
  // Every call of the page goes through here: the key (if any) as a bearer header, and a
  // 401 turns into the key prompt.
  async function api(path) {
    const key = keyNow();
    const res = await fetch(path, key ? { headers: { authorization: 'Bearer ' + key } } : {});
    if (res.status === 401) {
      // A 401 for a key that is no longer the current one (a call still in flight when the
      // user saved a key) says nothing about the new key: only a current refusal asks.
      if (key === keyNow()) askForKey(key ? 'the key was refused' : 'this server needs an API key');
      throw new Error('unauthorized');
    }
    if (!res.ok) {
      const body = await res.json().catch(() => null);
      const detail = body && Array.isArray(body.details) && body.details[0] ? ': ' + body.details[0].field + ' ' + body.details[0].message : '';
      throw new Error(body && body.message ? body.message + detail : path + ': HTTP ' + res.status);
    }
    return res.json();
  }
  $('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const value = $('key-input').value.trim();
    if (!value) return;
    sessionStorage.setItem(KEY, value);
    $('key-input').value = '';
    $('key-form').classList.remove('shown');
    refresh();
  });
  function startLive(after) {
    if (live) return;
    const q = new URLSearchParams({ after: String(after) });
    const key = keyNow();
    if (key) q.set('access_token', key);
    live = new EventSource('subscribe?' + q);
    live.onopen = () => { $('live-state').textContent = 'connected'; };
    live.onerror = () => { $('live-state').textContent = 'reconnecting…'; };
    live.addEventListener('event', (m) => {
      const e = JSON.parse(m.data);
      const row = document.createElement('tr');
      row.innerHTML = '<td>' + e.offset + '</td><td class="name">' + esc(e.topic) + '</td><td class="name">' + esc(e.event_id) + '</td><td class="name">' + esc(e.source) + '</td>';
      $('live').prepend(row);
      while ($('live').children.length > 20) $('live').lastChild.remove();
    });
  }
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

  function counters(s) {
    const ok = s.received === s.unique_processed + s.duplicate_dropped + s.queue_depth;
    const items = [
      ['received', s.received], ['unique', s.unique_processed], ['duplicates', s.duplicate_dropped],
      ['queue depth', s.queue_depth], ['rejected requests', s.rejected], ['topics', s.topics_total],
      ['stored', s.stored], ['expired', s.expired],
    ];
    $('counters').innerHTML = items.map(([k, v]) => '<div class="counter"><div class="v">' + fmt.format(v) +
      '</div><div class="k">' + k + '</div></div>').join('') +
      '<div class="counter"><div class="v ' + (ok ? 'good' : 'bad') + '">' + (ok ? 'holds' : 'off') +
      '</div><div class="k">received = unique + dup + queued</div></div>';
    retention(s);
    $('meta').textContent = s.mode + ' mode · ' + s.workers + ' workers · up ' + Math.round(s.uptime_seconds) + ' s';
  }

  // Retention settings and what they keep: stored vs expired, and the bytes stored.
  function retention(s) {
    const r = s.retention || {};
    const dur = (sec) => sec === null || sec === undefined ? 'forever' : sec % 86400 === 0 ? sec / 86400 + 'd'
      : sec % 3600 === 0 ? sec / 3600 + 'h' : sec % 60 === 0 ? sec / 60 + 'm' : sec + 's';
    const share = s.unique_processed > 0 ? Math.round((100 * s.stored) / s.unique_processed) : 100;
    $('retention').textContent = 'retention: max age ' + dur(r.max_age_seconds) + ' · max bytes ' +
      (r.max_bytes == null ? 'none' : fmt.format(r.max_bytes)) + ' · dedup window ' + dur(r.dedup_window_seconds) +
      ' · ' + share + ' % of unique events stored (' + fmt.format(s.stored_bytes) + ' bytes), ' +
      fmt.format(s.expired) + ' expired';
  }

  function chart(canvas, values, color, unit) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    canvas.width = w * dpr; canvas.height = h * dpr;
    const g = canvas.getContext('2d');
    g.scale(dpr, dpr);
    g.clearRect(0, 0, w, h);
    const max = Math.max(1, ...values);
    g.strokeStyle = color; g.lineWidth = 2; g.beginPath();
    values.forEach((v, i) => {
      const x = (i / Math.max(1, values.length - 1)) * (w - 10) + 5;
      const y = h - 18 - (v / max) * (h - 30);
      if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
    });
    g.stroke();
    g.fillStyle = '#8b96a3'; g.font = '12px system-ui';
    g.fillText('max ' + fmt.format(Math.round(max)) + unit + ' · now ' + fmt.format(Math.round(values.at(-1) || 0)) + unit, 8, h - 4);
  }

  let lastStats = null;
  async function poll() {
    try {
      const s = await api('stats');
      lastStats = s;
      counters(s);
      const now = performance.now();
      history.push({ t: now, processed: s.unique_processed + s.duplicate_dropped, dup: s.duplicate_dropped });
      while (history.length > 121) history.shift();
      const rates = [], dups = [];
      for (let i = 1; i < history.length; i++) {
        const a = history[i - 1], b = history[i];
        const n = b.processed - a.processed;
        rates.push(n / ((b.t - a.t) / 1000));
        dups.push(n > 0 ? (100 * (b.dup - a.dup)) / n : 0);
      }
      chart($('rate'), rates, '#4fb3ff', '/s');
      chart($('dups'), dups, '#f0a04b', '%');
    } catch (e) {
      if (e.message === 'unauthorized') throw e;
      $('meta').textContent = 'cannot reach the aggregator';
    }
  }

  async function topics() {
    const rows = await api('topics');
    $('topics').innerHTML = rows.map((t) => '<tr><td class="name">' + esc(t.topic) + '</td><td>' + fmt.format(t.unique) + '</td><td>' +
      fmt.format(t.duplicates) + '</td><td>' + fmt.format(t.stored) + '</td><td>' + (t.last_offset ?? '') + '</td><td>' + esc(t.last_processed_at ?? '') + '</td></tr>').join('');
    // /topics answers the first page (1,000 names); the rest are counted, and any topic can
    // be typed into the filter, which only suggests the names of this page.
    const more = lastStats === null ? 0 : lastStats.topics_total - rows.length;
    if (more > 0) $('topics').innerHTML += '<tr><td class="meta" colspan="6">… and ' + fmt.format(more) + ' more topics (GET /topics?after=' + esc(rows.at(-1).topic) + ')</td></tr>';
    $('topic-names').innerHTML = rows.map((t) => '<option value="' + esc(t.topic) + '"></option>').join('');
  }

  async function events() {
    const q = new URLSearchParams({ order: 'desc', limit: '50' });
    const topic = $('topic-filter').value.trim();
    if (topic) q.set('topic', topic);
    if (before !== null) q.set('before', String(before));
    const rows = await api('events?' + q);
    $('events').innerHTML = rows.map((e) => '<tr><td>' + e.offset + '</td><td class="name">' + esc(e.topic) + '</td><td class="name">' + esc(e.event_id) +
      '</td><td>' + esc(e.timestamp) + '</td><td class="name">' + esc(e.source) + '</td><td class="payload">' + esc(JSON.stringify(e.payload)) + '</td></tr>').join('');
    $('older').dataset.next = rows.length ? String(rows.at(-1).offset) : '';
  }

  // A typed name that is not a topic at all (400) says so instead of failing silently.
  $('topic-filter').addEventListener('change', () => {
    before = null;
    events().catch((e) => { $('events').innerHTML = '<tr><td class="meta" colspan="6">' + esc(e.message) + '</td></tr>'; });
  });
  $('newer').addEventListener('click', () => { before = null; events(); });
  $('older').addEventListener('click', () => { if ($('older').dataset.next) { before = Number($('older').dataset.next); events(); } });
  const quiet = (p) => p.catch(() => undefined);
  // True when the call was refused: the rest of this refresh would be refused too, and
  // saving a key starts a new one.
  const refused = (p) => p.then(() => false, (e) => e.message === 'unauthorized');
  async function refresh() {
    if (await refused(poll())) return;
    if (await refused(topics())) return;
    if (await refused(events())) return;
    // The live tail starts at the newest event, once reads are allowed.
    quiet(api('events?order=desc&limit=1').then((rows) => startLive(rows.length ? rows[0].offset : 0)));
  }
  refresh();
  setInterval(() => quiet(poll()), 1000);
  setInterval(() => quiet(topics()), 5000);
  setInterval(() => { if (before === null) quiet(events()); }, 3000);
})();
</script>
</body>
</html>
`;

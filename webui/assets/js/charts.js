// Charts drawn as inline SVG from data (no chart library). The data
// preparation functions are pure and tested with node; the drawing uses
// the DOM.

import { h, s } from './dom.js';

// bucketize counts items per time bucket and series. items: [{time, key}]
// (time: ms or ISO string). Returns {start, step, times: [ms], series:
// [{name, values: [n]}]} with series sorted by total, largest first.
export function bucketize(items, { from, to, buckets = 24 } = {}) {
  const ts = items.map((it) => ({ t: toMs(it.time), key: String(it.key) })).filter((it) => !Number.isNaN(it.t));
  if (ts.length === 0 && (from === undefined || to === undefined)) return { start: 0, step: 0, times: [], series: [] };
  const lo = from !== undefined ? toMs(from) : Math.min(...ts.map((x) => x.t));
  let hi = to !== undefined ? toMs(to) : Math.max(...ts.map((x) => x.t));
  if (hi <= lo) hi = lo + 60000;
  const n = Math.max(1, Math.floor(buckets));
  const step = (hi - lo) / n;
  const times = Array.from({ length: n }, (_, i) => lo + i * step);
  const byKey = new Map();
  for (const { t, key } of ts) {
    if (t < lo || t > hi) continue;
    const i = Math.min(n - 1, Math.floor((t - lo) / step));
    if (!byKey.has(key)) byKey.set(key, new Array(n).fill(0));
    byKey.get(key)[i]++;
  }
  const series = [...byKey.entries()].map(([name, values]) => ({ name, values }))
    .sort((a, b) => sum(b.values) - sum(a.values) || a.name.localeCompare(b.name));
  return { start: lo, step, times, series };
}

// concurrency turns a metering report (GET /api/v1/admin/metering:
// {windows: [{start, end, peak: {total, by_user: {user: n}}}]}) into
// series of peak concurrent sessions per window: all users, then the
// `users` users with the highest peak. null when the report has no windows.
export function concurrency(report, { users = 4 } = {}) {
  if (!report || typeof report !== 'object' || !Array.isArray(report.windows)) return null;
  const rows = report.windows
    .filter((w) => w && typeof w === 'object')
    .map((w) => ({ t: toMs(w.start), peak: w.peak && typeof w.peak === 'object' ? w.peak : {} }))
    .filter((r) => !Number.isNaN(r.t))
    .sort((a, b) => a.t - b.t);
  if (rows.length === 0) return null;
  const byUser = new Map();
  rows.forEach((r, i) => {
    const bu = r.peak.by_user && typeof r.peak.by_user === 'object' ? r.peak.by_user : {};
    for (const [user, n] of Object.entries(bu)) {
      if (!byUser.has(user)) byUser.set(user, new Array(rows.length).fill(0));
      byUser.get(user)[i] = count(n);
    }
  });
  const top = [...byUser.entries()]
    .map(([name, values]) => ({ name, values, peak: Math.max(...values) }))
    .sort((a, b) => b.peak - a.peak || a.name.localeCompare(b.name))
    .slice(0, Math.max(0, users))
    .map(({ name, values }) => ({ name, values }));
  return { times: rows.map((r) => r.t), series: [{ name: 'all users', values: rows.map((r) => count(r.peak.total)) }, ...top] };
}

// usage sums a metering report per user (key 'user') or per session
// definition (key 'session'): sessions launched, their metered time (ms),
// heartbeats and the peak number at once; highest peak first.
export function usage(report, key) {
  const peaks = (report && report.peak && report.peak[key === 'user' ? 'by_user' : 'by_session']) || {};
  const m = new Map();
  const entry = (name) => {
    if (!m.has(name)) m.set(name, { name, launches: 0, ms: 0, heartbeats: 0, peak: 0 });
    return m.get(name);
  };
  for (const s of Array.isArray(report?.sessions) ? report.sessions : []) {
    if (!s || !s[key]) continue;
    const e = entry(String(s[key]));
    e.launches++;
    e.heartbeats += count(s.heartbeats);
    const d = toMs(s.end) - toMs(s.start);
    if (d > 0) e.ms += d;
  }
  for (const [name, n] of Object.entries(typeof peaks === 'object' ? peaks : {})) {
    if (name) entry(name).peak = count(n);
  }
  return [...m.values()].sort((a, b) => b.peak - a.peak || b.launches - a.launches || a.name.localeCompare(b.name));
}

const WINDOWS = [60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400];

// windowFor picks the report window (seconds) for a period [from, to) in
// ms: the smallest of 1 min, 5 min, 15 min, ... 1 week giving at most
// `points` windows.
export function windowFor(from, to, points = 48) {
  const span = Math.max(0, (to - from) / 1000);
  for (const w of WINDOWS) if (span / w <= points) return w;
  return Math.ceil(span / points);
}

function count(v) {
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

// niceMax rounds a maximum up to 1, 2 or 5 × 10^k (at least 1).
export function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function toMs(t) {
  return typeof t === 'number' ? t : new Date(t).getTime();
}

function sum(a) {
  return a.reduce((x, y) => x + y, 0);
}

const PALETTE = ['#1f5fa8', '#b4461b', '#2e7d32', '#7b3fa0', '#8a6d00', '#00707a', '#a0204f', '#555555'];

function label(ms) {
  return new Date(ms).toISOString().slice(5, 16).replace('T', ' ');
}

// lineChart draws {times, series} as an SVG line chart with a legend and,
// for screen readers and exact numbers, a data table in a <details>.
// legend: 'sum' shows each series' total, 'max' its highest value.
export function lineChart(title, data, { width = 640, height = 220, legend: legendKind = 'sum' } = {}) {
  const series = data.series.slice(0, PALETTE.length);
  const pad = { l: 40, r: 12, t: 12, b: 28 };
  const w = width - pad.l - pad.r;
  const hh = height - pad.t - pad.b;
  const n = data.times.length;
  const max = niceMax(Math.max(0, ...series.flatMap((x) => x.values)));
  const x = (i) => pad.l + (n <= 1 ? w / 2 : (i * w) / (n - 1));
  const y = (v) => pad.t + hh - (v / max) * hh;
  // Counts get whole-number grid lines (no "2.5 sessions").
  const ints = series.every((sr) => sr.values.every((v) => Number.isInteger(v)));
  const mid = ints ? Math.round(max / 2) : max / 2;
  const ticks = mid > 0 && mid < max ? [0, mid, max] : [0, max];
  const grid = ticks.map((v) => [
    s('line', { x1: pad.l, x2: pad.l + w, y1: y(v), y2: y(v), class: 'chart-grid' }),
    s('text', { x: pad.l - 6, y: y(v) + 4, class: 'chart-axis', 'text-anchor': 'end' }, String(Math.round(v * 100) / 100)),
  ]);
  const xt = n > 0 ? [0, n - 1].map((i) => s('text', {
    x: x(i), y: height - 8, class: 'chart-axis', 'text-anchor': i === 0 ? 'start' : 'end',
  }, label(data.times[i]))) : [];
  const lines = series.map((sr, k) => s('polyline', {
    points: sr.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' '),
    fill: 'none', stroke: PALETTE[k], 'stroke-width': 2, class: 'chart-line',
  }));
  const svg = s('svg', {
    viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title, class: 'chart', preserveAspectRatio: 'xMidYMid meet',
  }, s('title', {}, title), grid, xt, lines);
  const legend = h('ul', { class: 'legend' }, series.map((sr, k) => h('li', {},
    s('svg', { width: 12, height: 12, 'aria-hidden': 'true' }, s('rect', { width: 12, height: 12, fill: PALETTE[k] })),
    legendKind === 'max' ? ` ${sr.name} (peak ${Math.max(0, ...sr.values)})` : ` ${sr.name} (${sum(sr.values)})`)));
  const rows = data.times.map((t, i) => h('tr', {}, h('th', { scope: 'row' }, label(t)), series.map((sr) => h('td', {}, String(sr.values[i])))));
  const details = h('details', {}, h('summary', {}, 'Data table'),
    h('table', {}, h('caption', {}, title),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'time (UTC)'), series.map((sr) => h('th', { scope: 'col' }, sr.name)))),
      h('tbody', {}, rows)));
  if (series.length === 0) {
    return h('figure', { class: 'chart-figure' }, h('figcaption', {}, title), h('p', { class: 'empty' }, 'No events in this period.'));
  }
  return h('figure', { class: 'chart-figure' }, h('figcaption', {}, title), svg, legend, details);
}

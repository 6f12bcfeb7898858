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

// concurrency turns a metering report into one series of concurrent
// sessions. It accepts {series: [{time, concurrent}]} or {windows:
// [{start, concurrent}]}; anything else gives null.
export function concurrency(report) {
  if (!report || typeof report !== 'object') return null;
  const rows = Array.isArray(report.series) ? report.series : Array.isArray(report.windows) ? report.windows : null;
  if (!rows) return null;
  const pts = rows.map((r) => ({ t: toMs(r.time ?? r.start), v: Number(r.concurrent) }))
    .filter((p) => !Number.isNaN(p.t) && Number.isFinite(p.v)).sort((a, b) => a.t - b.t);
  if (pts.length === 0) return null;
  return { times: pts.map((p) => p.t), series: [{ name: 'concurrent sessions', values: pts.map((p) => p.v) }] };
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
export function lineChart(title, data, { width = 640, height = 220 } = {}) {
  const series = data.series.slice(0, PALETTE.length);
  const pad = { l: 40, r: 12, t: 12, b: 28 };
  const w = width - pad.l - pad.r;
  const hh = height - pad.t - pad.b;
  const n = data.times.length;
  const max = niceMax(Math.max(0, ...series.flatMap((x) => x.values)));
  const x = (i) => pad.l + (n <= 1 ? w / 2 : (i * w) / (n - 1));
  const y = (v) => pad.t + hh - (v / max) * hh;
  const grid = [0, 0.5, 1].map((f) => {
    const v = max * f;
    return [
      s('line', { x1: pad.l, x2: pad.l + w, y1: y(v), y2: y(v), class: 'chart-grid' }),
      s('text', { x: pad.l - 6, y: y(v) + 4, class: 'chart-axis', 'text-anchor': 'end' }, String(Math.round(v * 100) / 100)),
    ];
  });
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
    ` ${sr.name} (${sum(sr.values)})`)));
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

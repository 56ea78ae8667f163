// Graphs of a node's or a guest's history (`.../rrddata`): CPU, memory, network, disk
// (and load for nodes), drawn as small SVG line charts, with the hour/day/week/month/year
// and average/maximum choice. The history is read again every sample step, not faster.

import { get, describe } from '../api.js';
import { h, fmtBytes } from '../dom.js';
import { redraw } from '../state.js';

/** The nodes sample every 10 s: reading the history more often shows nothing new. */
const GRAPH_REFRESH_MS = 10000;
const TIMEFRAMES = ['hour', 'day', 'week', 'month', 'year'];
const CFS = [['AVERAGE', 'Average'], ['MAX', 'Maximum']];
const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 560;
const HEIGHT = 150;
const PAD = { left: 64, right: 8, top: 8, bottom: 20 };
const COLORS = ['#1f77b4', '#ff7f0e'];

/** The choice shown, shared by every graph panel. */
const choice = { timeframe: 'hour', cf: 'AVERAGE' };

/** path → { data, error, at, pending } */
const cache = new Map();

function history(path) {
  const url = `${path}/rrddata?timeframe=${choice.timeframe}&cf=${choice.cf}`;
  let e = cache.get(url);
  if (!e) {
    e = { data: null, error: null, at: 0, pending: false };
    cache.set(url, e);
  }
  if (!e.pending && Date.now() - e.at >= GRAPH_REFRESH_MS) {
    e.pending = true;
    get(url).then((d) => { e.data = d; e.error = null; }, (err) => { e.error = err; })
      .finally(() => { e.pending = false; e.at = Date.now(); redraw(); });
  }
  return e;
}

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) if (c) el.append(c);
  return el;
}

function fmtTime(t, timeframe) {
  const d = new Date(t * 1000);
  const hm = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return timeframe === 'hour' || timeframe === 'day' ? hm : `${d.toLocaleDateString()}`;
}

/** One chart: `series` are [label, (row) => value or null]. */
function chart(title, rows, series, fmt, role) {
  const xs = rows.map((r) => r.time);
  const t0 = xs[0] || 0;
  const t1 = xs[xs.length - 1] || 1;
  let max = 0;
  let points = 0;
  const values = series.map(([, f]) => rows.map((r) => {
    const v = f(r);
    if (v === null || v === undefined || !Number.isFinite(v)) return null;
    max = Math.max(max, v);
    points += 1;
    return v;
  }));
  if (max <= 0) max = 1;
  const x = (t) => PAD.left + ((t - t0) / Math.max(t1 - t0, 1)) * (WIDTH - PAD.left - PAD.right);
  const y = (v) => PAD.top + (1 - v / max) * (HEIGHT - PAD.top - PAD.bottom);
  const lines = values.map((vs, i) => {
    // Unknown points break the line; a lone known point is drawn as a dot.
    const segs = [];
    let cur = [];
    vs.forEach((v, j) => {
      if (v === null) { if (cur.length) segs.push(cur); cur = []; } else cur.push([x(xs[j]), y(v)]);
    });
    if (cur.length) segs.push(cur);
    return svg('g', { 'data-series': series[i][0], stroke: COLORS[i % COLORS.length], fill: COLORS[i % COLORS.length] },
      ...segs.map((s) => (s.length === 1
        ? svg('circle', { cx: s[0][0].toFixed(1), cy: s[0][1].toFixed(1), r: 2 })
        : svg('polyline', { points: s.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(' '), fill: 'none', 'stroke-width': 1.5 }))));
  });
  const base = HEIGHT - PAD.bottom;
  const axis = svg('g', { stroke: '#d5d9de' },
    svg('line', { x1: PAD.left, y1: base, x2: WIDTH - PAD.right, y2: base }),
    svg('line', { x1: PAD.left, y1: PAD.top, x2: WIDTH - PAD.right, y2: PAD.top, 'stroke-dasharray': '3 3' }));
  const label = (tx, ty, text, anchor) => svg('text', { x: tx, y: ty, 'text-anchor': anchor, 'font-size': 11, fill: '#66707a' }, document.createTextNode(text));
  const el = svg('svg', {
    class: 'graph', viewBox: `0 0 ${WIDTH} ${HEIGHT}`, width: WIDTH, height: HEIGHT, role: 'img',
    'aria-label': title, 'data-points': points,
  }, axis, ...lines,
  label(PAD.left - 4, PAD.top + 10, fmt(max), 'end'),
  label(PAD.left - 4, base, fmt(0), 'end'),
  label(PAD.left, HEIGHT - 4, fmtTime(t0, choice.timeframe), 'start'),
  label(WIDTH - PAD.right, HEIGHT - 4, fmtTime(t1, choice.timeframe), 'end'));
  const last = values.map((vs) => [...vs].reverse().find((v) => v !== null));
  return h('section', { class: 'card graph-card', 'data-graph': role },
    h('h3', {}, title),
    h('div', { class: 'legend' }, series.map(([name], i) => h('span', { class: `legend-item s${i}` },
      `${name}: ${last[i] === undefined || last[i] === null ? '-' : fmt(last[i])}`))),
    el);
}

const pct = (v) => `${(v * 100).toFixed(v < 0.1 ? 1 : 0)} %`;
const rate = (v) => `${fmtBytes(Math.round(v))}/s`;

function choices() {
  return h('div', { class: 'toolbar graph-choice', 'data-role': 'graph-choice' },
    TIMEFRAMES.map((t) => h('button', {
      type: 'button', 'data-timeframe': t, class: t === choice.timeframe ? 'active' : null,
      onclick: () => { choice.timeframe = t; redraw(); },
    }, t[0].toUpperCase() + t.slice(1))),
    h('select', {
      'data-role': 'graph-cf',
      onchange: (ev) => { choice.cf = ev.target.value; redraw(); },
    }, CFS.map(([v, l]) => h('option', { value: v, selected: v === choice.cf }, l))));
}

/** The graphs of the history under `path` (`/nodes/n1` or `/nodes/n1/qemu/100`). */
export function graphs(path, { node = false } = {}) {
  const e = history(path);
  let body;
  if (e.error && !e.data) body = h('p', { class: 'notice error' }, describe('Reading the graph history', e.error));
  else if (!e.data) body = h('p', { class: 'empty' }, 'Reading the graph history…');
  else {
    const rows = Array.isArray(e.data) ? e.data : [];
    body = h('div', { class: 'cards graphs' },
      chart('CPU usage', rows, [['CPU', (r) => r.cpu]], pct, 'cpu'),
      node ? chart('Server load', rows, [['Load average', (r) => r.loadavg]], (v) => v.toFixed(2), 'load') : null,
      chart('Memory usage', rows, [['Used', (r) => r.mem], ['Total', (r) => r.maxmem]], fmtBytes, 'mem'),
      chart('Network traffic', rows, [['In', (r) => r.netin], ['Out', (r) => r.netout]], rate, 'net'),
      chart('Disk I/O', rows, [['Read', (r) => r.diskread], ['Write', (r) => r.diskwrite]], rate, 'disk'));
  }
  return h('div', { class: 'graph-panel', 'data-role': 'graphs' }, choices(), body);
}

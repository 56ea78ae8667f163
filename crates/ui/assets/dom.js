// Small DOM helpers: elements built from data (never innerHTML, so no markup injection),
// and the formats the views share (bytes, durations, times).

/**
 * An element: `h('a', {href: '#/dc', class: 'x', onclick: fn}, 'text', child, [more])`.
 * `on…` attributes that are functions become listeners; `disabled`, `checked`, `value`,
 * `selected` are set as properties; null/false children and attributes are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'disabled' || k === 'checked' || k === 'value' || k === 'selected') {
      el[k] = v;
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/**
 * Elements that live across re-draws (the console's terminal): a view returns a
 * `data-keep=KEY` placeholder and the layout puts `keep.get(KEY)` in its place.
 */
export const keep = new Map();

/** Replaces the children of `el`. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A two-column table of label/value pairs. */
export function facts(rows, attrs = {}) {
  return h('table', { class: 'facts', ...attrs },
    h('tbody', {}, rows.filter(Boolean).map(([k, v, key]) =>
      h('tr', key ? { 'data-fact': key } : {}, h('th', {}, k), h('td', {}, v ?? '-')))));
}

/** A table: `columns` are [title, (row) => cell]; `rowAttrs(row)` adds attributes. */
export function table(columns, rows, { empty = 'None.', rowAttrs = () => ({}), ...attrs } = {}) {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h('table', { class: 'grid', ...attrs },
    h('thead', {}, h('tr', {}, columns.map(([title]) => h('th', {}, title)))),
    h('tbody', {}, rows.map((r) =>
      h('tr', rowAttrs(r), columns.map(([, cell]) => h('td', {}, cell(r)))))));
}

/** A status word with its colour: `badge('running')`. */
export function badge(word, kind = word) {
  return h('span', { class: `badge badge-${kind}` }, word);
}

/** 1536 -> "1.5 KiB". */
export function fmtBytes(n) {
  if (n === null || n === undefined) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** 3725 -> "1h 2m 5s". */
export function fmtDuration(secs) {
  if (secs === null || secs === undefined) return '-';
  let s = Math.floor(secs);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const hrs = Math.floor(s / 3600); s -= hrs * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  const parts = [];
  if (d) parts.push(`${d}d`);
  if (d || hrs) parts.push(`${hrs}h`);
  if (d || hrs || m) parts.push(`${m}m`);
  parts.push(`${s}s`);
  return parts.join(' ');
}

/** Unix seconds or a Date -> local "YYYY-MM-DD HH:MM:SS". */
export function fmtTime(t) {
  if (t === null || t === undefined) return '-';
  const d = t instanceof Date ? t : new Date(Number(t) * 1000);
  const p = (x) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} `
    + `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** "ct" for containers, "VM" for QEMU guests. */
export function guestLabel(kind) {
  return kind === 'lxc' ? 'CT' : 'VM';
}

// The Storage view: one storage of storage.cfg and its free space on each node that has it.

import { describe } from '../api.js';
import { h, facts, table, fmtBytes } from '../dom.js';
import { state, nodes, fetched } from '../state.js';

export const tabs = [['summary', 'Summary']];

export function render(_tab, id) {
  const st = state.storages.find((s) => s.id === id);
  if (!st) return h('p', { class: 'notice error' }, `Storage ${id} is not in storage.cfg.`);
  const on = nodes().filter((n) => !st.nodes || st.nodes.includes(n.name));
  const rows = on.map((n) => {
    if (!n.alive) return { node: n.name, error: 'node offline' };
    const f = fetched(`/nodes/${encodeURIComponent(n.name)}/storage`);
    if (f.error) return { node: n.name, error: describe('Asking the node', f.error) };
    const r = Array.isArray(f.data) ? f.data.find((x) => x.storage === id) : null;
    return r ? { ...r, node: n.name } : { node: n.name, error: f.data ? 'not on this node' : 'asking…' };
  });
  return h('div', {},
    h('section', { class: 'card' }, h('h3', {}, `Storage ${id}`), facts([
      ['Type', st.kind],
      ['Path', st.path],
      ['Content', (st.content || []).join(', ')],
      ['Shared', st.shared ? 'yes' : 'no'],
      ['Enabled', st.disable ? 'no' : 'yes'],
      ['Nodes', st.nodes ? st.nodes.join(', ') : 'all'],
    ])),
    h('section', { class: 'card wide' }, h('h3', {}, 'Per node'), table([
      ['Node', (r) => r.node],
      ['Active', (r) => (r.error ? h('span', { class: 'bad' }, r.error) : (r.active ? 'yes' : h('span', { class: 'bad' }, r.error || 'no')))],
      ['Used', (r) => (r.error ? '-' : fmtBytes(r.used_bytes))],
      ['Free', (r) => (r.error ? '-' : fmtBytes(r.avail_bytes))],
      ['Size', (r) => (r.error ? '-' : fmtBytes(r.total_bytes))],
    ], rows)));
}

export function title(id) {
  return `Storage ${id}`;
}

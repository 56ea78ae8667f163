// The resource tree on the left: Datacenter → nodes → guests, and the storages, with a
// search box over nodes, guests and storages.

import { h, mount, guestLabel } from './dom.js';
import { state, nodes } from './state.js';

/** The tree's element: the search box stays, the list re-draws on every refresh. */
export function createTree() {
  const list = h('ul', { class: 'tree', 'data-role': 'tree' });
  const search = h('input', {
    type: 'search',
    class: 'tree-search',
    'data-role': 'search',
    placeholder: 'Search nodes, guests, storages',
    'aria-label': 'Search',
    oninput: () => draw(),
    onchange: () => draw(),
  });
  const el = h('aside', { class: 'side' }, search, list);
  let selected = '';
  let last = '';

  function item(href, kind, attrs, icon, label, children = null) {
    return h('li', { class: `tree-item tree-${kind}`, ...attrs },
      h('a', { href, class: href === selected ? 'selected' : null },
        h('span', { class: `icon icon-${icon}` }), label),
      children && children.length ? h('ul', {}, children) : null);
  }

  function guestItem(g) {
    const text = `${g.vmid}${g.name ? ` (${g.name})` : ''}`;
    return item(`#/guest/${g.vmid}`, 'guest', {
      'data-tree': 'guest', 'data-id': g.vmid, 'data-node': g.node, 'data-status': g.status,
      title: `${guestLabel(g.type)} ${g.vmid} on ${g.node}: ${g.status}${g.lock ? `, locked (${g.lock})` : ''}`,
    }, `${g.type}-${g.status}`, text);
  }

  function draw() {
    const q = search.value.trim().toLowerCase();
    const matches = (...texts) => !q || texts.some((t) => String(t ?? '').toLowerCase().includes(q));
    const s = state.status;
    const dcName = (s && s.cluster) || 'Datacenter';
    const nodeItems = nodes().map((n) => {
      const guests = state.resources
        .filter((g) => g.node === n.name)
        .filter((g) => matches(g.vmid, g.name, g.type, g.type === 'lxc' ? 'ct' : 'vm'))
        .sort((a, b) => a.vmid - b.vmid)
        .map(guestItem);
      if (!matches(n.name) && !guests.length) return null;
      return item(`#/node/${n.name}`, 'node', {
        'data-tree': 'node', 'data-id': n.name, 'data-state': n.alive ? 'online' : 'offline',
        title: `node ${n.name}: ${n.alive ? 'online' : 'offline'}, ${n.role}`,
      }, n.alive ? 'node-online' : 'node-offline', n.name, guests);
    }).filter(Boolean);
    // Guests whose node is not (or no longer) in cluster.conf.
    const known = new Set(nodes().map((n) => n.name));
    const orphans = state.resources.filter((g) => !known.has(g.node) && matches(g.vmid, g.name))
      .map(guestItem);
    const storageItems = state.storages.filter((st) => matches(st.id, st.kind)).map((st) =>
      item(`#/storage/${st.id}`, 'storage', { 'data-tree': 'storage', 'data-id': st.id,
        title: `storage ${st.id} (${st.kind}${st.shared ? ', shared' : ''})` },
      st.disable ? 'storage-off' : 'storage', st.id));
    const children = [...nodeItems, ...orphans];
    if (storageItems.length) {
      children.push(h('li', { class: 'tree-group' }, h('span', { class: 'tree-group-title' }, 'Storage'),
        h('ul', {}, storageItems)));
    }
    if (q && !children.length) children.push(h('li', { class: 'empty' }, `Nothing matches “${search.value}”.`));
    // Replace the list only when it changed: a click in it is not lost to a refresh.
    const next = item('#/dc', 'dc', { 'data-tree': 'dc' }, 'dc', `Datacenter (${dcName})`, children);
    if (next.outerHTML !== last) {
      last = next.outerHTML;
      mount(list, next);
    }
  }

  return {
    el,
    draw,
    select(href) {
      selected = href;
      draw();
    },
  };
}

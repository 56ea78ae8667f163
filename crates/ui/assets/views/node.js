// The Node view: its state, role and links, HA maintenance on/off, its guests, and its
// storages with free space.

import { describe, post, session } from '../api.js';
import { h, facts, table, badge, fmtBytes, guestLabel } from '../dom.js';
import { state, nodes, lrm, fetched, invalidate, refresh } from '../state.js';
import { graphs } from './graphs.js';

export const tabs = [['summary', 'Summary'], ['storage', 'Storage']];

/** The last maintenance action's outcome per node, shown until the next one. */
const notices = new Map();

/** Why the caller may not switch maintenance (root@pam's alone, as the API rules), or null. */
function maintenanceForbidden() {
  const s = session();
  return s && /^root@pam(!|$)/.test(s.user || '') ? null : 'only root@pam may (the API allows no one else)';
}

function maintenanceButton(name, on) {
  const why = maintenanceForbidden();
  const label = on ? 'Disable maintenance' : 'Enable maintenance';
  return h('button', {
    type: 'button',
    'data-action': on ? 'maintenance-disable' : 'maintenance-enable',
    disabled: !!why,
    title: why ? `${label}: ${why}` : `${label} of ${name}`,
    onclick: async (ev) => {
      ev.target.disabled = true;
      const what = on ? 'Disabling maintenance' : 'Enabling maintenance';
      notices.set(name, { kind: 'info', text: `${what} of ${name}…` });
      try {
        await post(`/nodes/${encodeURIComponent(name)}/maintenance`, { enable: !on });
        notices.set(name, { kind: 'ok', text: `${what} of ${name}: requested; HA ${on ? 'brings its guests back' : 'moves its guests away'}.` });
      } catch (e) {
        notices.set(name, { kind: 'error', text: describe(what, e) });
      }
      invalidate(MAINTENANCE_FILE);
      refresh();
    },
  }, label);
}

/** The maintenance requests (`ha/maintenance`, one `NODE [shutdown]` a line). */
const MAINTENANCE_FILE = '/fs/read?path=ha%2Fmaintenance';

/** Whether maintenance is requested for `name`; null while unknown. */
function maintenanceRequested(name) {
  const f = fetched(MAINTENANCE_FILE);
  if (f.error) return f.error.status === 404 ? false : null;
  if (!f.data) return null;
  const text = f.data.content || '';
  return text.split('\n').some((line) => line.trim().split(/\s+/)[0] === name);
}

function summary(name) {
  const n = nodes().find((x) => x.name === name);
  if (!n) return h('p', { class: 'notice error' }, `Node ${name} is not in this cluster.`);
  const l = lrm(name);
  const haApplied = !!l && (l.state === 'maintenance' || l.mode === 'maintenance');
  const requested = maintenanceRequested(name);
  const inMaintenance = requested === null ? haApplied : requested;
  const notice = notices.get(name);
  const guests = state.resources.filter((g) => g.node === name).sort((a, b) => a.vmid - b.vmid);
  return h('div', {},
    h('div', { class: 'toolbar' }, maintenanceButton(name, inMaintenance)),
    notice ? h('p', { class: `notice ${notice.kind}`, 'data-role': 'action-result' }, notice.text) : null,
    h('div', { class: 'cards' },
      h('section', { class: 'card' }, h('h3', {}, 'Status'), facts([
        ['State', n.alive ? badge('online') : badge('offline'), 'state'],
        ['Role', n.role, 'role'],
        ['Node ID', n.nodeid],
        ['Votes', n.votes],
        ['link0', n.link0],
        ['link1', n.link1 || '-'],
        ['API', n.apiAddr || '-'],
      ])),
      h('section', { class: 'card' }, h('h3', {}, 'High availability'), facts([
        ['LRM state', l ? badge(l.state) : 'unknown', 'lrm-state'],
        ['LRM mode', l ? l.mode : '-'],
        ['Maintenance', inMaintenance ? badge('on', 'warning') : 'off', 'maintenance'],
        ['Applied by HA', l ? (haApplied ? 'yes' : 'no') : 'no HA manager yet', 'maintenance-applied'],
      ]))),
    h('section', { class: 'card wide' }, h('h3', {}, `Guests on ${name}`), table([
      ['ID', (g) => h('a', { href: `#/guest/${g.vmid}` }, g.vmid)],
      ['Type', (g) => guestLabel(g.type)],
      ['Name', (g) => g.name || '-'],
      ['Status', (g) => badge(g.status)],
      ['Memory', (g) => fmtBytes(g.memory_mib * 1024 * 1024)],
      ['Lock', (g) => g.lock || '-'],
    ], guests, { empty: 'No guests.', 'data-role': 'node-guests', rowAttrs: (g) => ({ 'data-vmid': g.vmid }) })),
    graphs(`/nodes/${encodeURIComponent(name)}`, { node: true }));
}

function storage(name) {
  const f = fetched(`/nodes/${encodeURIComponent(name)}/storage`);
  if (f.error) return h('p', { class: 'notice error' }, describe(`Storage status of ${name}`, f.error));
  if (!f.data) return h('p', { class: 'empty' }, 'Asking the node…');
  return h('section', { class: 'card wide' }, h('h3', {}, `Storage on ${name}`), table([
    ['Storage', (r) => h('a', { href: `#/storage/${r.storage}` }, r.storage)],
    ['Type', (r) => r.type],
    ['Content', (r) => r.content],
    ['Shared', (r) => (r.shared ? 'yes' : 'no')],
    ['Active', (r) => (r.active ? 'yes' : h('span', { class: 'bad' }, r.error || 'no'))],
    ['Used', (r) => fmtBytes(r.used_bytes)],
    ['Free', (r) => fmtBytes(r.avail_bytes)],
    ['Size', (r) => fmtBytes(r.total_bytes)],
    ['Usage', (r) => (r.total_bytes ? `${Math.round((100 * r.used_bytes) / r.total_bytes)} %` : '-')],
  ], Array.isArray(f.data) ? f.data : [], { empty: 'No storage on this node.' }));
}

export function render(tab, name) {
  return tab === 'storage' ? storage(name) : summary(name);
}

export function title(name) {
  return `Node ${name}`;
}

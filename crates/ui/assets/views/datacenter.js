// The Datacenter view: the cluster's summary (quorum, qdevice, nodes, links, warnings),
// HA (views/ha.js), the storages, the cluster log (views/clusterlog.js) and access
// control (views/access/: permissions, users, tokens, second factors, groups, pools,
// roles, realms).

import { h, facts, table, badge } from '../dom.js';
import { state, nodes, redraw } from '../state.js';
import { haTab } from './ha.js';
import { clusterLog } from './clusterlog.js';

/**
 * Access control, as Proxmox VE's Datacenter → Permissions (views/access/, loaded when
 * one of these tabs is first opened: the first load does not carry it).
 */
const ACCESS_TABS = [['acl', 'Permissions'], ['users', 'Users'], ['tokens', 'API Tokens'],
  ['tfa', 'Two Factor'], ['groups', 'Groups'], ['pools', 'Pools'], ['roles', 'Roles'], ['realms', 'Realms']];
const ACCESS_MODULE = './access/index.js';
/** The access module once loaded ({renderAccess}), or why it failed to load. */
let access = null;
let accessError = null;
let accessLoading = false;

export const tabs = [['summary', 'Summary'], ['ha', 'HA'], ['storage', 'Storage'], ['log', 'Log'],
  ...ACCESS_TABS];

function accessTab(tab) {
  if (access) return access.renderAccess(tab);
  if (accessError) return h('p', { class: 'notice error' }, `The access views failed to load: ${accessError.message}`);
  if (!accessLoading) {
    accessLoading = true;
    import(ACCESS_MODULE).then((m) => { access = m; }, (e) => { accessError = e; }).finally(redraw);
  }
  return h('p', { class: 'empty' }, 'Loading…');
}

function link(n, i) {
  const addr = i === 0 ? n.link0 : n.link1;
  if (!addr) return '-';
  if (n.local) return `${addr} (local)`;
  const l = n.hb && n.hb.links ? n.hb.links[i] : null;
  if (!l) return `${addr} ?`;
  if (!l.up) return h('span', { class: 'bad' }, `${addr} down`);
  return `${addr} up${l.rtt_ms !== null && l.rtt_ms !== undefined ? `, RTT ${l.rtt_ms.toFixed(2)} ms` : ''}`;
}

function clock(n) {
  if (n.local) return '-';
  if (!n.hb || n.hb.clock_offset_ms === null || n.hb.clock_offset_ms === undefined) return '?';
  const text = `${n.hb.clock_offset_ms >= 0 ? '+' : ''}${(n.hb.clock_offset_ms / 1000).toFixed(3)} s`;
  return n.hb.clock === 'ok' ? text : h('span', { class: 'bad' }, `${text} ${n.hb.clock.toUpperCase()}`);
}

/** Quorum as `cluster status` shows it: expected votes, total, quorum, flags. */
export function quorum(s) {
  const cfs = s.cfs || { members: [] };
  const voters = (cfs.members || []).filter((m) => m.voter);
  const alive = (id) => (s.members || []).some((m) => m.id === id && m.alive);
  const q = s.config && s.config.qdevice;
  const flags = [];
  if (s.quorate) flags.push('Quorate');
  if (q) flags.push(alive(q.nodeid) ? 'Qdevice' : 'Qdevice(dead)');
  return {
    expected: voters.length,
    total: voters.filter((m) => alive(m.id)).length,
    quorum: Math.floor(voters.length / 2) + 1,
    flags,
    qdevice: q ? { ...q, alive: alive(q.nodeid) } : null,
  };
}

function summary() {
  const s = state.status;
  if (!s && state.statusDenied) {
    return h('p', { class: 'notice', 'data-role': 'status-denied' },
      `The cluster's status needs Sys.Audit on / (${state.statusDenied}): you see the guests, storages and tasks your permissions allow.`);
  }
  if (!s) return h('p', { class: 'empty' }, 'Waiting for the cluster status…');
  if (!s.cluster) return h('p', { class: 'notice' }, `Node ${s.node} is not in a cluster yet.`);
  const q = quorum(s);
  const cfs = s.cfs || {};
  return h('div', { class: 'view-summary' },
    h('div', { class: 'cards' },
      h('section', { class: 'card' }, h('h3', {}, 'Cluster'), facts([
        ['Name', s.cluster, 'cluster'],
        ['Config version', s.config ? s.config.config_version : '-'],
        ['Nodes', s.config ? s.config.nodes.length : '-', 'nodes'],
        ['Leader', cfs.leader_name || 'none known', 'leader'],
        ['Viewed from', s.node, 'viewed-from'],
      ])),
      h('section', { class: 'card' }, h('h3', {}, 'Quorum'), facts([
        ['Quorate', s.quorate ? badge('Yes', 'ok') : badge('No', 'error'), 'quorate'],
        ['Expected votes', q.expected, 'expected'],
        ['Total votes', q.total, 'total'],
        ['Quorum', `${q.quorum}${s.quorate ? '' : ' (activity blocked)'}`, 'quorum'],
        ['Flags', q.flags.join(' ') || '-', 'flags'],
      ])),
      h('section', { class: 'card' }, h('h3', {}, 'QDevice'), q.qdevice
        ? facts([
          ['Name', q.qdevice.name],
          ['Address', q.qdevice.address],
          ['State', q.qdevice.alive ? badge('alive', 'ok') : badge('dead', 'error'), 'qdevice'],
        ])
        : h('p', { class: 'empty', 'data-fact': 'qdevice' }, 'No quorum device.'))),
    h('section', { class: 'card wide' }, h('h3', {}, 'Warnings'),
      s.warnings && s.warnings.length
        ? h('ul', { class: 'warnings', 'data-role': 'warnings' }, s.warnings.map((w) => h('li', {}, w)))
        : h('p', { class: 'empty', 'data-role': 'warnings' }, 'No warnings.')),
    h('section', { class: 'card wide' }, h('h3', {}, 'Nodes'), table([
      ['ID', (n) => n.nodeid],
      ['Name', (n) => h('a', { href: `#/node/${n.name}` }, n.name)],
      ['State', (n) => (n.alive ? badge('online') : badge('offline'))],
      ['Role', (n) => n.role],
      ['Votes', (n) => n.votes],
      ['link0', (n) => link(n, 0)],
      ['link1', (n) => link(n, 1)],
      ['Clock offset', clock],
    ], nodes(), { 'data-role': 'nodes', rowAttrs: (n) => ({ 'data-node': n.name }) })));
}

/** The storage table (also the Datacenter's Storage tab). */
export function storageTable(list) {
  return table([
    ['ID', (st) => h('a', { href: `#/storage/${st.id}` }, st.id)],
    ['Type', (st) => st.kind],
    ['Path', (st) => st.path],
    ['Content', (st) => (st.content || []).join(', ')],
    ['Shared', (st) => (st.shared ? 'yes' : 'no')],
    ['Enabled', (st) => (st.disable ? badge('disabled', 'error') : 'yes')],
    ['Nodes', (st) => (st.nodes ? st.nodes.join(', ') : 'all')],
  ], list, { empty: 'No storages.', 'data-role': 'storages' });
}

/** The Datacenter's content for `tab`. */
export function render(tab) {
  if (tab === 'ha') return haTab();
  if (tab === 'log') return clusterLog();
  if (ACCESS_TABS.some(([t]) => t === tab)) return accessTab(tab);
  if (tab === 'storage') return h('section', { class: 'card wide' }, h('h3', {}, 'Storage'), storageTable(state.storages));
  return summary();
}

export function title() {
  return `Datacenter${state.status && state.status.cluster ? ` (${state.status.cluster})` : ''}`;
}

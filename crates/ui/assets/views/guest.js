// The Guest view: where it runs, its status, uptime and config, with start / shutdown /
// stop / reboot, the migrate dialog (views/migrate.js), the hardware editor
// (views/hardware.js), HA add/remove (views/ha.js) and its backups (views/backup.js).
// Each action's outcome (or the API's refusal) stays on screen until the next action.

import { describe, post } from '../api.js';
import { h, facts, badge, fmtBytes, fmtDuration, guestLabel } from '../dom.js';
import { state, guest, fetched, invalidate, refresh, privilegesAt } from '../state.js';
import { openMigrate } from './migrate.js';
import { closeTerminal, terminal } from './terminal.js';
import { graphs } from './graphs.js';
import { configTab, CONFIG_PRIVILEGES } from './hardware.js';
import { haCard } from './ha.js';
import { backupTab } from './backup.js';

export const tabs = [['summary', 'Summary'], ['console', 'Console'], ['config', 'Hardware / Options'], ['backup', 'Backup']];

/** How much of the end of the guest's console output the Console tab shows. */
const CONSOLE_TAIL_BYTES = 4096;

/** The last action's outcome per guest: {kind: ok|error|info, text}. */
const notices = new Map();

/** The API path of a guest: `/nodes/n1/lxc/200`. */
export function guestPath(g) {
  return `/nodes/${encodeURIComponent(g.node)}/${g.type}/${g.vmid}`;
}

const ACTIONS = [
  ['start', 'Start', 'Starting'],
  ['shutdown', 'Shutdown', 'Shutting down'],
  ['stop', 'Stop', 'Stopping'],
  ['reboot', 'Reboot', 'Rebooting'],
];

/** The privilege each action needs on `/vms/{vmid}` (the API checks it again). */
const NEEDS = {
  start: 'VM.PowerMgmt', shutdown: 'VM.PowerMgmt', stop: 'VM.PowerMgmt', reboot: 'VM.PowerMgmt', migrate: 'VM.Migrate',
};

/** The caller's privileges on `/vms/{vmid}` (null until the node answered). */
function privileges(g) {
  return privilegesAt(`/vms/${g.vmid}`);
}

/** Why the caller may not use `action` on `g`, or null (also while that is unknown). */
function forbidden(action, g) {
  const p = privileges(g);
  const need = NEEDS[action];
  return p && need && !(need in p) ? `you lack ${need} on /vms/${g.vmid}` : null;
}

/** Why the caller may not change `g`'s config, or null (also while that is unknown). */
function configForbidden(g) {
  const p = privileges(g);
  return p && !CONFIG_PRIVILEGES.some((x) => x in p) ? `you lack VM.Config.* on /vms/${g.vmid}` : null;
}

/** Why `action` cannot be used on `g` now, or null when it can. */
function refusal(action, g) {
  const denied = forbidden(action, g);
  if (denied) return denied;
  if (g.status === 'unknown') return `its node ${g.node} is offline`;
  if (action === 'start' && g.status === 'running') return 'it is running already';
  if (action !== 'start' && g.status === 'stopped') return 'it is not running';
  return null;
}

async function act(g, action, verb, doing) {
  const label = `${guestLabel(g.type)} ${g.vmid}`;
  notices.set(g.vmid, { kind: 'info', text: `${doing} ${label}…` });
  refresh();
  try {
    await post(`${guestPath(g)}/status/${action}`, {});
    notices.set(g.vmid, { kind: 'ok', text: `${doing} ${label}: done.` });
  } catch (e) {
    notices.set(g.vmid, { kind: 'error', text: describe(`${verb} ${label}`, e) });
  }
  invalidate(guestPath(g));
  refresh();
}

/** Shows the outcome of a migration request (called by the dialog). */
export function setNotice(vmid, kind, text) {
  notices.set(vmid, { kind, text });
}

function toolbar(g) {
  return h('div', { class: 'toolbar', 'data-role': 'guest-actions' },
    ACTIONS.map(([action, label, doing]) => {
      const why = refusal(action, g);
      return h('button', {
        type: 'button',
        'data-action': action,
        disabled: !!why,
        title: why ? `${label}: ${why}` : `${label} ${guestLabel(g.type)} ${g.vmid}`,
        onclick: () => act(g, action, label, doing),
      }, label);
    }),
    h('button', {
      type: 'button',
      'data-action': 'migrate',
      disabled: g.status === 'unknown' || !!forbidden('migrate', g),
      title: forbidden('migrate', g) || (g.status === 'unknown' ? `its node ${g.node} is offline` : 'Migrate to another node'),
      onclick: () => openMigrate(g),
    }, 'Migrate'));
}

function summary(g) {
  const st = fetched(`${guestPath(g)}/status/current`);
  const s = st.data && st.data.node === g.node ? st.data : null;
  const notice = notices.get(g.vmid);
  return h('div', {},
    toolbar(g),
    notice ? h('p', { class: `notice ${notice.kind}`, role: 'status', 'data-role': 'action-result' }, notice.text) : null,
    st.error ? h('p', { class: 'notice error' }, describe('Reading the status', st.error)) : null,
    h('div', { class: 'cards' },
      h('section', { class: 'card' }, h('h3', {}, 'Status'), facts([
        ['Status', badge(g.status), 'status'],
        ['Node', h('a', { href: `#/node/${g.node}` }, g.node), 'node'],
        ['Uptime', s && s.uptime_secs !== null && s.uptime_secs !== undefined ? fmtDuration(s.uptime_secs) : '-', 'uptime'],
        g.type === 'qemu' ? ['QEMU state', s && s.qmp_status ? s.qmp_status : null] : null,
        ['PID', s && s.pid ? s.pid : '-'],
        ['Lock', g.lock || '-', 'lock'],
      ])),
      h('section', { class: 'card' }, h('h3', {}, 'Resources'), facts([
        ['Type', g.type === 'lxc' ? 'Container (lxc)' : 'Virtual machine (qemu)'],
        ['Name', g.name || '-'],
        ['Memory', fmtBytes(g.memory_mib * 1024 * 1024)],
        ['CPUs', s ? s.cpus : '-'],
        g.type === 'qemu'
          ? ['Accelerator', s && s.accel ? `${s.accel}${s.accel_reason ? ` (${s.accel_reason})` : ''}` : null]
          : null,
      ])),
      haCard(g)),
    graphs(guestPath(g)));
}

function consoleLog(g) {
  if (g.status === 'unknown') return h('p', { class: 'empty' }, `Its node ${g.node} is offline.`);
  const c = fetched(`${guestPath(g)}/console-log?tail=${CONSOLE_TAIL_BYTES}`);
  if (c.error) return h('p', { class: 'notice error' }, describe('Reading the console', c.error));
  const live = g.type === 'qemu' && g.status === 'running';
  if (!live) closeTerminal();
  return h('div', {}, live ? h('section', { class: 'card wide' },
    h('h3', {}, `Serial console of VM ${g.vmid} on ${g.node} (type to send keys)`), terminal(g)) : null,
  h('section', { class: 'card wide' },
    h('h3', {}, `Console output on ${g.node} since it started there (read-only, refreshed with the page)`),
    h('pre', { class: 'console', 'data-role': 'console-log' }, c.data === null ? 'Asking the node…' : (c.data.output || '(nothing yet)'))));
}

export function render(tab, vmid) {
  const g = guest(vmid);
  if (!g) {
    return h('p', { class: 'notice error' },
      state.errors.resources ? describe('Listing the guests', state.errors.resources)
        : `Guest ${vmid} does not exist in this cluster (any more).`);
  }
  if (tab === 'config') return configTab(g, guestPath(g), configForbidden(g));
  if (tab === 'backup') {
    return backupTab(g, (need) => {
      const p = privileges(g);
      return p && !(need in p) ? `you lack ${need} on /vms/${g.vmid}` : null;
    });
  }
  if (tab === 'console') return consoleLog(g);
  return summary(g);
}

export function title(vmid) {
  const g = guest(vmid);
  if (!g) return `Guest ${vmid}`;
  return `${guestLabel(g.type)} ${g.vmid}${g.name ? ` (${g.name})` : ''} on node ${g.node}`;
}

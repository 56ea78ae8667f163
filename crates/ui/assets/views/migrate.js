// The migrate dialog: the other nodes as targets (one that cannot receive the guest
// listed, refused, with why: offline, joining, lacking one of its storages, at once from
// what the page knows; then what the guest's node answers `GET .../migrate` adds, such as
// a target short of memory or a locked guest), online for a running VM; the API's refusal is shown in the dialog, which stays
// open. Once the task runs the dialog follows it: for a live migration QEMU's figures
// from the task's `progress` (transferred, remaining, speed, expected downtime), then the
// measured downtime and total time from its `result`, or its error.

import { describe, get, post } from '../api.js';
import { h, mount, facts, badge, fmtBytes, guestLabel } from '../dom.js';
import { state, nodes, trackTask, invalidate, refresh } from '../state.js';
import { guestPath, setNotice } from './guest.js';
import { dialogRoot, openDialog } from './form.js';

/** How often the dialog reads the running migration's task status. */
const PROGRESS_REFRESH_MS = 500;

let timer = null;

export function closeDialog() {
  if (timer) clearInterval(timer);
  timer = null;
  mount(dialogRoot());
}

/** "3.0 ms" / "1.25 s" from milliseconds. */
function fmtMs(ms) {
  if (ms === null || ms === undefined) return '-';
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** Config keys that hold a volume (`STORAGE:VOLUME,...`): disks, a CT's root and mounts. */
const VOLUME_KEY = /^(scsi|virtio|ide|sata|efidisk|tpmstate|unused|mp)\d+$|^rootfs$/;

/** The storages the volumes of config pairs `config` are on. */
function storagesOf(config) {
  const ids = new Set();
  for (const [k, v] of config || []) {
    const m = VOLUME_KEY.test(k) ? /^([a-z][a-z0-9_.-]*):/i.exec(String(v)) : null;
    if (m) ids.add(m[1]);
  }
  return [...ids].sort();
}

/** Why `n` cannot receive a guest with volumes on `storages`, or null. */
function refusedTarget(n, storages) {
  if (!n.alive) return 'offline: no heartbeat';
  if (n.role === 'joining') return 'still joining the cluster';
  for (const id of storages) {
    const st = state.storages.find((x) => x.id === id);
    if (!st) return `its storage ${id} is not in storage.cfg`;
    if (st.disable) return `its storage ${id} is disabled`;
    if (st.nodes && !st.nodes.includes(n.name)) return `its storage ${id} is not on ${n.name}`;
  }
  return null;
}

/** Follows task `started` of the migration of `g` in `body` until it ends. */
function follow(g, started, target, how, body) {
  const label = `${guestLabel(g.type)} ${g.vmid}`;
  const path = `/nodes/${encodeURIComponent(started.node)}/tasks/${encodeURIComponent(started.upid)}/status`;
  const view = h('div', { 'data-role': 'migrate-progress', 'data-state': 'running' });
  const bar = h('progress', { max: 100, value: 0, 'data-role': 'migrate-bar' });
  const close = h('button', { type: 'button', class: 'primary', 'data-action': 'migrate-close', onclick: closeDialog }, 'Close');
  mount(body,
    h('h2', {}, `Migrating ${label} to ${target} (${how})`),
    h('p', { class: 'hint' }, started.upid),
    bar, view,
    h('p', { class: 'hint' }, 'Closing this leaves the migration running; the task panel follows it.'),
    h('div', { class: 'dialog-buttons' }, close));

  async function load() {
    if (!view.isConnected) {
      // The dialog was closed (a click beside it): stop following.
      if (timer) clearInterval(timer);
      timer = null;
      return;
    }
    let s;
    try {
      s = await get(path);
    } catch (e) {
      mount(view, h('p', { class: 'dialog-message error' }, describe('Reading the migration task', e)));
      return;
    }
    const p = s.progress;
    const r = s.result;
    view.dataset.state = s.status;
    const rows = [['Task', s.status === 'running' ? badge('running') : badge(s.status, s.status === 'ok' ? 'ok' : 'error'), 'task']];
    if (p) {
      if (p.total_bytes) bar.value = Math.min(100, Math.round((100 * p.transferred_bytes) / p.total_bytes));
      rows.push(
        ['QEMU', p.status, 'qemu-status'],
        ['Transferred', fmtBytes(p.transferred_bytes), 'transferred'],
        ['Remaining', fmtBytes(p.remaining_bytes), 'remaining'],
        ['Memory', fmtBytes(p.total_bytes), 'memory'],
        ['Speed', `${p.mbps.toFixed(1)} Mbit/s`, 'speed'],
        ['Expected downtime', fmtMs(p.expected_downtime_ms), 'expected-downtime'],
      );
      view.dataset.transferred = p.transferred_bytes;
    }
    if (r) {
      bar.value = 100;
      rows.push(
        ['Downtime', fmtMs(r.downtime_ms), 'downtime'],
        ['Total time', fmtMs(r.total_time_ms), 'total-time'],
        ['Sent', fmtBytes(r.transferred_bytes), 'sent'],
      );
    }
    if (s.error) rows.push(['Error', h('span', { class: 'bad' }, s.error), 'error']);
    mount(view, facts(rows));
    if (s.status !== 'running') {
      if (timer) clearInterval(timer);
      timer = null;
      setNotice(g.vmid, s.status === 'ok' ? 'ok' : 'error', s.status === 'ok'
        ? `${label} migrated to ${target} (${how})${r && r.downtime_ms !== null && r.downtime_ms !== undefined ? `, downtime ${fmtMs(r.downtime_ms)}` : ''}.`
        : `Migrating ${label} to ${target} failed: ${s.error || s.exitstatus}`);
      invalidate(guestPath(g));
      refresh();
    }
  }
  load();
  timer = setInterval(load, PROGRESS_REFRESH_MS);
}

/** Opens the dialog for guest row `g`; the targets are checked again once its config
 * says which storages its volumes are on. */
export function openMigrate(g) {
  closeDialog();
  const label = `${guestLabel(g.type)} ${g.vmid}`;
  const targets = nodes().filter((n) => n.name !== g.node);
  const select = h('select', { name: 'target', id: 'migrate-target' });
  const live = g.type === 'qemu' && g.status === 'running';
  const online = h('input', { type: 'checkbox', name: 'online', id: 'migrate-online', checked: live });
  const localNote = h('p', { class: 'hint', 'data-role': 'migrate-local' });
  const message = h('p', { class: 'dialog-message', role: 'alert', 'data-role': 'migrate-message' });
  const submit = h('button', { type: 'submit', class: 'primary', 'data-action': 'migrate-submit' }, 'Migrate');
  const say = (text, kind) => {
    message.className = `dialog-message ${kind}`;
    message.textContent = text;
  };

  /** The guest's node's answer to `GET .../migrate`, once it came. */
  let verdict = null;
  let storagesSeen = [];
  /** Why `n` cannot take the guest: what the page knows first, then what its node said. */
  const whyNot = (n, storages) => refusedTarget(n, storages)
    || (verdict && verdict.not_allowed_nodes[n.name]) || null;

  /** Lists the targets, each refused one disabled with why, for volumes on `storages`. */
  function showTargets(storages) {
    storagesSeen = storages;
    const chosen = select.value;
    mount(select, targets.map((n) => {
      const why = whyNot(n, storages);
      return h('option', { value: n.name, disabled: !!why, 'data-refused': why || null },
        why ? `${n.name} — ${why}` : `${n.name} (${n.role})`);
    }));
    const ok = targets.filter((n) => !whyNot(n, storages));
    const keep = ok.find((n) => n.name === chosen) || ok[0];
    if (keep) select.value = keep.name;
    submit.disabled = !keep;
    if (!targets.length) say('There is no other node to migrate to.', 'error');
    else if (verdict && verdict.refused) say(`It cannot migrate now: ${verdict.refused}`, 'error');
    else if (!keep) say('No other node can receive it now.', 'error');
    const local = storages.filter((id) => {
      const st = state.storages.find((x) => x.id === id);
      return st && !st.shared;
    });
    localNote.textContent = g.type === 'qemu' && local.length
      ? `A live migration needs shared storage: ${local.join(', ')} is not shared (offline, its volumes are copied).`
      : '';
  }
  showTargets([]);
  get(`${guestPath(g)}/config`).then((c) => { if (select.isConnected) showTargets(storagesOf(c.config)); },
    () => {}); // Unknown: the API's precheck still refuses a target that lacks a storage.
  get(`${guestPath(g)}/migrate`).then((t) => {
    verdict = t;
    if (select.isConnected) showTargets(storagesSeen);
  }, () => {}); // Without it the migration's own checks still refuse.

  const form = h('form', {
    class: 'dialog',
    'data-role': 'migrate-dialog',
    onsubmit: async (ev) => {
      ev.preventDefault();
      const target = select.value;
      submit.disabled = true;
      say(`Asking ${g.node} to migrate ${label} to ${target}…`, 'info');
      try {
        const started = await post(`${guestPath(g)}/migrate`, { target, online: online.checked });
        const how = online.checked ? 'live' : 'offline';
        trackTask(started, `Migrate ${label} ${g.node} → ${target} (${how})`);
        setNotice(g.vmid, 'info', `Migration of ${label} to ${target} started (${how}): see the task panel.`);
        invalidate(guestPath(g));
        refresh();
        follow(g, started, target, how, form);
      } catch (e) {
        say(describe(`Migrating ${label} to ${target}`, e), 'error');
        submit.disabled = false;
      }
    },
  },
  h('h2', {}, `Migrate ${label}${g.name ? ` (${g.name})` : ''}`),
  h('p', {}, `From node ${g.node}, where it is ${g.status}.`),
  h('label', { class: 'field' }, 'Target node', select),
  g.type === 'qemu'
    ? h('label', { class: 'field check' }, online, 'Online (live, with its memory)')
    : h('p', { class: 'hint' }, 'A container moves offline: stop it first.'),
  localNote,
  message,
  h('div', { class: 'dialog-buttons' },
    h('button', { type: 'button', 'data-action': 'migrate-cancel', onclick: closeDialog }, 'Cancel'),
    submit));
  openDialog(form);
  select.focus();
}

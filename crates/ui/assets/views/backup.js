// A guest's Backup tab: its backups on every backup storage its node has (GET
// .../storage/{s}/content?content=backup&vmid=N), "Backup now" with the mode and the
// storage (POST /nodes/{node}/vzdump, a task), and Restore of a backup as a new guest on
// a chosen node (POST /nodes/{node}/qmrestore, a task; the VMID from /cluster/nextid).
// Both tasks are followed in the dialog until they end, then in the task panel.

import { describe, get, post } from '../api.js';
import { h, mount, table, badge, fmtBytes, fmtDuration, fmtTime, guestLabel } from '../dom.js';
import { state, nodes, fetched, invalidate, refresh, trackTask } from '../state.js';
import {
  openDialog, closeDialog, field, numberInput, selectInput, clearFieldErrors, showFieldError,
} from './form.js';

/** How often an open dialog reads the task it started. */
const TASK_REFRESH_MS = 1000;
const MODES = [['snapshot', 'snapshot (it keeps running)'], ['suspend', 'suspend (paused meanwhile)'], ['stop', 'stop (stopped meanwhile)']];

/** The backup storages of storage.cfg on `node`, enabled. */
function backupStorages(node) {
  return state.storages.filter((s) => !s.disable && (s.content || []).includes('backup')
    && (!s.nodes || s.nodes.includes(node)));
}

/** Shows task `started` in `slot` until it ends, then calls `done(status)`. */
function followTask(started, slot, done) {
  const path = `/nodes/${encodeURIComponent(started.node)}/tasks/${encodeURIComponent(started.upid)}/status`;
  const timer = setInterval(load, TASK_REFRESH_MS);
  async function load() {
    if (!slot.isConnected) { clearInterval(timer); return; }
    try {
      const s = await get(path);
      slot.dataset.state = s.status;
      mount(slot, 'Task: ', s.status === 'running' ? badge('running') : badge(s.status, s.status === 'ok' ? 'ok' : 'error'),
        s.error ? ` ${s.error}` : '');
      if (s.status !== 'running') {
        clearInterval(timer);
        done(s);
      }
    } catch (e) {
      mount(slot, describe('Reading the task', e));
    }
  }
  load();
}

/** A dialog form: title, fields, the submit's label, and `send(form)` returning a task. */
function taskDialog(role, title, fields, label, send, after) {
  const message = h('p', { class: 'dialog-message', role: 'alert', 'data-role': `${role}-message` });
  const task = h('p', { 'data-role': `${role}-task` });
  const submit = h('button', { type: 'submit', class: 'primary', 'data-action': `${role}-submit` }, label);
  const form = h('form', {
    class: 'dialog', 'data-role': `${role}-dialog`, novalidate: true,
    onsubmit: async (ev) => {
      ev.preventDefault();
      clearFieldErrors(form);
      submit.disabled = true;
      message.className = 'dialog-message info';
      message.textContent = `${title}…`;
      try {
        const started = await send();
        trackTask(started, title);
        message.textContent = `Started: ${started.upid}`;
        followTask(started, task, (s) => {
          message.className = `dialog-message ${s.status === 'ok' ? 'ok' : 'error'}`;
          message.textContent = s.status === 'ok' ? `${title}: done.` : `${title} failed: ${s.error || s.exitstatus}`;
          after();
        });
      } catch (e) {
        const text = describe(title, e);
        showFieldError(form, text);
        message.className = 'dialog-message error';
        message.textContent = text;
        submit.disabled = false;
      }
    },
  },
  h('h2', {}, title), fields, message, task,
  h('div', { class: 'dialog-buttons' },
    h('button', { type: 'button', 'data-action': `${role}-close`, onclick: closeDialog }, 'Close'), submit));
  openDialog(form);
}

function openBackupNow(g, storages) {
  const storage = selectInput(storages.map((s) => [s.id, s.id]), storages[0] ? storages[0].id : null, { id: 'backup-storage' });
  const mode = selectInput(MODES, 'snapshot', { id: 'backup-mode' });
  taskDialog('backup', `Back up ${guestLabel(g.type)} ${g.vmid}`,
    [field('Storage', 'storage', storage), field('Mode', 'mode', mode)], 'Backup',
    () => post(`/nodes/${encodeURIComponent(g.node)}/vzdump`, { vmid: g.vmid, storage: storage.value, mode: mode.value }),
    () => { invalidate(`/nodes/${encodeURIComponent(g.node)}/storage`); refresh(); });
}

function openRestore(g, b) {
  const live = nodes().filter((n) => n.alive);
  const node = selectInput(live.map((n) => [n.name, n.name]), g.node, { id: 'restore-node' });
  const vmid = numberInput('', { id: 'restore-vmid', min: 100 });
  get('/cluster/nextid').then((n) => { if (!vmid.value) vmid.value = n.vmid; }, () => {});
  taskDialog('restore', `Restore ${b.volid}`,
    [h('p', { class: 'hint' }, `${guestLabel(g.type)} ${g.vmid} as it was at ${fmtTime(b.ctime)}, as a new guest.`),
      field('Node', 'node', node), field('New VM ID', 'vmid', vmid)], 'Restore',
    () => post(`/nodes/${encodeURIComponent(node.value)}/qmrestore`, { vmid: Number(vmid.value), archive: b.volid }),
    () => refresh());
}

/** The Backup tab of guest `g`; `denied(privilege)` says why the caller may not, or null. */
export function backupTab(g, denied) {
  const storages = backupStorages(g.node);
  const noBackup = denied('VM.Backup') || (storages.length ? null : `no storage on ${g.node} holds backups`);
  const noRestore = denied('VM.Allocate');
  const lists = storages.map((s) => {
    const f = fetched(`/nodes/${encodeURIComponent(g.node)}/storage/${encodeURIComponent(s.id)}/content?content=backup&vmid=${g.vmid}`);
    if (f.error) return h('p', { class: 'notice error' }, describe(`Listing the backups on ${s.id}`, f.error));
    if (!f.data) return h('p', { class: 'empty' }, `Asking ${g.node} about ${s.id}…`);
    const rows = [...f.data].sort((a, b) => b.ctime - a.ctime);
    return h('div', {}, h('h4', {}, s.id), table([
      ['Time', (b) => fmtTime(b.ctime)],
      ['Mode', (b) => b.mode],
      ['Size', (b) => fmtBytes(b.size)],
      ['Took', (b) => fmtDuration(b.duration_secs)],
      ['Volume', (b) => b.volid],
      ['', (b) => h('button', {
        type: 'button', 'data-action': 'backup-restore', disabled: !!noRestore,
        title: noRestore ? `Restore: ${noRestore}` : `Restore ${b.volid} as a new guest`,
        onclick: () => openRestore(g, b),
      }, 'Restore')],
    ], rows, { empty: `No backups of ${g.vmid} on ${s.id}.`, 'data-role': 'backups', 'data-storage': s.id,
      rowAttrs: (b) => ({ 'data-volid': b.volid }) }));
  });
  return h('section', { class: 'card wide' },
    h('div', { class: 'toolbar' }, h('button', {
      type: 'button', 'data-action': 'backup-now', disabled: !!noBackup,
      title: noBackup ? `Backup now: ${noBackup}` : `Back up ${guestLabel(g.type)} ${g.vmid} now`,
      onclick: () => openBackupNow(g, storages),
    }, 'Backup now')),
    h('h3', {}, `Backups of ${guestLabel(g.type)} ${g.vmid}`),
    storages.length ? lists : h('p', { class: 'empty' }, `No storage on ${g.node} holds backups.`));
}

// The migrate dialog: the other nodes as targets (offline ones marked), online for a
// running VM; the API's refusal is shown in the dialog, which stays open.

import { describe, post } from '../api.js';
import { h, mount, guestLabel } from '../dom.js';
import { nodes, trackTask, invalidate, refresh } from '../state.js';
import { guestPath, setNotice } from './guest.js';

/** Where dialogs are drawn (outside the re-drawn content panel). */
function dialogRoot() {
  let root = document.getElementById('dialogs');
  if (!root) {
    root = h('div', { id: 'dialogs' });
    document.body.append(root);
  }
  return root;
}

export function closeDialog() {
  mount(dialogRoot());
}

/** Opens the dialog for guest row `g`. */
export function openMigrate(g) {
  const label = `${guestLabel(g.type)} ${g.vmid}`;
  const targets = nodes().filter((n) => n.name !== g.node);
  const select = h('select', { name: 'target', id: 'migrate-target' },
    targets.map((n) => h('option', { value: n.name, disabled: !n.alive },
      n.alive ? `${n.name} (${n.role})` : `${n.name} — offline: no heartbeat`)));
  const firstAlive = targets.find((n) => n.alive);
  if (firstAlive) select.value = firstAlive.name;
  const live = g.type === 'qemu' && g.status === 'running';
  const online = h('input', { type: 'checkbox', name: 'online', id: 'migrate-online', checked: live });
  const message = h('p', { class: 'dialog-message', role: 'alert', 'data-role': 'migrate-message' });
  const submit = h('button', { type: 'submit', class: 'primary', 'data-action': 'migrate-submit',
    disabled: !firstAlive }, 'Migrate');
  const say = (text, kind) => {
    message.className = `dialog-message ${kind}`;
    message.textContent = text;
  };
  if (!targets.length) say('There is no other node to migrate to.', 'error');
  else if (!firstAlive) say('Every other node is offline.', 'error');

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
        setNotice(g.vmid, 'ok', `Migration of ${label} to ${target} started (${how}): see the task panel.`);
        invalidate(guestPath(g));
        closeDialog();
        refresh();
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
  message,
  h('div', { class: 'dialog-buttons' },
    h('button', { type: 'button', 'data-action': 'migrate-cancel', onclick: closeDialog }, 'Cancel'),
    submit));
  mount(dialogRoot(), h('div', { class: 'overlay', onclick: (ev) => { if (ev.target === ev.currentTarget) closeDialog(); } }, form));
  select.focus();
}

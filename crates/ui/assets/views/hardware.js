// A guest's Hardware / Options tab: its config as the node has it, and the edit dialog
// (name, memory, CPU, start at boot, network devices, boot kernel) that sends only what
// changed, with the version it read (a compare-and-swap). The API's validation error is
// shown next to the field whose key it names; the API changes nothing then.

import { describe, put } from '../api.js';
import { h, table, guestLabel } from '../dom.js';
import { fetched, invalidate, refresh } from '../state.js';
import {
  openDialog, closeDialog, field, textInput, numberInput, clearFieldErrors, showFieldError,
} from './form.js';

/** The keys the dialog edits, in its order, per guest type (netN and others are added). */
const EDITED = {
  qemu: [['name', 'Name'], ['memory', 'Memory (MiB)'], ['sockets', 'Sockets'], ['cores', 'Cores'],
    ['onboot', 'Start at boot'], ['kernel', 'Kernel'], ['initrd', 'Initrd'], ['append', 'Kernel command line']],
  lxc: [['hostname', 'Hostname'], ['memory', 'Memory (MiB)'], ['cores', 'Cores'], ['onboot', 'Start at boot']],
};
const NUMERIC = new Set(['memory', 'sockets', 'cores']);
/** How many network devices a guest may have (VM: net0..net31, CT: net0..net9). */
const MAX_NETS = { qemu: 32, lxc: 10 };

/** The privileges that allow some config change (any of them; the API checks per key). */
export const CONFIG_PRIVILEGES = ['VM.Config.CDROM', 'VM.Config.CPU', 'VM.Config.Cloudinit', 'VM.Config.Disk',
  'VM.Config.HWType', 'VM.Config.Memory', 'VM.Config.Network', 'VM.Config.Options'];

/** The edit dialog for guest `g` whose config (GET .../config) is `view`. */
function openEditor(g, path, view) {
  const label = `${guestLabel(g.type)} ${g.vmid}`;
  const now = Object.fromEntries(view.config || []);
  const inputs = new Map();
  const rows = [];
  for (const [key, title] of EDITED[g.type]) {
    let input;
    if (key === 'onboot') {
      input = h('input', { type: 'checkbox', checked: now.onboot === '1' });
    } else if (NUMERIC.has(key)) {
      input = numberInput(now[key] ?? '', { min: 1 });
    } else {
      input = textInput(now[key] ?? '');
    }
    inputs.set(key, input);
    rows.push(field(title, key, input));
  }
  const nets = Object.keys(now).filter((k) => /^net\d+$/.test(k));
  for (const key of nets) {
    const input = textInput(now[key]);
    inputs.set(key, input);
    rows.push(field(`Network device ${key}`, key, input, 'empty removes it'));
  }
  let free = 0;
  while (free < MAX_NETS[g.type] && `net${free}` in now) free += 1;
  if (free < MAX_NETS[g.type]) {
    const key = `net${free}`;
    const input = textInput('', { placeholder: g.type === 'qemu' ? 'virtio,bridge=vmbr0' : 'name=eth0,bridge=vmbr0' });
    inputs.set(key, input);
    rows.push(field(`Add network device ${key}`, key, input));
  }
  const message = h('p', { class: 'dialog-message', role: 'alert', 'data-role': 'config-message' });
  const say = (text, cls) => { message.className = `dialog-message ${cls}`; message.textContent = text; };
  const submit = h('button', { type: 'submit', class: 'primary', 'data-action': 'config-submit' }, 'OK');

  const form = h('form', {
    class: 'dialog', 'data-role': 'config-dialog', novalidate: true,
    onsubmit: async (ev) => {
      ev.preventDefault();
      clearFieldErrors(form);
      const set = {};
      const del = [];
      for (const [key, input] of inputs) {
        const value = input.type === 'checkbox' ? (input.checked ? '1' : '0') : input.value.trim();
        const was = now[key];
        if (input.type === 'checkbox' && was === undefined && value === '0') continue;
        if (value === '' && was !== undefined) del.push(key);
        else if (value !== '' && value !== was) set[key] = value;
      }
      if (!Object.keys(set).length && !del.length) {
        say('Nothing changed.', 'info');
        return;
      }
      submit.disabled = true;
      say(`Changing ${label}…`, 'info');
      try {
        await put(`${path}/config`, { set, delete: del, digest: view.digest });
        closeDialog();
        invalidate(path);
        refresh();
      } catch (e) {
        const text = describe(`Changing ${label}`, e);
        showFieldError(form, text);
        // A refusal (bad value, changed meanwhile, not allowed) changed nothing.
        const refused = e.status >= 400 && e.status < 500;
        say(refused ? `${text} (nothing was changed)` : text, 'error');
        submit.disabled = false;
      }
    },
  },
  h('h2', {}, `Edit ${label}${g.name ? ` (${g.name})` : ''}`),
  h('p', { class: 'hint' }, `Config version ${view.digest} on ${view.node}; a change made meanwhile elsewhere is refused.`),
  rows, message,
  h('div', { class: 'dialog-buttons' },
    h('button', { type: 'button', 'data-action': 'config-cancel', onclick: closeDialog }, 'Cancel'), submit));
  openDialog(form);
}

/** The Hardware / Options tab of guest `g` (API path `path`); `denied` why it may not edit. */
export function configTab(g, path, denied) {
  const c = fetched(`${path}/config`);
  if (c.error) return h('p', { class: 'notice error' }, describe('Reading the config', c.error));
  if (!c.data) return h('p', { class: 'empty' }, 'Asking the node…');
  const view = c.data;
  return h('section', { class: 'card wide' },
    h('div', { class: 'toolbar' }, h('button', {
      type: 'button', 'data-action': 'config-edit', disabled: !!denied,
      title: denied ? `Edit: ${denied}` : `Edit the config of ${guestLabel(g.type)} ${g.vmid}`,
      onclick: () => openEditor(g, path, view),
    }, 'Edit')),
    h('h3', { 'data-role': 'config-digest', 'data-digest': view.digest }, `Config (version ${view.digest})`),
    table([['Key', ([k]) => k], ['Value', ([, v]) => v]], view.config || [], { 'data-role': 'config' }));
}

// The Create VM and Create CT wizards, as Proxmox's: General (node from the live nodes,
// VMID suggested by GET /cluster/nextid, name), OS (a VM's kernel/initrd or a CT's
// template), Disks (a storage holding images / rootdir on that node, size), CPU, Memory,
// Network (a bridge of the node, or none), Confirm (the config sent, start after
// created). The API's error goes next to the field it names, on its step.

import { describe, get, post } from '../api.js';
import { h, mount, table } from '../dom.js';
import { state, nodes, invalidate, refresh } from '../state.js';
import {
  openDialog, closeDialog, field, textInput, numberInput, selectInput, clearFieldErrors, showFieldError,
} from './form.js';

const STEPS = [
  ['general', 'General'], ['os', 'OS'], ['disks', 'Disks'], ['cpu', 'CPU'],
  ['memory', 'Memory'], ['network', 'Network'], ['confirm', 'Confirm'],
];
/** The suggested sizes, as Proxmox's wizard has them. */
const DEFAULTS = { memory: 512, cores: 1, sockets: 1, diskGiB: 8 };
/** The kernel command line of the test appliance (brigade_guest's APPLIANCE_APPEND). */
const APPLIANCE_APPEND = 'console=ttyS0 quiet panic=-1 cryptomgr.notests';
/** NIC models of a VM (brigade_guest's NET_MODELS). */
const NET_MODELS = ['virtio', 'e1000', 'rtl8139', 'vmxnet3'];
/** The config key of the disk each kind gets. */
const DISK_KEY = { qemu: 'scsi0', lxc: 'rootfs' };

/** The storages of storage.cfg that hold `content` on `node` and are enabled. */
function storagesFor(content, node) {
  return state.storages.filter((s) => !s.disable && (s.content || []).includes(content)
    && (!s.nodes || s.nodes.includes(node)));
}

/** Opens the wizard for `kind` (`qemu` or `lxc`). */
export function openCreateWizard(kind) {
  const vm = kind === 'qemu';
  const noun = vm ? 'VM' : 'CT';
  const live = nodes().filter((n) => n.alive);
  const local = live.find((n) => n.local) || live[0];
  const message = h('p', { class: 'dialog-message', role: 'alert', 'data-role': 'wizard-message' });
  const say = (text, cls) => { message.className = `dialog-message ${cls}`; message.textContent = text; };

  const node = selectInput(nodes().map((n) => [n.name, n.alive ? n.name : `${n.name} (offline)`, !n.alive]),
    local ? local.name : null, { id: 'wizard-node' });
  const vmid = numberInput('', { id: 'wizard-vmid', min: 100 });
  const name = textInput('', { id: 'wizard-name', placeholder: vm ? 'web-1' : 'ct-1' });
  const kernel = textInput('', { id: 'wizard-kernel', placeholder: '/var/lib/brigade/images/vmlinuz' });
  const initrd = textInput('', { id: 'wizard-initrd', placeholder: '/var/lib/brigade/images/initramfs.img' });
  const append = textInput(APPLIANCE_APPEND, { id: 'wizard-append' });
  const ostemplate = textInput('', { id: 'wizard-ostemplate', placeholder: '/var/lib/brigade/templates/debian' });
  const storage = selectInput([], null, { id: 'wizard-storage' });
  const size = numberInput(vm ? DEFAULTS.diskGiB : 1, { id: 'wizard-size', min: 1 });
  const sockets = numberInput(DEFAULTS.sockets, { id: 'wizard-sockets', min: 1 });
  const cores = numberInput(DEFAULTS.cores, { id: 'wizard-cores', min: 1 });
  const memory = numberInput(vm ? DEFAULTS.memory : 512, { id: 'wizard-memory', min: 16 });
  const bridge = selectInput([['', 'No network device']], '', { id: 'wizard-bridge' });
  const model = selectInput(NET_MODELS.map((m) => [m, m]), 'virtio', { id: 'wizard-model' });
  const startAfter = h('input', { type: 'checkbox', id: 'wizard-start' });
  const summary = h('div', { 'data-role': 'wizard-summary' });

  /** The node's storages and bridges, again when another node is chosen. */
  function nodeChanged() {
    const content = vm ? 'images' : 'rootdir';
    const list = storagesFor(content, node.value);
    mount(storage, list.length ? list.map((s) => h('option', { value: s.id },
      `${s.id} (${s.kind}${s.shared ? ', shared' : ''})`))
      : h('option', { value: '', disabled: true }, `no storage holds ${content} on ${node.value}`));
    const keepBridge = bridge.value;
    get(`/nodes/${encodeURIComponent(node.value)}/network`).then((rows) => {
      mount(bridge, h('option', { value: '' }, 'No network device'),
        (rows || []).map((r) => h('option', { value: r.iface }, `${r.iface} (${r.type}${r.zone ? ` ${r.zone}` : ''})`)));
      bridge.value = keepBridge;
    }, () => {});
  }
  node.addEventListener('change', nodeChanged);
  nodeChanged();
  get('/cluster/nextid').then((n) => { if (!vmid.value) vmid.value = n.vmid; },
    (e) => say(describe('Asking for a free VMID', e), 'error'));

  /** The config keys the create sends, in the order shown on Confirm. */
  function config() {
    const c = {};
    if (name.value.trim()) c[vm ? 'name' : 'hostname'] = name.value.trim();
    if (vm) {
      if (kernel.value.trim()) c.kernel = kernel.value.trim();
      if (initrd.value.trim()) c.initrd = initrd.value.trim();
      if (kernel.value.trim() && append.value.trim()) c.append = append.value.trim();
    }
    c[DISK_KEY[kind]] = `${storage.value}:${size.value}`;
    if (vm) c.sockets = sockets.value;
    c.cores = cores.value;
    c.memory = memory.value;
    if (bridge.value) c.net0 = vm ? `${model.value},bridge=${bridge.value}` : `name=eth0,bridge=${bridge.value}`;
    return c;
  }

  const pages = {
    general: [
      field('Node', 'node', node, 'where it is created; it may move later'),
      field('VM ID', 'vmid', vmid, 'the next free one is suggested'),
      field(vm ? 'Name' : 'Hostname', vm ? 'name' : 'hostname', name),
    ],
    os: vm
      ? [h('p', { class: 'hint' }, 'Direct kernel boot (as the test appliance): the kernel and initrd on the node; leave empty to boot from the disk.'),
        field('Kernel', 'kernel', kernel), field('Initrd', 'initrd', initrd), field('Kernel command line', 'append', append)]
      : [field('Template', 'ostemplate', ostemplate, 'a root file system directory on the node, copied into the container')],
    disks: [field('Storage', DISK_KEY[kind], storage, vm ? 'storages holding images' : 'storages holding rootdir'),
      field('Disk size (GiB)', 'size', size)],
    cpu: vm ? [field('Sockets', 'sockets', sockets), field('Cores', 'cores', cores)] : [field('Cores', 'cores', cores)],
    memory: [field('Memory (MiB)', 'memory', memory)],
    network: vm ? [field('Bridge', 'net0', bridge), field('Model', 'model', model)] : [field('Bridge', 'net0', bridge)],
    confirm: [summary, field('Start after created', 'start', startAfter)],
  };
  const pageEls = Object.fromEntries(STEPS.map(([s]) => [s, h('div', { class: 'wizard-page', 'data-step-page': s }, pages[s])]));
  const tabs = h('nav', { class: 'wizard-steps', 'data-role': 'wizard-steps' });
  const back = h('button', { type: 'button', 'data-action': 'wizard-back' }, 'Back');
  const next = h('button', { type: 'button', class: 'primary', 'data-action': 'wizard-next' }, 'Next');
  const finish = h('button', { type: 'submit', class: 'primary', 'data-action': 'wizard-finish' }, 'Finish');
  let step = 0;

  function show(i) {
    step = Math.max(0, Math.min(STEPS.length - 1, i));
    mount(tabs, STEPS.map(([s, label], j) => h('a', {
      href: '#', class: j === step ? 'tab active' : 'tab', 'data-step': s,
      onclick: (ev) => { ev.preventDefault(); show(j); },
    }, label)));
    for (const [s, el] of Object.entries(pageEls)) el.classList.toggle('hidden', s !== STEPS[step][0]);
    back.disabled = step === 0;
    next.classList.toggle('hidden', step === STEPS.length - 1);
    finish.classList.toggle('hidden', step !== STEPS.length - 1);
    if (STEPS[step][0] === 'confirm') {
      const rows = [['node', node.value], ['vmid', vmid.value], ...Object.entries(config())];
      if (!vm) rows.push(['ostemplate', ostemplate.value.trim()]);
      mount(summary, table([['Key', ([k]) => k], ['Value', ([, v]) => v]], rows, { 'data-role': 'wizard-config' }));
    }
  }
  back.addEventListener('click', () => show(step - 1));
  next.addEventListener('click', () => show(step + 1));

  /** Shows the API's error next to the field it names, on that field's step. */
  function fieldError(text) {
    clearFieldErrors(form);
    let key = showFieldError(form, text);
    if (!key && /already exists|VMID/i.test(text)) {
      key = 'vmid';
      const slot = form.querySelector('[data-field-error="vmid"]');
      slot.textContent = text;
      slot.closest('.field-row').classList.add('invalid');
    }
    if (!key) return false;
    const page = form.querySelector(`[data-field-error="${key}"]`).closest('[data-step-page]');
    show(STEPS.findIndex(([s]) => s === page.dataset.stepPage));
    return true;
  }

  const form = h('form', {
    class: 'dialog wizard', 'data-role': 'create-wizard', 'data-kind': kind, novalidate: true,
    onsubmit: async (ev) => {
      ev.preventDefault();
      clearFieldErrors(form);
      const id = Number(vmid.value);
      const body = { vmid: id, config: config(), start: startAfter.checked };
      if (!vm) body.ostemplate = ostemplate.value.trim() || null;
      finish.disabled = true;
      say(`Creating ${noun} ${id} on ${node.value}${startAfter.checked ? ' and starting it' : ''}…`, 'info');
      try {
        await post(`/nodes/${encodeURIComponent(node.value)}/${kind}`, body);
        closeDialog();
        invalidate('/nodes');
        refresh();
        location.hash = `#/guest/${id}`;
      } catch (e) {
        const text = describe(`Creating ${noun} ${id}`, e);
        say(fieldError(text) ? `${text} (see the field marked)` : text, 'error');
        finish.disabled = false;
      }
    },
  },
  h('h2', {}, `Create ${vm ? 'Virtual Machine' : 'Container'}`),
  tabs, Object.values(pageEls), message,
  h('div', { class: 'dialog-buttons' },
    h('button', { type: 'button', 'data-action': 'wizard-cancel', onclick: closeDialog }, 'Cancel'),
    back, next, finish));
  show(0);
  openDialog(form);
  vmid.focus();
}

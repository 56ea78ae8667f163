// HA in the page: the Datacenter's HA tab (the manager, each LRM, each service with
// Add / Edit (requested state) / Remove, and the rules with their state) and a guest's
// HA card with Add to HA / Remove from HA. Changing HA needs Sys.Console on `/`; without
// it the buttons are disabled with that reason (the API checks every call again).

import { describe, post, put, del } from '../api.js';
import { h, facts, table, badge, fmtDuration } from '../dom.js';
import { state, fetched, invalidate, refresh, lacks } from '../state.js';
import { openDialog, closeDialog, field, textInput, selectInput, clearFieldErrors, showFieldError } from './form.js';

/** The states a resource may be asked for (ha-manager's). */
const REQUEST_STATES = ['started', 'stopped', 'disabled', 'ignored'];
/** The last HA change's outcome, shown until the next one: {kind, text}. */
let notice = null;

/** Why the caller may not change HA, or null (also while that is unknown). */
export function haForbidden() {
  return lacks('/', 'Sys.Console');
}

/** The HA service id of guest row `g`: `vm:100`, `ct:200`. */
export function sidOf(g) {
  return `${g.type === 'lxc' ? 'ct' : 'vm'}:${g.vmid}`;
}

async function change(what, call) {
  notice = { kind: 'info', text: `${what}…` };
  refresh();
  try {
    await call();
    notice = { kind: 'ok', text: `${what}: done.` };
  } catch (e) {
    notice = { kind: 'error', text: describe(what, e) };
  }
  invalidate('/cluster/ha');
  refresh(['ha']);
}

function noticeEl() {
  return notice ? h('p', { class: `notice ${notice.kind}`, role: 'status', 'data-role': 'ha-result' }, notice.text) : null;
}

/** A button that changes HA: disabled with the reason when the caller may not. */
function haButton(action, label, onclick, extra = null) {
  const why = haForbidden() || extra;
  return h('button', { type: 'button', 'data-action': action, disabled: !!why,
    title: why ? `${label}: ${why}` : label, onclick }, label);
}

/** The dialog adding `sid` (empty: typed in) or changing the request of service `svc`. */
function openResourceDialog(svc, sid = '') {
  const sidInput = textInput(svc ? svc.sid : sid, { id: 'ha-sid', placeholder: 'vm:100', disabled: !!svc });
  const stateInput = selectInput(REQUEST_STATES.map((s) => [s, s]), svc ? svc.request : 'started', { id: 'ha-state' });
  const message = h('p', { class: 'dialog-message', role: 'alert', 'data-role': 'ha-message' });
  const form = h('form', {
    class: 'dialog', 'data-role': 'ha-dialog', novalidate: true,
    onsubmit: async (ev) => {
      ev.preventDefault();
      clearFieldErrors(form);
      const id = sidInput.value.trim();
      try {
        if (svc) await put(`/cluster/ha/resources/${encodeURIComponent(id)}`, { state: stateInput.value });
        else await post('/cluster/ha/resources', { sid: id, state: stateInput.value });
        notice = { kind: 'ok', text: `${svc ? 'Changed' : 'Added'} HA resource ${id} (${stateInput.value}).` };
        closeDialog();
        refresh(['ha']);
      } catch (e) {
        const text = describe(`${svc ? 'Changing' : 'Adding'} HA resource ${id}`, e);
        if (!showFieldError(form, text) && /\b(sid|service|vm:|ct:)/i.test(text)) {
          form.querySelector('[data-field-error=sid]').textContent = text;
        }
        message.className = 'dialog-message error';
        message.textContent = text;
      }
    },
  },
  h('h2', {}, svc ? `HA resource ${svc.sid}` : 'Add an HA resource'),
  field('Service', 'sid', sidInput, svc ? null : 'vm:VMID or ct:VMID'),
  field('Requested state', 'state', stateInput),
  message,
  h('div', { class: 'dialog-buttons' },
    svc ? h('button', { type: 'button', 'data-action': 'ha-remove', onclick: () => {
      closeDialog();
      change(`Removing ${svc.sid} from HA`, () => del(`/cluster/ha/resources/${encodeURIComponent(svc.sid)}`));
    } }, 'Remove') : null,
    h('button', { type: 'button', 'data-action': 'ha-cancel', onclick: closeDialog }, 'Cancel'),
    h('button', { type: 'submit', class: 'primary', 'data-action': 'ha-submit' }, svc ? 'OK' : 'Add')));
  openDialog(form);
}

function rules() {
  const r = fetched('/cluster/ha/rules');
  if (r.error) return h('p', { class: 'notice error' }, describe('Listing the HA rules', r.error));
  if (!r.data) return h('p', { class: 'empty' }, 'Asking the node…');
  return table([
    ['Rule', (x) => x.rule],
    ['Type', (x) => x.type],
    ['Resources', (x) => x.resources],
    ['Nodes / affinity', (x) => x.nodes || x.affinity || '-'],
    ['Strict', (x) => (x.strict ? 'yes' : 'no')],
    ['State', (x) => badge(x.state, x.state === 'enabled' ? 'ok' : 'error')],
    ['Note', (x) => x.reason || x.comment || ''],
  ], Array.isArray(r.data) ? r.data : [], { empty: 'No HA rules.', 'data-role': 'ha-rules',
    rowAttrs: (x) => ({ 'data-rule': x.rule }) });
}

/** The Datacenter's HA tab. */
export function haTab() {
  const s = state.ha;
  if (state.errors.ha) return h('p', { class: 'notice error' }, `HA status: ${state.errors.ha.message}`);
  if (!s) return h('p', { class: 'empty' }, 'Waiting for the HA status…');
  return h('div', {},
    s.stale ? h('p', { class: 'notice error' }, `This view may be out of date: ${s.stale}`) : null,
    noticeEl(),
    h('section', { class: 'card' }, h('h3', {}, 'Manager'), facts([
      ['Quorate', s.quorate ? badge('Yes', 'ok') : badge('No', 'error')],
      ['Master', s.master || 'none', 'master'],
      ['Fence timeout', fmtDuration(s.fence_timeout_ms / 1000)],
      ['Lease', fmtDuration(s.lease_ms / 1000)],
      ['View of', s.view_of],
    ])),
    h('section', { class: 'card wide' }, h('h3', {}, 'LRMs'), table([
      ['Node', (n) => n.name],
      ['State', (n) => badge(n.state)],
      ['Mode', (n) => n.mode],
      ['Heard', (n) => (n.alive ? 'yes' : badge('no', 'error'))],
      ['Last renewal', (n) => (n.renewal_age_ms === undefined || n.renewal_age_ms === null
        ? '-' : `${(n.renewal_age_ms / 1000).toFixed(1)} s ago`)],
    ], s.nodes || [], { 'data-role': 'lrms', rowAttrs: (n) => ({ 'data-node': n.name }) })),
    h('section', { class: 'card wide' }, h('h3', {}, 'Services'),
      h('div', { class: 'toolbar' }, haButton('ha-add', 'Add', () => openResourceDialog(null))),
      table([
        ['Service', (r) => r.sid],
        ['State', (r) => badge(r.state)],
        ['Node', (r) => r.node],
        ['Target', (r) => r.target || '-'],
        ['Request', (r) => r.request],
        ['Running', (r) => (r.running === null || r.running === undefined ? '?' : (r.running ? 'yes' : 'no'))],
        ['Group', (r) => r.group || '-'],
        ['Note', (r) => r.last_error || r.held || ''],
        ['', (r) => haButton('ha-edit', 'Edit', () => openResourceDialog(r))],
      ], s.services || [], { empty: 'No HA services.', 'data-role': 'ha-services',
        rowAttrs: (r) => ({ 'data-sid': r.sid }) })),
    h('section', { class: 'card wide' }, h('h3', {}, 'Rules'), rules()));
}

/** A guest's HA card, with Add to HA / Remove from HA. */
export function haCard(g) {
  const sid = sidOf(g);
  const svc = state.ha ? (state.ha.services || []).find((r) => r.sid === sid) : null;
  const button = svc
    ? haButton('ha-guest-remove', 'Remove from HA', () => change(`Removing ${sid} from HA`,
      () => del(`/cluster/ha/resources/${encodeURIComponent(sid)}`)))
    : haButton('ha-guest-add', 'Add to HA', () => change(`Adding ${sid} to HA`,
      () => post('/cluster/ha/resources', { sid, state: 'started' })), state.ha ? null : 'the HA status is not known yet');
  return h('section', { class: 'card', 'data-role': 'guest-ha' }, h('h3', {}, 'High availability'),
    svc
      ? facts([
        ['Service', sid],
        ['State', badge(svc.state), 'ha-state'],
        ['Request', svc.request],
        ['Note', svc.last_error || svc.held || null],
      ])
      : h('p', { class: 'empty' }, `${sid} is not managed by HA.`),
    h('div', { class: 'toolbar' }, button),
    noticeEl());
}

// Datacenter → Permissions → Roles (built-in ones listed with their privileges, custom ones
// added, edited, deleted with Sys.Modify on /access) and Realms (listed).

import { post, put, del } from '../../api.js';
import { h, badge, table } from '../../dom.js';
import { fetched, lacks } from '../../state.js';
import { textInput } from '../form.js';
import { actionButton, card, confirmChange, formDialog, listOf, splitList } from './common.js';

const roleDenied = () => lacks('/access', 'Sys.Modify');

/** Every privilege the built-in roles name (Administrator holds them all). */
function allPrivileges(roles) {
  const set = new Set();
  for (const r of roles) for (const p of splitList(r.privs)) set.add(p);
  return [...set].sort();
}

function openRole(r, roles) {
  const id = textInput(r ? r.roleid : '', { id: 'role-roleid', disabled: !!r });
  const held = new Set(r ? splitList(r.privs) : []);
  const boxes = allPrivileges(roles).map((p) => h('label', { class: 'priv' },
    h('input', { type: 'checkbox', value: p, checked: held.has(p), 'data-priv': p }), p));
  const privs = h('div', { class: 'privs', id: 'role-privs' }, boxes);
  formDialog({
    role: 'role-dialog',
    title: r ? `Role ${r.roleid}` : 'Add a role',
    what: r ? `Changing role ${r.roleid}` : 'Adding the role',
    fields: [['Role', 'roleid', id]],
    extra: [h('h3', {}, 'Privileges'), privs, h('span', { class: 'field-error', 'data-field-error': 'privs' })],
    submit: () => {
      const chosen = [...privs.querySelectorAll('input:checked')].map((b) => b.value).join(',');
      return r ? put(`/access/roles/${encodeURIComponent(r.roleid)}`, { privs: chosen })
        : post('/access/roles', { roleid: id.value.trim(), privs: chosen });
    },
    ok: () => `${r ? 'Changed' : 'Added'} role ${r ? r.roleid : id.value.trim()}.`,
  });
}

/** The Roles tab. */
export function rolesTab() {
  const { el, list } = listOf(fetched('/access/roles'), 'the roles');
  return card('Roles', 'roles', [actionButton('role-add', 'Add', roleDenied() || (list ? null : 'the roles are not known yet'),
    () => openRole(null, list))],
  el || table([
    ['Role', (r) => r.roleid],
    ['Built-in', (r) => (r.special ? badge('built-in', 'ok') : 'no')],
    ['Privileges', (r) => h('span', { class: 'priv-list' }, splitList(r.privs).join(', '))],
    ['', (r) => (r.special ? '' : h('span', { class: 'row-actions' },
      actionButton('role-edit', 'Edit', roleDenied(), () => openRole(r, list)),
      actionButton('role-delete', 'Delete', roleDenied(), () => confirmChange(`Deleting role ${r.roleid}`,
        () => del(`/access/roles/${encodeURIComponent(r.roleid)}`)))))],
  ], list, { empty: 'No roles.', 'data-role': 'role-list', rowAttrs: (r) => ({ 'data-roleid': r.roleid }) }));
}

/** The Realms tab: the realms this cluster authenticates against (read only). */
export function realmsTab() {
  const { el, list } = listOf(fetched('/access/domains'), 'the realms');
  return card('Realms', 'realms', [], el || table([
    ['Realm', (d) => d.realm],
    ['Type', (d) => d.type],
    ['Default', (d) => (d.default ? 'yes' : '')],
    ['Comment', (d) => d.comment],
  ], list, { empty: 'No realms.', 'data-role': 'realm-list', rowAttrs: (d) => ({ 'data-realm': d.realm }) }));
}

// Datacenter → Permissions: the ACL (path, user/group/token, role, propagate) with Add
// and Remove (Permissions.Modify on the path; the API checks the role's privileges too).

import { put } from '../../api.js';
import { h, table } from '../../dom.js';
import { fetched, lacks } from '../../state.js';
import { textInput, selectInput } from '../form.js';
import { actionButton, card, confirmChange, formDialog, listOf } from './common.js';

/** The body key of PUT /access/acl for each kind of subject. */
const SUBJECT_KEY = { user: 'users', group: 'groups', token: 'tokens' };

/** The subjects of each kind the caller can see: users, groups and API tokens. */
function subjects() {
  const users = Array.isArray(fetched('/access/users').data) ? fetched('/access/users').data : [];
  const groups = Array.isArray(fetched('/access/groups').data) ? fetched('/access/groups').data : [];
  return {
    user: users.map((u) => u.userid),
    group: groups.map((g) => g.groupid),
    token: users.flatMap((u) => (u.tokens || []).map((t) => `${u.userid}!${t.tokenid}`)),
  };
}

function openAdd() {
  const subs = subjects();
  const roles = Array.isArray(fetched('/access/roles').data) ? fetched('/access/roles').data : [];
  const path = textInput('/', { id: 'acl-path', placeholder: '/vms/100, /pool/ops, /storage/local' });
  const kind = selectInput([['group', 'Group'], ['user', 'User'], ['token', 'API token']], 'group', { id: 'acl-kind' });
  const ugid = selectInput([], null, { id: 'acl-ugid' });
  const fill = () => {
    ugid.replaceChildren(...subs[kind.value].map((s) => h('option', { value: s }, s)));
  };
  kind.addEventListener('change', fill);
  fill();
  const role = selectInput(roles.map((r) => [r.roleid, r.roleid]), 'PVEAuditor', { id: 'acl-role' });
  const propagate = h('input', { type: 'checkbox', checked: true, id: 'acl-propagate' });
  formDialog({
    role: 'acl-dialog',
    title: 'Add a permission',
    what: 'Adding the permission',
    fields: [['Path', 'path', path], ['Kind', 'kind', kind], ['Who', SUBJECT_KEY.user, ugid],
      ['Role', 'roles', role], ['Propagate', 'propagate', propagate, 'to the paths below it']],
    submit: () => put('/access/acl', {
      path: path.value.trim(),
      roles: role.value,
      [SUBJECT_KEY[kind.value]]: ugid.value,
      propagate: propagate.checked,
    }),
    ok: () => `Gave ${ugid.value} ${role.value} on ${path.value.trim()}.`,
  });
}

function remove(e) {
  confirmChange(`Removing ${e.roleid} of ${e.ugid} on ${e.path}`, () => put('/access/acl', {
    path: e.path, roles: e.roleid, [SUBJECT_KEY[e.type] || 'users']: e.ugid, delete: true,
  }));
}

/** The Permissions tab: the ACL. */
export function aclTab() {
  const { el, list } = listOf(fetched('/access/acl'), 'the permissions');
  // What the Add dialog offers, read with the list.
  const known = ['/access/users', '/access/groups', '/access/roles'].every((p) => fetched(p).data);
  return card('Permissions', 'acl', [
    actionButton('acl-add', 'Add', lacks('/', 'Permissions.Modify')
      || (known ? null : 'the users, groups and roles are not known yet'), openAdd),
  ], el || table([
    ['Path', (e) => e.path],
    ['Kind', (e) => e.type],
    ['User / group / token', (e) => e.ugid],
    ['Role', (e) => e.roleid],
    ['Propagate', (e) => (e.propagate ? 'yes' : 'no')],
    ['', (e) => actionButton('acl-remove', 'Remove', lacks(e.path, 'Permissions.Modify'), () => remove(e))],
  ], list, {
    empty: 'No permissions.',
    'data-role': 'acl-list',
    rowAttrs: (e) => ({ 'data-acl': `${e.path} ${e.ugid} ${e.roleid}` }),
  }));
}

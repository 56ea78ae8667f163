// Datacenter → Permissions → Users: the list, Add, Edit (enabled, expiry, names, groups),
// Password and Delete, each disabled with the reason when the caller lacks User.Modify.

import { post, put, del, session } from '../../api.js';
import { h, badge, table, fmtTime } from '../../dom.js';
import { fetched, lacks } from '../../state.js';
import { textInput } from '../form.js';
import {
  actionButton, card, confirmChange, dateSecs, dateValue, formDialog, listOf, splitList,
} from './common.js';

/** Where User.Modify lets one manage users (as in Proxmox VE). */
const USERS_PATH = '/access/groups';

/** Why the caller may not change user `userid` (oneself: may change one's password). */
function denied(userid = null, own = false) {
  if (own && userid && session() && session().user === userid) return null;
  return lacks(USERS_PATH, 'User.Modify');
}

function password(attrs = {}) {
  return h('input', { type: 'password', autocomplete: 'new-password', ...attrs });
}

function checkbox(checked, attrs = {}) {
  return h('input', { type: 'checkbox', checked: !!checked, ...attrs });
}

function userFields(u) {
  const f = {
    enable: checkbox(u ? u.enable : true, { id: 'user-enable' }),
    expire: h('input', { type: 'date', id: 'user-expire', value: dateValue(u && u.expire) }),
    firstname: textInput(u ? u.firstname : '', { id: 'user-firstname' }),
    lastname: textInput(u ? u.lastname : '', { id: 'user-lastname' }),
    email: textInput(u ? u.email : '', { id: 'user-email' }),
    groups: textInput(u ? (u.groups || []).join(',') : '', { id: 'user-groups', placeholder: 'admins,ops' }),
    comment: textInput(u ? u.comment : '', { id: 'user-comment' }),
  };
  const body = () => ({
    enable: f.enable.checked,
    expire: dateSecs(f.expire.value),
    firstname: f.firstname.value.trim(),
    lastname: f.lastname.value.trim(),
    email: f.email.value.trim(),
    groups: splitList(f.groups.value).join(','),
    comment: f.comment.value.trim(),
  });
  const rows = [
    ['Enabled', 'enable', f.enable],
    ['Expires', 'expire', f.expire, 'empty: never'],
    ['First name', 'firstname', f.firstname],
    ['Last name', 'lastname', f.lastname],
    ['E-mail', 'email', f.email],
    ['Groups', 'groups', f.groups, 'comma-separated group ids'],
    ['Comment', 'comment', f.comment],
  ];
  return { rows, body };
}

function openAdd() {
  const userid = textInput('', { id: 'user-userid', placeholder: 'alice@pve' });
  const pw = password({ id: 'user-password' });
  const { rows, body } = userFields(null);
  formDialog({
    role: 'user-dialog',
    title: 'Add a user',
    what: 'Adding the user',
    fields: [['User', 'userid', userid, 'name@realm (pve: brigade\'s own realm, pam: a Linux account)'],
      ['Password', 'password', pw, 'for the pve realm'], ...rows],
    submit: () => {
      const b = { userid: userid.value.trim(), ...body() };
      if (!b.groups) delete b.groups;
      if (pw.value) b.password = pw.value;
      return post('/access/users', b);
    },
    ok: (u) => `Added user ${u ? u.userid : userid.value.trim()}.`,
  });
}

function openEdit(u) {
  const { rows, body } = userFields(u);
  formDialog({
    role: 'user-dialog',
    title: `User ${u.userid}`,
    what: `Changing user ${u.userid}`,
    fields: rows,
    submit: () => put(`/access/users/${encodeURIComponent(u.userid)}`, body()),
    ok: () => `Changed user ${u.userid}.`,
  });
}

function openPassword(u) {
  const pw = password({ id: 'password-new' });
  const again = password({ id: 'password-again' });
  const me = session() ? session().user : '';
  const mine = me !== 'root@pam' ? password({ id: 'password-mine', autocomplete: 'current-password' }) : null;
  formDialog({
    role: 'password-dialog',
    title: `Password of ${u.userid}`,
    what: `Setting the password of ${u.userid}`,
    fields: [['New password', 'password', pw], ['Again', 'again', again],
      mine ? ['Your own password', 'confirmation-password', mine, `${me}: asked again, as Proxmox does`] : null],
    submit: () => {
      if (pw.value !== again.value) return Promise.reject(new Error('again: the two passwords differ'));
      const b = { userid: u.userid, password: pw.value };
      if (mine) b['confirmation-password'] = mine.value;
      return put('/access/password', b);
    },
    ok: () => `Set the password of ${u.userid}.`,
  });
}

/** The Users tab. */
export function usersTab() {
  const { el, list } = listOf(fetched('/access/users'), 'the users');
  return card('Users', 'users', [
    actionButton('user-add', 'Add', denied(), openAdd),
  ], el || table([
    ['User', (u) => u.userid],
    ['Enabled', (u) => (u.enable ? 'yes' : badge('no', 'error'))],
    ['Expires', (u) => (u.expire ? fmtTime(u.expire).slice(0, 10) : 'never')],
    ['Name', (u) => [u.firstname, u.lastname].filter(Boolean).join(' ')],
    ['E-mail', (u) => u.email],
    ['Groups', (u) => (u.groups || []).join(', ')],
    ['Comment', (u) => u.comment],
    ['', (u) => h('span', { class: 'row-actions' },
      actionButton('user-edit', 'Edit', denied(u.userid), () => openEdit(u)),
      actionButton('user-password', 'Password', !u.userid.endsWith('@pam') ? denied(u.userid, true)
        : 'a pam user\'s password is its Linux account\'s', () => openPassword(u)),
      actionButton('user-delete', 'Delete', denied(u.userid) || (u.userid === 'root@pam' ? 'root@pam stays' : null),
        () => confirmChange(`Deleting user ${u.userid}`, () => del(`/access/users/${encodeURIComponent(u.userid)}`))))],
  ], list, { empty: 'No users.', 'data-role': 'user-list', rowAttrs: (u) => ({ 'data-user': u.userid }) }));
}

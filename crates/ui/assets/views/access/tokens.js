// Datacenter → Permissions → API Tokens: each user's tokens (the owner, or User.Modify),
// Add showing the secret once, privilege separation, Remove.

import { post, del, session } from '../../api.js';
import { h, table, fmtTime } from '../../dom.js';
import { fetched, lacks } from '../../state.js';
import { textInput, selectInput } from '../form.js';
import { actionButton, card, confirmChange, dateSecs, formDialog, listOf } from './common.js';

/** Why the caller may not manage `owner`'s tokens: one's own (not as a token), or User.Modify. */
function denied(owner) {
  const s = session();
  if (s && s.type !== 'token' && s.user === owner) return null;
  return lacks('/access/groups', 'User.Modify');
}

function openAdd(users) {
  const me = session() ? session().user : '';
  const owners = users.map((u) => u.userid).filter((u) => !denied(u));
  const owner = selectInput(owners.map((u) => [u, u]), owners.includes(me) ? me : owners[0], { id: 'token-owner' });
  const id = textInput('', { id: 'token-tokenid', placeholder: 'automation' });
  const privsep = h('input', { type: 'checkbox', checked: true, id: 'token-privsep' });
  const expire = h('input', { type: 'date', id: 'token-expire' });
  const comment = textInput('', { id: 'token-comment' });
  formDialog({
    role: 'token-dialog',
    title: 'Add an API token',
    what: 'Adding the API token',
    fields: [['User', 'userid', owner], ['Token id', 'tokenid', id],
      ['Privilege separation', 'privsep', privsep, 'its own ACL entries, at most the user\'s'],
      ['Expires', 'expire', expire, 'empty: never'], ['Comment', 'comment', comment]],
    submit: () => post(`/access/users/${encodeURIComponent(owner.value)}/token/${encodeURIComponent(id.value.trim())}`, {
      privsep: privsep.checked, expire: dateSecs(expire.value), comment: comment.value.trim(),
    }),
    after: (t) => h('div', { 'data-role': 'token-secret' },
      h('p', {}, 'The token\'s secret, shown this once: copy it now.'),
      h('p', {}, 'Token: ', h('code', { 'data-role': 'token-full-id' }, t['full-tokenid'])),
      h('p', {}, 'Secret: ', h('code', { 'data-role': 'token-value' }, t.value))),
    ok: (t) => `Added API token ${t['full-tokenid']}.`,
  });
}

/** The API Tokens tab. */
export function tokensTab() {
  const { el, list } = listOf(fetched('/access/users'), 'the users');
  const rows = (list || []).flatMap((u) => (u.tokens || []).map((t) => ({ ...t, userid: u.userid })));
  return card('API Tokens', 'tokens', [
    actionButton('token-add', 'Add', list && !list.some((u) => !denied(u.userid))
      ? 'you may manage no user\'s tokens' : null, () => openAdd(list || [])),
  ], el || table([
    ['User', (t) => t.userid],
    ['Token id', (t) => t.tokenid],
    ['Privilege separation', (t) => (t.privsep ? 'yes' : 'no')],
    ['Expires', (t) => (t.expire ? fmtTime(t.expire).slice(0, 10) : 'never')],
    ['Comment', (t) => t.comment],
    ['', (t) => actionButton('token-remove', 'Remove', denied(t.userid), () => confirmChange(
      `Removing API token ${t.userid}!${t.tokenid}`,
      () => del(`/access/users/${encodeURIComponent(t.userid)}/token/${encodeURIComponent(t.tokenid)}`)))],
  ], rows, { empty: 'No API tokens.', 'data-role': 'token-list', rowAttrs: (t) => ({ 'data-token': `${t.userid}!${t.tokenid}` }) }));
}

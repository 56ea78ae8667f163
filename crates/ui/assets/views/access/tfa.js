// Datacenter → Permissions → Two Factor: the second factors, and a TOTP enrolled from the
// page: the node makes a secret and its otpauth:// URI as a QR code (an SVG made on the
// node), the user scans it and types a current code, which stores it; the login form asks
// for the code from then on.

import { post, del, session } from '../../api.js';
import { h, table, fmtTime } from '../../dom.js';
import { fetched, lacks } from '../../state.js';
import { textInput, selectInput } from '../form.js';
import { actionButton, card, confirmChange, formDialog, listOf } from './common.js';

/** Why the caller may not change `userid`'s second factors: oneself, or User.Modify. */
function denied(userid) {
  const s = session();
  if (s && s.type === 'token') return 'an API token cannot change second factors';
  if (s && s.user === userid) return null;
  return lacks('/access/groups', 'User.Modify');
}

/** The enrolment: a fresh secret's QR code, then the code that confirms it. */
function confirmTotp(userid, description, offer) {
  const code = textInput('', { id: 'totp-code', inputmode: 'numeric', autocomplete: 'one-time-code' });
  formDialog({
    role: 'totp-dialog',
    title: `TOTP for ${userid}`,
    what: 'Confirming the TOTP',
    lead: h('div', { class: 'totp-offer' },
      h('p', {}, 'Scan this code with an authenticator app, then type the code it shows.'),
      h('img', {
        class: 'qr', 'data-role': 'totp-qr', alt: 'QR code of the TOTP secret',
        src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(offer.qr_svg || '')}`,
      }),
      h('p', {}, 'Secret: ', h('code', { 'data-role': 'totp-secret' }, offer.secret)),
      h('p', { class: 'hint' }, h('code', { 'data-role': 'totp-uri' }, offer.uri))),
    fields: [['Code', 'value', code, 'six digits']],
    submit: () => post(`/access/tfa/${encodeURIComponent(userid)}`, {
      type: 'totp', description, secret: offer.secret, value: code.value.trim(),
    }),
    ok: () => `Enrolled a TOTP for ${userid}: the login asks for its code from now on.`,
  });
}

function openAdd(users) {
  const me = session() ? session().user : '';
  const ids = [...new Set([me, ...users.map((u) => u.userid)])].filter((u) => u && !denied(u));
  const who = selectInput(ids.map((u) => [u, u]), me, { id: 'tfa-user' });
  const description = textInput('authenticator', { id: 'tfa-description' });
  formDialog({
    role: 'tfa-dialog',
    title: 'Add a TOTP',
    what: 'Asking for a TOTP secret',
    fields: [['User', 'userid', who], ['Description', 'description', description]],
    submit: () => post(`/access/tfa/${encodeURIComponent(who.value)}`,
      { type: 'totp', description: description.value.trim() }),
    next: (offer) => confirmTotp(who.value, description.value.trim(), offer),
    ok: () => `A TOTP secret for ${who.value}: scan its QR code.`,
  });
}

/** The Two Factor tab. */
export function tfaTab() {
  const { el, list } = listOf(fetched('/access/tfa'), 'the second factors');
  const users = Array.isArray(fetched('/access/users').data) ? fetched('/access/users').data : [];
  const rows = (list || []).flatMap((t) => [
    ...(t.totp || []).map((x) => ({ userid: t.userid, id: x.id, kind: 'TOTP', description: x.description, created: x.created })),
    ...(t.recovery_remaining ? [{ userid: t.userid, id: 'recovery', kind: 'recovery codes', description: `${t.recovery_remaining} left`, created: null }] : []),
  ]);
  const s = session();
  return card('Two Factor', 'tfa', [
    actionButton('tfa-add', 'Add TOTP', s && s.type === 'token' ? 'an API token cannot change second factors' : null,
      () => openAdd(users)),
  ], el || table([
    ['User', (r) => r.userid],
    ['Type', (r) => r.kind],
    ['Description', (r) => r.description],
    ['Created', (r) => (r.created ? fmtTime(r.created) : '-')],
    ['', (r) => actionButton('tfa-remove', 'Remove', denied(r.userid), () => confirmChange(
      `Removing ${r.kind} ${r.id} of ${r.userid}`,
      () => del(`/access/tfa/${encodeURIComponent(r.userid)}/${encodeURIComponent(r.id)}`)))],
  ], rows, { empty: 'No second factors.', 'data-role': 'tfa-list', rowAttrs: (r) => ({ 'data-tfa': `${r.userid} ${r.id}` }) }));
}

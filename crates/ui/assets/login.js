// The login screen: user, password and realm (a TOTP code when the server asks for
// one) against POST /access/ticket, or an API token kept for this tab only.

import { ApiError, describe, get, request, setSession, clearSession, tokenId } from './api.js';
import { h, mount } from './dom.js';

/** The realms offered when the node cannot list them (GET /access/domains). */
const FALLBACK_REALMS = [
  { realm: 'pam', comment: 'Linux PAM standard authentication' },
  { realm: 'pve', comment: 'brigade authentication server' },
];

/** Whether an answer of /access/ticket asks for the second factor. */
function wantsSecondFactor(err) {
  if (!(err instanceof ApiError)) return false;
  if (err.kind === 'tfa_required' || err.kind === 'totp_required') return true;
  return err.status === 401 && /\b(tfa|totp|second factor|otp)\b/i.test(err.message);
}

async function realms() {
  try {
    const list = await request('GET', '/access/domains', undefined, { auth: false });
    return Array.isArray(list) && list.length ? list : FALLBACK_REALMS;
  } catch {
    return FALLBACK_REALMS;
  }
}

/** Draws the login screen into `root`; calls `done()` once a session works. */
export function showLogin(root, done, notice = null) {
  const message = h('p', { class: 'login-message', role: 'alert', 'data-role': 'login-message' },
    notice || '');
  const realm = h('select', { name: 'realm', id: 'login-realm' },
    FALLBACK_REALMS.map((r) => h('option', { value: r.realm }, `${r.realm} — ${r.comment}`)));
  realms().then((list) => mount(realm, list.map((r) => h('option',
    { value: r.realm, selected: !!r.default }, r.comment ? `${r.realm} — ${r.comment}` : r.realm))));
  const user = h('input', { name: 'username', id: 'login-user', autocomplete: 'username', required: true });
  const password = h('input', {
    name: 'password', id: 'login-password', type: 'password', autocomplete: 'current-password', required: true,
  });
  const otp = h('input', { name: 'otp', id: 'login-otp', inputmode: 'numeric', autocomplete: 'one-time-code' });
  const otpRow = h('label', { class: 'field hidden', 'data-role': 'otp-row' }, 'TOTP code', otp);
  const say = (text, kind = 'error') => {
    message.className = `login-message ${kind}`;
    message.textContent = text;
  };

  const passwordForm = h('form', {
    class: 'login-form',
    'data-role': 'password-login',
    onsubmit: async (ev) => {
      ev.preventDefault();
      const body = { username: user.value.trim(), password: password.value };
      if (!body.username.includes('@')) body.realm = realm.value;
      if (!otpRow.classList.contains('hidden')) body.otp = otp.value.trim();
      say('Logging in…', 'info');
      try {
        const t = await request('POST', '/access/ticket', body, { auth: false });
        setSession({ type: 'ticket', user: t.username, csrf: t.CSRFPreventionToken });
        done();
      } catch (e) {
        if (wantsSecondFactor(e) && otpRow.classList.contains('hidden')) {
          otpRow.classList.remove('hidden');
          otp.focus();
          say('This user has two-factor authentication: enter the code of your authenticator app.', 'info');
        } else if (e instanceof ApiError && e.status === 401 && !otpRow.classList.contains('hidden')) {
          otp.value = '';
          otp.focus();
          say(`Login refused: the TOTP code (or the password) is wrong: ${e.message}. Enter the current code of your authenticator app.`);
        } else if (e instanceof ApiError && e.status === 404) {
          say('This node does not offer password login yet: log in with an API token.');
        } else {
          say(describe('Login', e));
        }
      }
    },
  },
  h('label', { class: 'field' }, 'User name', user),
  h('label', { class: 'field' }, 'Password', password),
  h('label', { class: 'field' }, 'Realm', realm),
  otpRow,
  h('button', { type: 'submit', class: 'primary' }, 'Login'));

  const token = h('input', {
    name: 'token', id: 'login-token', type: 'password', autocomplete: 'off',
    placeholder: 'user@realm!name=secret', required: true,
  });
  const tokenForm = h('form', {
    class: 'login-form hidden',
    'data-role': 'token-login',
    onsubmit: async (ev) => {
      ev.preventDefault();
      const value = token.value.trim();
      const id = tokenId(value);
      if (!id) {
        say('An API token looks like user@realm!name=secret.');
        return;
      }
      setSession({ type: 'token', token: value, user: id });
      say('Checking the token…', 'info');
      try {
        // Any valid token may read its own privileges (not every one the cluster status).
        await get('/access/permissions');
        done();
      } catch (e) {
        clearSession();
        say(describe('Login with the API token', e));
      }
    },
  },
  h('label', { class: 'field' }, 'API token', token),
  h('p', { class: 'hint' }, 'Kept in this browser tab only, sent as Authorization: BrigadeToken …'),
  h('button', { type: 'submit', class: 'primary' }, 'Login'));

  const tab = (label, form, other, role) => h('button', {
    type: 'button',
    class: 'login-tab',
    'data-role': role,
    onclick: (ev) => {
      form.classList.remove('hidden');
      other.classList.add('hidden');
      for (const b of ev.target.parentNode.children) b.classList.toggle('active', b === ev.target);
      say('', 'info');
    },
  }, label);
  const tabs = h('div', { class: 'login-tabs' },
    tab('User and password', passwordForm, tokenForm, 'tab-password'),
    tab('API token', tokenForm, passwordForm, 'tab-token'));
  tabs.firstChild.classList.add('active');

  mount(root, h('div', { class: 'login-screen' },
    h('div', { class: 'login-box' },
      h('h1', {}, 'brigade'),
      h('p', { class: 'hint' }, `Log in to the cluster through ${location.host}`),
      tabs, passwordForm, tokenForm, message)));
  user.focus();
}

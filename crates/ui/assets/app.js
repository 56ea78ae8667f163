// The page's entry point: the login screen or the main screen, and a last resort that
// shows any failure in plain words instead of a blank page.

import { clearSession, onUnauthorized, session } from './api.js';
import { h } from './dom.js';
import { showLogin } from './login.js';
import { showMain } from './layout.js';

const root = document.getElementById('app');
let leaveMain = null;

function login(notice = null) {
  if (leaveMain) leaveMain();
  leaveMain = null;
  showLogin(root, main, notice);
}

function main() {
  leaveMain = showMain(root, () => {
    clearSession();
    login('Logged out.');
  });
}

onUnauthorized((err) => {
  // On the login screen the form itself says why a token or password was refused.
  if (!leaveMain) return;
  clearSession();
  login(`Please log in again: ${err.message}`);
});

function fatal(message) {
  let box = document.getElementById('fatal');
  if (!box) {
    box = h('div', { id: 'fatal', class: 'banner', role: 'alert' });
    document.body.prepend(box);
  }
  box.textContent = `The page hit an error: ${message}. Reload to try again.`;
}

window.addEventListener('error', (ev) => fatal(ev.message || 'unknown error'));
window.addEventListener('unhandledrejection', (ev) => fatal(ev.reason && ev.reason.message ? ev.reason.message : String(ev.reason)));

try {
  if (session()) main();
  else login();
} catch (e) {
  fatal(e.message);
}

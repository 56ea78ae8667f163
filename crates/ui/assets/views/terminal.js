// The serial console of a running VM in the page: xterm.js (vendored under
// vendor/xterm/) over the websocket GET /nodes/{node}/qemu/{vmid}/console/ws, which the
// node bridges to the VM's serial port here or through the node that runs it. One
// terminal at a time; it stays open across re-draws (the layout keeps `data-keep`
// elements) and closes when the page leaves the guest's Console tab. A console that closes
// before it showed anything (a VM just recovered elsewhere) is opened again a few times.

import { API_BASE, session } from '../api.js';
import { h, keep } from '../dom.js';

const XTERM_MODULE = '../vendor/xterm/xterm.mjs';
const XTERM_CSS = '/ui/vendor/xterm/xterm.css';
const KEEP_KEY = 'terminal';
const TERMINAL_ROWS = 24;
const TERMINAL_COLS = 80;
/** A console that closes before it showed anything is opened again this often… */
const RECONNECT_ATTEMPTS = 5;
/** …this long apart (a VM just recovered or moved may not be reachable yet). */
const RECONNECT_DELAY_MS = 1000;

/** The open terminal: {key, host, term, ws}. */
let current = null;

function setStatus(host, text) {
  const s = host.querySelector('[data-role=terminal-status]');
  if (s) s.textContent = text;
}

function count(host, name, n) {
  host.dataset[name] = String(Number(host.dataset[name] || 0) + n);
}

async function open(g, host) {
  if (!document.querySelector(`link[href="${XTERM_CSS}"]`)) {
    document.head.append(h('link', { rel: 'stylesheet', href: XTERM_CSS }));
  }
  const { Terminal } = await import(XTERM_MODULE);
  const mine = current;
  if (!mine || mine.host !== host) return;
  const term = new Terminal({ rows: TERMINAL_ROWS, cols: TERMINAL_COLS, convertEol: true });
  term.open(host.querySelector('[data-role=terminal-screen]'));
  mine.term = term;
  const encoder = new TextEncoder();
  term.onData((d) => {
    const ws = mine.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    const bytes = encoder.encode(d);
    count(host, 'sent', bytes.length);
    ws.send(bytes);
  });
  connect(g, host, mine, RECONNECT_ATTEMPTS);
}

function connect(g, host, mine, attemptsLeft) {
  const term = mine.term;
  const path = `${API_BASE}/nodes/${encodeURIComponent(g.node)}/qemu/${g.vmid}/console/ws`;
  const ws = new WebSocket(`wss://${location.host}${path}`);
  ws.binaryType = 'arraybuffer';
  mine.ws = ws;
  const encoder = new TextEncoder();
  ws.onopen = () => {
    host.dataset.state = 'open';
    setStatus(host, `Connected to the serial console of VM ${g.vmid} on ${g.node}.`);
    term.focus();
  };
  ws.onmessage = (ev) => {
    const bytes = ev.data instanceof ArrayBuffer ? new Uint8Array(ev.data) : encoder.encode(String(ev.data));
    count(host, 'received', bytes.length);
    term.write(bytes);
  };
  ws.onclose = (ev) => {
    if (current !== mine) return;
    if (!Number(host.dataset.received || 0) && attemptsLeft > 0) {
      host.dataset.state = 'reconnecting';
      setStatus(host, `The console of VM ${g.vmid} is not reachable yet; trying again…`);
      setTimeout(() => { if (current === mine) connect(g, host, mine, attemptsLeft - 1); },
        RECONNECT_DELAY_MS);
      return;
    }
    host.dataset.state = 'closed';
    setStatus(host, `The console closed${ev.reason ? `: ${ev.reason}` : ''} (the VM stopped or moved, `
      + 'or the node refused: VM.Console is needed). Open the tab again to reconnect.');
  };
}

/** Closes the open terminal, if any. */
export function closeTerminal() {
  if (!current) return;
  if (current.ws) current.ws.close();
  if (current.term) current.term.dispose();
  keep.delete(KEEP_KEY);
  current = null;
}

/** The terminal of running VM `g` (opened on first use): a slot the layout fills. */
export function terminal(g) {
  const s = session();
  if (s && s.type === 'token') {
    return h('p', { class: 'notice', 'data-role': 'terminal-refused' },
      'The interactive console needs a password login: a browser cannot send an API token '
      + 'with a websocket. The output below is read through the API.');
  }
  const key = `${g.vmid}@${g.node}`;
  if (!current || current.key !== key) {
    closeTerminal();
    const host = h('div', { class: 'terminal', 'data-role': 'terminal', 'data-state': 'connecting' },
      h('p', { class: 'empty', 'data-role': 'terminal-status' }, `Connecting to VM ${g.vmid} on ${g.node}…`),
      h('div', { 'data-role': 'terminal-screen' }));
    current = { key, host, term: null, ws: null };
    keep.set(KEEP_KEY, host);
    open(g, host).catch((e) => setStatus(host, `The terminal failed to start: ${e.message}`));
  }
  return h('div', { 'data-keep': KEEP_KEY });
}

// Leaving the guest's Console tab closes its terminal.
window.addEventListener('hashchange', () => {
  if (current && !/^#\/guest\/[^/]+\/console$/.test(location.hash)) closeTerminal();
});

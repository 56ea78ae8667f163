// The task log dialog, opened by a double-click on a row of the task panel: the task's
// status and log lines (re-read while it runs), and Stop for a running task (the API
// decides whether the caller may: its own task, or Sys.Modify on the task's node).

import { describe, del, get } from '../api.js';
import { h, mount, badge } from '../dom.js';
import { refresh } from '../state.js';

/** How often an open dialog re-reads a running task's status and log. */
const TASK_LOG_REFRESH_MS = 1000;
/** The most log lines the dialog asks for. */
const TASK_LOG_LINES = 500;

let timer = null;

function dialogRoot() {
  let root = document.getElementById('dialogs');
  if (!root) {
    root = h('div', { id: 'dialogs' });
    document.body.append(root);
  }
  return root;
}

export function closeTaskLog() {
  if (timer) clearInterval(timer);
  timer = null;
  mount(dialogRoot());
}

/** Opens the log of task `upid` on `node`. */
export function openTaskLog(upid, node) {
  closeTaskLog();
  const base = `/nodes/${encodeURIComponent(node)}/tasks/${encodeURIComponent(upid)}`;
  const status = h('p', { 'data-role': 'task-status' }, 'Asking the node…');
  const log = h('pre', { class: 'console', 'data-role': 'task-log' }, '');
  const message = h('p', { class: 'dialog-message', role: 'alert', 'data-role': 'task-message' });
  const stop = h('button', { type: 'button', 'data-action': 'task-stop', disabled: true }, 'Stop');
  const close = h('button', { type: 'button', 'data-action': 'task-close', onclick: closeTaskLog }, 'Close');

  async function load() {
    try {
      const [s, lines] = await Promise.all([get(`${base}/status`), get(`${base}/log?limit=${TASK_LOG_LINES}`)]);
      const running = s.status === 'running';
      mount(status, 'Status: ', running ? badge('running') : badge(String(s.status), s.status === 'ok' ? 'ok' : 'error'),
        s.exitstatus ? ` ${s.exitstatus}` : '', s.error ? ` — ${s.error}` : '');
      status.dataset.status = s.status;
      log.textContent = (lines || []).map((l) => l.t).join('\n') || '(no lines yet)';
      stop.disabled = !running;
      stop.title = running ? 'Ask the task to stop' : 'The task has ended';
      if (!running && timer) {
        clearInterval(timer);
        timer = null;
      }
    } catch (e) {
      message.className = 'dialog-message error';
      message.textContent = describe('Reading the task', e);
    }
  }

  stop.addEventListener('click', async () => {
    stop.disabled = true;
    try {
      await del(base);
      message.className = 'dialog-message ok';
      message.textContent = 'Asked the task to stop.';
    } catch (e) {
      message.className = 'dialog-message error';
      message.textContent = describe('Stopping the task', e);
    }
    load();
    refresh(['tasks']);
  });

  mount(dialogRoot(), h('div', { class: 'overlay', onclick: (ev) => { if (ev.target === ev.currentTarget) closeTaskLog(); } },
    h('div', { class: 'dialog', role: 'dialog', 'aria-label': 'Task log', 'data-role': 'task-dialog' },
      h('h3', {}, `Task on ${node}`),
      h('p', { class: 'hint' }, upid),
      status, log, message,
      h('div', { class: 'dialog-buttons' }, stop, close))));
  load();
  timer = setInterval(load, TASK_LOG_REFRESH_MS);
}

// The task panel at the bottom: the tasks of all nodes (GET /cluster/tasks), or, on a
// node without that endpoint, the tasks started from this page; hidden when there is none.
// A double-click on a row opens the task's log (and Stop for a running one).

import { h, mount, table, badge, fmtTime } from './dom.js';
import { state } from './state.js';
import { openTaskLog } from './views/tasklog.js';

/** How many rows the panel shows. */
const TASK_ROWS = 8;

/** The fields of a UPID: `UPID:node:pid:pstart:starttime:type:id:user:` (hex numbers). */
export function parseUpid(upid) {
  const p = String(upid || '').split(':');
  if (p.length < 8 || p[0] !== 'UPID') return {};
  return {
    node: p[1], starttime: parseInt(p[4], 16) || null, type: p[5], id: p[6], user: p[7],
  };
}

/** A row of the panel from a /cluster/tasks entry. */
function fromCluster(t) {
  const u = parseUpid(t.upid);
  const status = t.status === undefined || t.status === null || t.status === ''
    ? (t.endtime ? 'ok' : 'running') : String(t.status);
  return {
    upid: t.upid,
    node: t.node || u.node,
    what: `${t.type || u.type || t.kind || 'task'}${(t.id || u.id || t.vmid) ? ` ${t.id || u.id || t.vmid}` : ''}`,
    user: t.user || u.user || '',
    started: t.starttime || u.starttime,
    ended: t.endtime || null,
    status,
    error: t.error || t.exitstatus
      || (status !== 'running' && status !== 'ok' && status.toUpperCase() !== 'OK' ? status : null),
    progress: t.progress || null,
  };
}

function statusCell(t) {
  if (t.status === 'running') return badge('running');
  if (t.status === 'ok' || t.status === 'OK') return badge('OK', 'ok');
  return h('span', { class: 'task-error' }, badge('error'), ' ', t.error || t.status);
}

function progressText(t) {
  const p = t.progress;
  if (!p || !p.total_bytes) return '';
  const pct = Math.round((100 * p.transferred_bytes) / p.total_bytes);
  return ` (${pct} %, ${Math.round(p.mbps)} Mbit/s)`;
}

/** The panel: `draw()` after every refresh. */
export function createTasks() {
  const body = h('div', { class: 'tasks-body' });
  const note = h('span', { class: 'hint' });
  const el = h('footer', { class: 'tasks hidden', 'data-role': 'tasks' },
    h('div', { class: 'tasks-head' }, h('strong', {}, 'Tasks'), ' ', note), body);

  function draw() {
    let rows;
    if (state.hasClusterTasks && state.clusterTasks) {
      rows = state.clusterTasks.map(fromCluster);
      const missing = (state.taskNodes || []).filter((n) => n.state !== 'ok');
      note.textContent = missing.length
        ? `all nodes but ${missing.map((n) => `${n.node} (${n.state})`).join(', ')}`
        : 'all nodes';
    } else {
      rows = state.localTasks.map((t) => ({ ...t, user: '' }));
      note.textContent = state.hasClusterTasks ? ''
        : 'started from this page (this node does not list the cluster\'s tasks)';
    }
    if (!rows.length) {
      el.classList.add('hidden');
      return;
    }
    el.classList.remove('hidden');
    rows.sort((a, b) => (b.started || 0) - (a.started || 0));
    mount(body, table([
      ['Start time', (t) => fmtTime(t.started)],
      ['Node', (t) => t.node],
      ['Description', (t) => `${t.what}${progressText(t)}`],
      ['User', (t) => t.user],
      ['Status', statusCell],
    ], rows.slice(0, TASK_ROWS), {
      rowAttrs: (t) => ({
        'data-upid': t.upid,
        'data-status': t.status,
        title: `${t.upid} (double-click for its log)`,
        ondblclick: () => openTaskLog(t.upid, t.node),
      }),
    }));
  }

  return { el, draw };
}

// The cluster as the page knows it: refreshed when the node pushes a change notice
// (push.js), and polled every POLL_INTERVAL_MS only while that stream is down; the views
// draw from it and re-draw after every refresh.

import { ApiError, get } from './api.js';
import { openPush } from './push.js';

/** The default of how often the page polls while the node's change stream is down. */
export const DEFAULT_POLL_INTERVAL_MS = 2000;
/** localStorage key that overrides it (tests set it long to prove the push). */
const POLL_INTERVAL_KEY = 'brigade.pollIntervalMs';

/** How often the page polls while the change stream is down. */
export function pollInterval() {
  const v = Number(localStorage.getItem(POLL_INTERVAL_KEY));
  return Number.isFinite(v) && v > 0 ? v : DEFAULT_POLL_INTERVAL_MS;
}
/** The sources one refresh reads, as the change notices name them. */
export const SOURCES = ['status', 'resources', 'ha', 'tasks', 'storage', 'log'];
/**
 * How often a task started from this page is followed while it runs (the node's change
 * notices cover its own tasks only; a migration runs on the guest's node).
 */
const TASK_FOLLOW_MS = 1000;
/** How many finished tasks started from this page the task panel keeps. */
const LOCAL_TASKS_KEPT = 20;

export const state = {
  /** GET /cluster/status of the node serving the page. */
  status: null,
  /** GET /cluster/resources: every guest. */
  resources: [],
  /** GET /storage. */
  storages: [],
  /** GET /cluster/ha/status. */
  ha: null,
  /** GET /cluster/tasks; null while that endpoint is missing (404) or unknown. */
  clusterTasks: null,
  /** Each member and whether it answered for /cluster/tasks: {node, state, error}. */
  taskNodes: [],
  /** Whether the node has /cluster/tasks (false after a 404). */
  hasClusterTasks: true,
  /** Tasks started from this page: {upid, node, what, status, error, started}. */
  localTasks: [],
  /** The error of each source's last refresh (status, resources, ...). */
  errors: {},
  /** Why the cluster status may not be read by this user (a 403), or null. */
  statusDenied: null,
  /** When the last refresh that reached the node ended. */
  updated: null,
  /** How many refreshes ran (the live indicator shows it moving). */
  refreshes: 0,
  /** The change stream: 'connecting', 'live' or 'down' (then the page polls). */
  push: 'connecting',
  /** Why the stream is down, when it is. */
  pushError: null,
  /** Change notices received. */
  pushNotices: 0,
};

const listeners = new Set();
let timer = null;
let inFlight = null;

/** Calls `fn()` after every refresh; returns the unsubscriber. */
export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function notify() {
  for (const fn of listeners) fn();
}

/** Draws the page again (a view's own data arrived). */
export function redraw() {
  notify();
}

async function source(name, path, apply) {
  try {
    apply(await get(path));
    delete state.errors[name];
    if (name === 'status') state.statusDenied = null;
  } catch (e) {
    state.errors[name] = e;
    if (name === 'status' && e instanceof ApiError && e.status === 403) {
      // Not an outage: this user may not see the cluster's status (Sys.Audit on /).
      state.statusDenied = e.message;
      delete state.errors[name];
    }
    if (name === 'tasks' && e instanceof ApiError && e.status === 404) {
      state.hasClusterTasks = false;
      state.clusterTasks = null;
      delete state.errors[name];
    }
  }
}

async function refreshLocalTasks() {
  const running = state.localTasks.filter((t) => t.status === 'running');
  await Promise.all(running.map(async (t) => {
    try {
      const s = await get(`/nodes/${encodeURIComponent(t.node)}/tasks/${encodeURIComponent(t.upid)}/status`);
      t.status = s.status;
      t.error = s.error || null;
      t.progress = s.progress || null;
    } catch (e) {
      t.pollError = e.message;
    }
  }));
}

const wanted = new Set();

async function refreshSource(name) {
  switch (name) {
    case 'status':
      return source('status', '/cluster/status', (d) => { state.status = d; });
    case 'resources':
      return source('resources', '/cluster/resources', (d) => { state.resources = d || []; });
    case 'storage':
      return source('storages', '/storage', (d) => { state.storages = d || []; });
    case 'ha':
      return source('ha', '/cluster/ha/status', (d) => { state.ha = d; });
    case 'tasks':
      return Promise.all([
        state.hasClusterTasks
          ? source('tasks', '/cluster/tasks', (d) => {
            // `{tasks, nodes}` (each member and whether it answered), or a plain list.
            state.clusterTasks = Array.isArray(d) ? d : (d && d.tasks) || [];
            state.taskNodes = Array.isArray(d) ? [] : (d && d.nodes) || [];
          })
          : null,
        refreshLocalTasks(),
      ]);
    // The cluster log has no state of its own: the Log tab's read is repeated by the
    // refresh this notice starts.
    default:
      return null;
  }
}

/**
 * Refreshes the sources named (all of them by default); concurrent callers share the
 * refresh in flight, and sources asked for meanwhile are read right after it. Each
 * source re-draws the page as soon as it has its answer (a slow one does not hold back
 * the others).
 */
export function refresh(names = SOURCES) {
  for (const n of names) wanted.add(n);
  if (inFlight) return inFlight;
  inFlight = (async () => {
    while (wanted.size) {
      const batch = [...wanted];
      wanted.clear();
      await Promise.all(batch.map(async (n) => {
        await refreshSource(n);
        if (n === 'status' && !state.errors.status) state.updated = new Date();
        notify();
      }));
      state.refreshes += 1;
      notify();
    }
  })().finally(() => { inFlight = null; });
  return inFlight;
}

let push = null;
let follow = null;
let viewTimer = null;

/**
 * How often the answers the view on screen fetched itself (a guest's uptime, its console
 * tail) are read again; the cluster's state comes by push and is not polled.
 */
const VIEW_DATA_REFRESH_MS = 2000;

function refreshViewData() {
  for (const e of fetchCache.values()) e.at = -1;
  notify();
}

/** Follows the running tasks started from this page until none runs. */
function followTasks() {
  if (follow) return;
  follow = setInterval(() => {
    if (!state.localTasks.some((t) => t.status === 'running')) {
      clearInterval(follow);
      follow = null;
      return;
    }
    refresh(['tasks']);
  }, TASK_FOLLOW_MS);
}

function startPolling() {
  if (!timer) timer = setInterval(() => refresh(), pollInterval());
}

function stopPolling() {
  if (timer) clearInterval(timer);
  timer = null;
}

/**
 * How long the first read waits for the change stream's hello before it goes ahead
 * without it (the stream is slow or hangs; it polls then).
 */
const FIRST_READ_WAIT_MS = 1000;
let firstRead = null;

/** The first read, once: at the stream's hello, or without it after FIRST_READ_WAIT_MS. */
function readFirst() {
  if (!firstRead) return false;
  clearTimeout(firstRead);
  firstRead = null;
  refresh();
  return true;
}

/**
 * Follows the node's change notices (polling while they are down) and reads everything
 * once: when the stream says hello (the node compares its digests from then on, so a
 * change after the read is notified), or after FIRST_READ_WAIT_MS without it. Every
 * source is read once on the first load, not once now and again at the hello.
 */
export function start() {
  stop();
  state.push = 'connecting';
  firstRead = setTimeout(readFirst, FIRST_READ_WAIT_MS);
  startPolling();
  viewTimer = setInterval(refreshViewData, VIEW_DATA_REFRESH_MS);
  push = openPush({
    onUp: () => {
      state.push = 'live';
      state.pushError = null;
      stopPolling();
      // The first read, or what changed while the stream was down.
      if (!readFirst()) refresh();
    },
    onChange: (notice) => {
      state.pushNotices += 1;
      refresh(notice.changed || SOURCES);
    },
    onDown: (reason) => {
      state.push = 'down';
      state.pushError = reason;
      startPolling();
      readFirst();
      notify();
    },
  });
}

export function stop() {
  stopPolling();
  if (firstRead) clearTimeout(firstRead);
  firstRead = null;
  if (follow) clearInterval(follow);
  follow = null;
  if (viewTimer) clearInterval(viewTimer);
  viewTimer = null;
  if (push) push.close();
  push = null;
}

/** Remembers a task this page started, so the task panel follows it. */
export function trackTask(started, what) {
  state.localTasks.unshift({
    upid: started.upid,
    node: started.node,
    what,
    status: 'running',
    error: null,
    started: Math.floor(Date.now() / 1000),
  });
  state.localTasks.length = Math.min(state.localTasks.length, LOCAL_TASKS_KEPT);
  refresh();
  followTasks();
}

/** Answers fetched for the view on screen: path -> {data, error, at, pending}. */
const fetchCache = new Map();

/**
 * The answer of GET `path`, fetched again once per refresh: `{data, error}` (both null
 * until the first answer). The views re-draw when it arrives.
 */
export function fetched(path) {
  let e = fetchCache.get(path);
  if (!e) {
    e = { data: null, error: null, at: -1, pending: false };
    fetchCache.set(path, e);
  }
  if (e.at !== state.refreshes && !e.pending) {
    e.pending = true;
    const at = state.refreshes;
    get(path).then((d) => { e.data = d; e.error = null; }, (err) => { e.error = err; })
      .finally(() => { e.pending = false; e.at = at; notify(); });
  }
  return e;
}

/** Forgets the fetched answers under `prefix` (after an action changed them). */
export function invalidate(prefix = '') {
  for (const [k, e] of fetchCache) if (k.startsWith(prefix)) e.at = -1;
  if ('/access/permissions'.startsWith(prefix) || prefix.startsWith('/access')) permCache.clear();
}

/**
 * How long the caller's privileges on a path are kept before they are read again (an
 * administrator may change the ACL meanwhile; the API checks every call anyway).
 */
const PERMISSIONS_MAX_AGE_MS = 10000;
/** path -> {data, error, at, promise}: one read per path shared by every caller. */
const permCache = new Map();

/**
 * The caller's privileges on `path` (`{'VM.PowerMgmt': 1, ...}`), or null until the node
 * answered (or when it refused). Every view asking for the same path shares one read in
 * flight and its answer for PERMISSIONS_MAX_AGE_MS; the page re-draws when it arrives.
 */
export function privilegesAt(path) {
  let e = permCache.get(path);
  const now = Date.now();
  if (!e) {
    e = { data: null, error: null, at: 0, promise: null };
    permCache.set(path, e);
  }
  if (!e.promise && now - e.at > PERMISSIONS_MAX_AGE_MS) {
    e.promise = get(`/access/permissions?path=${encodeURIComponent(path)}`)
      .then((d) => { e.data = d ? (d[path] || {}) : {}; e.error = null; },
        (err) => { e.error = err; })
      .finally(() => { e.promise = null; e.at = Date.now(); notify(); });
  }
  return e.data;
}

/** Why the caller may not do something that needs `priv` on `path`, or null (also while unknown). */
export function lacks(path, priv) {
  const p = privilegesAt(path);
  return p && !(priv in p) ? `you lack ${priv} on ${path}` : null;
}

// Derived views of the state, shared by the tree and the views.

/** The cluster's nodes (not the qdevice), each with its heartbeat and Raft view. */
export function nodes() {
  const s = state.status;
  if (!s || !s.config) return [];
  const cfs = s.cfs || { members: [] };
  return s.config.nodes.map((n) => {
    const hb = (s.members || []).find((m) => m.id === n.nodeid);
    const raft = (cfs.members || []).find((m) => m.id === n.nodeid);
    let role = 'joining';
    if (raft && cfs.leader === raft.id) role = 'leader';
    else if (raft && raft.voter) role = 'voter';
    else if (raft) role = 'learner';
    return {
      name: n.name,
      nodeid: n.nodeid,
      votes: raft && raft.voter ? n.votes : 0,
      link0: n.link0,
      link1: n.link1,
      apiAddr: raft ? raft.api_addr : null,
      alive: !!(hb && hb.alive),
      local: !!(hb && hb.local),
      hb,
      role,
    };
  }).sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
}

/** The guest with this VMID, if the cluster has it. */
export function guest(vmid) {
  return state.resources.find((g) => String(g.vmid) === String(vmid)) || null;
}

/** The HA LRM row of a node, if HA knows it. */
export function lrm(name) {
  return state.ha ? (state.ha.nodes || []).find((n) => n.name === name) || null : null;
}

// The main screen: a header with the live indicator, the resource tree, the content
// panel with the selected object's tabs, and the task panel; the route is the URL's hash
// (`#/dc/ha`, `#/node/n1`, `#/guest/100/config`, `#/storage/shared`).

import { describe, session } from './api.js';
import { h, mount, fmtTime, keep } from './dom.js';
import { state, subscribe, start, stop, nodes, pollInterval, lacks } from './state.js';
import { createTree } from './tree.js';
import { createTasks } from './tasks.js';
import * as datacenter from './views/datacenter.js';
import * as nodeView from './views/node.js';
import * as guestView from './views/guest.js';
import * as storageView from './views/storage.js';
import { closeTerminal } from './views/terminal.js';
import { openCreateWizard } from './views/wizard.js';

const VIEWS = { dc: datacenter, node: nodeView, guest: guestView, storage: storageView };

/** `#/guest/100/config` -> {type: 'guest', id: '100', tab: 'config'}. */
export function parseRoute(hash) {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const type = VIEWS[parts[0]] ? parts[0] : 'dc';
  if (type === 'dc') return { type, id: null, tab: parts[1] || 'summary' };
  return { type, id: parts[1] || null, tab: parts[2] || 'summary' };
}

function routeHref(r, tab) {
  return r.type === 'dc' ? `#/dc/${tab}` : `#/${r.type}/${encodeURIComponent(r.id)}/${tab}`;
}

/** Draws the main screen into `root`; `logout()` ends the session. */
export function showMain(root, logout) {
  const tree = createTree();
  const tasks = createTasks();
  const live = h('span', { class: 'live', 'data-role': 'live' });
  const banner = h('div', { class: 'banner hidden', role: 'alert', 'data-role': 'banner' });
  const heading = h('h2', { class: 'content-title', 'data-role': 'title' });
  const tabBar = h('nav', { class: 'tabs', 'data-role': 'tabs' });
  const panel = h('div', { class: 'panel', 'data-role': 'panel' });
  const user = session();
  const createVm = h('button', { type: 'button', class: 'create', 'data-action': 'create-vm',
    onclick: () => openCreateWizard('qemu') }, 'Create VM');
  const createCt = h('button', { type: 'button', class: 'create', 'data-action': 'create-ct',
    onclick: () => openCreateWizard('lxc') }, 'Create CT');
  const header = h('header', { class: 'top' },
    h('span', { class: 'brand' }, 'brigade'),
    h('span', { class: 'served-by', 'data-role': 'served-by' }),
    live,
    h('span', { class: 'spacer' }),
    createVm, createCt,
    h('span', { class: 'user', 'data-role': 'user' }, user ? user.user : ''),
    h('button', { type: 'button', 'data-action': 'logout', onclick: logout }, 'Logout'));
  mount(root, h('div', { class: 'screen' },
    header, banner,
    h('div', { class: 'middle' }, tree.el,
      h('main', { class: 'content' }, heading, tabBar, panel)),
    tasks.el));

  function drawBanner() {
    const e = state.errors.status;
    if (!e) {
      banner.classList.add('hidden');
      return;
    }
    const others = nodes().filter((n) => !n.local && n.alive && n.apiAddr);
    mount(banner,
      describe(`Refreshing from ${location.host}`, e),
      state.updated ? ` The page shows the state of ${fmtTime(state.updated)}.` : '',
      others.length ? [' Other nodes: ', others.map((n, i) => [i ? ', ' : '',
        h('a', { href: `https://${n.apiAddr}/` }, n.name)])] : '');
    banner.classList.remove('hidden');
  }

  function drawLive() {
    const ok = !state.errors.status && state.updated;
    live.className = `live ${ok ? 'live-ok' : 'live-failing'} tick-${state.refreshes % 2}`;
    live.dataset.push = state.push;
    const how = state.push === 'live' ? 'live' : `polling every ${pollInterval() / 1000} s`;
    live.textContent = ok ? `● ${how} · updated ${fmtTime(state.updated).slice(11)}`
      : '● not updating: retrying';
    live.title = `refreshed ${state.refreshes} times; change stream ${state.push}`
      + (state.pushError ? ` (${state.pushError})` : '');
  }

  /** Create VM/CT need VM.Allocate on /vms (the API checks it on /vms/VMID again). */
  function drawCreate() {
    const why = lacks('/vms', 'VM.Allocate');
    const noQuorum = state.status && !state.status.quorate ? 'the cluster has no quorum' : null;
    for (const [b, what] of [[createVm, 'Create a virtual machine'], [createCt, 'Create a container']]) {
      const reason = why || noQuorum;
      b.disabled = !!reason;
      b.title = reason ? `${b.textContent}: ${reason}` : what;
    }
  }

  let lastPanel = '';
  function drawContent() {
    const r = parseRoute(location.hash);
    const view = VIEWS[r.type];
    tree.select(r.type === 'dc' ? '#/dc' : `#/${r.type}/${r.id}`);
    const tab = view.tabs.some(([t]) => t === r.tab) ? r.tab : 'summary';
    heading.textContent = view.title(r.id);
    mount(tabBar, view.tabs.map(([t, label]) => h('a', {
      href: routeHref(r, t), class: t === tab ? 'tab active' : 'tab', 'data-tab': t,
    }, label)));
    let content;
    try {
      content = view.render(tab, r.id);
    } catch (e) {
      content = h('p', { class: 'notice error' }, `This view failed to draw: ${e.message}`);
      console.error(e);
    }
    // Replace the panel only when what it shows changed: no flicker, no lost clicks.
    const wrapper = h('div', { class: 'panel-inner', 'data-view': r.type, 'data-id': r.id || '' }, content);
    const html = wrapper.outerHTML;
    if (html !== lastPanel) {
      lastPanel = html;
      mount(panel, wrapper);
      for (const slot of wrapper.querySelectorAll('[data-keep]')) {
        const kept = keep.get(slot.dataset.keep);
        if (kept) slot.replaceWith(kept);
      }
    }
  }

  function draw() {
    const s = state.status;
    mount(header.querySelector('[data-role=served-by]'),
      s ? `${s.cluster ? `cluster ${s.cluster}` : 'no cluster'} · node ${s.node}` : location.host);
    drawLive();
    drawBanner();
    drawCreate();
    tree.draw();
    drawContent();
    tasks.draw();
  }

  const onHash = () => { lastPanel = ''; drawContent(); };
  window.addEventListener('hashchange', onHash);
  const unsubscribe = subscribe(draw);
  draw();
  start();
  return () => {
    stop();
    closeTerminal();
    unsubscribe();
    window.removeEventListener('hashchange', onHash);
  };
}

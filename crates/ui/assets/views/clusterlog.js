// The Datacenter's Log tab: the cluster log as `brigade log` prints it (joins, deaths,
// quorum and leader changes, clock alarms), newest first, from GET /cluster/log.

import { describe } from '../api.js';
import { h, table, badge, fmtTime } from '../dom.js';
import { fetched } from '../state.js';

/** How many events the tab shows. */
const LOG_EVENTS = 200;
/** Event kinds that are bad news. */
const BAD = new Set(['dead', 'removed', 'quorum-lost', 'clock-alarm', 'storage-failed']);

export function clusterLog() {
  const f = fetched(`/cluster/log?max=${LOG_EVENTS}`);
  if (f.error) return h('p', { class: 'notice error' }, describe('Reading the cluster log', f.error));
  if (!f.data) return h('p', { class: 'empty' }, 'Asking the node…');
  const rows = [...f.data].reverse();
  return h('section', { class: 'card wide' }, h('h3', {}, `Cluster log (the newest ${LOG_EVENTS} events)`),
    table([
      ['Time', (e) => fmtTime(e.time)],
      ['Node', (e) => e.node],
      ['Event', (e) => badge(e.kind, BAD.has(e.kind) ? 'error' : 'ok')],
      ['Message', (e) => e.msg],
    ], rows, { empty: 'No events yet.', 'data-role': 'cluster-log',
      rowAttrs: (e) => ({ 'data-kind': e.kind, 'data-node': e.node }) }));
}

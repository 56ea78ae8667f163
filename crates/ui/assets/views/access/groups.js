// Datacenter → Permissions → Groups (Group.Allocate on /access/groups) and Pools
// (Pool.Allocate on /pool): the lists, Add, Edit (a pool's members), Delete.

import { post, put, del } from '../../api.js';
import { h, table } from '../../dom.js';
import { fetched, lacks } from '../../state.js';
import { textInput } from '../form.js';
import { actionButton, card, confirmChange, formDialog, listOf, splitList } from './common.js';

const groupDenied = () => lacks('/access/groups', 'Group.Allocate');
const poolDenied = () => lacks('/pool', 'Pool.Allocate');

function openGroup(g) {
  const id = textInput(g ? g.groupid : '', { id: 'group-groupid', disabled: !!g });
  const comment = textInput(g ? g.comment : '', { id: 'group-comment' });
  formDialog({
    role: 'group-dialog',
    title: g ? `Group ${g.groupid}` : 'Add a group',
    what: g ? `Changing group ${g.groupid}` : 'Adding the group',
    fields: [['Group', 'groupid', id], ['Comment', 'comment', comment]],
    submit: () => (g
      ? put(`/access/groups/${encodeURIComponent(g.groupid)}`, { comment: comment.value.trim() })
      : post('/access/groups', { groupid: id.value.trim(), comment: comment.value.trim() })),
    ok: () => `${g ? 'Changed' : 'Added'} group ${g ? g.groupid : id.value.trim()}.`,
  });
}

/** The Groups tab. */
export function groupsTab() {
  const { el, list } = listOf(fetched('/access/groups'), 'the groups');
  return card('Groups', 'groups', [actionButton('group-add', 'Add', groupDenied(), () => openGroup(null))],
    el || table([
      ['Group', (g) => g.groupid],
      ['Members', (g) => (g.members || []).join(', ')],
      ['Comment', (g) => g.comment],
      ['', (g) => h('span', { class: 'row-actions' },
        actionButton('group-edit', 'Edit', groupDenied(), () => openGroup(g)),
        actionButton('group-delete', 'Delete', groupDenied(), () => confirmChange(`Deleting group ${g.groupid}`,
          () => del(`/access/groups/${encodeURIComponent(g.groupid)}`))))],
    ], list, { empty: 'No groups.', 'data-role': 'group-list', rowAttrs: (g) => ({ 'data-group': g.groupid }) }));
}

function openPool(p) {
  const id = textInput(p ? p.poolid : '', { id: 'pool-poolid', disabled: !!p });
  const comment = textInput(p ? p.comment : '', { id: 'pool-comment' });
  const vms = textInput(p ? (p.vms || []).join(',') : '', { id: 'pool-vms', placeholder: '100,101' });
  const storage = textInput(p ? (p.storage || []).join(',') : '', { id: 'pool-storage', placeholder: 'local' });
  formDialog({
    role: 'pool-dialog',
    title: p ? `Pool ${p.poolid}` : 'Add a pool',
    what: p ? `Changing pool ${p.poolid}` : 'Adding the pool',
    fields: [['Pool', 'poolid', id], ['Comment', 'comment', comment],
      ['Guests', 'vms', vms, 'VMIDs, comma-separated'], ['Storages', 'storage', storage, 'storage ids']],
    submit: async () => {
      const want = { vms: splitList(vms.value), storage: splitList(storage.value) };
      if (!p) {
        const b = { poolid: id.value.trim(), comment: comment.value.trim() };
        if (want.vms.length) b.vms = want.vms.join(',');
        if (want.storage.length) b.storage = want.storage.join(',');
        return post('/pools', b);
      }
      const path = `/pools/${encodeURIComponent(p.poolid)}`;
      const had = { vms: (p.vms || []).map(String), storage: p.storage || [] };
      const gone = (k) => had[k].filter((x) => !want[k].includes(x)).join(',');
      const added = (k) => want[k].filter((x) => !had[k].includes(x)).join(',');
      const b = { comment: comment.value.trim() };
      if (added('vms')) b.vms = added('vms');
      if (added('storage')) b.storage = added('storage');
      await put(path, b);
      if (gone('vms') || gone('storage')) {
        const d = { delete: true };
        if (gone('vms')) d.vms = gone('vms');
        if (gone('storage')) d.storage = gone('storage');
        await put(path, d);
      }
      return null;
    },
    ok: () => `${p ? 'Changed' : 'Added'} pool ${p ? p.poolid : id.value.trim()}.`,
  });
}

/** The Pools tab. */
export function poolsTab() {
  const { el, list } = listOf(fetched('/pools'), 'the pools');
  return card('Pools', 'pools', [actionButton('pool-add', 'Add', poolDenied(), () => openPool(null))],
    el || table([
      ['Pool', (p) => p.poolid],
      ['Guests', (p) => (p.vms || []).join(', ')],
      ['Storages', (p) => (p.storage || []).join(', ')],
      ['Comment', (p) => p.comment],
      ['', (p) => h('span', { class: 'row-actions' },
        actionButton('pool-edit', 'Edit', lacks(`/pool/${p.poolid}`, 'Pool.Allocate'), () => openPool(p)),
        actionButton('pool-delete', 'Delete', lacks(`/pool/${p.poolid}`, 'Pool.Allocate'),
          () => confirmChange(`Deleting pool ${p.poolid}`, () => del(`/pools/${encodeURIComponent(p.poolid)}`))))],
    ], list, { empty: 'No pools.', 'data-role': 'pool-list', rowAttrs: (p) => ({ 'data-pool': p.poolid }) }));
}

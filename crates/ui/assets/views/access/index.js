// Datacenter → Permissions, laid out as Proxmox VE's: the ACL, Users, API Tokens, Two
// Factor, Groups, Pools, Roles, Realms; each a tab of the Datacenter view.

import { h } from '../../dom.js';
import { outcomeEl } from './common.js';
import { aclTab } from './acl.js';
import { usersTab } from './users.js';
import { tokensTab } from './tokens.js';
import { tfaTab } from './tfa.js';
import { groupsTab, poolsTab } from './groups.js';
import { rolesTab, realmsTab } from './roles.js';

const VIEWS = {
  acl: ['Permissions', aclTab],
  users: ['Users', usersTab],
  tokens: ['API Tokens', tokensTab],
  tfa: ['Two Factor', tfaTab],
  groups: ['Groups', groupsTab],
  pools: ['Pools', poolsTab],
  roles: ['Roles', rolesTab],
  realms: ['Realms', realmsTab],
};

/** The Datacenter's access-control tabs: [route, label]. */
export const accessTabs = Object.entries(VIEWS).map(([t, [label]]) => [t, label]);

/** The content of access tab `tab`, or null when `tab` is not one of them. */
export function renderAccess(tab) {
  const v = VIEWS[tab];
  return v ? h('div', { class: 'access', 'data-access': tab }, outcomeEl(), v[1]()) : null;
}

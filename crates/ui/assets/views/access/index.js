// Datacenter → Permissions, laid out as Proxmox VE's: the ACL, Users, API Tokens, Two
// Factor, Groups, Pools, Roles, Realms; each a tab of the Datacenter view, which loads
// this module when one of them is first opened.

import { h } from '../../dom.js';
import { outcomeEl } from './common.js';
import { aclTab } from './acl.js';
import { usersTab } from './users.js';
import { tokensTab } from './tokens.js';
import { tfaTab } from './tfa.js';
import { groupsTab, poolsTab } from './groups.js';
import { rolesTab, realmsTab } from './roles.js';

/** Each tab's view (their labels are the Datacenter view's ACCESS_TABS). */
const VIEWS = {
  acl: aclTab,
  users: usersTab,
  tokens: tokensTab,
  tfa: tfaTab,
  groups: groupsTab,
  pools: poolsTab,
  roles: rolesTab,
  realms: realmsTab,
};

/** The content of access tab `tab`, or null when `tab` is not one of them. */
export function renderAccess(tab) {
  const v = VIEWS[tab];
  return v ? h('div', { class: 'access', 'data-access': tab }, outcomeEl(), v()) : null;
}

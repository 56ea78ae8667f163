//! Test-only model of the kernel: applies [`Step`]s to a [`CurrentState`] as `ip`/`bridge` would.

use crate::current::{CurrentKind, CurrentLink, CurrentState};
use crate::diff::Step;
use crate::plan::LinkKind;

fn add(state: &mut CurrentState, name: &str, kind: CurrentKind, alias: &str, mtu: u32) {
    let ifindex = state.links.values().map(|l| l.ifindex).max().unwrap_or(1) + 1;
    state.links.insert(
        name.to_string(),
        CurrentLink {
            ifindex,
            name: name.to_string(),
            kind,
            alias: Some(alias.to_string()),
            master: None,
            mtu,
            up: false,
        },
    );
}

/// Applies one step.
pub fn apply(state: &mut CurrentState, step: &Step) {
    match step {
        Step::DeleteLink { name } => {
            let mut names = vec![name.clone()];
            if let Some(CurrentKind::Veth { peer: Some(p) }) =
                state.links.get(name).map(|l| &l.kind)
            {
                names.push(p.clone());
            }
            for n in names {
                state.links.remove(&n);
                state.addresses.retain(|(d, _)| *d != n);
                state.fdb.retain(|(d, _)| *d != n);
                state.port_vlans.remove(&n);
                for l in state.links.values_mut() {
                    if l.master.as_deref() == Some(n.as_str()) {
                        l.master = None;
                    }
                }
            }
        }
        Step::CreateLink { link } => match &link.kind {
            LinkKind::Bridge { vlan_filtering } => {
                add(
                    state,
                    &link.name,
                    CurrentKind::Bridge {
                        vlan_filtering: *vlan_filtering,
                    },
                    &link.alias,
                    1500,
                );
            }
            LinkKind::Vxlan {
                vni,
                local,
                dstport,
            } => add(
                state,
                &link.name,
                CurrentKind::Vxlan {
                    vni: *vni,
                    local: Some(*local),
                    dstport: *dstport,
                },
                &link.alias,
                1450,
            ),
            LinkKind::Veth { peer, .. } => {
                add(
                    state,
                    &link.name,
                    CurrentKind::Veth {
                        peer: Some(peer.clone()),
                    },
                    &link.alias,
                    1500,
                );
                add(
                    state,
                    peer,
                    CurrentKind::Veth {
                        peer: Some(link.name.clone()),
                    },
                    &link.alias,
                    1500,
                );
            }
            LinkKind::Vlan { link: parent, vid } => {
                add(
                    state,
                    &link.name,
                    CurrentKind::Vlan {
                        link: Some(parent.clone()),
                        vid: *vid,
                    },
                    &link.alias,
                    1500,
                );
            }
        },
        Step::SetMtu { name, mtu } => state
            .links
            .get_mut(name)
            .into_iter()
            .for_each(|l| l.mtu = *mtu),
        Step::SetVlanFiltering { name, on } => {
            if let Some(l) = state.links.get_mut(name) {
                l.kind = CurrentKind::Bridge {
                    vlan_filtering: *on,
                };
            }
        }
        Step::SetMaster { name, master } => state
            .links
            .get_mut(name)
            .into_iter()
            .for_each(|l| l.master = master.clone()),
        Step::SetUp { name } => state
            .links
            .get_mut(name)
            .into_iter()
            .for_each(|l| l.up = true),
        Step::AddAddress { dev, addr } => {
            state.addresses.insert((dev.clone(), *addr));
        }
        Step::DelAddress { dev, addr } => {
            state.addresses.remove(&(dev.clone(), *addr));
        }
        Step::SetPortVlans { dev, vlans } => {
            state
                .port_vlans
                .insert(dev.clone(), vlans.iter().copied().collect());
        }
        Step::AddFdb { dev, dst } => {
            state.fdb.insert((dev.clone(), *dst));
        }
        Step::DelFdb { dev, dst } => {
            state.fdb.remove(&(dev.clone(), *dst));
        }
    }
}

//! Whether a node has every bridge (or vnet) a guest's NICs name: a guest recovered or
//! moved to a node without it would run there without its network.

use std::collections::BTreeSet;

use super::Step;
use crate::ServiceId;

/// The first of `nics` ((config key, bridge)) whose bridge `has` lacks.
pub fn missing_bridge<'x>(
    nics: &'x [(String, String)],
    has: &BTreeSet<String>,
) -> Option<&'x (String, String)> {
    nics.iter().find(|(_, bridge)| !has.contains(bridge))
}

/// Why `sid` may not go to `node` for its network (None: it has every bridge, or its
/// bridges are not known).
pub(super) fn lacks_bridge(s: &Step, sid: ServiceId, node: &str) -> Option<String> {
    let nics = s.input.guest_bridges.get(&sid)?;
    let has = s.input.node_bridges.get(node)?;
    missing_bridge(nics, has).map(|(key, bridge)| format!("{node} lacks bridge {bridge} ({key})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nics(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, b)| (k.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn a_node_needs_every_bridge_the_nics_name() {
        let has: BTreeSet<String> = ["vmbr0".to_string(), "blue".to_string()].into();
        let both = nics(&[("net0", "vmbr0"), ("net1", "blue")]);
        assert_eq!(missing_bridge(&both, &has), None);
        let red = nics(&[("net0", "vmbr0"), ("net1", "red"), ("net2", "green")]);
        assert_eq!(
            missing_bridge(&red, &has),
            Some(&("net1".to_string(), "red".to_string()))
        );
        assert_eq!(missing_bridge(&[], &BTreeSet::new()), None);
    }
}

//! Where `lab up` puts its demo guests, and the "Try:" commands it prints: the start of
//! the README's tour, for the nodes and guests this lab really has.

use std::path::Path;

use super::{DEFAULT_LAB_DIR, FIRST_DEMO_VMID};

/// The node (index into the guest-running nodes) of the `k`-th demo guest: the first
/// goes to the second node, so the node the CLI talks to (n1) is not the one whose
/// power the tour cuts.
pub fn demo_node(k: usize, nodes: usize) -> usize {
    (k + 1) % nodes.max(1)
}

/// The "Try:" lines for a lab of `nodes` (names in order) with `guests` demo VMs in `dir`.
pub fn try_lines(nodes: &[String], guests: usize, dir: &Path) -> Vec<String> {
    let dir_arg = if dir == Path::new(DEFAULT_LAB_DIR) {
        String::new()
    } else {
        format!(" --dir {}", dir.display())
    };
    let config = |i: usize| dir.join(format!("{}.toml", nodes[i])).display().to_string();
    let mut out = vec![
        format!("export BRIGADE_CONFIG={}", config(0)),
        "brigade cluster status".to_string(),
    ];
    let n = nodes.len();
    if guests > 0 {
        out.push(format!(
            "brigade vm list; brigade ha status          # VM {FIRST_DEMO_VMID} is HA-managed, on {}",
            nodes[demo_node(0, n)]
        ));
    }
    if guests > 0 && n >= 2 {
        let home = &nodes[demo_node(0, n)];
        out.push(format!(
            "brigade lab kill {home}{dir_arg}                        # VM {FIRST_DEMO_VMID} restarts on a survivor (tick 1 again) in ~13 s"
        ));
        out.push(format!(
            "brigade vm console {FIRST_DEMO_VMID}                         # its serial console (Ctrl-D detaches)"
        ));
        out.push(format!("brigade lab start {home}{dir_arg}"));
        if guests > 1 {
            let second = FIRST_DEMO_VMID + 1;
            out.push(format!(
                "brigade vm migrate {second} {home} --online         # live: the ticks keep counting"
            ));
            out.push(format!(
                "brigade vm console {second} --follow            # they kept counting (Ctrl-C)"
            ));
        }
    }
    out.push(format!(
        "brigade lab status{dir_arg}                         # nodes, quorum, leader, guests"
    ));
    if n >= 2 {
        out.push(format!(
            "brigade lab partition {}{dir_arg}; brigade --config {} cluster status",
            nodes[1],
            config(1)
        ));
        out.push(format!(
            "brigade lab heal{dir_arg}; brigade lab down{dir_arg}"
        ));
    } else {
        out.push(format!("brigade lab down{dir_arg}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    #[test]
    fn placement_keeps_the_ha_vm_off_n1() {
        assert_eq!(
            (demo_node(0, 3), demo_node(1, 3), demo_node(2, 3)),
            (1, 2, 0)
        );
        assert_eq!((demo_node(0, 2), demo_node(1, 2)), (1, 0));
        assert_eq!(demo_node(0, 1), 0);
    }

    #[test]
    fn try_lines_name_this_labs_dir_and_nodes() {
        let default = try_lines(&names(3), 2, Path::new(DEFAULT_LAB_DIR));
        assert!(default.iter().all(|l| !l.contains("--dir")), "{default:?}");
        assert!(
            default.contains(&"brigade lab start n2".to_string()),
            "{default:?}"
        );
        let custom = try_lines(&names(3), 2, Path::new("/tmp/l"));
        assert_eq!(custom[0], "export BRIGADE_CONFIG=/tmp/l/n1.toml");
        assert!(custom
            .iter()
            .any(|l| l.starts_with("brigade lab kill n2 --dir /tmp/l ")));
        assert!(custom
            .iter()
            .any(|l| l.starts_with("brigade vm migrate 101 n2 --online")));
        // One node, no guests: nothing to kill, partition or migrate.
        let one = try_lines(&names(1), 0, Path::new(DEFAULT_LAB_DIR));
        assert!(
            one.iter()
                .all(|l| !l.contains("kill") && !l.contains("partition") && !l.contains("vm ")),
            "{one:?}"
        );
        // One guest: no second VM to migrate.
        let single = try_lines(&names(3), 1, Path::new(DEFAULT_LAB_DIR));
        assert!(single.iter().all(|l| !l.contains("101")), "{single:?}");
    }
}

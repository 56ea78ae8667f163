//! Network faults with iptables between the nodes' loopback addresses: cuts (both
//! directions, through the harness) and one-way random loss (one direction only),
//! every rule tagged so a heal removes exactly the run's rules. Also who reaches whom,
//! for the quorum checker.

use std::net::IpAddr;
use std::process::Command;

use brigade_localcluster::{firewall, LocalClusterError};

use crate::error::ChaosError;

/// The tag of every rule a run adds.
pub const TAG: &str = "chaos";

fn fw(what: &str) -> impl FnOnce(LocalClusterError) -> ChaosError + '_ {
    move |e| ChaosError::cluster(what, e)
}

/// Cuts every address of `a` from every address of `b`, both ways.
pub fn cut(a: &[IpAddr], b: &[IpAddr]) -> Result<(), ChaosError> {
    firewall::partition(a, b, TAG).map_err(fw("iptables partition"))
}

/// Drops `percent`% of the packets from `from` to each of `to`, that direction only.
pub fn lose(from: IpAddr, to: &[IpAddr], percent: u8) -> Result<(), ChaosError> {
    let comment = format!("brigade:{TAG}");
    let probability = format!("{:.2}", f64::from(percent.min(100)) / 100.0);
    for dst in to {
        let (s, d) = (from.to_string(), dst.to_string());
        let mut args = vec!["-I", "INPUT", "-s", &s, "-d", &d];
        if percent < 100 {
            args.extend(["-m", "statistic", "--mode", "random", "--probability"]);
            args.push(&probability);
        }
        args.extend(["-m", "comment", "--comment", &comment, "-j", "DROP"]);
        let out = Command::new("iptables")
            .args(&args)
            .output()
            .map_err(ChaosError::io("cannot run iptables"))?;
        if !out.status.success() {
            return Err(ChaosError::Invalid(format!(
                "iptables {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
    }
    Ok(())
}

/// Removes every rule of the run.
pub fn heal() -> Result<(), ChaosError> {
    firewall::heal(TAG).map_err(fw("iptables heal"))
}

/// Who reaches whom among `n` nodes (and, if `extra`, a qdevice every node reaches)
/// once `a` and `b` cannot reach each other.
pub fn reach_after_cut(n: usize, extra: bool, a: &[usize], b: &[usize]) -> Vec<Vec<bool>> {
    let size = n + usize::from(extra);
    let mut r = vec![vec![true; size]; size];
    for &i in a {
        for &j in b {
            r[i][j] = false;
            r[j][i] = false;
        }
    }
    r
}

/// Removes the run's rules when dropped, so an interrupted run leaves no partition.
pub struct HealOnDrop;

impl Drop for HealOnDrop {
    fn drop(&mut self) {
        let _ = heal();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_leaves_the_qdevice_reachable() {
        let r = reach_after_cut(4, true, &[0, 1], &[2, 3]);
        assert!(!r[0][2] && !r[3][1] && r[0][1] && r[2][3]);
        assert!(r[0][4] && r[3][4]);
    }
}

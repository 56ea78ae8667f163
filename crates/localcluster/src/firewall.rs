//! Real network partitions between loopback addresses, with iptables rules
//! tagged by a comment so they can be removed exactly.

use std::net::IpAddr;
use std::process::Command;

use crate::{LocalClusterError, Result};

fn iptables(args: &[&str]) -> Result<()> {
    let out = Command::new("iptables")
        .args(args)
        .output()
        .map_err(LocalClusterError::io(
            "cannot run iptables (is it installed? run as root)",
        ))?;
    if !out.status.success() {
        return Err(LocalClusterError::Command(format!(
            "iptables {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Drops all traffic between `a` and `b`, both directions, tagged `tag`.
pub fn cut(a: IpAddr, b: IpAddr, tag: &str) -> Result<()> {
    let comment = format!("brigade:{tag}");
    for (src, dst) in [(a, b), (b, a)] {
        let (s, d) = (src.to_string(), dst.to_string());
        iptables(&[
            "-I",
            "INPUT",
            "-s",
            &s,
            "-d",
            &d,
            "-m",
            "comment",
            "--comment",
            &comment,
            "-j",
            "DROP",
        ])?;
    }
    Ok(())
}

/// Cuts every address in `side_a` from every address in `side_b`.
pub fn partition(side_a: &[IpAddr], side_b: &[IpAddr], tag: &str) -> Result<()> {
    for a in side_a {
        for b in side_b {
            cut(*a, *b, tag)?;
        }
    }
    Ok(())
}

/// Removes every rule tagged `tag`.
pub fn heal(tag: &str) -> Result<()> {
    let comment = format!("brigade:{tag}");
    let out = Command::new("iptables-save")
        .output()
        .map_err(LocalClusterError::io("cannot run iptables-save"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    for line in text.lines() {
        if line.starts_with("-A INPUT") && line.contains(&format!("\"{comment}\""))
            || line.starts_with("-A INPUT") && line.contains(&format!("--comment {comment} "))
        {
            let spec: Vec<&str> = line
                .trim_start_matches("-A INPUT")
                .split_whitespace()
                .map(|s| s.trim_matches('"'))
                .collect();
            let mut args = vec!["-D", "INPUT"];
            args.extend(spec);
            iptables(&args)?;
        }
    }
    Ok(())
}

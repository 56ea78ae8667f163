//! `brigade cluster format ...`: the cluster's format version, what each member speaks, and raising it.

use anyhow::Context as _;
use clap::Subcommand;

use crate::output::{print_json, table};

#[derive(Subcommand, Debug)]
pub enum FormatCmd {
    /// Show the cluster's active format version and each member's release and formats.
    Show,
    /// Raise the active format to the highest every member speaks (the end of a rolling upgrade).
    ///
    /// Every member is asked now and must answer; refused while a member is down or runs
    /// a release that does not speak the higher format. There is no way back: afterwards
    /// a node of a release that does not speak it refuses to start (install a release
    /// that does). Without a newer format every member speaks, nothing changes.
    Upgrade,
}

pub async fn run(
    g: &crate::connect::GlobalArgs,
    c: &brigade_client::Client,
    cmd: FormatCmd,
) -> anyhow::Result<()> {
    match cmd {
        FormatCmd::Show => {
            let s = c.status().await?;
            let Some(f) = s.format else {
                anyhow::bail!("node {} is not in a cluster", s.node);
            };
            if g.json() {
                return print_json(&f);
            }
            print_format(&f);
        }
        FormatCmd::Upgrade => {
            let r = c
                .format_upgrade()
                .await
                .context("the cluster format was not raised")?;
            if g.json() {
                return print_json(&r);
            }
            outln!(
                "Cluster format raised from version {} to {}.",
                r.previous,
                r.active
            );
        }
    }
    Ok(())
}

/// The format section of `cluster status`.
pub fn print_format(f: &brigade_client::ClusterFormat) {
    outln!("Format information\n------------------");
    outln!(
        "Active format:    {}{}",
        f.active,
        match f.highest_common {
            Some(h) if h > f.active => format!(
                " (every member speaks up to {h}: 'brigade cluster format upgrade' raises it)"
            ),
            Some(_) => String::new(),
            None => " (some members' formats are not known)".into(),
        }
    );
    let mut t = table(&["Name", "Release", "Formats", "Heard"]);
    for m in &f.members {
        let formats = match (m.min_format, m.max_format) {
            (Some(a), Some(b)) if a == b => a.to_string(),
            (Some(a), Some(b)) => format!("{a} to {b}"),
            _ => "?".into(),
        };
        let heard = if m.local {
            "local".to_string()
        } else {
            match (m.state.as_str(), m.age_secs) {
                ("unknown", _) => "not yet".into(),
                ("unannounced", Some(a)) => format!("{a} s ago (older build)"),
                (_, Some(a)) => format!("{a} s ago"),
                (_, None) => "?".into(),
            }
        };
        t.add_row(vec![
            m.name.clone(),
            m.release.clone().unwrap_or_else(|| "?".into()),
            formats,
            heard,
        ]);
    }
    outln!("{t}\n");
}

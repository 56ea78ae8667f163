//! `brigade fs history` and `brigade fs restore`: the previous versions the tree keeps
//! of a file, and bringing one back.

use anyhow::Context as _;

use brigade_client::Client;

use crate::connect::GlobalArgs;
use crate::output::{format_time, print_json, table};

/// Prints the versions of `path`, newest first.
pub async fn history(g: &GlobalArgs, c: &Client, path: &str) -> anyhow::Result<()> {
    let h = c
        .fs_history(path)
        .await
        .with_context(|| format!("no history of {path}"))?;
    if g.json() {
        return print_json(&h);
    }
    let mut t = table(&["Index", "Version", "Written", "Size", "State"]);
    for v in &h.versions {
        let state = match (v.current, v.deleted, v.replaced_mtime) {
            (true, _, _) => "current".to_string(),
            (false, true, Some(at)) => format!("deleted {}", format_time(at)),
            (false, _, Some(at)) => format!("replaced {}", format_time(at)),
            (false, _, None) => "replaced".to_string(),
        };
        t.add_row(vec![
            v.index.to_string(),
            v.version.to_string(),
            format_time(v.mtime),
            v.size.to_string(),
            state,
        ]);
    }
    outln!("{t}");
    if !h.exists {
        outln!(
            "{path} does not exist now: 'brigade fs restore {path} --version V' brings one back"
        );
    }
    Ok(())
}

/// Writes `version` of `path` back as its new content.
pub async fn restore(g: &GlobalArgs, c: &Client, path: &str, version: u64) -> anyhow::Result<()> {
    let r = c
        .fs_restore(path, version)
        .await
        .with_context(|| format!("cannot restore {path}"))?;
    if g.json() {
        return print_json(&r);
    }
    outln!(
        "{path}: restored version {} as version {} ({} bytes)",
        r.restored,
        r.version,
        r.size
    );
    Ok(())
}

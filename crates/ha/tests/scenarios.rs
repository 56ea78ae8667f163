//! Runs every scenario under scenarios/: the invariants must hold and the decisions
//! must match log.expect (`BRIGADE_HA_WRITE_EXPECT=1` rewrites the expectations).

use std::path::Path;

use brigade_ha::sim::{simulate, Scenario};

#[test]
fn every_scenario_matches_its_expected_log() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .expect("scenarios dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("cmdlist").exists())
        .collect();
    dirs.sort();
    let write = std::env::var("BRIGADE_HA_WRITE_EXPECT").is_ok();
    let mut failures = Vec::new();
    for dir in &dirs {
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(dir.join("cmdlist")).expect("cmdlist");
        let scenario = Scenario::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let log = match simulate(&scenario) {
            Ok(log) => log,
            Err((v, log)) => {
                failures.push(format!(
                    "{name}: invariant violated: {v}\n{}",
                    log.join("\n")
                ));
                continue;
            }
        };
        let got = log.join("\n") + "\n";
        let expect_path = dir.join("log.expect");
        if write {
            std::fs::write(&expect_path, &got).expect("write log.expect");
            continue;
        }
        let want = std::fs::read_to_string(&expect_path).unwrap_or_default();
        if got != want {
            failures.push(format!(
                "{name}: log differs from log.expect:\n--- got\n{got}--- want\n{want}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(dirs.len() >= 30, "only {} scenarios", dirs.len());
}

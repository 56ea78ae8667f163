//! The requirement table of every API route: each route file declares its own
//! `REQUIREMENTS` beside its routes (method, path template as in `.route(...)`, requirement);
//! this file gathers them for the authentication layer and the OpenAPI document.

use brigade_access::requirement::Requirement;

/// One declaration: upper-case method, route template (under `/api2/json`), requirement.
pub type Declared = (&'static str, &'static str, Requirement);

/// Every route file's table.
fn tables() -> [&'static [Declared]; 23] {
    [
        super::version::REQUIREMENTS,
        super::cluster::REQUIREMENTS,
        super::fs::REQUIREMENTS,
        super::fs_history::REQUIREMENTS,
        super::qdevice::REQUIREMENTS,
        super::guests::REQUIREMENTS,
        super::ha::REQUIREMENTS,
        super::ha_rules::REQUIREMENTS,
        super::sdn::REQUIREMENTS,
        super::mount::REQUIREMENTS,
        super::console::REQUIREMENTS,
        super::console_ws::REQUIREMENTS,
        super::events::REQUIREMENTS,
        super::storage::REQUIREMENTS,
        super::rrd::REQUIREMENTS,
        super::metrics::REQUIREMENTS,
        super::join::REQUIREMENTS,
        super::auth::ticket::REQUIREMENTS,
        super::access::REQUIREMENTS,
        super::tasks::REQUIREMENTS,
        super::openapi::REQUIREMENTS,
        super::backup::REQUIREMENTS,
        super::backup_jobs::REQUIREMENTS,
    ]
}

/// The requirement of `method` on the route template `path`, if declared.
pub fn lookup(method: &str, path: &str) -> Option<Requirement> {
    tables()
        .iter()
        .flat_map(|t| t.iter())
        .find(|(m, p, _)| *m == method && *p == path)
        .map(|(_, _, r)| *r)
}

/// The methods declared on the route template `path` (upper case, in table order).
pub fn methods_of(path: &str) -> Vec<&'static str> {
    tables()
        .iter()
        .flat_map(|t| t.iter())
        .filter(|(_, p, _)| *p == path)
        .map(|(m, _, _)| *m)
        .collect()
}

/// The requirement in words, for the OpenAPI description of `method` `path`.
pub fn describe_for(method: &str, path: &str) -> Option<String> {
    lookup(method, path).map(|r| r.describe())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The (method, template) pairs a route file's `.route(...)` calls register.
    fn routes_in(source: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut rest = source;
        while let Some(at) = rest.find(".route(") {
            rest = &rest[at + ".route(".len()..];
            let Some(open) = rest.find('"') else { break };
            let Some(len) = rest[open + 1..].find('"') else {
                break;
            };
            let path = rest[open + 1..open + 1 + len].to_string();
            let mut depth = 1usize;
            let mut end = rest.len();
            for (i, c) in rest.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = i;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let call = &rest[..end];
            for method in ["get", "post", "put", "delete"] {
                let pat = format!("{method}(");
                let mut from = 0;
                while let Some(i) = call[from..].find(&pat) {
                    let pos = from + i;
                    let before = call[..pos].chars().last();
                    if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                        out.push((method.to_uppercase(), path.clone()));
                    }
                    from = pos + pat.len();
                }
            }
            rest = &rest[end..];
        }
        out
    }

    #[test]
    fn every_route_declares_its_requirement() {
        let files = [
            include_str!("version.rs"),
            include_str!("cluster.rs"),
            include_str!("fs.rs"),
            include_str!("fs_history.rs"),
            include_str!("qdevice.rs"),
            include_str!("guests.rs"),
            include_str!("ha.rs"),
            include_str!("ha_rules.rs"),
            include_str!("mount.rs"),
            include_str!("console.rs"),
            include_str!("console_ws.rs"),
            include_str!("events.rs"),
            include_str!("storage.rs"),
            include_str!("metrics.rs"),
            include_str!("join.rs"),
            include_str!("auth/ticket.rs"),
            include_str!("access/users.rs"),
            include_str!("access/tokens.rs"),
            include_str!("access/groups.rs"),
            include_str!("access/roles.rs"),
            include_str!("access/acl.rs"),
            include_str!("access/pools.rs"),
            include_str!("access/password.rs"),
            include_str!("access/tfa.rs"),
            include_str!("access/domains.rs"),
            include_str!("access/permissions.rs"),
            include_str!("tasks.rs"),
            include_str!("openapi/mod.rs"),
            include_str!("backup.rs"),
            include_str!("backup_jobs.rs"),
            include_str!("sdn.rs"),
            include_str!("rrd.rs"),
        ];
        let mut count = 0;
        for source in files {
            for (method, path) in routes_in(source) {
                assert!(
                    lookup(&method, &path).is_some(),
                    "{method} {path} has no requirement"
                );
                count += 1;
            }
        }
        assert!(count >= 50, "only {count} routes found: the scan is broken");
        let declared: usize = tables().iter().map(|t| t.len()).sum();
        assert_eq!(declared, count, "a declaration names no route");
    }

    #[test]
    fn the_scan_sees_chained_methods() {
        let src = r#".route("/a/{x}", get(one).put(set).delete(remove)).route("/b", axum::routing::delete(d))"#;
        assert_eq!(
            routes_in(src),
            vec![
                ("GET".into(), "/a/{x}".into()),
                ("PUT".into(), "/a/{x}".into()),
                ("DELETE".into(), "/a/{x}".into()),
                ("DELETE".into(), "/b".into()),
            ]
        );
    }

    #[test]
    fn descriptions_follow_the_table() {
        assert_eq!(
            describe_for("POST", "/nodes/{node}/{kind}/{vmid}/status/{action}").as_deref(),
            Some("Requires VM.PowerMgmt on /vms/{vmid}.")
        );
        assert_eq!(
            describe_for("GET", "/fs/read").as_deref(),
            Some("Only root@pam.")
        );
        assert_eq!(describe_for("GET", "/nowhere"), None);
    }
}

//! `brigade cluster status`: the `pvecm status`-like report, with a summary of
//! the members first; in a big cluster the table lists the nodes worth a look.

use clap::{Args, ValueEnum};

use crate::output::table;

/// Above this many nodes, the table lists only the nodes worth a look unless asked.
pub const SUMMARY_ONLY_ABOVE: usize = 32;
/// Warnings printed before "... and N more".
pub const WARNINGS_SHOWN: usize = 10;

#[derive(Args, Debug, Clone, Default)]
pub struct StatusArgs {
    /// Only nodes in this state.
    #[arg(long, value_enum)]
    pub state: Option<StateFilter>,
    /// Only nodes with this Raft role.
    #[arg(long, value_enum)]
    pub role: Option<RoleFilter>,
    /// Only nodes whose name contains this text.
    #[arg(long)]
    pub filter: Option<String>,
    /// Order of the table's rows.
    #[arg(long, value_enum, default_value_t)]
    pub sort: SortKey,
    /// List every node, however many there are.
    #[arg(long)]
    pub all: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFilter {
    Alive,
    Dead,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleFilter {
    Leader,
    Voter,
    Learner,
    Joining,
}

#[derive(ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SortKey {
    /// Node id.
    #[default]
    Id,
    Name,
    /// Dead first.
    State,
    /// Leader, voters, learners, joiners.
    Role,
    /// Slowest link0 round trip first.
    Rtt,
    /// Largest clock offset first.
    Clock,
}

/// One row of the membership table, with what the filters and sorts need.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeLine {
    pub id: u64,
    pub votes: u32,
    pub name: String,
    pub local: bool,
    /// leader, voter, learner, joining, or "voter, never leads" (qdevice).
    pub role: &'static str,
    pub alive: bool,
    pub link0: String,
    pub link1: String,
    pub clock: String,
    pub clock_ok: bool,
    pub links_down: usize,
    pub rtt0_ms: Option<f64>,
    pub offset_ms: Option<f64>,
}

impl NodeLine {
    /// Whether a big cluster's default table shows it.
    fn worth_a_look(&self) -> bool {
        self.local || !self.alive || self.role != "learner" || self.links_down > 0 || !self.clock_ok
    }

    fn cells(&self) -> Vec<String> {
        vec![
            format!("0x{:08x}", self.id),
            self.votes.to_string(),
            format!("{}{}", self.name, if self.local { " (local)" } else { "" }),
            self.role.to_string(),
            if self.alive { "alive" } else { "DEAD" }.into(),
            self.link0.clone(),
            self.link1.clone(),
            self.clock.clone(),
        ]
    }
}

fn link_cell(
    hb: Option<&brigade_api::membership::PeerStatus>,
    i: usize,
    addr: Option<std::net::IpAddr>,
) -> String {
    let Some(addr) = addr else { return "-".into() };
    match hb.and_then(|h| h.links.get(i)) {
        _ if hb.is_some_and(|h| h.local) => format!("{addr} local"),
        Some(l) if l.up => format!(
            "{addr} up {}",
            l.rtt_ms.map(|r| format!("{r:.2} ms")).unwrap_or_default()
        ),
        Some(_) => format!("{addr} DOWN"),
        None => format!("{addr} ?"),
    }
}

fn clock_cell(hb: Option<&brigade_api::membership::PeerStatus>) -> String {
    match hb {
        Some(h) if h.local => "-".to_string(),
        Some(h) => match h.clock_offset_ms {
            Some(o) => format!(
                "{:+.3} s{}",
                o / 1000.0,
                if h.clock == "ok" {
                    String::new()
                } else {
                    format!(" {}", h.clock.to_uppercase())
                }
            ),
            None => "?".into(),
        },
        None => "?".into(),
    }
}

/// The membership rows of a status, in cluster.conf order, the qdevice last.
pub fn node_lines(s: &brigade_client::ClusterStatus) -> Vec<NodeLine> {
    let (Some(cfs), Some(conf)) = (&s.cfs, &s.config) else {
        return Vec::new();
    };
    let mut out: Vec<NodeLine> = conf
        .nodes
        .iter()
        .map(|n| {
            let m = cfs.members.iter().find(|m| m.id == n.nodeid);
            let hb = s.members.iter().find(|p| p.id == n.nodeid);
            let role = match m {
                Some(m) if cfs.leader == Some(m.id) => "leader",
                Some(m) if m.voter => "voter",
                Some(_) => "learner",
                None => "joining",
            };
            let links_down = hb.map_or(0, |h| {
                h.links
                    .iter()
                    .filter(|l| h.alive && !h.local && l.address.is_some() && !l.up)
                    .count()
            });
            NodeLine {
                id: n.nodeid,
                votes: if m.is_some_and(|m| m.voter) {
                    n.votes
                } else {
                    0
                },
                name: n.name.to_string(),
                local: Some(n.nodeid) == s.node_id,
                role,
                alive: hb.is_some_and(|h| h.alive),
                link0: link_cell(hb, 0, Some(n.link0)),
                link1: link_cell(hb, 1, n.link1),
                clock: clock_cell(hb),
                clock_ok: hb.is_none_or(|h| h.clock == "ok"),
                links_down,
                rtt0_ms: hb.and_then(|h| h.links.first()).and_then(|l| l.rtt_ms),
                offset_ms: hb.and_then(|h| h.clock_offset_ms),
            }
        })
        .collect();
    if let Some(q) = &conf.qdevice {
        let voter = cfs.members.iter().any(|m| m.id == q.nodeid && m.voter);
        let hb = s.members.iter().find(|p| p.id == q.nodeid);
        out.push(NodeLine {
            id: q.nodeid,
            votes: u32::from(voter),
            name: format!("{} (qdevice)", q.name),
            local: false,
            role: if voter {
                "voter, never leads"
            } else {
                "joining"
            },
            alive: hb.is_some_and(|h| h.alive),
            link0: q.address.to_string(),
            link1: "-".into(),
            clock: "-".into(),
            clock_ok: true,
            links_down: 0,
            rtt0_ms: None,
            offset_ms: None,
        });
    }
    out
}

/// One line counting the members by state, role, links and clocks.
pub fn summary(lines: &[NodeLine]) -> String {
    let count = |f: &dyn Fn(&NodeLine) -> bool| lines.iter().filter(|l| f(l)).count();
    let alive = count(&|l| l.alive);
    let mut parts = vec![format!(
        "{} nodes: {alive} alive, {} dead",
        lines.len(),
        lines.len() - alive
    )];
    parts.push(format!(
        "{} leader, {} voters, {} learners{}",
        count(&|l| l.role == "leader"),
        count(&|l| l.role.starts_with("voter")),
        count(&|l| l.role == "learner"),
        match count(&|l| l.role == "joining") {
            0 => String::new(),
            j => format!(", {j} joining"),
        }
    ));
    let down = count(&|l| l.links_down > 0);
    let clocks = count(&|l| !l.clock_ok);
    if down > 0 {
        parts.push(format!("{down} with a link down"));
    }
    if clocks > 0 {
        parts.push(format!("{clocks} with a clock off"));
    }
    parts.join("; ")
}

fn role_rank(role: &str) -> u8 {
    match role {
        "leader" => 0,
        "voter" | "voter, never leads" => 1,
        "learner" => 2,
        _ => 3,
    }
}

/// The rows the table shows, and how many healthy ones a big cluster's default leaves out.
pub fn select(lines: Vec<NodeLine>, a: &StatusArgs) -> (Vec<NodeLine>, usize) {
    let total = lines.len();
    let chosen = a.state.is_some() || a.role.is_some() || a.filter.is_some();
    let mut rows: Vec<NodeLine> = lines
        .into_iter()
        .filter(|l| match a.state {
            Some(StateFilter::Alive) => l.alive,
            Some(StateFilter::Dead) => !l.alive,
            None => true,
        })
        .filter(|l| match a.role {
            Some(RoleFilter::Leader) => l.role == "leader",
            Some(RoleFilter::Voter) => role_rank(l.role) <= 1,
            Some(RoleFilter::Learner) => l.role == "learner",
            Some(RoleFilter::Joining) => l.role == "joining",
            None => true,
        })
        .filter(|l| {
            a.filter
                .as_ref()
                .is_none_or(|f| l.name.contains(f.as_str()))
        })
        .collect();
    let mut hidden = 0;
    if !a.all && !chosen && total > SUMMARY_ONLY_ABOVE {
        let before = rows.len();
        rows.retain(NodeLine::worth_a_look);
        hidden = before - rows.len();
    }
    let desc = |x: Option<f64>| std::cmp::Reverse(x.map(|v| (v.abs() * 1000.0) as u64));
    match a.sort {
        SortKey::Id => rows.sort_by_key(|l| l.id),
        SortKey::Name => rows.sort_by(|x, y| x.name.cmp(&y.name)),
        SortKey::State => rows.sort_by_key(|l| (l.alive, l.id)),
        SortKey::Role => rows.sort_by_key(|l| (role_rank(l.role), l.id)),
        SortKey::Rtt => rows.sort_by_key(|l| (desc(l.rtt0_ms), l.id)),
        SortKey::Clock => rows.sort_by_key(|l| (desc(l.offset_ms), l.id)),
    }
    (rows, hidden)
}

/// The warnings to print, and how many more there are.
pub fn warnings_shown(w: &[String]) -> (&[String], usize) {
    let n = w.len().min(WARNINGS_SHOWN);
    (&w[..n], w.len() - n)
}

/// Prints the report.
pub fn print_status(s: &brigade_client::ClusterStatus, a: &StatusArgs) {
    let (Some(cluster), Some(cfs), Some(conf)) = (&s.cluster, &s.cfs, &s.config) else {
        outln!("Node {} is not in a cluster.", s.node);
        return;
    };
    let voters: Vec<&brigade_cfs::MemberInfo> = cfs.members.iter().filter(|m| m.voter).collect();
    let alive = |id: u64| s.members.iter().any(|m| m.id == id && m.alive);
    let total_votes = voters.iter().filter(|m| alive(m.id)).count();
    let quorum = voters.len() / 2 + 1;
    outln!("Cluster information\n-------------------");
    outln!("Name:             {cluster}");
    outln!("Config Version:   {}", conf.config_version);
    outln!("Transport:        raft over mutual TLS, heartbeats over UDP");
    outln!("Secure auth:      on\n");
    outln!("Quorum information\n------------------");
    outln!(
        "Date:             {} UTC",
        crate::output::format_time(brigade_core::unix_now_secs())
    );
    outln!("Quorum provider:  brigade raft lease");
    outln!("Nodes:            {}", conf.nodes.len());
    outln!("Node ID:          0x{:08x}", s.node_id.unwrap_or(0));
    outln!("Ring ID:          {}.{}", cfs.leader.unwrap_or(0), cfs.term);
    outln!(
        "Quorate:          {}\n",
        if s.quorate { "Yes" } else { "No" }
    );
    outln!("Votequorum information\n----------------------");
    outln!("Expected votes:   {}", voters.len());
    outln!("Highest expected: {}", voters.len());
    outln!("Total votes:      {total_votes}");
    outln!(
        "Quorum:           {quorum} {}",
        if s.quorate { "" } else { " Activity blocked" }
    );
    let qdevice_alive = conf.qdevice.as_ref().is_some_and(|q| alive(q.nodeid));
    let mut flags = Vec::new();
    if s.quorate {
        flags.push("Quorate");
    }
    if conf.qdevice.is_some() {
        flags.push(if qdevice_alive {
            "Qdevice"
        } else {
            "Qdevice(dead)"
        });
    }
    outln!("Flags:            {}\n", flags.join(" "));
    outln!("Membership information\n----------------------");
    let lines = node_lines(s);
    outln!("{}", summary(&lines));
    let (rows, hidden) = select(lines, a);
    let mut t = table(&[
        "Nodeid",
        "Votes",
        "Name",
        "Role",
        "State",
        "link0",
        "link1",
        "Clock offset",
    ]);
    for r in &rows {
        t.add_row(r.cells());
    }
    outln!("{t}");
    if hidden > 0 {
        outln!(
            "{hidden} healthy learners not listed (--all lists every node; --state, --role, --filter choose)"
        );
    }
    outln!();
    if let Some(f) = &s.format {
        crate::cmd::cluster_format::print_format(f);
    }
    let h = &s.heartbeats;
    outln!(
        "Heartbeats: {} accepted, dropped {} bad key, {} replayed, {} malformed, {} unknown sender",
        h.received,
        h.dropped_auth,
        h.dropped_replay,
        h.dropped_malformed,
        h.dropped_unknown
    );
    if !s.warnings.is_empty() {
        outln!("\nWarnings\n--------");
        let (shown, more) = warnings_shown(&s.warnings);
        for w in shown {
            outln!("- {w}");
        }
        if more > 0 {
            outln!("... and {more} more (--output json lists them all)");
        }
    }
}

#[cfg(test)]
mod tests;

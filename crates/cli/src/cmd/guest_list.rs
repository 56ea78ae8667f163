//! `brigade vm list` / `ct list`: a summary line first (counts by state and
//! nodes), filters and sorting; past a hundred rows only the first hundred
//! unless asked, so a thousand guests are no wall of text.

use std::collections::BTreeSet;

use brigade_api::guests::{GuestRow, GuestState};
use clap::{Args, ValueEnum};

use crate::output::table;

/// Rows listed before the rest is left out (unless --all or a filter).
pub const ROWS_SHOWN: usize = 100;

#[derive(Args, Debug, Clone, Default)]
pub struct ListArgs {
    /// Only guests on this node (`--node` is the global option naming the node to talk to).
    #[arg(long)]
    pub on: Option<String>,
    /// Only guests in this state.
    #[arg(long, value_enum)]
    pub state: Option<StateFilter>,
    /// Only guests whose name or VMID contains this text.
    #[arg(long)]
    pub filter: Option<String>,
    /// Order of the rows.
    #[arg(long, value_enum, default_value_t)]
    pub sort: SortKey,
    /// List every guest, however many there are.
    #[arg(long)]
    pub all: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFilter {
    Running,
    Stopped,
    Unknown,
}

#[derive(ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SortKey {
    #[default]
    Vmid,
    Name,
    Node,
    Status,
    /// Largest first.
    Memory,
}

/// "N guests: R running, S stopped, U unknown; on K nodes".
pub fn summary(rows: &[GuestRow]) -> String {
    let count = |s: GuestState| rows.iter().filter(|r| r.status == s).count();
    let nodes: BTreeSet<&str> = rows.iter().map(|r| r.node.as_str()).collect();
    let mut out = format!(
        "{} guests: {} running, {} stopped",
        rows.len(),
        count(GuestState::Running),
        count(GuestState::Stopped)
    );
    match count(GuestState::Unknown) {
        0 => {}
        u => out.push_str(&format!(", {u} unknown (node offline)")),
    }
    out.push_str(&format!("; on {} nodes", nodes.len()));
    out
}

/// The rows to list, and how many were left out by the default cut.
pub fn select(rows: Vec<GuestRow>, a: &ListArgs) -> (Vec<GuestRow>, usize) {
    let chosen = a.on.is_some() || a.state.is_some() || a.filter.is_some();
    let mut out: Vec<GuestRow> = rows
        .into_iter()
        .filter(|r| a.on.as_ref().is_none_or(|n| &r.node == n))
        .filter(|r| match a.state {
            Some(StateFilter::Running) => r.status == GuestState::Running,
            Some(StateFilter::Stopped) => r.status == GuestState::Stopped,
            Some(StateFilter::Unknown) => r.status == GuestState::Unknown,
            None => true,
        })
        .filter(|r| {
            a.filter.as_ref().is_none_or(|f| {
                r.vmid.to_string().contains(f.as_str())
                    || r.name.as_ref().is_some_and(|n| n.contains(f.as_str()))
            })
        })
        .collect();
    match a.sort {
        SortKey::Vmid => out.sort_by_key(|r| r.vmid),
        SortKey::Name => out.sort_by(|x, y| (&x.name, x.vmid).cmp(&(&y.name, y.vmid))),
        SortKey::Node => out.sort_by(|x, y| (&x.node, x.vmid).cmp(&(&y.node, y.vmid))),
        SortKey::Status => out.sort_by_key(|r| (r.status.as_str(), r.vmid)),
        SortKey::Memory => out.sort_by_key(|r| (std::cmp::Reverse(r.memory_mib), r.vmid)),
    }
    let mut hidden = 0;
    if !a.all && !chosen && out.len() > ROWS_SHOWN {
        hidden = out.len() - ROWS_SHOWN;
        out.truncate(ROWS_SHOWN);
    }
    (out, hidden)
}

/// Prints the summary, the table and what was left out.
pub fn print(rows: Vec<GuestRow>, a: &ListArgs) {
    outln!("{}", summary(&rows));
    let (rows, hidden) = select(rows, a);
    let mut t = table(&["VMID", "Name", "Node", "Status", "Memory (MiB)", "Lock"]);
    for r in rows {
        t.add_row(vec![
            r.vmid.to_string(),
            r.name.unwrap_or_default(),
            r.node,
            r.status.to_string(),
            r.memory_mib.to_string(),
            r.lock.unwrap_or_default(),
        ]);
    }
    outln!("{t}");
    if hidden > 0 {
        outln!(
            "{hidden} more not listed (--all lists every guest; --on, --state, --filter choose)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brigade_core::layout::GuestKind;

    /// 1000 guests on 128 nodes: every third stopped, the last ten unknown.
    fn rows() -> Vec<GuestRow> {
        (100..1100u32)
            .map(|vmid| GuestRow {
                vmid,
                kind: GuestKind::Qemu,
                node: format!("n{}", vmid % 128 + 1),
                name: Some(format!("guest{vmid}")),
                status: if vmid >= 1090 {
                    GuestState::Unknown
                } else if vmid % 3 == 0 {
                    GuestState::Stopped
                } else {
                    GuestState::Running
                },
                memory_mib: u64::from(vmid % 7) * 512,
                lock: None,
            })
            .collect()
    }

    #[test]
    fn a_thousand_guests_get_a_summary_and_the_first_hundred() {
        let r = rows();
        assert_eq!(
            summary(&r),
            "1000 guests: 660 running, 330 stopped, 10 unknown (node offline); on 128 nodes"
        );
        let (shown, hidden) = select(r, &ListArgs::default());
        assert_eq!((shown.len(), hidden), (ROWS_SHOWN, 900));
        assert_eq!(shown[0].vmid, 100);
    }

    #[test]
    fn filters_list_everything_they_choose_and_sorts_order() {
        let on_n5 = ListArgs {
            on: Some("n5".into()),
            ..ListArgs::default()
        };
        let (shown, hidden) = select(rows(), &on_n5);
        assert_eq!(hidden, 0);
        assert!(shown.iter().all(|r| r.node == "n5") && !shown.is_empty());
        let unknown = ListArgs {
            state: Some(StateFilter::Unknown),
            ..ListArgs::default()
        };
        assert_eq!(select(rows(), &unknown).0.len(), 10);
        let named = ListArgs {
            filter: Some("guest104".into()),
            ..ListArgs::default()
        };
        let ids: Vec<u32> = select(rows(), &named).0.iter().map(|r| r.vmid).collect();
        assert_eq!(
            ids,
            vec![104, 1040, 1041, 1042, 1043, 1044, 1045, 1046, 1047, 1048, 1049]
        );
        let big = ListArgs {
            sort: SortKey::Memory,
            all: true,
            ..ListArgs::default()
        };
        let (shown, hidden) = select(rows(), &big);
        assert_eq!((shown.len(), hidden), (1000, 0));
        assert_eq!(shown[0].memory_mib, 3072, "largest first");
    }
}

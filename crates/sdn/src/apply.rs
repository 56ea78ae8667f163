//! Runs steps with `ip`/`bridge`/`tc` on the host or in a network namespace, reporting each.

use std::process::Command as Process;

use serde::Serialize;

use crate::command::{Command, Program};
use crate::current::{self, CurrentState};
use crate::diff::{diff, Step};
use crate::error::{Result, SdnError};
use crate::plan::{plan, PlanInput};
use crate::validate::validate;

/// Where commands run: the host's network namespace, a named one (`ip -n NS`) or the one
/// of a process (a container's, entered with `nsenter --net=/proc/PID/ns/net`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Runner {
    pub netns: Option<String>,
    /// The process whose network namespace commands run in (wins over `netns`).
    pub pid: Option<i32>,
}

impl Runner {
    /// Commands run in the caller's namespace.
    pub fn host() -> Runner {
        Runner::default()
    }

    /// Commands run in the named namespace (`/run/netns/NAME`).
    pub fn netns(name: &str) -> Runner {
        Runner {
            netns: Some(name.to_string()),
            pid: None,
        }
    }

    /// Commands run in the network namespace of process `pid`.
    pub fn of_pid(pid: i32) -> Runner {
        Runner {
            netns: None,
            pid: Some(pid),
        }
    }

    fn process(&self, cmd: &Command) -> Process {
        if let Some(pid) = self.pid {
            let mut p = Process::new("nsenter");
            p.arg(format!("--net=/proc/{pid}/ns/net"))
                .arg(cmd.program.name())
                .args(&cmd.args);
            return p;
        }
        match (&self.netns, cmd.program) {
            (Some(ns), Program::Ip | Program::Bridge) => {
                let mut p = Process::new(cmd.program.name());
                p.arg("-n").arg(ns).args(&cmd.args);
                p
            }
            (Some(ns), Program::Tc) => {
                let mut p = Process::new("ip");
                p.args(["netns", "exec", ns, "tc"]).args(&cmd.args);
                p
            }
            (None, _) => {
                let mut p = Process::new(cmd.program.name());
                p.args(&cmd.args);
                p
            }
        }
    }

    /// Runs one command; its stdout on success.
    pub fn run(&self, cmd: &Command) -> Result<String> {
        let shown = match (&self.netns, self.pid) {
            (_, Some(pid)) => format!("{cmd} (netns of pid {pid})"),
            (Some(ns), None) => format!("{cmd} (netns {ns})"),
            (None, None) => cmd.to_string(),
        };
        let out = self
            .process(cmd)
            .output()
            .map_err(|source| SdnError::Spawn {
                command: shown.clone(),
                source,
            })?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(SdnError::Command {
                command: shown,
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }

    /// Reads the namespace's current devices, addresses, VLANs and FDB.
    pub fn read_current(&self) -> Result<CurrentState> {
        let links =
            current::parse_links(&self.run(&Command::ip(&["-json", "-details", "link", "show"]))?)?;
        let addresses =
            current::parse_addresses(&self.run(&Command::ip(&["-json", "addr", "show"]))?)?;
        let fdb = current::parse_fdb(&self.run(&Command::bridge(&["-json", "fdb", "show"]))?)?;
        let port_vlans =
            current::parse_vlans(&self.run(&Command::bridge(&["-json", "vlan", "show"]))?)?;
        Ok(CurrentState {
            links,
            addresses,
            port_vlans,
            fdb,
        })
    }
}

/// One step's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepResult {
    pub step: String,
    pub commands: Vec<String>,
    /// `None` when every command succeeded.
    pub error: Option<String>,
}

/// The outcome of an apply: every step tried, in order (it stops at the first failure).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    pub steps: Vec<StepResult>,
}

impl ApplyReport {
    /// Whether every step succeeded.
    pub fn ok(&self) -> bool {
        self.steps.iter().all(|s| s.error.is_none())
    }

    /// The errors, one line each.
    pub fn errors(&self) -> Vec<String> {
        self.steps
            .iter()
            .filter_map(|s| s.error.as_ref().map(|e| format!("{}: {e}", s.step)))
            .collect()
    }
}

/// Runs `steps` in order, stopping at the first failing command.
pub fn apply_steps(runner: &Runner, steps: &[Step]) -> ApplyReport {
    let mut report = ApplyReport::default();
    for step in steps {
        let commands = step.commands();
        let error = commands
            .iter()
            .find_map(|c| runner.run(c).err())
            .map(|e| e.to_string());
        let failed = error.is_some();
        report.steps.push(StepResult {
            step: step.to_string(),
            commands: commands.iter().map(ToString::to_string).collect(),
            error,
        });
        if failed {
            break;
        }
    }
    report
}

/// Validates, plans, reads, diffs and applies for one node. A refused configuration or
/// plan returns an error before any command that changes something runs. When
/// `input.link_mtu` is `None` it is read from the device holding the node's address.
pub fn apply_node(runner: &Runner, input: &PlanInput) -> Result<ApplyReport> {
    validate(input.sdn)?;
    let current = runner.read_current()?;
    let link_mtu = input.link_mtu.or_else(|| {
        input
            .node_addresses
            .get(input.node)
            .and_then(|a| current.mtu_of_address(*a))
    });
    let desired = plan(&PlanInput { link_mtu, ..*input })?;
    let steps = diff(&desired, &current)?;
    Ok(apply_steps(runner, &steps))
}

/// The steps [`apply_node`] would run now (a dry run).
pub fn pending_steps(runner: &Runner, input: &PlanInput) -> Result<Vec<Step>> {
    validate(input.sdn)?;
    let current = runner.read_current()?;
    let link_mtu = input.link_mtu.or_else(|| {
        input
            .node_addresses
            .get(input.node)
            .and_then(|a| current.mtu_of_address(*a))
    });
    diff(&plan(&PlanInput { link_mtu, ..*input })?, &current)
}

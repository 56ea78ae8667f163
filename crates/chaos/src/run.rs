//! One chaos run: start the cluster, run the workload and the schedule's faults, heal,
//! settle, and judge the history.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::checkers::{
    append, configs, corruption, crashes, liveness, never_twice, quorum, register,
};
use crate::cluster::{ChaosCluster, Setup, GUESTS_UP_TIMEOUT};
use crate::error::ChaosError;
use crate::faults::{net, Executor};
use crate::history::History;
use crate::metrics;
use crate::report::{count_ops, Report};
use crate::sampler::{Sampler, Watched};
use crate::schedule::{FaultKind, Schedule};
use crate::settle;
use crate::workload::Workload;

/// The default bound on settling after the last heal.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(180);
/// How often the start waits for the guests to run.
const GUESTS_POLL: Duration = Duration::from_millis(500);

/// What to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub nodes: usize,
    pub qdevice: bool,
    pub duration: Duration,
    pub seed: u64,
    pub kinds: Vec<FaultKind>,
    /// Where the cluster, its logs and the report go (emptied first).
    pub dir: PathBuf,
    /// The third octet of the cluster's 127.0.S.x addresses.
    pub subnet: u8,
    /// The brigade binary the nodes run.
    pub bin: PathBuf,
    pub appliance: PathBuf,
    pub settle_timeout: Duration,
}

fn validate(o: &RunOptions) -> Result<(), ChaosError> {
    let least = if o.qdevice { 2 } else { 3 };
    if o.nodes < least || o.nodes > 9 {
        return Err(ChaosError::Invalid(format!(
            "--nodes {}: a chaos run needs {least} to 9 nodes{}",
            o.nodes,
            if o.qdevice { "" } else { " (2 with --qdevice)" }
        )));
    }
    if o.subnet == 1 {
        return Err(ChaosError::Invalid(
            "--subnet 1 is the lab's (127.0.1.x): pick another".into(),
        ));
    }
    if o.kinds.is_empty() {
        return Err(ChaosError::Invalid("no fault kinds given".into()));
    }
    if !o.appliance.join("vmlinuz").exists() || !o.appliance.join("rootfs/sbin/init").exists() {
        return Err(ChaosError::Invalid(format!(
            "the test appliance is missing in {}: run scripts/build-appliance",
            o.appliance.display()
        )));
    }
    Ok(())
}

/// Waits (bounded) until every guest runs somewhere and each VM writes its witness.
async fn guests_up(sampler: &Sampler, cc: &ChaosCluster) -> Option<String> {
    let deadline = Instant::now() + GUESTS_UP_TIMEOUT;
    loop {
        let mut missing = Vec::new();
        for vmid in cc.guests.vms() {
            if sampler.running_on(vmid).is_empty() || sampler.last_record(vmid).is_none() {
                missing.push(format!("VM {vmid}"));
            }
        }
        for vmid in &cc.guests.containers {
            if sampler.running_on(*vmid).is_empty() {
                missing.push(format!("container {vmid}"));
            }
        }
        if missing.is_empty() {
            return None;
        }
        if Instant::now() > deadline {
            return Some(format!(
                "not running after {GUESTS_UP_TIMEOUT:?}: {}",
                missing.join(", ")
            ));
        }
        tokio::time::sleep(GUESTS_POLL).await;
    }
}

/// Runs everything; the report (also written to DIR/report.json and DIR/report.txt).
pub async fn run(opts: RunOptions, say: &dyn Fn(&str)) -> Result<Report, ChaosError> {
    validate(&opts)?;
    let schedule = Schedule::generate(opts.seed, opts.nodes, opts.duration, &opts.kinds);
    say(&format!(
        "schedule of seed {} ({} faults):",
        opts.seed,
        schedule.faults.len()
    ));
    for l in schedule.lines() {
        say(&format!("  {l}"));
    }
    net::heal()?;
    let _heal = net::HealOnDrop;
    let cc = ChaosCluster::start(
        Setup {
            bin: opts.bin.clone(),
            dir: opts.dir.clone(),
            subnet: opts.subnet,
            nodes: opts.nodes,
            qdevice: opts.qdevice,
            appliance: opts.appliance.clone(),
        },
        say,
    )
    .await?;
    let clients = (0..opts.nodes)
        .map(|i| cc.client(i))
        .collect::<Result<Vec<_>, _>>()?;
    let names = cc.names.clone();
    let guests = cc.guests.clone();
    let history = History::new(Instant::now());
    let sampler = Sampler::start(
        Watched {
            nodes: (0..opts.nodes)
                .map(|i| (names[i].clone(), cc.run_dir(i)))
                .collect(),
            vm_disks: guests.vm_disks.clone(),
        },
        history.clone(),
    );
    if let Some(late) = guests_up(&sampler, &cc).await {
        say(&format!("warning: guests {late}"));
    }
    say("workload and faults start");
    let base = Instant::now();
    let from = history.now();
    let workload = Workload::start(
        history.clone(),
        clients.clone(),
        names.clone(),
        guests.ha.clone(),
        opts.seed,
    );
    let mut ex = Executor::new(cc, history.clone(), opts.seed);
    ex.run(&schedule, base, opts.duration, say).await;
    let healed_at = history.now();
    say("faults over; stopping the workload");
    workload.stop().await;
    let settling = settle::settle(
        &history,
        &clients,
        &names,
        &sampler,
        healed_at,
        opts.settle_timeout,
        say,
    )
    .await;
    let lists = settle::final_lists(&clients).await;
    let configs_at_end = settle::final_configs(&clients, &names).await;
    let evidence = sampler.finish();
    let ops = history.ops();
    let logs: Vec<(String, String)> = ex
        .cc
        .c
        .nodes
        .iter()
        .map(|n| {
            let text = std::fs::read_to_string(opts.dir.join(format!("{}.log", n.name)))
                .unwrap_or_default();
            (n.name.clone(), text)
        })
        .collect();
    let vms = guests.vms();
    let verdicts = vec![
        register::check(&ops),
        append::check(&ops, &lists),
        configs::check(&ops, &configs_at_end),
        never_twice::check(&evidence, &vms, &guests.containers),
        quorum::check(&evidence.lives, &ex.windows),
        corruption::check(&ex.corruptions),
        liveness::check(&settling),
        crashes::check(&logs, &ex.exits),
    ];
    let ha_vms: Vec<u32> = vms
        .iter()
        .copied()
        .filter(|v| guests.ha.contains(&format!("vm:{v}")))
        .collect();
    let report = Report {
        seed: opts.seed,
        nodes: opts.nodes,
        qdevice: opts.qdevice,
        duration_s: opts.duration.as_secs(),
        fault_kinds: opts.kinds.clone(),
        schedule: schedule.lines(),
        faults_by_kind: Report::faults_by_kind(&ex.records),
        faults: ex.records.clone(),
        operations: count_ops(&ops),
        passed: verdicts.iter().all(|v| v.passed),
        verdicts,
        longest_write_unavailability: metrics::write_unavailability(&ops, from, healed_at),
        longest_downtime: metrics::downtimes(
            &evidence,
            &ha_vms,
            &guests.containers,
            from,
            healed_at,
        ),
        max_qemu_nodes: vms
            .iter()
            .map(|v| {
                (
                    format!("vm:{v}"),
                    never_twice::max_qemu_nodes(&evidence.lives, *v),
                )
            })
            .collect(),
        dir: opts.dir.display().to_string(),
    };
    write_outputs(&opts.dir, &report, &ops, &evidence)?;
    Ok(report)
}

fn to_json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

fn write_outputs(
    dir: &std::path::Path,
    report: &Report,
    ops: &[crate::history::Op],
    evidence: &never_twice::Evidence,
) -> Result<(), ChaosError> {
    let write = |name: &str, text: String| {
        std::fs::write(dir.join(name), text).map_err(ChaosError::io(format!("write {name}")))
    };
    write("report.json", to_json(report))?;
    write(
        "report.txt",
        format!(
            "{}\nfaults as injected:\n{}\n",
            report.text(),
            report.fault_lines().join("\n")
        ),
    )?;
    write("history.json", to_json(ops))?;
    write("evidence.json", to_json(evidence))?;
    Ok(())
}

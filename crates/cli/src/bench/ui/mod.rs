//! `brigade bench ui`: the web UI loaded in headless Chromium against N real daemons
//! holding M guest configs: the time to a usable page (the whole tree and the
//! Datacenter summary drawn) and the bytes transferred, over a few cold loads.

mod page;

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use futures::StreamExt as _;
use serde::Serialize;

use brigade_client::Client;
use brigade_core::layout::qemu_config;

use super::scale::{all_see_all, percentile, start_joined};
use crate::output::{print_json, table};
use page::PageLoad;

/// Loopback subnet (127.0.S.x) of the benchmark cluster.
const SUBNET: u8 = 208;
/// The first VMID of the guests written.
const FIRST_VMID: u32 = 1000;
/// Guest configs written at once.
const WRITE_CONCURRENCY: usize = 32;
/// How long every node may take to see every node alive.
const CONVERGE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);
/// How often that is asked.
const CONVERGE_POLL: std::time::Duration = std::time::Duration::from_millis(500);

#[derive(Args, Debug)]
pub struct UiArgs {
    /// How many node daemons.
    #[arg(long, default_value_t = 64)]
    pub nodes: usize,
    /// How many guests (VM configs spread over the nodes, not running).
    #[arg(long, default_value_t = 1000)]
    pub guests: usize,
    /// Cold loads of the page measured (the browser cache emptied before each).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Work directory (default: a new directory under /tmp, removed afterwards).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Everything `bench ui` measured.
#[derive(Debug, Serialize)]
pub struct UiFigures {
    pub nodes: usize,
    pub guests: usize,
    /// Seconds to start the cluster and write the guests.
    pub setup_s: f64,
    pub loads: Vec<PageLoad>,
}

/// A small VM config: the page lists it; nothing starts it.
fn guest_config(vmid: u32) -> String {
    format!("name: bench{vmid}\nmemory: 128\ncores: 1\n")
}

async fn write_guests(c: &Client, names: &[String], guests: usize) -> anyhow::Result<()> {
    let writes = (0..guests).map(|i| {
        let vmid = FIRST_VMID + u32::try_from(i).unwrap_or(u32::MAX - FIRST_VMID);
        let node = &names[i % names.len()];
        async move {
            let node: brigade_core::NodeName = node.parse()?;
            let vmid = brigade_core::VmId::try_from(vmid)?;
            c.fs_put(qemu_config(&node, vmid).as_str(), &guest_config(vmid.get()))
                .await?;
            anyhow::Ok(())
        }
    });
    let mut s = futures::stream::iter(writes).buffer_unordered(WRITE_CONCURRENCY);
    while let Some(r) = s.next().await {
        r?;
    }
    Ok(())
}

async fn measure(dir: &std::path::Path, args: &UiArgs) -> anyhow::Result<UiFigures> {
    // The browser first, while the machine is still quiet.
    let profile =
        std::env::temp_dir().join(format!("brigade-bench-ui-chromium-{}", std::process::id()));
    let b = brigade_webdriver::Browser::start(&brigade_webdriver::Options::new(&profile)).await?;
    let result = measure_with(&b, dir, args).await;
    b.quit().await;
    let _ = std::fs::remove_dir_all(&profile);
    result
}

async fn measure_with(
    b: &brigade_webdriver::Browser,
    dir: &std::path::Path,
    args: &UiArgs,
) -> anyhow::Result<UiFigures> {
    let t0 = Instant::now();
    let (c, _) = start_joined(dir, SUBNET, args.nodes, "bench-ui").await?;
    let clients: Vec<Client> = (0..args.nodes)
        .map(|i| c.client(i))
        .collect::<Result<_, _>>()?;
    super::wait_for(
        "every node to see every node alive",
        CONVERGE_POLL,
        CONVERGE_TIMEOUT,
        || all_see_all(&clients, args.nodes),
    )
    .await?;
    let names: Vec<String> = c.nodes.iter().map(|n| n.name.clone()).collect();
    write_guests(&clients[0], &names, args.guests).await?;
    let setup_s = t0.elapsed().as_secs_f64();
    eprintln!(
        "{} nodes and {} guest configs ready after {setup_s:.1} s",
        args.nodes, args.guests
    );
    let token = c
        .root_token
        .clone()
        .ok_or_else(|| anyhow::anyhow!("the cluster has no root token"))?;
    let url = format!("{}/", c.nodes[0].config.api_url().trim_end_matches('/'));
    page::install_probe(b, args.nodes, args.guests).await?;
    page::sign_in(b, &url, &token).await?;
    let mut loads = Vec::new();
    for run in 1..=args.runs {
        let l = page::load(b, &url).await?;
        eprintln!(
            "load {run}: usable after {:.0} ms, {} requests, {} bytes",
            l.usable_ms,
            l.entries.len(),
            l.bytes("").0
        );
        loads.push(l);
    }
    Ok(UiFigures {
        nodes: args.nodes,
        guests: args.guests,
        setup_s,
        loads,
    })
}

/// `p50 / max` of `f` over the loads.
fn spread(loads: &[PageLoad], unit: &str, f: impl Fn(&PageLoad) -> f64) -> String {
    let v: Vec<f64> = loads.iter().map(f).collect();
    format!(
        "{:.0} {unit} / {:.0} {unit}",
        percentile(&v, 0.5),
        percentile(&v, 1.0)
    )
}

fn kib(b: u64) -> f64 {
    b as f64 / 1024.0
}

fn print(f: &UiFigures) {
    outln!(
        "the web UI against {} node daemons and {} guests (configs, not running), {} cold loads",
        f.nodes,
        f.guests,
        f.loads.len()
    );
    let l = &f.loads;
    let mut t = table(&["what", "p50 / max"]);
    let bytes = |part: &'static str, wire: bool| {
        move |x: &PageLoad| {
            let (t, b) = x.bytes(part);
            kib(if wire { t } else { b })
        }
    };
    let rows = [
        (
            "navigation start -> tree and Datacenter summary drawn",
            spread(l, "ms", |x| x.usable_ms),
        ),
        ("responseEnd", spread(l, "ms", |x| x.response_end_ms)),
        (
            "domContentLoaded",
            spread(l, "ms", |x| x.dom_content_loaded_ms),
        ),
        ("load", spread(l, "ms", |x| x.load_ms)),
        (
            "requests until usable",
            spread(l, "", |x| x.entries.len() as f64),
        ),
        ("transferred, all", spread(l, "KiB", bytes("", true))),
        (
            "transferred, page and assets",
            spread(l, "KiB", |x| {
                kib(x.bytes("").0.saturating_sub(x.bytes("/api2/").0))
            }),
        ),
        (
            "transferred, API answers",
            spread(l, "KiB", bytes("/api2/", true)),
        ),
        ("bodies (encoded), all", spread(l, "KiB", bytes("", false))),
    ];
    for (what, figure) in rows {
        t.add_row(vec![what.to_string(), figure]);
    }
    outln!("{t}");
    if let Some(last) = l.last() {
        let mut api: Vec<_> = last
            .entries
            .iter()
            .filter(|e| e.name.contains("/api2/"))
            .collect();
        api.sort_by_key(|e| std::cmp::Reverse(e.transfer));
        let mut t = table(&["largest API answers (last load)", "transferred", "body"]);
        for e in api.iter().take(5) {
            let path = e.name.split("/api2/json").nth(1).unwrap_or(&e.name);
            t.add_row(vec![
                path.to_string(),
                format!("{:.1} KiB", kib(e.transfer)),
                format!("{:.1} KiB", kib(e.decoded)),
            ]);
        }
        outln!("{t}");
    }
}

pub async fn run(args: UiArgs) -> anyhow::Result<()> {
    if !(1..=super::scale::MAX_NODES).contains(&args.nodes) || args.runs == 0 {
        anyhow::bail!(
            "--nodes must be between 1 and {} and --runs at least 1",
            super::scale::MAX_NODES
        );
    }
    let f = super::in_bench_dir(args.dir.as_deref(), "ui", |dir| {
        let args = &args;
        async move { measure(&dir, args).await }
    })
    .await?;
    if args.json {
        return print_json(&f);
    }
    print(&f);
    Ok(())
}

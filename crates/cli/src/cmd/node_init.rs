//! `brigade node init`: writes this machine's node.toml from flags or a few questions.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use clap::Args;
use serde::Serialize;

use brigade_core::NodeName;
use brigade_node::config::{NodeConfig, DEFAULT_CONFIG_PATH};

use crate::connect::GlobalArgs;

/// Where the kernel tells this machine's host name.
const HOSTNAME_FILE: &str = "/proc/sys/kernel/hostname";

/// `brigade node init` (the file is the global `--config`, default /etc/brigade/node.toml).
#[derive(Args, Debug)]
pub struct InitArgs {
    /// Node name, a DNS label (default: this machine's host name, its first label).
    #[arg(long)]
    pub name: Option<NodeName>,
    /// This machine's address on the cluster network (link0); every socket of the node binds to it.
    #[arg(long)]
    pub address: Option<IpAddr>,
    /// A second, redundant cluster link (another network), an address of this machine.
    #[arg(long)]
    pub link1: Option<IpAddr>,
    /// The address the API and web UI listen on, on the management network (default:
    /// --address). Nodes still talk to each other on --address.
    #[arg(long, value_name = "ADDRESS")]
    pub api_bind: Option<IpAddr>,
    /// State directory (default /var/lib/brigade/NAME).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Overwrite an existing configuration file.
    #[arg(long)]
    pub force: bool,
    /// Never ask questions, even on a terminal: a missing --address is an error.
    #[arg(long)]
    pub non_interactive: bool,
}

/// What `node init` wrote, for `--output json`.
#[derive(Debug, Serialize)]
struct InitOutcome {
    config: PathBuf,
    name: String,
    address: IpAddr,
    link1: Option<IpAddr>,
    /// Where the API listens.
    api: std::net::SocketAddr,
    state_dir: PathBuf,
    /// The commands to run next, in order.
    next: Vec<String>,
}

/// The answers, whichever way they came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answers {
    pub name: NodeName,
    pub address: IpAddr,
    pub link1: Option<IpAddr>,
    pub api_bind: Option<IpAddr>,
    pub state_dir: Option<PathBuf>,
}

pub fn run(g: &GlobalArgs, args: &InitArgs) -> anyhow::Result<()> {
    let path = g
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH));
    if path.exists() && !args.force {
        bail!(
            "{} exists already; pass --force to overwrite it (a node that is in a cluster keeps its name and address)",
            path.display()
        );
    }
    let interactive = !args.non_interactive && std::io::stdin().is_terminal();
    let answers = gather(args, interactive)?;
    let text = render(&answers);
    // The daemon's own parser must accept what we write; nothing is written otherwise.
    let cfg = NodeConfig::parse(&text)
        .map_err(|e| anyhow::anyhow!("internal error: the generated node.toml is invalid: {e}"))?;
    write_config(&path, &text, args.force)?;
    let outcome = InitOutcome {
        config: path.clone(),
        name: cfg.name.to_string(),
        address: cfg.address,
        link1: cfg.link1,
        api: cfg.api_addr(),
        state_dir: cfg.state_dir(),
        next: next_commands(&cfg),
    };
    if g.json() {
        return crate::output::print_json(&outcome);
    }
    outln!(
        "wrote {}: node {} on {}{}, API on {}",
        path.display(),
        outcome.name,
        outcome.address,
        outcome
            .link1
            .map(|l| format!(" (link1 {l})"))
            .unwrap_or_default(),
        outcome.api
    );
    outln!("next:");
    for c in &outcome.next {
        outln!("  {c}");
    }
    Ok(())
}

/// The next steps after init: start the daemon, then create or join.
fn next_commands(cfg: &NodeConfig) -> Vec<String> {
    vec![
        "systemctl enable --now brigade-node".to_string(),
        format!(
            "brigade cluster create CLUSTERNAME              # on the first machine only (this one: {})",
            cfg.address
        ),
        "brigade cluster join MEMBER-ADDRESS --token T   # on every other machine; T from 'brigade cluster join-token' on a member".to_string(),
    ]
}

/// Fills in the answers from the flags, asking on a terminal for what is missing.
fn gather(args: &InitArgs, interactive: bool) -> anyhow::Result<Answers> {
    let local = local_addresses();
    let name = match (&args.name, interactive) {
        (Some(n), _) => n.clone(),
        (None, false) => hostname_node_name()?,
        (None, true) => {
            let default = hostname_node_name().ok().map(|n| n.to_string());
            loop {
                let answer = ask("node name", default.as_deref())?;
                match answer.parse::<NodeName>() {
                    Ok(n) => break n,
                    Err(e) => eprintln!("  {e}"),
                }
            }
        }
    };
    let address = match (args.address, interactive) {
        (Some(a), _) => a,
        (None, false) => bail!(
            "give --address: this machine's address on the cluster network{}",
            hint(&local)
        ),
        (None, true) => ask_address("address on the cluster network (link0)", &local, false)?
            .ok_or_else(|| anyhow::anyhow!("an address is required"))?,
    };
    check_local(address, "--address")?;
    let link1 = match (args.link1, interactive && args.address.is_none()) {
        (Some(l), _) => Some(l),
        (None, false) => None,
        (None, true) => ask_address(
            "address on a second cluster network (link1; empty for none)",
            &local,
            true,
        )?,
    };
    if let Some(l) = link1 {
        check_local(l, "--link1")?;
        if l == address {
            bail!("--link1 {l} is the same as --address: link1 must be on another network");
        }
    }
    if let Some(api) = args.api_bind {
        check_local(api, "--api-bind")?;
    }
    Ok(Answers {
        name,
        address,
        link1,
        api_bind: args.api_bind.filter(|a| *a != address),
        state_dir: args.state_dir.clone(),
    })
}

/// Refuses an address this machine does not have: the daemon binds every socket to it.
pub fn check_local(addr: IpAddr, what: &str) -> anyhow::Result<()> {
    if addr.is_unspecified() || addr.is_multicast() {
        bail!("{what} {addr}: give this machine's own address on that network, not {addr}");
    }
    match std::net::UdpSocket::bind((addr, 0)) {
        Ok(_) => Ok(()),
        Err(e) if e.raw_os_error() == Some(nix::errno::Errno::EADDRNOTAVAIL as i32) => bail!(
            "{what} {addr} is not an address of this machine{}",
            hint(&local_addresses())
        ),
        Err(e) => Err(e).with_context(|| format!("cannot check {what} {addr}")),
    }
}

/// ", it has: a, b" when the machine's addresses are known.
fn hint(local: &[IpAddr]) -> String {
    if local.is_empty() {
        return String::new();
    }
    let list: Vec<String> = local.iter().map(ToString::to_string).collect();
    format!(" (it has: {})", list.join(", "))
}

/// This machine's global addresses (from `ip -json addr`; empty when unavailable).
fn local_addresses() -> Vec<IpAddr> {
    let Ok(out) = std::process::Command::new("ip")
        .args(["-json", "addr", "show"])
        .output()
    else {
        return Vec::new();
    };
    parse_ip_json(&String::from_utf8_lossy(&out.stdout))
}

/// The non-loopback, non-link-local addresses in `ip -json addr show` output.
pub fn parse_ip_json(text: &str) -> Vec<IpAddr> {
    let Ok(serde_json::Value::Array(links)) = serde_json::from_str::<serde_json::Value>(text)
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for link in &links {
        let infos = link.get("addr_info").and_then(|a| a.as_array());
        for info in infos.into_iter().flatten() {
            let scope = info.get("scope").and_then(|s| s.as_str());
            let local = info
                .get("local")
                .and_then(|l| l.as_str())
                .and_then(|l| l.parse::<IpAddr>().ok());
            if let (Some("global"), Some(ip)) = (scope, local) {
                out.push(ip);
            }
        }
    }
    out
}

/// The host name's first label as a node name.
fn hostname_node_name() -> anyhow::Result<NodeName> {
    let raw = std::fs::read_to_string(HOSTNAME_FILE)
        .with_context(|| format!("cannot read {HOSTNAME_FILE}; give --name"))?;
    node_name_from_hostname(&raw)
}

/// `PVE1.example.com` -> `pve1`.
pub fn node_name_from_hostname(raw: &str) -> anyhow::Result<NodeName> {
    let label = raw
        .trim()
        .split('.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    label.parse::<NodeName>().map_err(|e| {
        anyhow::anyhow!(
            "the host name {:?} is not a node name ({e}); give --name",
            raw.trim()
        )
    })
}

/// Asks one question on the terminal; an empty answer takes the default.
fn ask(question: &str, default: Option<&str>) -> anyhow::Result<String> {
    let mut err = std::io::stderr().lock();
    match default {
        Some(d) => write!(err, "{question} [{d}]: ")?,
        None => write!(err, "{question}: ")?,
    }
    err.flush()?;
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line)? == 0 {
        bail!("no answer to {question:?} (end of input)");
    }
    let line = line.trim();
    Ok(if line.is_empty() {
        default.unwrap_or_default().to_string()
    } else {
        line.to_string()
    })
}

/// Asks for an address of this machine until one is given (or none, if `optional`).
fn ask_address(question: &str, local: &[IpAddr], optional: bool) -> anyhow::Result<Option<IpAddr>> {
    let default = (!optional && local.len() == 1).then(|| local[0].to_string());
    if !local.is_empty() {
        let list: Vec<String> = local.iter().map(ToString::to_string).collect();
        eprintln!("this machine's addresses: {}", list.join(", "));
    }
    loop {
        let answer = ask(question, default.as_deref())?;
        if answer.is_empty() && optional {
            return Ok(None);
        }
        match answer.parse::<IpAddr>() {
            Ok(ip) => match check_local(ip, "address") {
                Ok(()) => return Ok(Some(ip)),
                Err(e) => eprintln!("  {e:#}"),
            },
            Err(_) => eprintln!("  {answer:?} is not an IP address"),
        }
    }
}

/// node.toml for the answers, with the optional settings as comments.
pub fn render(a: &Answers) -> String {
    let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut lines = vec![
        "# brigade node configuration (written by 'brigade node init'; see /etc/brigade/node.toml.example).".to_string(),
        format!("name = {}", quote(a.name.as_str())),
        "# This machine's address on the cluster network; every socket of the node binds to it.".to_string(),
        format!("address = {}", quote(&a.address.to_string())),
    ];
    lines.push(match a.link1 {
        Some(l) => format!("link1 = {}", quote(&l.to_string())),
        None => "# link1 = \"192.168.1.1\"   # a second, redundant link (set it before joining)"
            .to_string(),
    });
    lines.push(match a.api_bind {
        Some(api) => format!(
            "# The API and web UI listen here (the management network).\napi_address = {}",
            quote(&api.to_string())
        ),
        None => "# api_address = \"192.168.10.1\"   # the API on a management network (default: address)"
            .to_string(),
    });
    lines.push(match &a.state_dir {
        Some(d) => format!("state_dir = {}", quote(&d.to_string_lossy())),
        None => format!("# state_dir = \"/var/lib/brigade/{}\"", a.name.as_str()),
    });
    lines.extend(
        [
            "# api_port = 8006",
            "# rpc_port = 8007",
            "# mount = \"/etc/brigade/tree\"   # the tree as files (FUSE), like /etc/pve",
        ]
        .map(String::from),
    );
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// Writes the file (0644, its directory made if missing); without `force` it must not exist.
fn write_config(path: &Path, text: &str, force: bool) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    let placed = if force {
        std::fs::rename(&tmp, path)
    } else {
        // A hard link fails if the target appeared meanwhile: never overwrite without --force.
        std::fs::hard_link(&tmp, path).and_then(|()| std::fs::remove_file(&tmp))
    };
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(link1: Option<&str>, state: Option<&str>) -> Answers {
        Answers {
            name: "pve1".parse().expect("name"),
            address: "10.0.0.1".parse().expect("ip"),
            link1: link1.map(|l| l.parse().expect("ip")),
            api_bind: None,
            state_dir: state.map(PathBuf::from),
        }
    }

    #[test]
    fn what_init_writes_is_what_the_daemon_reads() {
        for a in [
            answers(None, None),
            answers(Some("192.168.1.1"), Some("/srv/brigade \"x\"/pve1")),
            Answers {
                api_bind: Some("192.168.10.1".parse().expect("ip")),
                ..answers(None, None)
            },
        ] {
            let cfg = NodeConfig::parse(&render(&a)).expect("the daemon's parser accepts it");
            assert_eq!(cfg.name, a.name);
            assert_eq!(cfg.address, a.address);
            assert_eq!(cfg.link1, a.link1);
            assert_eq!(cfg.state_dir, a.state_dir);
            assert_eq!(cfg.api_port, 8006);
            assert_eq!(cfg.api_address, a.api_bind);
        }
    }

    #[test]
    fn host_names_become_node_names() {
        assert_eq!(
            node_name_from_hostname("PVE1.example.com\n")
                .expect("ok")
                .as_str(),
            "pve1"
        );
        assert!(node_name_from_hostname("under_score").is_err());
        assert!(node_name_from_hostname("").is_err());
    }

    #[test]
    fn addresses_this_machine_lacks_are_refused() {
        check_local("127.0.0.1".parse().expect("ip"), "--address").expect("loopback is local");
        // TEST-NET-1 (RFC 5737) is never assigned to a machine.
        let e = check_local("192.0.2.77".parse().expect("ip"), "--address").expect_err("refused");
        assert!(
            format!("{e:#}").contains("is not an address of this machine"),
            "{e:#}"
        );
        assert!(check_local("0.0.0.0".parse().expect("ip"), "--address").is_err());
    }

    #[test]
    fn ip_json_gives_global_addresses() {
        let text = r#"[{"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1","scope":"host"}]},
            {"ifname":"eth0","addr_info":[{"family":"inet","local":"10.0.0.5","scope":"global"},
            {"family":"inet6","local":"fe80::1","scope":"link"}]}]"#;
        assert_eq!(
            parse_ip_json(text),
            vec!["10.0.0.5".parse::<IpAddr>().expect("ip")]
        );
        assert!(parse_ip_json("garbage").is_empty());
    }

    #[test]
    fn an_existing_file_is_kept_without_force() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("etc/node.toml");
        write_config(&p, "one", false).expect("first write");
        assert!(write_config(&p, "two", false).is_err());
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "one");
        write_config(&p, "three", true).expect("forced");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "three");
    }

    #[test]
    fn the_packaged_example_is_a_valid_node_toml() {
        let text = include_str!("../../../../packaging/debian/node.toml.example");
        NodeConfig::parse(text).expect("node.toml.example parses");
    }
}

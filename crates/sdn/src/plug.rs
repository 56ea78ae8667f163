//! PURE: a guest NIC's host device (`tap<vmid>i<n>`, `veth<vmid>i<n>`), the commands that plug it
//! into its bridge (as data the guest driver runs) and QEMU's `-netdev`/`-device` arguments.

use crate::command::Command;
use crate::nic::{Mac, Nic, NIC_MODELS};
use crate::NIC_ALIAS_PREFIX;

/// Token-bucket latency for the rate limit (how long a packet may wait).
pub const RATE_LATENCY: &str = "25ms";
/// Bytes per MB in `rate=` (Proxmox's MB/s are 2^20 bytes).
const BYTES_PER_MB: f64 = 1_048_576.0;

/// The host side of VM `vmid`'s NIC `index`: `tap100i0`.
pub fn tap_name(vmid: u32, index: u32) -> String {
    format!("tap{vmid}i{index}")
}

/// The host side of container `vmid`'s NIC `index`: `veth100i0`.
pub fn veth_name(vmid: u32, index: u32) -> String {
    format!("veth{vmid}i{index}")
}

/// Which device a NIC gets on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostDevice {
    /// A TAP device for QEMU.
    Tap { name: String },
    /// A veth pair whose other end `guest_name` goes into the container's namespace `guest_netns`.
    Veth {
        name: String,
        guest_netns: String,
        guest_name: String,
    },
}

impl HostDevice {
    /// The host-side device name.
    pub fn name(&self) -> &str {
        match self {
            HostDevice::Tap { name } | HostDevice::Veth { name, .. } => name,
        }
    }
}

/// What plugging needs to know of the bridge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BridgeInfo {
    /// Whether the bridge filters VLANs (then the port gets the NIC's tag, or VLAN 1, as its only VLAN).
    pub vlan_aware: bool,
    /// The bridge's MTU: the port gets it unless the NIC sets `mtu=` (as Proxmox does).
    pub mtu: Option<u32>,
}

/// The commands that plug `nic` on `dev` into its bridge, in order: create, mark, MTU,
/// master, VLAN, rate, link state.
pub fn plug_commands(dev: &HostDevice, nic: &Nic, bridge: BridgeInfo) -> Vec<Command> {
    let name = dev.name();
    let alias = format!("{NIC_ALIAS_PREFIX}{}", nic.key);
    let mut c = match dev {
        HostDevice::Tap { .. } => vec![Command::ip(&["tuntap", "add", "dev", name, "mode", "tap"])],
        HostDevice::Veth {
            guest_netns,
            guest_name,
            ..
        } => {
            // Both ends get the MTU; the MAC is the container's (the peer's).
            let mtu = nic.mtu.or(bridge.mtu).map(|m| m.to_string());
            let mut args = vec!["link", "add", "name", name];
            if let Some(mtu) = &mtu {
                args.extend(["mtu", mtu.as_str()]);
            }
            args.extend(["type", "veth", "peer", "name", guest_name.as_str()]);
            if let Some(mtu) = &mtu {
                args.extend(["mtu", mtu.as_str()]);
            }
            args.extend(["netns", guest_netns.as_str()]);
            let mac = nic.mac.map(|m| m.to_string());
            if let Some(mac) = &mac {
                args.extend(["address", mac.as_str()]);
            }
            vec![Command::ip(&args)]
        }
    };
    c.push(Command::ip(&["link", "set", "dev", name, "alias", &alias]));
    if let Some(mtu) = nic.mtu.or(bridge.mtu) {
        c.push(Command::ip(&[
            "link",
            "set",
            "dev",
            name,
            "mtu",
            &mtu.to_string(),
        ]));
    }
    c.push(Command::ip(&[
        "link",
        "set",
        "dev",
        name,
        "master",
        &nic.bridge,
    ]));
    if bridge.vlan_aware {
        c.push(Command::bridge(&[
            "vlan", "del", "dev", name, "vid", "1-4094",
        ]));
        let vid = nic.tag.unwrap_or(1).to_string();
        c.push(Command::bridge(&[
            "vlan", "add", "dev", name, "vid", &vid, "pvid", "untagged",
        ]));
    }
    if let Some(rate) = nic.rate {
        // Shapes traffic towards the guest; bits per second, a burst of one 1/10 s of traffic.
        let bits = (rate * BYTES_PER_MB * 8.0).round() as u64;
        let burst = (rate * BYTES_PER_MB / 10.0).round().max(1600.0) as u64;
        c.push(Command::tc(&[
            "qdisc",
            "replace",
            "dev",
            name,
            "root",
            "tbf",
            "rate",
            &format!("{bits}bit"),
            "burst",
            &burst.to_string(),
            "latency",
            RATE_LATENCY,
        ]));
    }
    c.push(Command::ip(&[
        "link",
        "set",
        "dev",
        name,
        if nic.link_down { "down" } else { "up" },
    ]));
    c
}

/// The commands run inside a container's network namespace once the peer of its veth is
/// there: loopback and the NIC up, `ip=CIDR` as its address, `gw=` as the default route
/// (`ip=dhcp`/`manual` leave the address to the container).
pub fn container_inside_commands(nic: &Nic) -> Vec<Command> {
    let Some(name) = nic.ct_name.as_deref() else {
        return Vec::new();
    };
    let mut c = vec![Command::ip(&["link", "set", "dev", "lo", "up"])];
    if let Some(ip) = nic
        .ct_ip
        .as_deref()
        .filter(|ip| !matches!(*ip, "dhcp" | "manual"))
    {
        c.push(Command::ip(&["addr", "replace", ip, "dev", name]));
    }
    c.push(Command::ip(&[
        "link",
        "set",
        "dev",
        name,
        if nic.link_down { "down" } else { "up" },
    ]));
    if let Some(gw) = &nic.ct_gw {
        c.push(Command::ip(&[
            "route", "replace", "default", "via", gw, "dev", name,
        ]));
    }
    if let Some(ip) = nic.ct_ip6.as_deref().filter(|ip| ip.contains('/')) {
        c.push(Command::ip(&["-6", "addr", "replace", ip, "dev", name]));
    }
    if let Some(gw) = &nic.ct_gw6 {
        c.push(Command::ip(&[
            "-6", "route", "replace", "default", "via", gw, "dev", name,
        ]));
    }
    c
}

/// The command that unplugs (removes) the host side.
pub fn unplug_command(dev: &HostDevice) -> Command {
    Command::ip(&["link", "del", "dev", dev.name()])
}

/// QEMU's arguments for a VM NIC on TAP `ifname` (`-netdev` and `-device`).
pub fn qemu_args(nic: &Nic, ifname: &str, mac: Mac) -> Vec<String> {
    let driver = NIC_MODELS
        .iter()
        .find(|(m, _)| *m == nic.model)
        .map(|(_, d)| *d)
        .unwrap_or("virtio-net-pci");
    let id = &nic.key;
    let mut device = format!("{driver},netdev={id},mac={mac},id={id}");
    if let Some(mtu) = nic.mtu.filter(|_| driver == "virtio-net-pci") {
        device.push_str(&format!(",host_mtu={mtu}"));
    }
    vec![
        "-netdev".to_string(),
        format!("tap,id={id},ifname={ifname},script=no,downscript=no"),
        "-device".to_string(),
        device,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Result;
    use crate::nic::{parse_nic, PROXMOX_OUI};

    fn nic(v: &str) -> Result<Nic> {
        parse_nic("net0", v)
    }

    #[test]
    fn stable_macs_names_plug_steps_and_qemu_args() {
        let m = Mac::generate("c1/100/net0");
        assert_eq!(m, Mac::generate("c1/100/net0"));
        assert_ne!(m, Mac::generate("c1/101/net0"));
        assert_eq!(m.0[..3], PROXMOX_OUI);
        assert_eq!(Mac::parse(&m.to_string()), Some(m));
        assert_eq!(tap_name(100, 0), "tap100i0");
        assert_eq!(tap_name(999_999_999, 31).len(), 15);
        let n = nic("virtio,bridge=vmbr0,tag=30,rate=1,link_down=1").expect("n");
        let cmds: Vec<String> = plug_commands(
            &HostDevice::Tap {
                name: "tap100i0".into(),
            },
            &n,
            BridgeInfo {
                vlan_aware: true,
                mtu: None,
            },
        )
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(
            cmds,
            vec![
                "ip tuntap add dev tap100i0 mode tap",
                "ip link set dev tap100i0 alias brigade:nic:net0",
                "ip link set dev tap100i0 master vmbr0",
                "bridge vlan del dev tap100i0 vid 1-4094",
                "bridge vlan add dev tap100i0 vid 30 pvid untagged",
                "tc qdisc replace dev tap100i0 root tbf rate 8388608bit burst 104858 latency 25ms",
                "ip link set dev tap100i0 down",
            ]
        );
        assert_eq!(
            qemu_args(&n, "tap100i0", m)[1..].join(" "),
            format!("tap,id=net0,ifname=tap100i0,script=no,downscript=no -device virtio-net-pci,netdev=net0,mac={m},id=net0")
        );
    }

    #[test]
    fn a_container_veth_gets_the_bridge_mtu_on_both_ends_and_its_mac_inside() {
        let n = nic("name=eth0,bridge=v1,hwaddr=BC:24:11:00:00:05").expect("n");
        let dev = HostDevice::Veth {
            name: veth_name(105, 0),
            guest_netns: "ct105".into(),
            guest_name: "eth0".into(),
        };
        let cmds = plug_commands(
            &dev,
            &n,
            BridgeInfo {
                vlan_aware: false,
                mtu: Some(1450),
            },
        );
        assert_eq!(
            cmds[0].to_string(),
            "ip link add name veth105i0 mtu 1450 type veth peer name eth0 mtu 1450 netns ct105 address BC:24:11:00:00:05"
        );
        assert!(
            cmds.iter().all(|c| !c.to_string().contains("bridge vlan")),
            "no VLAN commands on a plain bridge"
        );
        assert_eq!(
            unplug_command(&dev).to_string(),
            "ip link del dev veth105i0"
        );
        let inside: Vec<String> = container_inside_commands(
            &nic("name=eth1,bridge=v1,ip=10.1.0.5/24,gw=10.1.0.1,ip6=fd00::5/64,gw6=fd00::1")
                .expect("n"),
        )
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(
            inside,
            vec![
                "ip link set dev lo up",
                "ip addr replace 10.1.0.5/24 dev eth1",
                "ip link set dev eth1 up",
                "ip route replace default via 10.1.0.1 dev eth1",
                "ip -6 addr replace fd00::5/64 dev eth1",
                "ip -6 route replace default via fd00::1 dev eth1",
            ]
        );
        let dhcp = container_inside_commands(&nic("name=eth0,bridge=v1,ip=dhcp").expect("n"));
        assert!(dhcp.iter().all(|c| !c.to_string().contains("addr")));
        assert!(container_inside_commands(&nic("virtio,bridge=v1").expect("n")).is_empty());
    }
}

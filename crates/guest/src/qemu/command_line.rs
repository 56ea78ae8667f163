//! The QEMU command line of a VM: its devices, disks, NICs, monitor and serial port.

use super::{Incoming, LaunchSpec};
use crate::accel::Accel;
use crate::rundir::RunDir;
use crate::vm_config::DiskBus;

/// The marker that ties a QEMU process to its run directory (guards pid reuse).
pub(super) fn marker(run: &RunDir, vmid: u32) -> String {
    run.qemu_pid(vmid).to_string_lossy().into_owned()
}

/// The full QEMU command line (without the binary).
pub fn command_line(run: &RunDir, spec: &LaunchSpec) -> Vec<String> {
    let v = spec.vmid;
    let c = &spec.config;
    let mut a: Vec<String> = Vec::new();
    let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
    push(&["-name", &format!("brigade-{v},debug-threads=on")]);
    push(&[
        "-no-user-config",
        "-nodefaults",
        "-daemonize",
        "-display",
        "none",
    ]);
    push(&["-pidfile", &marker(run, v)]);
    push(&[
        "-qmp",
        &format!("unix:{},server=on,wait=off", run.qmp(v).display()),
    ]);
    push(&[
        "-chardev",
        &format!(
            "socket,id=qmp-events,path={},server=on,wait=off",
            run.qmp_events(v).display()
        ),
        "-mon",
        "chardev=qmp-events,mode=control",
    ]);
    push(&[
        "-chardev",
        &format!(
            "socket,id=serial0,path={},server=on,wait=off,logfile={}",
            run.serial(v).display(),
            run.serial_log(v).display()
        ),
    ]);
    push(&["-serial", "chardev:serial0"]);
    push(&["-machine", &format!("pc,accel={}", spec.accel.as_str())]);
    let cpu = c.cpu.clone().unwrap_or_else(|| match spec.accel {
        Accel::Kvm => "host".into(),
        Accel::Tcg => "qemu64".into(),
    });
    push(&["-cpu", &cpu]);
    push(&["-m", &c.memory_mib.to_string()]);
    push(&[
        "-smp",
        &format!("{},sockets={},cores={}", c.vcpus(), c.sockets, c.cores),
    ]);
    if let Some(k) = &c.kernel {
        push(&["-kernel", k]);
    }
    if let Some(i) = &c.initrd {
        push(&["-initrd", i]);
    }
    let ip = c.ipconfig0.as_ref().filter(|_| c.kernel.is_some());
    match (&c.append, ip) {
        (Some(ap), Some(ip)) => push(&["-append", &format!("{ap} {}", ip.kernel_args())]),
        (Some(ap), None) => push(&["-append", ap]),
        (None, Some(ip)) => push(&["-append", &ip.kernel_args()]),
        (None, None) => {}
    }
    if spec.disks.iter().any(|(d, _)| d.bus == DiskBus::Scsi) {
        push(&["-device", "virtio-scsi-pci,id=scsihw0"]);
    }
    if spec.disks.iter().any(|(d, _)| d.bus == DiskBus::Sata) {
        push(&["-device", "ahci,id=ahci0"]);
    }
    for (d, path) in &spec.disks {
        let id = format!("drive-{}", d.slot);
        let cache = d.cache.as_deref().unwrap_or("none");
        let media = if d.cdrom { ",media=cdrom" } else { "" };
        push(&[
            "-drive",
            &format!(
                "file={},if=none,id={id},format={},cache={cache}{media}",
                path.display(),
                d.volume.format()
            ),
        ]);
        let device = match (d.bus, d.cdrom) {
            (DiskBus::Scsi, false) => {
                format!("scsi-hd,bus=scsihw0.0,scsi-id={},drive={id}", d.index)
            }
            (DiskBus::Scsi, true) => {
                format!("scsi-cd,bus=scsihw0.0,scsi-id={},drive={id}", d.index)
            }
            (DiskBus::Virtio, _) => format!("virtio-blk-pci,drive={id},id={}", d.slot),
            (DiskBus::Ide, false) => format!(
                "ide-hd,bus=ide.{},unit={},drive={id}",
                d.index / 2,
                d.index % 2
            ),
            (DiskBus::Ide, true) => format!(
                "ide-cd,bus=ide.{},unit={},drive={id}",
                d.index / 2,
                d.index % 2
            ),
            (DiskBus::Sata, _) => format!("ide-hd,bus=ahci0.{},drive={id}", d.index),
        };
        push(&["-device", &device]);
    }
    for n in &c.nets {
        let model = match n.model.as_str() {
            "virtio" => "virtio-net-pci",
            other => other,
        };
        let mac = n.mac.clone().unwrap_or_else(|| default_mac(v, n.index));
        let netdev = match spec.taps.get(&n.slot) {
            Some(tap) => format!("tap,id={},ifname={tap},script=no,downscript=no", n.slot),
            None => format!("user,id={}", n.slot),
        };
        push(&["-netdev", &netdev]);
        let mut device = format!("{model},netdev={},mac={mac}", n.slot);
        // A bridged virtio NIC's mtu= reaches the guest's driver (VIRTIO_NET_F_MTU).
        if let (Some(mtu), "virtio-net-pci", true) = (n.mtu, model, spec.taps.contains_key(&n.slot))
        {
            device.push_str(&format!(",host_mtu={mtu}"));
        }
        push(&["-device", &device]);
    }
    if spec.paused {
        push(&["-S"]);
    }
    match &spec.incoming {
        Some(Incoming::Unix(p)) => push(&["-incoming", &format!("unix:{}", p.display())]),
        Some(Incoming::Tcp(addr)) => push(&["-incoming", &format!("tcp:{addr}")]),
        None => {}
    }
    a
}

/// A stable locally administered MAC for a NIC without one.
pub fn default_mac(vmid: u32, index: u32) -> String {
    let b = vmid.to_be_bytes();
    format!(
        "BC:24:{:02X}:{:02X}:{:02X}:{:02X}",
        b[1], b[2], b[3], index as u8
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use super::*;
    use crate::VmConfig;

    #[test]
    fn command_line_has_the_detach_monitor_serial_and_disks() {
        let d = tempfile::tempdir().expect("tempdir");
        let run = RunDir::open(d.path()).expect("run");
        let config = VmConfig::parse(
            "memory: 128\ncores: 2\nkernel: /k\ninitrd: /i\nappend: console=ttyS0\n\
             scsi0: shared:100/vm-100-disk-0.qcow2\nvirtio1: local:100/vm-100-disk-1.raw\nnet0: virtio\n",
        )
        .expect("config");
        let disks = config
            .disks
            .iter()
            .map(|d| (d.clone(), PathBuf::from(format!("/img/{}", d.volume.name))))
            .collect();
        let spec = LaunchSpec {
            vmid: 100,
            config,
            disks,
            accel: Accel::Tcg,
            incoming: Some(Incoming::Unix(run.migrate_in(100))),
            paused: true,
            taps: BTreeMap::new(),
            netns: None,
        };
        let line = command_line(&run, &spec).join(" ");
        for needle in [
            "-daemonize",
            "accel=tcg",
            "-cpu qemu64",
            "-m 128",
            "-smp 2,sockets=1,cores=2",
            "-kernel /k",
            "virtio-scsi-pci",
            "format=qcow2",
            "scsi-hd,bus=scsihw0.0,scsi-id=0,drive=drive-scsi0",
            "virtio-blk-pci,drive=drive-virtio1",
            "format=raw",
            "mac=BC:24:00:00:64:00",
            "-incoming unix:",
            " -S ",
            "logfile=",
        ] {
            assert!(line.contains(needle), "missing {needle:?} in {line}");
        }
    }

    #[test]
    fn a_nic_with_a_tap_opens_it_and_the_others_keep_user_networking() {
        let d = tempfile::tempdir().expect("tempdir");
        let run = RunDir::open(d.path()).expect("run");
        let config = VmConfig::parse(
            "memory: 64\nkernel: /k\nappend: console=ttyS0\nipconfig0: ip=10.50.0.2/24,gw=10.50.0.1\n\
             net0: virtio=BC:24:11:00:00:01,bridge=blue,mtu=1400\nnet1: e1000\n",
        )
        .expect("config");
        let spec = LaunchSpec {
            vmid: 101,
            config,
            disks: Vec::new(),
            accel: Accel::Tcg,
            incoming: None,
            paused: false,
            taps: BTreeMap::from([("net0".to_string(), "tap101i0".to_string())]),
            netns: Some("ns1".into()),
        };
        let line = command_line(&run, &spec).join(" ");
        assert!(
            line.contains("-netdev tap,id=net0,ifname=tap101i0,script=no,downscript=no")
                && line.contains("virtio-net-pci,netdev=net0,mac=BC:24:11:00:00:01,host_mtu=1400")
                && line.contains("-netdev user,id=net1")
                && line.contains("e1000,netdev=net1")
                && line
                    .contains("-append console=ttyS0 brigade.ip=10.50.0.2/24 brigade.gw=10.50.0.1"),
            "{line}"
        );
    }
}

//! `config-linux.md`, network devices (`linux.netDevices`): a dummy
//! interface the check adds on the host (`ip link add ... type dummy`, or
//! `type ifb` where the kernel has no dummy driver),
//! moved into the container's new network namespace, seen by the probe in
//! `/sys/class/net` and `getifaddrs`.
//!
//! The dummy is down on the host, so its addresses add no route there; a
//! dummy left on the host (a runtime that did not move it) is deleted when
//! the check ends, one moved into the container goes with its namespace.
#![forbid(unsafe_code)]

use std::fs;
use std::process::Command;

use serde_json::{Value, json};

use super::{MUST, check, create_fails_unlike, probe_with};
use crate::lab::{Lab, base_config};
use crate::report::{NetInterface, Report};
use crate::suite::{Check, Failure, Outcome, ensure, ensure_eq, fail, skip};

pub(super) fn checks() -> Vec<Check> {
    vec![
        check(
            MUST,
            "linux.net-devices",
            "config-linux.md#network-devices",
            "a netDevices entry with a name is moved into the container under that name",
            "netDevices (object, OPTIONAL) - A set of network devices that MUST be made available in the container. ... name (string, OPTIONAL) - the name of the network device inside the container namespace.",
            moved_renamed,
        ),
        check(
            MUST,
            "linux.net-devices.host-name",
            "config-linux.md#network-devices",
            "a netDevices entry without a name keeps its host name",
            "name (string, OPTIONAL) - the name of the network device inside the container namespace. If not specified, the host name is used.",
            moved_host_name,
        ),
        check(
            MUST,
            "linux.net-devices.addresses",
            "config-linux.md#network-devices",
            "a moved device keeps its global IPv4 and IPv6 addresses and its MTU",
            "The runtime MUST preserve existing network interface attributes, including all permanent IP addresses (IFA_F_PERMANENT flag) of any family with global scope (RT_SCOPE_UNIVERSE value) as defined in RFC 3549 Section 2.3.3.2.",
            moved_addresses,
        ),
        check(
            MUST,
            "linux.net-devices.up",
            "config-linux.md#network-devices",
            "a moved device is up in the container",
            "The runtime MUST set the network device state to \"up\" after moving it to the network namespace to allow the container to send and receive network traffic through that device.",
            moved_up,
        ),
        check(
            MUST,
            "linux.net-devices.name-taken",
            "config-linux.md#network-devices",
            "create fails when the container already has a device of that name",
            "If a network device with the specified name already exists in the container namespace, the runtime MUST generate an error, unless the user has provided a template by appending %d to the new name.",
            name_taken,
        ),
        check(
            MUST,
            "linux.net-devices.template",
            "config-linux.md#network-devices",
            "a name ending in %d is a template the kernel numbers",
            "In that case, the runtime MUST allow the move, and the kernel will generate a unique name for the interface within the container's network namespace.",
            template,
        ),
        check(
            MUST,
            "linux.net-devices.not-moved-back",
            "config-linux.md#namespace-lifecycle-and-container-termination",
            "kill and delete do not move the device back to the host",
            "The runtime MUST NOT attempt to move the interface out of the namespace before deletion.",
            not_moved_back,
        ),
    ]
}

/// A dummy interface on the host, deleted on drop if still there.
struct Dummy {
    name: String,
    mac: String,
    ipv4: String,
    ipv6: String,
}

/// Runs `ip` with `args`; a machine without it skips.
fn ip(args: &[&str]) -> Result<(), Failure> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| skip(format!("cannot run ip (iproute2): {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    Err(fail(format!(
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

impl Dummy {
    /// Adds a dummy (or ifb) named for the lab, MTU 1400, with a documentation
    /// IPv4 and IPv6 address; skips where dummies cannot be made.
    fn new(lab: &Lab) -> Result<Self, Failure> {
        let name = format!("c{}", lab.tag().trim_start_matches("gc"));
        let name: String = name.chars().take(15).collect();
        // A kernel without the dummy driver may have ifb, as virtual and
        // as movable between namespaces.
        ip(&["link", "add", &name, "type", "dummy"])
            .or_else(|_| ip(&["link", "add", &name, "type", "ifb"]))
            .map_err(|f| match f {
                Failure::Fail { message, .. } => skip(format!(
                    "cannot add a dummy (nor an ifb) interface: {message}"
                )),
                skip => skip,
            })?;
        let n = std::process::id() % 250 + 1;
        let mut dummy = Dummy {
            name,
            mac: String::new(),
            ipv4: format!("192.0.2.{n}"),
            ipv6: format!("2001:db8::{n:x}"),
        };
        ip(&["link", "set", &dummy.name, "mtu", "1400"])?;
        ip(&[
            "addr",
            "add",
            &format!("{}/32", dummy.ipv4),
            "dev",
            &dummy.name,
        ])?;
        ip(&[
            "addr",
            "add",
            &format!("{}/128", dummy.ipv6),
            "dev",
            &dummy.name,
            "nodad",
        ])?;
        dummy.mac = fs::read_to_string(format!("/sys/class/net/{}/address", dummy.name))
            .map(|m| m.trim().to_owned())
            .map_err(|e| fail(format!("read the dummy's address: {e}")))?;
        Ok(dummy)
    }

    /// The host interfaces that are this dummy (by name or address).
    fn on_host(&self) -> Vec<String> {
        fs::read_dir("/sys/class/net")
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| {
                        *n == self.name
                            || fs::read_to_string(format!("/sys/class/net/{n}/address"))
                                .is_ok_and(|m| !self.mac.is_empty() && m.trim() == self.mac)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The interface of the report that is this dummy (by address).
    fn in_report<'r>(&self, report: &'r Report) -> Result<&'r NetInterface, Failure> {
        report
            .net_interfaces
            .iter()
            .find(|i| i.mac == self.mac)
            .ok_or_else(|| {
                let names: Vec<&str> = report
                    .net_interfaces
                    .iter()
                    .map(|i| i.name.as_str())
                    .collect();
                fail(format!(
                    "the container has no interface with the dummy's address {} (it has {names:?})",
                    self.mac
                ))
            })
    }
}

impl Drop for Dummy {
    fn drop(&mut self) {
        for name in self.on_host() {
            let _ = ip(&["link", "del", &name]);
        }
    }
}

/// The netDevices config for the dummy, under ociVersion 1.3.0.
fn net_devices(c: &mut Value, devices: Value) {
    c["ociVersion"] = json!("1.3.0");
    c["linux"]["netDevices"] = devices;
}

/// Runs the probe with the dummy moved in as `entry`.
fn probe_moved(lab: &mut Lab, dummy: &Dummy, entry: Value) -> Result<Report, Failure> {
    probe_with(lab, &[], |c, _| {
        net_devices(c, json!({dummy.name.clone(): entry}))
    })
}

fn moved_renamed(lab: &mut Lab) -> Outcome {
    let dummy = Dummy::new(lab)?;
    let report = probe_moved(lab, &dummy, json!({"name": "conf0"}))?;
    ensure_eq(
        dummy.in_report(&report)?.name.as_str(),
        "conf0",
        "name in the container",
    )
}

fn moved_host_name(lab: &mut Lab) -> Outcome {
    let dummy = Dummy::new(lab)?;
    let report = probe_moved(lab, &dummy, json!({}))?;
    ensure_eq(
        dummy.in_report(&report)?.name.as_str(),
        dummy.name.as_str(),
        "name in the container",
    )
}

fn moved_addresses(lab: &mut Lab) -> Outcome {
    let dummy = Dummy::new(lab)?;
    let report = probe_moved(lab, &dummy, json!({}))?;
    let iface = dummy.in_report(&report)?;
    for (family, kept, address) in [
        ("IPv4", &iface.ipv4, &dummy.ipv4),
        ("IPv6", &iface.ipv6, &dummy.ipv6),
    ] {
        ensure(
            kept.contains(address),
            format!(
                "{} lost {address}: its {family} addresses are {kept:?}",
                iface.name
            ),
        )?;
    }
    ensure_eq(iface.mtu, 1400, "MTU")
}

fn moved_up(lab: &mut Lab) -> Outcome {
    let dummy = Dummy::new(lab)?;
    let report = probe_moved(lab, &dummy, json!({}))?;
    let iface = dummy.in_report(&report)?;
    ensure(
        iface.flags & libc::IFF_UP as u32 != 0,
        format!(
            "{} is down in the container (flags {:#x})",
            iface.name, iface.flags
        ),
    )
}

fn name_taken(lab: &mut Lab) -> Outcome {
    let dummy = Dummy::new(lab)?;
    let name = dummy.name.clone();
    create_fails_unlike(
        lab,
        "the container's network namespace already has lo",
        |c| net_devices(c, json!({name.clone(): {"name": "conf0"}})),
        |c| net_devices(c, json!({name.clone(): {"name": "lo"}})),
    )
    .map(drop)
}

fn template(lab: &mut Lab) -> Outcome {
    let dummy = Dummy::new(lab)?;
    let report = probe_moved(lab, &dummy, json!({"name": "conf%d"}))?;
    let name = &dummy.in_report(&report)?.name;
    ensure(
        name.strip_prefix("conf")
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit())),
        format!("the template conf%d gave the name {name:?}"),
    )
}

fn not_moved_back(lab: &mut Lab) -> Outcome {
    let dummy = Dummy::new(lab)?;
    let bundle = lab.bundle("bundle")?;
    let mut config = base_config(&["--touch", "/ran", "--wait-signal", "60"]);
    net_devices(&mut config, json!({dummy.name.clone(): {"name": "conf0"}}));
    bundle.write_config(&config)?;
    let id = lab.id("c");
    lab.create(&bundle, &id)?.require()?;
    ensure(
        dummy.on_host().is_empty(),
        "create left the device on the host",
    )?;
    lab.runtime(&["start", &id])?.require()?;
    super::wait_ran(&bundle)?;
    lab.runtime(&["kill", &id, "KILL"])?.require()?;
    lab.wait_status(&id, "stopped")?;
    lab.runtime(&["delete", &id])?.require()?;
    std::thread::sleep(std::time::Duration::from_millis(300));
    let back = dummy.on_host();
    ensure(
        back.is_empty(),
        format!("the device is back on the host as {back:?}"),
    )
}

//! `linux.netDevices`: host network interfaces moved into the container's
//! network namespace (new, or a pod's joined by path), by the parent after the clone and before the
//! init is released (`container::spawn`), over raw rtnetlink.
//!
//! Each device is renamed in the same request that moves it, gets back
//! its permanent addresses of global scope (the kernel drops addresses on
//! a move) and is set up, as the spec requires and runc does. gorae never
//! moves a device back: when the namespace ends with the container, the
//! kernel returns physical devices to the host's initial namespace (under
//! their container name, `dev%d` on a clash) and deletes virtual ones
//! (veth, macvlan, ifb, ...). A `create` that fails after a move ends the
//! same way, as in runc.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};

use nix::errno::Errno;
use nix::sched::{CloneFlags, setns};
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Error, Result};
use crate::namespaces;
use crate::netlink::Socket;

/// A network namespace joined by path must not be gorae's own (the
/// host's, typically): the devices would not move anywhere (as runc).
fn refuse_our_own_namespace(spec: &Spec) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let joined = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .and_then(|nss| {
            nss.iter()
                .find(|ns| ns.typ() == LinuxNamespaceType::Network)
                .and_then(|ns| ns.path().clone())
        });
    let Some(path) = joined else {
        return Ok(());
    };
    let id = |p: &std::path::Path| std::fs::metadata(p).map(|m| (m.dev(), m.ino())).ok();
    if id(&path).is_some() && id(std::path::Path::new("/proc/self/ns/net")) == id(&path) {
        return Err(Error::invalid(
            "linux.netDevices",
            format!(
                "{} is the runtime's own network namespace: devices need the container's",
                path.display()
            ),
        ));
    }
    Ok(())
}

/// A device to move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NetDevice {
    /// Its name on the host: the key in `linux.netDevices`.
    pub host: String,
    /// Its name in the container: `name`, else the host's.
    pub name: String,
}

/// Checks `linux.netDevices` before anything is made: root on the host
/// (as runc), a network namespace of the container's (new, or joined by
/// path as a pod's containers do, but not gorae's own), valid names, no two devices (or a
/// device and the namespace's `lo`) with one name in the container unless
/// it is a `%d` template, and every device present on the host. Devices
/// are moved in the order of their host names.
pub(crate) fn prepare(spec: &Spec) -> Result<Vec<NetDevice>> {
    let listed = spec.linux().as_ref().and_then(|l| l.net_devices().as_ref());
    let Some(listed) = listed.filter(|d| !d.is_empty()) else {
        return Ok(Vec::new());
    };
    if crate::rootless() {
        return Err(Error::invalid(
            "linux.netDevices",
            "moving host network devices needs root on the host (as runc)",
        ));
    }
    namespaces::require_listed(spec, LinuxNamespaceType::Network, "linux.netDevices")?;
    refuse_our_own_namespace(spec)?;
    let mut host = Socket::open().map_err(|e| Error::sys("socket", "NETLINK_ROUTE", e))?;
    // Names taken in the container, and by which entry ("" for `lo`).
    let mut taken = BTreeMap::from([("lo".to_owned(), String::new())]);
    let mut devices = Vec::new();
    for (key, device) in listed.iter().collect::<BTreeMap<_, _>>() {
        let field = format!("linux.netDevices.{key}");
        check_name(key, &field, false)?;
        let (name, name_field) = match device.name() {
            Some(name) => {
                let name_field = format!("{field}.name");
                check_name(name, &name_field, true)?;
                (name.clone(), name_field)
            }
            None => (key.clone(), field.clone()),
        };
        if !name.contains('%') {
            if let Some(other) = taken.insert(name.clone(), key.clone()) {
                let holder = match other.as_str() {
                    "" => "the new network namespace's loopback".to_owned(),
                    other => format!("linux.netDevices.{other}"),
                };
                return Err(Error::invalid(
                    name_field,
                    format!("{name:?} in the container is already the name of {holder}"),
                ));
            }
        }
        match host.link_index(key) {
            Ok(_) => {}
            Err(Errno::ENODEV) => {
                return Err(Error::invalid(field, "no such network device on the host"));
            }
            Err(errno) => return Err(failed(key, "look up on the host")(errno)),
        }
        devices.push(NetDevice {
            host: key.clone(),
            name,
        });
    }
    Ok(devices)
}

/// Checks an interface name as the kernel's `dev_valid_name` does; a name
/// in the container may be a template with one `%d`.
fn check_name(name: &str, field: &str, template: bool) -> Result<()> {
    let percents = name.matches('%').count();
    let problem = if name.is_empty() || name == "." || name == ".." {
        "is not an interface name"
    } else if name.len() >= libc::IFNAMSIZ {
        "is longer than 15 bytes (IFNAMSIZ)"
    } else if name.contains(['/', ':', '\0']) || name.contains(char::is_whitespace) {
        "holds '/', ':', white space or a NUL"
    } else if percents > 0 && !(template && percents == 1 && name.contains("%d")) {
        "holds a '%' that is not the one %d of a name template"
    } else {
        return Ok(());
    };
    Err(Error::invalid(field, format!("{name:?} {problem}")))
}

/// Moves `devices` into the container's network namespace: `joined` (a
/// namespace joined by path, which the init may not have entered yet), or
/// the new one of `pid`, the container's init (a child of ours not yet
/// reaped, so its pid cannot be reused).
pub(crate) fn move_into(
    devices: &[NetDevice],
    pid: Pid,
    joined: Option<BorrowedFd<'_>>,
) -> Result<()> {
    if devices.is_empty() {
        return Ok(());
    }
    let path = format!("/proc/{pid}/ns/net");
    let opened;
    let netns = match joined {
        Some(fd) => fd,
        None => {
            opened = File::open(&path).map_err(|e| Error::io("open", &path, e))?;
            opened.as_fd()
        }
    };
    let mut host = Socket::open().map_err(|e| Error::sys("socket", "NETLINK_ROUTE", e))?;
    let mut container = socket_in(netns).map_err(|e| Error::sys("setns", &path, e))?;
    for device in devices {
        move_one(device, &mut host, &mut container, netns)?;
    }
    Ok(())
}

/// Moves and renames one device, adds its addresses back and sets it up.
/// The kernel keeps its index across the move: a new namespace holds only
/// `lo`, and each device brings an index unique on the host.
fn move_one(
    device: &NetDevice,
    host: &mut Socket,
    container: &mut Socket,
    netns: BorrowedFd<'_>,
) -> Result<()> {
    let fail = |op: &str| failed(&device.host, op);
    let index = host
        .link_index(&device.host)
        .map_err(fail("look up on the host"))?;
    let addresses = host
        .permanent_global_addresses(index)
        .map_err(fail("list its addresses on the host"))?;
    let to = format!(
        "move into the container's network namespace as {:?}",
        device.name
    );
    host.move_link(index, &device.name, netns)
        .map_err(fail(&to))?;
    for address in &addresses {
        container
            .add_address(index, address)
            .map_err(fail(&format!("add address {address} in the container")))?;
    }
    container
        .set_up(index)
        .map_err(fail("set up in the container"))
}

fn failed(device: &str, op: &str) -> impl FnOnce(Errno) -> Error + use<> {
    let (device, op) = (device.to_owned(), op.to_owned());
    move |errno| Error::NetDevice { device, op, errno }
}

/// A rtnetlink socket in the network namespace `netns`, opened by a
/// short-lived thread that enters it: the caller's own threads never
/// change namespace.
fn socket_in(netns: BorrowedFd<'_>) -> Result<Socket, Errno> {
    std::thread::scope(|scope| {
        let opener = std::thread::Builder::new()
            .name("gorae-netns".into())
            .spawn_scoped(scope, || {
                setns(netns, CloneFlags::CLONE_NEWNET)?;
                Socket::open()
            })
            .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EAGAIN)))?;
        opener.join().unwrap_or(Err(Errno::EIO))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_as_the_kernel_does() {
        for good in ["eth0", "a", "fifteen-bytes-x", "dev.1", "vlan@1"] {
            assert!(check_name(good, "f", false).is_ok(), "{good:?} refused");
        }
        for bad in [
            "",
            ".",
            "..",
            "sixteen-bytes-xx",
            "a/b",
            "a:b",
            "a b",
            "a\0",
            "eth%d",
        ] {
            assert!(check_name(bad, "f", false).is_err(), "{bad:?} accepted");
        }
        assert!(check_name("eth%d", "f", true).is_ok());
        for bad in ["eth%d%d", "eth%s", "eth%"] {
            assert!(check_name(bad, "f", true).is_err(), "{bad:?} accepted");
        }
    }
}

//! What `gorae-probe` does inside a container: look at the calling process
//! and its surroundings, and fill a [`Report`].
//!
//! Nothing here fails: what cannot be read is left at its default and
//! named in [`Report::errors`], so one missing file never hides the rest.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use nix::errno::Errno;
use nix::sys::resource::{Resource, getrlimit};
use nix::sys::signal::{SigSet, Signal};

use crate::report::{
    Capabilities, CgroupMembership, Fallible, IdMap, Ids, IoPriority, MemoryPolicy, Mount,
    NetInterface, Node, PathAccess, Report, Rlimit, SchedAttr, Scheduler, Stdio, capability_names,
    parse_mountinfo,
};

/// What the probe was asked to do besides the usual report.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Paths to try reading and writing.
    pub check_paths: Vec<String>,
    /// Sysctls (dotted names) to read.
    pub sysctls: Vec<String>,
    /// Files to create before reporting (proof that the program ran).
    pub touch: Vec<String>,
    /// Wait for a signal (at most this many seconds) before reporting.
    pub wait_signal: Option<u32>,
}

/// The signals `--wait-signal` waits for.
const WAITED: [Signal; 6] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
];

/// Blocks the waited-for signals. Done first thing: a pid namespace's init
/// drops signals it neither handles nor blocks.
pub fn block_signals() -> Result<SigSet, Errno> {
    let mut set = SigSet::empty();
    WAITED.iter().for_each(|s| set.add(*s));
    set.thread_block()?;
    Ok(set)
}

/// Waits for one of the blocked signals, or `timeout` seconds (`SIGALRM`).
pub fn wait_signal(set: &SigSet, timeout: u32) -> Result<Signal, Errno> {
    nix::unistd::alarm::set(timeout.max(1));
    set.wait()
}

/// Collects the report; the fds are taken by the caller before anything
/// else opens one.
pub fn gather(opts: &Options, fds: Vec<i32>) -> Report {
    let mut errors = Vec::new();
    let mut report = Report {
        args: std::env::args().collect(),
        pid: std::process::id().try_into().unwrap_or(-1),
        fds,
        env: std::env::vars_os()
            .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
            .collect(),
        cwd: match std::env::current_dir() {
            Ok(p) => Fallible::Ok(p.to_string_lossy().into_owned()),
            Err(e) => Fallible::Errno(e.raw_os_error().unwrap_or(0)),
        },
        ..Report::default()
    };
    report.stdio = stdio();
    report.namespaces = namespaces(&mut errors);
    report.uid_map = id_map("/proc/self/uid_map", &mut errors);
    report.gid_map = id_map("/proc/self/gid_map", &mut errors);
    status(&mut report, &mut errors);
    report.rlimits = rlimits(&mut errors);
    report.oom_score_adj = read_trimmed("/proc/self/oom_score_adj", &mut errors)
        .and_then(|v| v.parse().ok())
        .unwrap_or_default();
    report.scheduler = scheduler(&mut errors);
    report.io_priority = io_priority(&mut errors);
    report.cpu_affinity = cpu_affinity();
    report.personality = read_trimmed("/proc/self/personality", &mut errors)
        .and_then(|v| u32::from_str_radix(&v, 16).ok());
    let uts = nix::sys::utsname::uname();
    match uts {
        Ok(u) => {
            report.machine = u.machine().to_string_lossy().into_owned();
            report.hostname = u.nodename().to_string_lossy().into_owned();
            report.domainname = u.domainname().to_string_lossy().into_owned();
        }
        Err(e) => errors.push(format!("uname: {e}")),
    }
    report.mounts = read_trimmed("/proc/self/mountinfo", &mut errors)
        .map(|t| parse_mountinfo(&t))
        .unwrap_or_default();
    report.dev = dev_nodes(Path::new("/dev"), &mut errors);
    report.paths = opts
        .check_paths
        .iter()
        .map(|p| path_access(p, &report.mounts))
        .collect();
    report.sysctls = opts
        .sysctls
        .iter()
        .map(|name| (name.clone(), sysctl(name)))
        .collect();
    report.cgroups = cgroups(&mut errors);
    report.time_offsets = time_offsets();
    report.net_interfaces = net_interfaces(&mut errors);
    report.memory_policy = memory_policy();
    report.lsm_label = attr("/proc/self/attr/current");
    report.apparmor_label = attr("/proc/self/attr/apparmor/current");
    report.sched_attr = sched_attr();
    report.terminal_size = match crate::sys::window_size(std::io::stdin().as_fd()) {
        Ok(size) => Fallible::Ok(size),
        Err(e) => Fallible::Errno(e as i32),
    };
    report.errors = errors;
    report
}

/// Creates the `--touch` files (before any wait: they prove the program
/// started); returns what failed.
pub fn touch(opts: &Options) -> Vec<String> {
    opts.touch
        .iter()
        .filter_map(|path| {
            fs::write(path, b"")
                .err()
                .map(|e| format!("touch {path}: {e}"))
        })
        .collect()
}

/// The open fds, except the one listing them.
pub fn open_fds() -> Vec<i32> {
    let Ok(dir) = fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    let mut fds: Vec<i32> = dir
        .filter_map(|e| e.ok())
        .filter(|e| {
            fs::read_link(e.path()).map_or(true, |t| {
                let t = t.to_string_lossy();
                !(t.starts_with("/proc/") && t.ends_with("/fd"))
            })
        })
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort_unstable();
    fds
}

fn stdio() -> Vec<Stdio> {
    use std::io::IsTerminal;
    let terminal = [
        std::io::stdin().is_terminal(),
        std::io::stdout().is_terminal(),
        std::io::stderr().is_terminal(),
    ];
    terminal
        .iter()
        .enumerate()
        .map(|(fd, terminal)| Stdio {
            target: fs::read_link(format!("/proc/self/fd/{fd}"))
                .map(|t| t.to_string_lossy().into_owned())
                .unwrap_or_default(),
            terminal: *terminal,
        })
        .collect()
}

fn read_trimmed(path: &str, errors: &mut Vec<String>) -> Option<String> {
    match fs::read_to_string(path) {
        Ok(t) => Some(t.trim_end().to_owned()),
        Err(e) => {
            errors.push(format!("read {path}: {e}"));
            None
        }
    }
}

fn namespaces(errors: &mut Vec<String>) -> BTreeMap<String, u64> {
    let names = [
        "cgroup",
        "ipc",
        "mnt",
        "net",
        "pid",
        "pid_for_children",
        "time",
        "time_for_children",
        "user",
        "uts",
    ];
    let mut out = BTreeMap::new();
    for name in names {
        let path = format!("/proc/self/ns/{name}");
        match fs::metadata(&path) {
            Ok(m) => {
                out.insert(name.to_owned(), m.ino());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => errors.push(format!("stat {path}: {e}")),
        }
    }
    out
}

fn id_map(path: &str, errors: &mut Vec<String>) -> Vec<IdMap> {
    let text = read_trimmed(path, errors).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace().map(|n| n.parse::<u32>().ok());
            Some(IdMap {
                inside: f.next()??,
                outside: f.next()??,
                count: f.next()??,
            })
        })
        .collect()
}

/// Identity, umask, capabilities, no_new_privs and seccomp from
/// `/proc/self/status`.
fn status(report: &mut Report, errors: &mut Vec<String>) {
    let text = read_trimmed("/proc/self/status", errors).unwrap_or_default();
    let fields: BTreeMap<&str, &str> = text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k, v.trim()))
        .collect();
    let numbers = |key: &str| -> Vec<u32> {
        fields
            .get(key)
            .map(|v| {
                v.split_whitespace()
                    .filter_map(|n| n.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    report.ids = Ids {
        uid: numbers("Uid"),
        gid: numbers("Gid"),
        groups: numbers("Groups"),
    };
    report.umask = fields
        .get("Umask")
        .and_then(|v| u32::from_str_radix(v, 8).ok());
    let caps = |key: &str| {
        fields
            .get(key)
            .and_then(|v| u64::from_str_radix(v, 16).ok())
            .map(capability_names)
            .unwrap_or_default()
    };
    report.capabilities = Capabilities {
        inheritable: caps("CapInh"),
        permitted: caps("CapPrm"),
        effective: caps("CapEff"),
        bounding: caps("CapBnd"),
        ambient: caps("CapAmb"),
    };
    report.no_new_privs = fields.get("NoNewPrivs") == Some(&"1");
    report.speculation_store_bypass = fields
        .get("Speculation_Store_Bypass")
        .map(|v| (*v).to_owned())
        .unwrap_or_default();
    report.seccomp = fields
        .get("Seccomp")
        .and_then(|v| v.parse().ok())
        .unwrap_or_default();
}

fn rlimits(errors: &mut Vec<String>) -> BTreeMap<String, Rlimit> {
    let all = [
        (Resource::RLIMIT_AS, "RLIMIT_AS"),
        (Resource::RLIMIT_CORE, "RLIMIT_CORE"),
        (Resource::RLIMIT_CPU, "RLIMIT_CPU"),
        (Resource::RLIMIT_DATA, "RLIMIT_DATA"),
        (Resource::RLIMIT_FSIZE, "RLIMIT_FSIZE"),
        (Resource::RLIMIT_LOCKS, "RLIMIT_LOCKS"),
        (Resource::RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK"),
        (Resource::RLIMIT_MSGQUEUE, "RLIMIT_MSGQUEUE"),
        (Resource::RLIMIT_NICE, "RLIMIT_NICE"),
        (Resource::RLIMIT_NOFILE, "RLIMIT_NOFILE"),
        (Resource::RLIMIT_NPROC, "RLIMIT_NPROC"),
        (Resource::RLIMIT_RSS, "RLIMIT_RSS"),
        (Resource::RLIMIT_RTPRIO, "RLIMIT_RTPRIO"),
        (Resource::RLIMIT_RTTIME, "RLIMIT_RTTIME"),
        (Resource::RLIMIT_SIGPENDING, "RLIMIT_SIGPENDING"),
        (Resource::RLIMIT_STACK, "RLIMIT_STACK"),
    ];
    let mut out = BTreeMap::new();
    for (resource, name) in all {
        match getrlimit(resource) {
            Ok((soft, hard)) => {
                out.insert(name.to_owned(), Rlimit { soft, hard });
            }
            Err(e) => errors.push(format!("getrlimit {name}: {e}")),
        }
    }
    out
}

/// Nice, real-time priority and policy: fields 19, 40 and 41 of
/// `/proc/self/stat`, counted after the parenthesized command name.
fn scheduler(errors: &mut Vec<String>) -> Scheduler {
    let text = read_trimmed("/proc/self/stat", errors).unwrap_or_default();
    let after = text.rsplit_once(')').map_or("", |(_, rest)| rest);
    // `after` starts at field 3 (state).
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| -> i64 { fields.get(n - 3).and_then(|v| v.parse().ok()).unwrap_or(-1) };
    let policy = match field(41) {
        0 => "SCHED_OTHER",
        1 => "SCHED_FIFO",
        2 => "SCHED_RR",
        3 => "SCHED_BATCH",
        5 => "SCHED_IDLE",
        6 => "SCHED_DEADLINE",
        _ => "unknown",
    };
    Scheduler {
        policy: policy.to_owned(),
        priority: field(40),
        nice: field(19),
    }
}

fn io_priority(errors: &mut Vec<String>) -> Option<IoPriority> {
    match crate::sys::ioprio_get() {
        Ok(value) => {
            let class = match value >> 13 {
                0 => "IOPRIO_CLASS_NONE",
                1 => "IOPRIO_CLASS_RT",
                2 => "IOPRIO_CLASS_BE",
                3 => "IOPRIO_CLASS_IDLE",
                _ => "unknown",
            };
            Some(IoPriority {
                class: class.to_owned(),
                priority: value & 0x1fff,
            })
        }
        Err(e) => {
            errors.push(format!("ioprio_get: {e}"));
            None
        }
    }
}

fn cpu_affinity() -> Fallible<Vec<usize>> {
    match nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)) {
        Ok(set) => Fallible::Ok(
            (0..nix::sched::CpuSet::count())
                .filter(|cpu| set.is_set(*cpu).unwrap_or(false))
                .collect(),
        ),
        Err(e) => Fallible::Errno(e as i32),
    }
}

/// Splits a `dev_t` as glibc's `major`/`minor` do.
fn split_dev(dev: u64) -> (u64, u64) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major, minor)
}

/// The node at `path`, from `lstat`.
fn node(path: &Path) -> std::io::Result<Node> {
    let meta = fs::symlink_metadata(path)?;
    let ft = meta.file_type();
    let kind = if ft.is_char_device() {
        "c"
    } else if ft.is_block_device() {
        "b"
    } else if ft.is_fifo() {
        "p"
    } else if ft.is_socket() {
        "s"
    } else if ft.is_dir() {
        "d"
    } else if ft.is_symlink() {
        "l"
    } else {
        "f"
    };
    let (major, minor) = if ft.is_char_device() || ft.is_block_device() {
        split_dev(meta.rdev())
    } else {
        (0, 0)
    };
    Ok(Node {
        path: path.to_string_lossy().into_owned(),
        kind: kind.to_owned(),
        major,
        minor,
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        target: ft
            .is_symlink()
            .then(|| fs::read_link(path).ok())
            .flatten()
            .map(|t| t.to_string_lossy().into_owned()),
    })
}

/// Every node below `dir`, depth first, not following symlinks; `/dev/pts`
/// and `/dev/shm` contents are skipped except `ptmx`.
fn dev_nodes(dir: &Path, errors: &mut Vec<String>) -> Vec<Node> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push(format!("list {}: {e}", dir.display()));
            return out;
        }
    };
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        match node(&path) {
            Ok(n) => {
                let descend = n.kind == "d" && !path.ends_with("shm") && !path.ends_with("mqueue");
                out.push(n);
                if descend {
                    out.extend(dev_nodes(&path, errors));
                }
            }
            Err(e) => errors.push(format!("lstat {}: {e}", path.display())),
        }
    }
    out
}

fn errno_of(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

fn path_access(path: &str, mounts: &[Mount]) -> PathAccess {
    let p = Path::new(path);
    let node = node(p).ok();
    let is_dir = node.as_ref().is_some_and(|n| n.kind == "d");
    let (read, write) = if is_dir {
        (read_dir_count(p), write_dir(p))
    } else {
        (read_file(p), write_file(p))
    };
    let masked = match &node {
        Some(n) if n.kind == "c" => (n.major, n.minor) == (1, 3) && path != "/dev/null",
        Some(n) if n.kind == "d" => {
            read == Fallible::Ok(0)
                && mounts
                    .iter()
                    .rfind(|m| m.mount_point == path)
                    .is_some_and(|m| m.fs_type == "tmpfs" && m.options.iter().any(|o| o == "ro"))
        }
        _ => false,
    };
    PathAccess {
        path: path.to_owned(),
        node,
        read,
        write,
        masked,
    }
}

fn read_dir_count(p: &Path) -> Fallible<u64> {
    match fs::read_dir(p) {
        Ok(entries) => Fallible::Ok(entries.filter_map(|e| e.ok()).count() as u64),
        Err(e) => Fallible::Errno(errno_of(&e)),
    }
}

fn read_file(p: &Path) -> Fallible<u64> {
    let mut buf = vec![0u8; 64 << 10];
    let result = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(p)
        .and_then(|mut f| f.read(&mut buf));
    match result {
        Ok(n) => Fallible::Ok(n as u64),
        Err(e) => Fallible::Errno(errno_of(&e)),
    }
}

fn write_file(p: &Path) -> Fallible<bool> {
    match fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(p)
    {
        Ok(_) => Fallible::Ok(true),
        Err(e) => Fallible::Errno(errno_of(&e)),
    }
}

fn write_dir(p: &Path) -> Fallible<bool> {
    let probe = p.join(format!(".gorae-probe-{}", std::process::id()));
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = fs::remove_file(&probe);
            Fallible::Ok(true)
        }
        Err(e) => Fallible::Errno(errno_of(&e)),
    }
}

fn sysctl(name: &str) -> Fallible<String> {
    let path = format!("/proc/sys/{}", name.replace('.', "/"));
    match fs::read_to_string(path) {
        Ok(v) => Fallible::Ok(v.trim_end().to_owned()),
        Err(e) => Fallible::Errno(errno_of(&e)),
    }
}

fn cgroups(errors: &mut Vec<String>) -> Vec<CgroupMembership> {
    let text = read_trimmed("/proc/self/cgroup", errors).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let hierarchy = parts.next()?.parse().ok()?;
            let controllers = parts
                .next()?
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect();
            Some(CgroupMembership {
                hierarchy,
                controllers,
                path: parts.next()?.to_owned(),
            })
        })
        .collect()
}

/// The interfaces listed in `/sys/class/net` (the sysfs mounted in the
/// container shows its network namespace), with the addresses
/// `getifaddrs` gives.
fn net_interfaces(errors: &mut Vec<String>) -> Vec<NetInterface> {
    let dir = Path::new("/sys/class/net");
    let mut names: Vec<String> = match fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(e) => {
            errors.push(format!("list {}: {e}", dir.display()));
            return Vec::new();
        }
    };
    names.sort();
    let attribute = |name: &str, file: &str| {
        fs::read_to_string(dir.join(name).join(file))
            .map(|t| t.trim().to_owned())
            .unwrap_or_default()
    };
    let mut out: Vec<NetInterface> = names
        .iter()
        .map(|name| NetInterface {
            name: name.clone(),
            flags: u32::from_str_radix(attribute(name, "flags").trim_start_matches("0x"), 16)
                .unwrap_or(0),
            mtu: attribute(name, "mtu").parse().unwrap_or(0),
            mac: attribute(name, "address"),
            ipv4: Vec::new(),
            ipv6: Vec::new(),
        })
        .collect();
    match nix::ifaddrs::getifaddrs() {
        Ok(addresses) => {
            for ifaddr in addresses {
                let Some(iface) = out.iter_mut().find(|i| i.name == ifaddr.interface_name) else {
                    continue;
                };
                let Some(address) = ifaddr.address else {
                    continue;
                };
                if let Some(v4) = address.as_sockaddr_in() {
                    iface.ipv4.push(v4.ip().to_string());
                } else if let Some(v6) = address.as_sockaddr_in6() {
                    iface.ipv6.push(v6.ip().to_string());
                }
            }
        }
        Err(e) => errors.push(format!("getifaddrs: {e}")),
    }
    out
}

/// The NUMA memory policy with its mode and flags by name.
fn memory_policy() -> Fallible<MemoryPolicy> {
    let (mode, nodes) = match crate::sys::get_mempolicy() {
        Ok(policy) => policy,
        Err(e) => return Fallible::Errno(e as i32),
    };
    let flags = [
        (libc::MPOL_F_STATIC_NODES, "MPOL_F_STATIC_NODES"),
        (libc::MPOL_F_RELATIVE_NODES, "MPOL_F_RELATIVE_NODES"),
        (libc::MPOL_F_NUMA_BALANCING, "MPOL_F_NUMA_BALANCING"),
    ];
    let all_flags = flags.iter().fold(0, |acc, (bit, _)| acc | bit);
    let name = match mode & !all_flags {
        0 => "MPOL_DEFAULT",
        1 => "MPOL_PREFERRED",
        2 => "MPOL_BIND",
        3 => "MPOL_INTERLEAVE",
        4 => "MPOL_LOCAL",
        5 => "MPOL_PREFERRED_MANY",
        6 => "MPOL_WEIGHTED_INTERLEAVE",
        _ => "unknown",
    };
    Fallible::Ok(MemoryPolicy {
        mode: name.to_owned(),
        flags: flags
            .iter()
            .filter(|(bit, _)| mode & bit != 0)
            .map(|(_, n)| (*n).to_owned())
            .collect(),
        nodes,
    })
}

/// A `/proc/self/attr/...` file, trimmed of its trailing NUL and newline.
fn attr(path: &str) -> Fallible<String> {
    match fs::read(path) {
        Ok(bytes) => Fallible::Ok(
            String::from_utf8_lossy(&bytes)
                .trim_end_matches(['\0', '\n'])
                .to_owned(),
        ),
        Err(e) => Fallible::Errno(errno_of(&e)),
    }
}

fn sched_attr() -> Fallible<SchedAttr> {
    match crate::sys::sched_getattr() {
        Ok(a) => Fallible::Ok(SchedAttr {
            policy: a.sched_policy,
            flags: a.sched_flags,
            nice: a.sched_nice,
            priority: a.sched_priority,
            runtime: a.sched_runtime,
            deadline: a.sched_deadline,
            period: a.sched_period,
        }),
        Err(e) => Fallible::Errno(e as i32),
    }
}

/// `/proc/self/timens_offsets`; absent (no time namespaces) means none.
fn time_offsets() -> BTreeMap<String, (i64, i64)> {
    let text = fs::read_to_string("/proc/self/timens_offsets").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let clock = f.next()?.to_owned();
            let secs = f.next()?.parse().ok()?;
            let nanos = f.next()?.parse().ok()?;
            Some((clock, (secs, nanos)))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn dev_t_splits_like_glibc() {
        assert_eq!(split_dev(0x0103), (1, 3));
        assert_eq!(split_dev(0x0500), (5, 0));
        assert_eq!(split_dev(259 << 8), (259, 0));
        assert_eq!(split_dev(44 | (256 << 12)), (0, 300));
    }

    #[test]
    fn report_of_this_process_names_its_pid_namespace_and_cwd() {
        let report = gather(&Options::default(), open_fds());
        assert!(report.namespaces.contains_key("pid"));
        assert!(matches!(report.cwd, Fallible::Ok(ref c) if c.starts_with('/')));
        assert!(!report.ids.uid.is_empty());
    }
}

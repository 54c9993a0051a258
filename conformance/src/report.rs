//! The JSON document `gorae-probe` prints: what a process sees of itself.
//!
//! The probe fills it inside a container, the suite reads it back; both
//! use these types, so a field renamed here is renamed for both.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Everything the probe saw, one document.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// The probe's own argv.
    pub args: Vec<String>,
    /// Its pid as it sees it (1 in a new pid namespace).
    pub pid: i32,
    /// Namespace type (`pid`, `net`, ... as in `/proc/self/ns`) to inode.
    pub namespaces: BTreeMap<String, u64>,
    /// `/proc/self/uid_map`.
    pub uid_map: Vec<IdMap>,
    /// `/proc/self/gid_map`.
    pub gid_map: Vec<IdMap>,
    /// Real, effective, saved and filesystem uid and gid, and the groups.
    pub ids: Ids,
    /// The umask (from `/proc/self/status`).
    pub umask: Option<u32>,
    /// The five capability sets, as `CAP_*` names.
    pub capabilities: Capabilities,
    /// Resource limits by name (`RLIMIT_NOFILE`); `u64::MAX` is unlimited.
    pub rlimits: BTreeMap<String, Rlimit>,
    /// `NoNewPrivs` from `/proc/self/status`.
    pub no_new_privs: bool,
    /// Seccomp mode: 0 off, 1 strict, 2 filter.
    pub seccomp: u32,
    /// `/proc/self/oom_score_adj`.
    pub oom_score_adj: i32,
    /// Scheduling policy and nice value.
    pub scheduler: Scheduler,
    /// I/O priority from `ioprio_get`.
    pub io_priority: Option<IoPriority>,
    /// CPUs the process may run on, or the errno of `sched_getaffinity`.
    pub cpu_affinity: Fallible<Vec<usize>>,
    /// `/proc/self/personality`, the raw persona value.
    pub personality: Option<u32>,
    /// `uname` machine (`x86_64`, or `i686` under `LINUX32`).
    pub machine: String,
    /// The hostname.
    pub hostname: String,
    /// The NIS domain name.
    pub domainname: String,
    /// The working directory, or the errno of `getcwd`.
    pub cwd: Fallible<String>,
    /// The environment, `NAME=value` in order.
    pub env: Vec<String>,
    /// `/proc/self/mountinfo`, in order.
    pub mounts: Vec<Mount>,
    /// Every node below `/dev` (devices, symlinks, directories...).
    pub dev: Vec<Node>,
    /// The file descriptors open when the probe started.
    pub fds: Vec<i32>,
    /// Standard input, output and error: what each is and whether it is a
    /// terminal.
    pub stdio: Vec<Stdio>,
    /// Paths asked for with `--check-path`.
    pub paths: Vec<PathAccess>,
    /// Sysctls asked for with `--sysctl`, by dotted name.
    pub sysctls: BTreeMap<String, Fallible<String>>,
    /// `/proc/self/cgroup`.
    pub cgroups: Vec<CgroupMembership>,
    /// `/proc/self/timens_offsets`: clock name to (seconds, nanoseconds).
    pub time_offsets: BTreeMap<String, (i64, i64)>,
    /// Network interfaces of the process's network namespace.
    pub net_interfaces: Vec<NetInterface>,
    /// NUMA memory policy (`get_mempolicy`), or its errno.
    pub memory_policy: Fallible<MemoryPolicy>,
    /// `/proc/self/attr/current`: the process's LSM label (an SELinux
    /// context), or the errno (`EINVAL` without such an LSM).
    pub lsm_label: Fallible<String>,
    /// `/proc/self/attr/apparmor/current`, or the errno.
    pub apparmor_label: Fallible<String>,
    /// `Speculation_Store_Bypass` from `/proc/self/status`.
    pub speculation_store_bypass: String,
    /// Scheduling attributes from `sched_getattr`, or its errno.
    pub sched_attr: Fallible<SchedAttr>,
    /// Rows and columns of the terminal on stdin (`TIOCGWINSZ`), or the
    /// errno (`ENOTTY` when stdin is no terminal).
    pub terminal_size: Fallible<(u16, u16)>,
    /// The signal that ended `--wait-signal`, if asked to wait.
    pub signal: Option<String>,
    /// What the probe could not read, one line each.
    pub errors: Vec<String>,
}

/// A value or the errno that prevented getting it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Fallible<T> {
    /// The value.
    Ok(T),
    /// The errno of the failed call.
    Errno(i32),
}

impl<T: Default> Default for Fallible<T> {
    fn default() -> Self {
        Fallible::Ok(T::default())
    }
}

/// One standard stream.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Stdio {
    /// `/proc/self/fd/N`'s target (`/dev/pts/0`, `pipe:[123]`, ...).
    pub target: String,
    /// Whether it is a terminal.
    pub terminal: bool,
}

/// One line of a uid or gid map.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdMap {
    /// First id inside the namespace.
    pub inside: u32,
    /// First id outside.
    pub outside: u32,
    /// How many ids.
    pub count: u32,
}

/// User and group identity.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Ids {
    /// Real, effective, saved, filesystem uid.
    pub uid: Vec<u32>,
    /// Real, effective, saved, filesystem gid.
    pub gid: Vec<u32>,
    /// Supplementary groups.
    pub groups: Vec<u32>,
}

/// The capability sets by name.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Capabilities {
    /// `CapInh`.
    pub inheritable: Vec<String>,
    /// `CapPrm`.
    pub permitted: Vec<String>,
    /// `CapEff`.
    pub effective: Vec<String>,
    /// `CapBnd`.
    pub bounding: Vec<String>,
    /// `CapAmb`.
    pub ambient: Vec<String>,
}

/// A soft and a hard limit.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rlimit {
    /// `rlim_cur`.
    pub soft: u64,
    /// `rlim_max`.
    pub hard: u64,
}

/// Scheduling attributes from `/proc/self/stat`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Scheduler {
    /// `SCHED_OTHER`, `SCHED_BATCH`, ...
    pub policy: String,
    /// Real-time priority.
    pub priority: i64,
    /// Nice value.
    pub nice: i64,
}

/// I/O scheduling class and level.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct IoPriority {
    /// `IOPRIO_CLASS_NONE`, `_RT`, `_BE` or `_IDLE`.
    pub class: String,
    /// Level within the class, 0 to 7.
    pub priority: u32,
}

/// A network interface: `/sys/class/net/<name>` and its addresses.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NetInterface {
    /// Interface name.
    pub name: String,
    /// `flags` (`IFF_UP` is 0x1).
    pub flags: u32,
    /// MTU.
    pub mtu: u32,
    /// Hardware address (`address`).
    pub mac: String,
    /// IPv4 addresses.
    pub ipv4: Vec<String>,
    /// IPv6 addresses.
    pub ipv6: Vec<String>,
}

/// A NUMA memory policy as `get_mempolicy` reports it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MemoryPolicy {
    /// `MPOL_DEFAULT`, `MPOL_BIND`, ... (`unknown` for another number).
    pub mode: String,
    /// Mode flags: `MPOL_F_STATIC_NODES`, `MPOL_F_RELATIVE_NODES`,
    /// `MPOL_F_NUMA_BALANCING`.
    pub flags: Vec<String>,
    /// The node mask, as node numbers.
    pub nodes: Vec<usize>,
}

/// `struct sched_attr` from `sched_getattr`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SchedAttr {
    /// Policy number (`SCHED_FIFO` is 1, `SCHED_DEADLINE` 6).
    pub policy: u32,
    /// `SCHED_FLAG_*` bits.
    pub flags: u64,
    /// Nice value.
    pub nice: i32,
    /// Static (real-time) priority.
    pub priority: u32,
    /// Deadline runtime, nanoseconds.
    pub runtime: u64,
    /// Deadline, nanoseconds.
    pub deadline: u64,
    /// Deadline period, nanoseconds.
    pub period: u64,
}

/// One line of `/proc/self/mountinfo`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Mount {
    /// Mount id.
    pub id: u32,
    /// Parent mount id.
    pub parent: u32,
    /// `major:minor` of the filesystem.
    pub device: String,
    /// Root of the mount inside its filesystem.
    pub root: String,
    /// Where it is mounted.
    pub mount_point: String,
    /// Per-mount options (`rw`, `nosuid`, ...).
    pub options: Vec<String>,
    /// Propagation fields (`shared:N`, `master:N`, `unbindable`, ...).
    pub propagation: Vec<String>,
    /// Filesystem type.
    pub fs_type: String,
    /// Mount source.
    pub source: String,
    /// Superblock options.
    pub super_options: Vec<String>,
}

/// A node found below `/dev`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Node {
    /// Absolute path.
    pub path: String,
    /// `c`, `b`, `p`, `s`, `d`, `l` or `f`.
    pub kind: String,
    /// Device major number (0 for non-devices).
    pub major: u64,
    /// Device minor number.
    pub minor: u64,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Symlink target.
    pub target: Option<String>,
}

/// What the probe could do with a path given with `--check-path`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PathAccess {
    /// The path asked for.
    pub path: String,
    /// The node there (`lstat`), if any.
    pub node: Option<Node>,
    /// Bytes read from it (first 64 KiB of a file) or entries listed (a
    /// directory), or the errno.
    pub read: Fallible<u64>,
    /// Whether it opens for writing (a file, without truncating) or accepts
    /// a new file (a directory, removed at once), or the errno.
    pub write: Fallible<bool>,
    /// Whether it looks masked as runtimes mask: a file that is the null
    /// device (1:3) under another name, or a directory that is the root of
    /// a read-only tmpfs mount with nothing in it.
    pub masked: bool,
}

/// One line of `/proc/self/cgroup`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CgroupMembership {
    /// Hierarchy id (0 for cgroup v2).
    pub hierarchy: u32,
    /// Controllers bound to it (empty for v2).
    pub controllers: Vec<String>,
    /// The cgroup path.
    pub path: String,
}

/// Capability names by number, as in `capabilities(7)`.
pub const CAPABILITY_NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The names of the bits set in a capability mask; unknown bits as `CAP_<n>`.
pub fn capability_names(mask: u64) -> Vec<String> {
    (0..64)
        .filter(|bit| mask & (1 << bit) != 0)
        .map(|bit| {
            CAPABILITY_NAMES
                .get(bit)
                .map_or_else(|| format!("CAP_{bit}"), |n| (*n).to_owned())
        })
        .collect()
}

/// Parses `/proc/self/mountinfo` text, unescaping `\040`-style octal.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_mountinfo_line).collect()
}

fn parse_mountinfo_line(line: &str) -> Option<Mount> {
    let (head, tail) = line.split_once(" - ")?;
    let mut head = head.split(' ');
    let id = head.next()?.parse().ok()?;
    let parent = head.next()?.parse().ok()?;
    let device = head.next()?.to_owned();
    let root = unescape(head.next()?);
    let mount_point = unescape(head.next()?);
    let options = split_options(head.next()?);
    let propagation = head.map(str::to_owned).collect();
    let mut tail = tail.split(' ');
    let fs_type = tail.next()?.to_owned();
    let source = unescape(tail.next()?);
    let super_options = tail.next().map(split_options).unwrap_or_default();
    Some(Mount {
        id,
        parent,
        device,
        root,
        mount_point,
        options,
        propagation,
        fs_type,
        source,
        super_options,
    })
}

fn split_options(text: &str) -> Vec<String> {
    text.split(',').map(str::to_owned).collect()
}

/// Undoes the kernel's octal escapes of space, tab, newline and backslash.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            let text = std::str::from_utf8(d).ok()?;
            u8::from_str_radix(text, 8).ok()
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_line_with_propagation_and_escapes_parses() {
        let text = "36 35 98:0 /mnt1 /mnt\\040two rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue\n";
        let mounts = parse_mountinfo(text);
        assert_eq!(mounts.len(), 1);
        let m = &mounts[0];
        assert_eq!((m.id, m.parent), (36, 35));
        assert_eq!(m.mount_point, "/mnt two");
        assert_eq!(m.options, ["rw", "noatime"]);
        assert_eq!(m.propagation, ["master:1", "shared:2"]);
        assert_eq!(m.fs_type, "ext3");
        assert_eq!(m.super_options, ["rw", "errors=continue"]);
    }

    #[test]
    fn capability_mask_maps_to_names() {
        assert_eq!(
            capability_names(0x20000420),
            ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"]
        );
        assert_eq!(capability_names(1 << 45), ["CAP_45"]);
    }
}

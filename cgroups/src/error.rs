//! The crate's error type and the warnings `apply` hands back.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in this crate. Each variant names the
/// file, field or controller involved so the user's message is actionable.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading a cgroup or proc file failed.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// Writing a value into a cgroup file failed.
    #[error("writing {value:?} to {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What was written.
        value: String,
        /// The I/O error.
        source: io::Error,
    },
    /// Creating a cgroup directory failed.
    #[error("creating cgroup {path}: {source}")]
    Mkdir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// Removing a cgroup directory failed (after retries for `EBUSY`).
    #[error("removing cgroup {path}: {source}")]
    Rmdir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A kernel file held something this crate cannot parse.
    #[error("parsing {path}: unexpected content {content:?}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The offending text.
        content: String,
    },
    /// `/proc/self/mountinfo` shows no cgroup filesystem.
    #[error("no cgroup filesystem is mounted (checked /proc/self/mountinfo)")]
    NoCgroupMounts,
    /// A resource value is out of range or malformed.
    #[error("invalid linux.resources.{field} {value:?}: {reason}")]
    InvalidValue {
        /// The field, as in the OCI spec (`memory.limit`, `cpu.cpus`, ...).
        field: &'static str,
        /// The value as given.
        value: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// `linux.cgroupsPath` (or the container id used for the default path) is refused.
    #[error("invalid cgroupsPath {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A systemd-style `slice:prefix:name` path on a host without systemd.
    #[error(
        "cgroupsPath {path:?} is in the systemd form slice:prefix:name, but systemd is not running on this host"
    )]
    SystemdNotRunning {
        /// The path as given.
        path: String,
    },
    /// A systemd-style path on a host with systemd: gorae drives cgroupfs only.
    #[error(
        "cgroupsPath {path:?} is in the systemd form slice:prefix:name; gorae only has the cgroupfs driver, give a path like /a/b"
    )]
    SystemdDriverUnsupported {
        /// The path as given.
        path: String,
    },
    /// A resource needs a controller that this host does not offer.
    #[error(
        "linux.resources.{field} needs the {controller} cgroup controller, which this host does not offer"
    )]
    ControllerUnavailable {
        /// The resource field.
        field: &'static str,
        /// The controller it needs.
        controller: &'static str,
    },
    /// `linux.resources.unified` on a host whose resource controllers are v1.
    #[error(
        "linux.resources.unified is only supported on cgroup v2 hosts (this host's controllers are cgroup v1)"
    )]
    UnifiedOnV1,
    /// A `linux.resources.unified` key that cannot be applied.
    #[error("linux.resources.unified key {key:?}: {reason}")]
    UnifiedKey {
        /// The key.
        key: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// `unified` names a controller that is not enabled for this cgroup.
    #[error("linux.resources.unified key {key:?}: controller {controller:?} is not available")]
    UnifiedControllerUnavailable {
        /// The key.
        key: String,
        /// The controller part of the key.
        controller: String,
    },
    /// The kernel refused a memory limit below the current usage.
    #[error("setting memory limit {limit} in {path}: current usage is {usage}, peak usage {peak}")]
    MemoryLimitBelowUsage {
        /// The cgroup directory.
        path: PathBuf,
        /// The requested limit.
        limit: i64,
        /// Current usage in bytes.
        usage: u64,
        /// Peak usage in bytes.
        peak: u64,
    },
    /// `memory.checkBeforeUpdate` refused a limit at or below current usage.
    #[error(
        "rejecting linux.resources.{field} {limit}: at or below current usage {usage} of {path}"
    )]
    MemoryCheckBeforeUpdate {
        /// Which limit (`memory.limit` or `memory.swap`).
        field: &'static str,
        /// The cgroup directory.
        path: PathBuf,
        /// The requested limit.
        limit: i64,
        /// Current usage in bytes.
        usage: u64,
    },
    /// The kernel clamped `cpu.shares` to another value.
    #[error(
        "linux.resources.cpu.shares {requested} is out of range: the kernel set {actual} in {path}"
    )]
    CpuSharesOutOfRange {
        /// The file.
        path: PathBuf,
        /// The requested shares.
        requested: u64,
        /// What the kernel kept.
        actual: u64,
    },
    /// The cgroup did not reach the frozen state in time.
    #[error("freezing {path}: still not frozen after {millis} ms")]
    FreezeTimeout {
        /// The freezer file.
        path: PathBuf,
        /// How long we waited.
        millis: u64,
    },
    /// Neither a v1 freezer nor a v2 `cgroup.freeze` is available.
    #[error("no freezer is available for cgroup {path}")]
    NoFreezer {
        /// The cgroup (any of its directories).
        path: PathBuf,
    },
    /// The requested freezer kind is not available for this cgroup.
    #[error("the {kind:?} freezer is not available for this cgroup")]
    FreezerUnavailable {
        /// The kind asked for.
        kind: crate::FreezerKind,
    },
    /// No memory controller, so no OOM notifications.
    #[error("OOM events need the memory controller, which this cgroup does not have")]
    NoMemoryController,
    /// Sending a signal failed.
    #[error("sending signal {signal} to pid {pid}: {source}")]
    Signal {
        /// The target.
        pid: i32,
        /// The signal number.
        signal: i32,
        /// The errno.
        source: nix::Error,
    },
    /// A signal number that is not a valid signal.
    #[error("invalid signal number {signal}")]
    InvalidSignal {
        /// The number.
        signal: i32,
    },
    /// A system call on a cgroup file failed.
    #[error("{syscall} on {path}: {source}")]
    Sys {
        /// The system call.
        syscall: &'static str,
        /// The file it was about.
        path: PathBuf,
        /// The errno.
        source: nix::Error,
    },
    /// The kernel refused the v2 eBPF device filter.
    #[error("loading the eBPF device filter for {path}: {source}; verifier log: {log}")]
    DeviceFilterLoad {
        /// The cgroup.
        path: PathBuf,
        /// The errno of `bpf(BPF_PROG_LOAD)`.
        source: nix::Error,
        /// The verifier's log.
        log: String,
    },
    /// `open` found no directory for the container in any hierarchy.
    #[error("cgroup {path} does not exist")]
    NotFound {
        /// The first directory looked for.
        path: PathBuf,
    },
}

/// A resource that was not applied, and why. `apply` returns these where
/// runc would warn (or silently drop the value); the caller decides how to
/// show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The field under `linux.resources`, e.g. `memory.kernel`.
    pub field: &'static str,
    /// Why it was skipped.
    pub reason: &'static str,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "linux.resources.{} ignored: {}", self.field, self.reason)
    }
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, Error>;

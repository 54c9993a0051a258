//! The state store: one directory per container under the state root, holding
//! `state.json` and, while the container is `created`, the start socket.
//!
//! The status is never stored: it is derived live from the init process
//! (alive, with the start time recorded at create, so a reused pid is never
//! mistaken for it), the start socket and the cgroup freezer.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag, open};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, connect, socket};
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::files;

/// The spec version gorae implements and reports.
pub const OCI_VERSION: &str = "1.2.1";

/// The largest file of a container's state directory gorae reads: 64 MiB.
/// gorae writes those files itself (`state.json`, which holds the config's
/// annotations, and the copy of the config) from a config of at most
/// [`crate::bundle::CONFIG_LIMIT`]; the limit guards against a corrupt or
/// replaced file.
pub const STATE_LIMIT: u64 = 64 << 20;

/// File name of the saved state inside a container's directory.
const STATE_FILE: &str = "state.json";
/// File name of the copy of the container's config.
const CONFIG_COPY: &str = "config.json";
/// File name of the socket the init waits on until `start`.
pub(crate) const START_SOCKET: &str = "start.sock";

/// The status of a container, as the OCI runtime spec names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// `create` is still running.
    Creating,
    /// The init waits for `start`.
    Created,
    /// The user's process runs.
    Running,
    /// The container's processes are frozen.
    Paused,
    /// The container's process has exited (or never came up).
    Stopped,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// A process pinned by its start time, so that a reused pid is not it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessId {
    /// The pid in the runtime's pid namespace.
    pub pid: i32,
    /// Its start time in clock ticks since boot (`/proc/<pid>/stat` field 22).
    pub start_time: u64,
}

impl ProcessId {
    /// The calling process.
    pub(crate) fn current() -> Result<Self> {
        let pid = std::process::id() as i32;
        let start_time =
            stat_of(pid).ok_or_else(|| Error::sys("read", "/proc/self/stat", Errno::ESRCH))?;
        Ok(ProcessId {
            pid,
            start_time: start_time.1,
        })
    }

    /// Pins `pid` now, or `None` when it does not exist.
    pub(crate) fn of(pid: Pid) -> Option<Self> {
        stat_of(pid.as_raw()).map(|(_, start_time)| ProcessId {
            pid: pid.as_raw(),
            start_time,
        })
    }

    /// True while this very process exists and has not exited.
    pub fn is_alive(&self) -> bool {
        matches!(stat_of(self.pid), Some((state, start)) if start == self.start_time && state != 'Z' && state != 'X')
    }

    /// A pidfd for this process, checked to be this process and not a
    /// successor that reused the pid.
    pub(crate) fn pidfd(&self) -> Option<OwnedFd> {
        let fd = crate::sys::pidfd_open(Pid::from_raw(self.pid)).ok()?;
        self.is_alive().then_some(fd)
    }
}

/// Whether a process listens on the unix socket at `path`: a connection
/// is queued (the init accepts it, reads nothing and goes on waiting) or
/// the queue is full. Only a refused connection or a missing file say no.
fn listens(path: &Path) -> bool {
    let Ok(addr) = UnixAddr::new(path) else {
        return true;
    };
    let Ok(probe) = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    ) else {
        return true;
    };
    !matches!(
        connect(probe.as_raw_fd(), &addr),
        Err(Errno::ECONNREFUSED | Errno::ENOENT)
    )
}

/// Reads the state letter and start time of a process from `/proc/<pid>/stat`.
fn stat_of(pid: i32) -> Option<(char, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: the fields
    // that follow start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    // Field 22 is the 20th after the state (field 3).
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// What gorae records for a container in `state.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    /// The container's id.
    pub id: String,
    /// The bundle's absolute path.
    pub bundle: PathBuf,
    /// The root filesystem's absolute path.
    pub rootfs: PathBuf,
    /// When `create` made the container, RFC 3339 with nanoseconds.
    pub created: String,
    /// The user that created the container (empty for root, as runc).
    pub owner: String,
    /// The config's annotations.
    pub annotations: BTreeMap<String, String>,
    /// The init process, once cloned.
    pub init: Option<ProcessId>,
    /// The `create` process, while it runs.
    pub creator: Option<ProcessId>,
    /// Whether the container has its own pid namespace (killing its init
    /// then ends every process in it).
    pub own_pid_namespace: bool,
    /// The container's cgroup, with which directories gorae created.
    #[serde(default)]
    pub cgroup: Option<gorae_cgroups::Cgroup>,
    /// The cgroup is at gorae's default path (`/gorae/<root tag>/<id>`),
    /// whose gorae-named parents gorae removes once empty.
    #[serde(default)]
    pub cgroup_is_default: bool,
    /// `linux.seccomp.listenerPath`: where `start` hands the seccomp
    /// listener to the agent.
    #[serde(default)]
    pub listener_path: Option<PathBuf>,
    /// `linux.seccomp.listenerMetadata`.
    #[serde(default)]
    pub listener_metadata: Option<String>,
    /// For a container sharing gorae's own mount namespace (a config
    /// without a "mount" namespace): the mounts below the rootfs before
    /// its init ran. `delete` detaches those made since, from the first
    /// state write on, so that a create killed mid-mounts leaves none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mounts_before: Option<Vec<crate::shared_mounts::SharedMount>>,
}

impl Saved {
    /// Parses the contents of a container's `state.json`; `path` names the
    /// file in the error ([`Error::State`]), which says where and why the
    /// JSON does not have the shape gorae writes.
    ///
    /// ```
    /// use gorae_core::state::Saved;
    ///
    /// let path = std::path::Path::new("/run/gorae/c/state.json");
    /// let err = Saved::from_json(path, br#"{"id": 7}"#).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "corrupt state /run/gorae/c/state.json: invalid type: integer `7`, expected a string at line 1 column 8"
    /// );
    /// ```
    pub fn from_json(path: &Path, bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|source| Error::State {
            path: path.to_owned(),
            source,
        })
    }

    /// The OCI state JSON hooks get on stdin, with `status` and `pid`.
    pub(crate) fn hook_state(&self, status: Status, pid: i32) -> Vec<u8> {
        let state = State {
            oci_version: OCI_VERSION.to_owned(),
            id: self.id.clone(),
            pid,
            status,
            bundle: self.bundle.clone(),
            rootfs: self.rootfs.clone(),
            created: self.created.clone(),
            annotations: self.annotations.clone(),
            owner: self.owner.clone(),
        };
        serde_json::to_vec(&state).unwrap_or_default()
    }
}

/// The OCI state of a container, as `gorae state` prints it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct State {
    /// The spec version.
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    /// The container's id.
    pub id: String,
    /// The init's pid, 0 once stopped.
    pub pid: i32,
    /// The live status.
    pub status: Status,
    /// The bundle's absolute path.
    pub bundle: PathBuf,
    /// The root filesystem's absolute path (read by containerd).
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339 (read by containerd).
    pub created: String,
    /// The config's annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The creating user, empty for root (as runc).
    pub owner: String,
}

/// Refuses ids that could escape the state root or confuse a shim.
pub fn validate_id(id: &str) -> Result<()> {
    let problem = if id.is_empty() {
        Some("it is empty")
    } else if id == "." || id == ".." {
        Some("it is a path component")
    } else if id.len() > 1024 {
        Some("it is longer than 1024 bytes")
    } else if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'))
    {
        Some("only letters, digits, '_', '+', '-' and '.' are allowed")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(Error::InvalidId {
            id: id.to_owned(),
            problem,
        }),
        None => Ok(()),
    }
}

/// A container's directory in the state root, locked for the life of this
/// value so that two gorae processes never act on one container at once.
pub struct StateDir {
    path: PathBuf,
    handle: Handle,
}

/// The open directory, locked for acting on it or not for reading it.
enum Handle {
    Locked(Flock<OwnedFd>),
    Unlocked(OwnedFd),
}

impl AsFd for Handle {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Handle::Locked(lock) => lock.as_fd(),
            Handle::Unlocked(fd) => fd.as_fd(),
        }
    }
}

impl StateDir {
    /// Makes the directory for a new container; fails with
    /// [`Error::Exists`] if the id is taken.
    pub(crate) fn reserve(root: &Path, id: &str) -> Result<Self> {
        validate_id(id)?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(root)
            .map_err(|e| Error::io("create state root", root, e))?;
        let path = root.join(id);
        match fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::Exists { id: id.to_owned() });
            }
            Err(e) => return Err(Error::io("create", &path, e)),
        }
        Self::lock(path, id).inspect_err(|_| {
            let _ = fs::remove_dir(root.join(id));
        })
    }

    /// Opens and locks the directory of an existing container.
    pub(crate) fn open(root: &Path, id: &str) -> Result<Self> {
        validate_id(id)?;
        Self::lock(root.join(id), id)
    }

    /// Opens the directory of an existing container without taking its
    /// lock, to read its state while another gorae may be acting on it.
    pub(crate) fn open_shared(root: &Path, id: &str) -> Result<Self> {
        validate_id(id)?;
        let path = root.join(id);
        let handle = Handle::Unlocked(Self::open_dir(&path, id)?);
        Ok(StateDir { path, handle })
    }

    fn open_dir(path: &Path, id: &str) -> Result<OwnedFd> {
        open(
            path,
            OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|errno| match errno {
            Errno::ENOENT | Errno::ENOTDIR => Error::NotFound { id: id.to_owned() },
            errno => Error::sys("open", path, errno),
        })
    }

    /// The raw fd holding the lock (the init closes its copy at once).
    pub(crate) fn lock_fd(&self) -> std::os::fd::RawFd {
        self.handle.as_fd().as_raw_fd()
    }

    fn lock(path: PathBuf, id: &str) -> Result<Self> {
        let fd = Self::open_dir(&path, id)?;
        let lock = Flock::lock(fd, FlockArg::LockExclusive)
            .map_err(|(_, errno)| Error::sys("flock", &path, errno))?;
        // The holder we waited for may have deleted the container: its
        // directory, unlinked, is not ours to act on.
        let st = nix::sys::stat::fstat(lock.as_fd())
            .map_err(|errno| Error::sys("fstat", &path, errno))?;
        if st.st_nlink == 0 {
            return Err(Error::NotFound { id: id.to_owned() });
        }
        Ok(StateDir {
            path,
            handle: Handle::Locked(lock),
        })
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path to `name` inside the directory short enough for a unix socket
    /// address, however long the state root is (`/proc/self/fd/N/name`).
    pub(crate) fn short_path(&self, name: &str) -> PathBuf {
        PathBuf::from(format!(
            "/proc/self/fd/{}/{name}",
            self.handle.as_fd().as_raw_fd()
        ))
    }

    /// Reads `state.json`; `None` while `create` has not written it yet.
    pub(crate) fn load(&self) -> Result<Option<Saved>> {
        let file = self.path.join(STATE_FILE);
        match files::read_regular(&file, STATE_LIMIT) {
            Ok(bytes) => Saved::from_json(&file, &bytes).map(Some),
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Writes `state.json` atomically (temporary file, then rename).
    pub(crate) fn save(&self, saved: &Saved) -> Result<()> {
        let file = self.path.join(STATE_FILE);
        let tmp = self.path.join(".state.json.tmp");
        let bytes = serde_json::to_vec(saved).map_err(|source| Error::State {
            path: file.clone(),
            source,
        })?;
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| f.write_all(&bytes))
            .map_err(|e| Error::io("write", &tmp, e))?;
        fs::rename(&tmp, &file).map_err(|e| Error::io("rename", &file, e))
    }

    /// Keeps a copy of the container's config (for `exec`, which runs
    /// processes with the container's settings).
    pub(crate) fn save_config(&self, spec: &oci_spec::runtime::Spec) -> Result<()> {
        let file = self.path.join(CONFIG_COPY);
        let bytes = serde_json::to_vec(spec).map_err(|source| Error::State {
            path: file.clone(),
            source,
        })?;
        fs::write(&file, bytes).map_err(|e| Error::io("write", file, e))
    }

    /// The container's config as `create` saw it.
    pub(crate) fn load_config(&self) -> Result<oci_spec::runtime::Spec> {
        let file = self.path.join(CONFIG_COPY);
        let bytes = files::read_regular(&file, STATE_LIMIT)?;
        serde_json::from_slice(&bytes).map_err(|source| Error::State { path: file, source })
    }

    /// Whether the init still waits for `start`: the start socket exists
    /// and the init listens on it. A `start` killed after releasing the
    /// init but before removing the socket leaves a file no one listens on.
    pub(crate) fn waits_for_start(&self) -> bool {
        self.path.join(START_SOCKET).exists() && listens(&self.short_path(START_SOCKET))
    }

    /// The live status of the container saved here.
    pub(crate) fn status(&self, saved: Option<&Saved>) -> Status {
        match saved {
            // Only `create`, between its `mkdir` and its first write, or a
            // `delete` removing the directory, leave it without
            // `state.json`; both hold the lock while they run. Unlocked, the
            // one that left it was killed: nothing of the container runs.
            None if self.locked_by_another() => Status::Creating,
            None => Status::Stopped,
            Some(Saved {
                init: Some(init),
                cgroup,
                ..
            }) if init.is_alive() => {
                if self.waits_for_start() {
                    Status::Created
                } else if cgroup
                    .as_ref()
                    .is_some_and(|c| c.is_frozen().unwrap_or(false))
                {
                    Status::Paused
                } else {
                    Status::Running
                }
            }
            Some(Saved {
                init: None,
                creator: Some(creator),
                ..
            }) if creator.is_alive() => Status::Creating,
            Some(_) => Status::Stopped,
        }
    }

    /// Whether another process holds the directory's lock (a running
    /// `create` or `delete`). A lock this value holds itself does not count.
    fn locked_by_another(&self) -> bool {
        let Handle::Unlocked(fd) = &self.handle else {
            return false;
        };
        let Ok(fd) = fd.try_clone() else {
            return true;
        };
        // Taken and released at once: only whether it can be taken matters.
        Flock::lock(fd, FlockArg::LockSharedNonblock).is_err()
    }

    /// Removes the directory and everything in it.
    pub(crate) fn remove(&self) -> Result<()> {
        fs::remove_dir_all(&self.path).map_err(|e| Error::io("remove", &self.path, e))
    }
}

/// The time now as RFC 3339 with nanoseconds in UTC, as Go formats it.
pub(crate) fn rfc3339_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(now.as_secs() as i64, now.subsec_nanos())
}

/// `secs.nanos` since the epoch as RFC 3339 in UTC, with the fraction Go
/// prints (trailing zeros trimmed, none when zero).
pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let frac = if nanos == 0 {
        String::new()
    } else {
        format!(".{nanos:09}").trim_end_matches('0').to_owned()
    };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{frac}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_go_formatting() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(1_700_000_000, 123_000_000),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.000000005Z");
    }

    #[test]
    fn ids_that_could_leave_the_state_root_are_refused() {
        for bad in ["", ".", "..", "a/b", "../x", "a b", "x\0y"] {
            assert!(validate_id(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["a", "abc-123_x.y+z", "0123456789abcdef"] {
            validate_id(good).unwrap();
        }
    }

    #[test]
    fn the_current_process_is_alive_and_a_changed_start_time_is_not() {
        let me = ProcessId::current().unwrap();
        assert!(me.is_alive());
        let impostor = ProcessId {
            start_time: me.start_time + 1,
            ..me
        };
        assert!(!impostor.is_alive());
    }
}

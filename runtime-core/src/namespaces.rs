//! Linux namespaces: which are created by the clone, which are joined by
//! path, and the user namespace's id mappings and the time namespace's
//! offsets, all decided and checked before the clone.

use std::fmt::Write as _;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use nix::sched::{CloneFlags, setns};
use nix::sys::statfs::NSFS_MAGIC;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};

use crate::error::{Error, Result};
use crate::{files, sys};

/// A namespace joined through its file (`linux.namespaces[].path`).
#[derive(Debug)]
pub(crate) struct Join {
    pub kind: CloneFlags,
    pub fd: OwnedFd,
    pub path: PathBuf,
}

/// Every namespace decision for one container.
#[derive(Debug)]
pub(crate) struct Namespaces {
    /// Created by `clone3`.
    pub new: CloneFlags,
    /// Joined by the init with `setns`, the user namespace first.
    pub joins: Vec<Join>,
    /// pid and time namespaces to join: `setns` on them affects only the
    /// children of the caller, so the parent joins them around the clone.
    pub joins_for_children: Vec<Join>,
    /// `uid_map` and `gid_map` contents for a new user namespace.
    pub uid_map: String,
    pub gid_map: String,
    /// `timens_offsets` contents for a new time namespace.
    pub time_offsets: Option<String>,
    /// gorae runs in a user namespace (rootless, or under rootless
    /// podman): it may enter the container's pid and time namespaces for
    /// its children but not return to its own (owned by a user namespace
    /// above), so a first child enters them instead.
    pub caller_in_user_namespace: bool,
}

fn flag(kind: LinuxNamespaceType) -> CloneFlags {
    match kind {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// Fails unless the config gives the container a namespace of `kind`, new
/// or joined by path, naming the field that needs it.
pub(crate) fn require_listed(spec: &Spec, kind: LinuxNamespaceType, field: &str) -> Result<()> {
    require(spec, kind, field, false)
}

/// Fails unless the config gives the container a new namespace of `kind`,
/// naming the field that needs it.
pub(crate) fn require_new(spec: &Spec, kind: LinuxNamespaceType, field: &str) -> Result<()> {
    require(spec, kind, field, true)
}

fn require(spec: &Spec, kind: LinuxNamespaceType, field: &str, new: bool) -> Result<()> {
    let found = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|nss| {
            nss.iter()
                .any(|ns| ns.typ() == kind && !(new && ns.path().is_some()))
        });
    if found {
        return Ok(());
    }
    let which = if new { "a new" } else { "a" };
    Err(Error::invalid(
        field,
        format!("needs {which} {kind} namespace in linux.namespaces"),
    ))
}

impl Namespaces {
    /// No namespace created or joined.
    pub(crate) fn empty() -> Self {
        Namespaces {
            new: CloneFlags::empty(),
            joins: Vec::new(),
            joins_for_children: Vec::new(),
            uid_map: String::new(),
            gid_map: String::new(),
            time_offsets: None,
            caller_in_user_namespace: crate::rootless(),
        }
    }

    /// Checks `linux.namespaces`, `uidMappings`, `gidMappings` and
    /// `timeOffsets`, opening the files of namespaces to join.
    pub(crate) fn from_spec(spec: &Spec) -> Result<Self> {
        let linux = spec.linux().as_ref();
        let list = linux
            .and_then(|l| l.namespaces().as_deref())
            .unwrap_or_default();
        let mut ns = Namespaces::empty();
        let mut seen = CloneFlags::empty();
        for (i, entry) in list.iter().enumerate() {
            let kind = flag(entry.typ());
            if seen.contains(kind) {
                return Err(Error::invalid(
                    format!("linux.namespaces[{i}].type"),
                    format!("{} namespace listed twice", entry.typ()),
                ));
            }
            seen |= kind;
            match entry.path() {
                None => ns.new |= kind,
                Some(path) => {
                    let join = open_namespace(path.clone(), kind, i)?;
                    if kind.intersects(CloneFlags::CLONE_NEWPID)
                        || kind.bits() == libc::CLONE_NEWTIME
                    {
                        ns.joins_for_children.push(join);
                    } else {
                        ns.joins.push(join);
                    }
                }
            }
        }
        // The user namespace is joined first: the others are owned by it.
        ns.joins
            .sort_by_key(|j| j.kind != CloneFlags::CLONE_NEWUSER);
        let uid_maps = linux
            .and_then(|l| l.uid_mappings().as_deref())
            .unwrap_or_default();
        let gid_maps = linux
            .and_then(|l| l.gid_mappings().as_deref())
            .unwrap_or_default();
        if ns.new.contains(CloneFlags::CLONE_NEWUSER) {
            if uid_maps.is_empty() || gid_maps.is_empty() {
                return Err(Error::invalid(
                    "linux.uidMappings",
                    "a new user namespace needs linux.uidMappings and linux.gidMappings",
                ));
            }
            ns.uid_map = id_map(uid_maps, "linux.uidMappings")?;
            ns.gid_map = id_map(gid_maps, "linux.gidMappings")?;
        } else if !seen.contains(CloneFlags::CLONE_NEWUSER)
            && (!uid_maps.is_empty() || !gid_maps.is_empty())
        {
            // With a joined user namespace the mappings are its own: they
            // describe it and are not written again (as runc).
            return Err(Error::invalid(
                "linux.uidMappings",
                "mappings need a new user namespace in linux.namespaces",
            ));
        }
        if let Some(offsets) = linux.and_then(|l| l.time_offsets().as_ref()) {
            if ns.new.bits() & libc::CLONE_NEWTIME == 0 {
                return Err(Error::invalid(
                    "linux.timeOffsets",
                    "offsets need a new time namespace in linux.namespaces",
                ));
            }
            let mut text = String::new();
            for (clock, offset) in offsets {
                if clock != "monotonic" && clock != "boottime" {
                    return Err(Error::invalid(
                        format!("linux.timeOffsets.{clock}"),
                        "only monotonic and boottime can be offset",
                    ));
                }
                let _ = writeln!(
                    text,
                    "{clock} {} {}",
                    offset.secs().unwrap_or(0),
                    offset.nanosecs().unwrap_or(0)
                );
            }
            ns.time_offsets = Some(text);
        }
        Ok(ns)
    }

    /// Whether the container gets its own pid namespace (new or joined).
    pub(crate) fn has_pid_namespace(&self) -> bool {
        self.new.contains(CloneFlags::CLONE_NEWPID) || !self.joins_for_children.is_empty()
    }

    /// Whether the init must wait for the parent to write id mappings.
    pub(crate) fn new_user(&self) -> bool {
        self.new.contains(CloneFlags::CLONE_NEWUSER)
    }

    /// Whether the container gets a new mount namespace, where its rootfs
    /// is pivoted into. Without one it runs `chroot`ed in the mount
    /// namespace it shares (gorae's own, or one joined by path).
    pub(crate) fn new_mount(&self) -> bool {
        self.new.contains(CloneFlags::CLONE_NEWNS)
    }

    /// Whether the container shares gorae's own mount namespace: the mounts
    /// its init makes there outlive it and are undone by `delete`.
    pub(crate) fn shares_mounts(&self) -> bool {
        !self.new_mount() && !self.joins.iter().any(|j| j.kind == CloneFlags::CLONE_NEWNS)
    }

    /// Whether the container has a user namespace, new or joined (where
    /// `mknod` is refused).
    pub(crate) fn any_user(&self) -> bool {
        self.new_user()
            || self
                .joins
                .iter()
                .any(|j| j.kind == CloneFlags::CLONE_NEWUSER)
    }

    /// Whether a user namespace is joined while other namespaces are
    /// created or pid/time namespaces entered: those must be made (or
    /// entered) from inside the joined user namespace, so that it owns what
    /// is created and a rootless caller may enter what it owns. Also when
    /// gorae, in a user namespace itself, enters pid/time namespaces for a
    /// child: it could not return to its own. The first child then joins
    /// and unshares them and clones the init proper (see `init::split`).
    pub(crate) fn two_stage(&self) -> bool {
        let for_children = !self.joins_for_children.is_empty() || self.time_offsets.is_some();
        let joins_user = self
            .joins
            .iter()
            .any(|j| j.kind == CloneFlags::CLONE_NEWUSER);
        (joins_user && (!self.new.is_empty() || for_children))
            || (self.caller_in_user_namespace && for_children)
    }

    /// The namespace joined as item `i` of a failure report: `joins`, then
    /// `joins_for_children`.
    pub(crate) fn joined(&self, i: usize) -> Option<&Join> {
        self.joins.get(i).or_else(|| {
            self.joins_for_children
                .get(i.checked_sub(self.joins.len())?)
        })
    }

    /// The flags the clone itself creates. A new time namespace with offsets
    /// is made by the parent instead (offsets can only be written before a
    /// process enters it). In two stages the first clone creates nothing.
    pub(crate) fn clone_flags(&self) -> u64 {
        if self.two_stage() {
            return 0;
        }
        let mut flags = self.new;
        if self.time_offsets.is_some() {
            flags.remove(CloneFlags::from_bits_retain(libc::CLONE_NEWTIME));
        }
        flags.bits() as u64
    }
}

/// Opens the namespace file of another process to join it.
pub(crate) fn open(path: PathBuf, kind: CloneFlags) -> Result<Join> {
    let file = File::open(&path).map_err(|e| Error::io("open", &path, e))?;
    Ok(Join {
        kind,
        fd: OwnedFd::from(file),
        path,
    })
}

/// Opens a namespace file and checks it is a namespace of the listed type.
/// The path is checked to be on nsfs before the file is opened for
/// reading: a FIFO or a device named by the config is never opened (it
/// could block, or act on being opened).
fn open_namespace(path: PathBuf, kind: CloneFlags, i: usize) -> Result<Join> {
    let field = format!("linux.namespaces[{i}].path");
    let refused = |problem: String| Error::invalid(&field, problem);
    let not_a_namespace = || {
        refused(format!(
            "{} is not a {} namespace",
            path.display(),
            kind_name(kind)
        ))
    };
    let unopenable = |errno: nix::errno::Errno| {
        refused(format!("{}: {}", path.display(), io::Error::from(errno)))
    };
    let handle = files::open_path(&path).map_err(unopenable)?;
    if !files::is_on(&handle, NSFS_MAGIC) {
        return Err(not_a_namespace());
    }
    let fd = OwnedFd::from(files::reopen(&handle).map_err(unopenable)?);
    match sys::namespace_type(fd.as_fd()) {
        Ok(t) if t == kind.bits() => Ok(Join { kind, fd, path }),
        _ => Err(not_a_namespace()),
    }
}

fn kind_name(kind: CloneFlags) -> &'static str {
    match kind {
        CloneFlags::CLONE_NEWNS => "mount",
        CloneFlags::CLONE_NEWCGROUP => "cgroup",
        CloneFlags::CLONE_NEWUTS => "uts",
        CloneFlags::CLONE_NEWIPC => "ipc",
        CloneFlags::CLONE_NEWUSER => "user",
        CloneFlags::CLONE_NEWPID => "pid",
        CloneFlags::CLONE_NEWNET => "network",
        _ => "time",
    }
}

pub(crate) fn id_map(maps: &[LinuxIdMapping], field: &str) -> Result<String> {
    let mut text = String::new();
    for (i, m) in maps.iter().enumerate() {
        if m.size() == 0 {
            return Err(Error::invalid(
                format!("{field}[{i}].size"),
                "must not be 0",
            ));
        }
        let _ = writeln!(text, "{} {} {}", m.container_id(), m.host_id(), m.size());
    }
    Ok(text)
}

/// The parent's own pid and time namespaces, to return to after cloning
/// the init into the ones it must enter (`setns` on those affects only the
/// caller's future children).
#[derive(Debug)]
pub(crate) struct ForChildren {
    own: Option<(File, File)>,
}

/// Puts the caller's future children in the container's pid and time
/// namespaces (joined, or a new time namespace with its offsets).
pub(crate) fn enter_for_children(ns: &Namespaces) -> Result<ForChildren> {
    let none = ns.joins_for_children.is_empty() && ns.time_offsets.is_none();
    if none || ns.two_stage() {
        return Ok(ForChildren { own: None });
    }
    let open = |p: &str| File::open(p).map_err(|e| Error::io("open", p, e));
    let own = ForChildren {
        own: Some((
            open("/proc/self/ns/pid_for_children")?,
            open("/proc/self/ns/time_for_children")?,
        )),
    };
    match enter(ns) {
        Ok(()) => Ok(own),
        Err(e) => {
            own.restore()?;
            Err(e)
        }
    }
}

fn enter(ns: &Namespaces) -> Result<()> {
    for join in &ns.joins_for_children {
        setns(join.fd.as_fd(), join.kind)
            .map_err(|errno| Error::sys("setns", &join.path, errno))?;
    }
    if let Some(offsets) = &ns.time_offsets {
        nix::sched::unshare(CloneFlags::from_bits_retain(libc::CLONE_NEWTIME))
            .map_err(|errno| Error::sys("unshare", "time namespace", errno))?;
        std::fs::write("/proc/self/timens_offsets", offsets)
            .map_err(|e| Error::io("write", "/proc/self/timens_offsets", e))?;
    }
    Ok(())
}

impl ForChildren {
    /// Returns the caller to its own namespaces for children. Only the
    /// parent calls this, never the cloned init.
    pub(crate) fn restore(self) -> Result<()> {
        let Some((pid, time)) = self.own else {
            return Ok(());
        };
        // Failing here would put every later child of this process in the
        // container's namespaces: that must not pass silently.
        setns(pid.as_fd(), CloneFlags::CLONE_NEWPID)
            .map_err(|errno| Error::sys("setns", "/proc/self/ns/pid_for_children", errno))?;
        setns(
            time.as_fd(),
            CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
        )
        .map_err(|errno| Error::sys("setns", "/proc/self/ns/time_for_children", errno))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_file_of_the_listed_type_is_opened() {
        let join = open_namespace("/proc/self/ns/uts".into(), CloneFlags::CLONE_NEWUTS, 0).unwrap();
        assert_eq!(join.kind, CloneFlags::CLONE_NEWUTS);
        let err = open_namespace("/proc/self/ns/uts".into(), CloneFlags::CLONE_NEWNET, 1);
        assert_eq!(
            err.unwrap_err().to_string(),
            "invalid config: linux.namespaces[1].path: /proc/self/ns/uts is not a network namespace"
        );
    }

    #[test]
    fn a_fifo_or_a_device_as_namespace_path_is_refused_without_opening_it() {
        let dir = std::env::temp_dir().join(format!("gorae-ns-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("net");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        // Opening the FIFO for reading would block this test forever.
        let err = open_namespace(fifo.clone(), CloneFlags::CLONE_NEWNET, 2).unwrap_err();
        assert!(
            err.to_string().ends_with("net is not a network namespace"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        let err = open_namespace("/dev/zero".into(), CloneFlags::CLONE_NEWNET, 2).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("/dev/zero is not a network namespace"),
            "{err}"
        );
    }
}

//! `mounts[]`: translated in the parent into a list of prepared mount
//! operations, carried out by the init inside the new mount namespace.
//!
//! Every destination is resolved inside the rootfs with `openat2`
//! (`RESOLVE_IN_ROOT`), missing components are created relative to the
//! resolved parent, and the mount goes onto `/proc/self/fd/N` of the resolved
//! handle: a symlink in the rootfs can never redirect a mount to the host
//! (CVE-2021-30465).

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::mount::{MsFlags, mount};
use nix::sys::stat::{Mode, mkdirat};
use nix::sys::statvfs::{FsFlags, fstatvfs};
use oci_spec::runtime::{Mount, Spec};

use crate::error::{Error, Result};
use crate::idmap::IdMapped;
use crate::sys;

/// What a prepared mount does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Mount a filesystem (`proc`, `tmpfs`, `cgroup`, ...).
    Filesystem,
    /// Bind a host path, recursively or not.
    Bind { recursive: bool },
    /// Change the flags of what is already mounted at the destination.
    Remount,
}

/// One mount operation, with every string prepared for the init.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// Index in `mounts[]` this comes from, for error messages.
    pub index: usize,
    pub kind: Kind,
    pub source: CString,
    pub fstype: CString,
    /// The destination relative to the rootfs, for messages.
    pub destination: String,
    /// Each component's path from the rootfs and its name, to create what
    /// is missing one level at a time.
    pub components: Vec<(CString, CString)>,
    /// Create the last component as a file (bind of a file), not a directory.
    pub is_file: bool,
    pub flags: MsFlags,
    pub data: Option<CString>,
    pub propagation: MsFlags,
    /// `MOUNT_ATTR_*` bits set and cleared recursively after the mount.
    pub recursive: (u64, u64),
    /// runc's `tmpcopyup`: fill the new tmpfs with what the directory held.
    pub copy_up: bool,
    /// An idmapped bind: the detached tree the init attaches instead.
    pub idmap: Option<crate::idmap::IdMapped>,
}

const PROPAGATION: MsFlags = MsFlags::MS_SHARED
    .union(MsFlags::MS_PRIVATE)
    .union(MsFlags::MS_SLAVE)
    .union(MsFlags::MS_UNBINDABLE);

enum Opt {
    Set(MsFlags),
    Clear(MsFlags),
    Propagation(MsFlags),
    Bind {
        recursive: bool,
    },
    /// `idmap` / `ridmap`: an idmapped bind mount.
    IdMap {
        recursive: bool,
    },
    /// `MOUNT_ATTR_*` bits set and cleared on the mount and every mount
    /// below it (`rro`, `rnosuid`, ...: `mount_setattr` with AT_RECURSIVE).
    Recursive {
        set: u64,
        clear: u64,
    },
}

/// `MOUNT_ATTR_*` of `mount_setattr(2)`.
mod attr {
    pub const RDONLY: u64 = 0x1;
    pub const NOSUID: u64 = 0x2;
    pub const NODEV: u64 = 0x4;
    pub const NOEXEC: u64 = 0x8;
    pub const ATIME_MASK: u64 = 0x70;
    pub const RELATIME: u64 = 0x0;
    pub const NOATIME: u64 = 0x10;
    pub const STRICTATIME: u64 = 0x20;
    pub const NODIRATIME: u64 = 0x80;
    pub const NOSYMFOLLOW: u64 = 0x20_0000;
}

/// `MS_NOSYMFOLLOW` (Linux 5.10), which nix does not name.
const MS_NOSYMFOLLOW: libc::c_ulong = 256;

/// The mount options runc understands as flags; anything else is data.
fn option(name: &str) -> Option<Opt> {
    use MsFlags as F;
    use Opt::*;
    Some(match name {
        "defaults" => Set(F::empty()),
        "ro" => Set(F::MS_RDONLY),
        "rw" => Clear(F::MS_RDONLY),
        "suid" => Clear(F::MS_NOSUID),
        "nosuid" => Set(F::MS_NOSUID),
        "dev" => Clear(F::MS_NODEV),
        "nodev" => Set(F::MS_NODEV),
        "exec" => Clear(F::MS_NOEXEC),
        "noexec" => Set(F::MS_NOEXEC),
        "sync" => Set(F::MS_SYNCHRONOUS),
        "async" => Clear(F::MS_SYNCHRONOUS),
        "dirsync" => Set(F::MS_DIRSYNC),
        "remount" => Set(F::MS_REMOUNT),
        "mand" => Set(F::MS_MANDLOCK),
        "nomand" => Clear(F::MS_MANDLOCK),
        "atime" => Clear(F::MS_NOATIME),
        "noatime" => Set(F::MS_NOATIME),
        "diratime" => Clear(F::MS_NODIRATIME),
        "nodiratime" => Set(F::MS_NODIRATIME),
        "relatime" => Set(F::MS_RELATIME),
        "norelatime" => Clear(F::MS_RELATIME),
        "strictatime" => Set(F::MS_STRICTATIME),
        "nostrictatime" => Clear(F::MS_STRICTATIME),
        "silent" => Set(F::MS_SILENT),
        "loud" => Clear(F::MS_SILENT),
        "iversion" => Set(F::MS_I_VERSION),
        "noiversion" => Clear(F::MS_I_VERSION),
        "nosymfollow" => Set(F::from_bits_retain(MS_NOSYMFOLLOW)),
        "symfollow" => Clear(F::from_bits_retain(MS_NOSYMFOLLOW)),
        "lazytime" => Set(F::MS_LAZYTIME),
        "nolazytime" => Clear(F::MS_LAZYTIME),
        "bind" => Bind { recursive: false },
        "rbind" => Bind { recursive: true },
        "idmap" => IdMap { recursive: false },
        "ridmap" => IdMap { recursive: true },
        "private" => Propagation(F::MS_PRIVATE),
        "rprivate" => Propagation(F::MS_PRIVATE | F::MS_REC),
        "shared" => Propagation(F::MS_SHARED),
        "rshared" => Propagation(F::MS_SHARED | F::MS_REC),
        "slave" => Propagation(F::MS_SLAVE),
        "rslave" => Propagation(F::MS_SLAVE | F::MS_REC),
        "unbindable" => Propagation(F::MS_UNBINDABLE),
        "runbindable" => Propagation(F::MS_UNBINDABLE | F::MS_REC),
        "rro" => Recursive {
            set: attr::RDONLY,
            clear: 0,
        },
        "rrw" => Recursive {
            set: 0,
            clear: attr::RDONLY,
        },
        "rnosuid" => Recursive {
            set: attr::NOSUID,
            clear: 0,
        },
        "rsuid" => Recursive {
            set: 0,
            clear: attr::NOSUID,
        },
        "rnodev" => Recursive {
            set: attr::NODEV,
            clear: 0,
        },
        "rdev" => Recursive {
            set: 0,
            clear: attr::NODEV,
        },
        "rnoexec" => Recursive {
            set: attr::NOEXEC,
            clear: 0,
        },
        "rexec" => Recursive {
            set: 0,
            clear: attr::NOEXEC,
        },
        "rnodiratime" => Recursive {
            set: attr::NODIRATIME,
            clear: 0,
        },
        "rdiratime" => Recursive {
            set: 0,
            clear: attr::NODIRATIME,
        },
        "rnoatime" => Recursive {
            set: attr::NOATIME,
            clear: attr::ATIME_MASK,
        },
        "rrelatime" => Recursive {
            set: attr::RELATIME,
            clear: attr::ATIME_MASK,
        },
        "rstrictatime" => Recursive {
            set: attr::STRICTATIME,
            clear: attr::ATIME_MASK,
        },
        "rnosymfollow" => Recursive {
            set: attr::NOSYMFOLLOW,
            clear: 0,
        },
        "rsymfollow" => Recursive {
            set: 0,
            clear: attr::NOSYMFOLLOW,
        },
        _ => return None,
    })
}

/// Parses a propagation name (`linux.rootfsPropagation`).
pub(crate) fn propagation(name: &str, field: &str) -> Result<MsFlags> {
    match option(name) {
        Some(Opt::Propagation(flags)) => Ok(flags),
        _ => Err(Error::invalid(
            field,
            format!("{name:?} is not a propagation type"),
        )),
    }
}

fn cstring(s: &[u8], field: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::invalid(field, "contains a NUL byte"))
}

/// Creates each missing directory of `components` inside the root,
/// resolving every level with `RESOLVE_IN_ROOT`.
pub(crate) fn mkdir_all(
    root: BorrowedFd<'_>,
    components: &[(CString, CString)],
) -> Result<(), Errno> {
    make_path(root, components, false).map(drop)
}

/// Creates what is missing of `components` inside the root, each level
/// resolved with `RESOLVE_IN_ROOT`: directories, and the last one a file
/// when `last_is_file`. Returns the last level (`None` for no components).
fn make_path(
    root: BorrowedFd<'_>,
    components: &[(CString, CString)],
    last_is_file: bool,
) -> Result<Option<OwnedFd>, Errno> {
    let mut parent: Option<OwnedFd> = None;
    let last = components.len().saturating_sub(1);
    for (i, (path, name)) in components.iter().enumerate() {
        match resolve(root, path) {
            Ok(fd) => {
                parent = Some(fd);
                continue;
            }
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(e),
        }
        let dir = parent.as_ref().map_or(root, |p| p.as_fd());
        let made = if i == last && last_is_file {
            openat(
                dir,
                name.as_c_str(),
                OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o644),
            )
            .map(drop)
        } else {
            mkdirat(dir, name.as_c_str(), Mode::from_bits_truncate(0o755))
        };
        match made {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e),
        }
        parent = Some(resolve(root, path)?);
    }
    Ok(parent)
}

/// The components of an in-rootfs path, each with its path from the root.
pub(crate) fn path_components(dest: &Path, field: &str) -> Result<Vec<(CString, CString)>> {
    let mut prefix = Vec::new();
    let mut out = Vec::new();
    for c in dest.components() {
        match c {
            Component::RootDir | Component::CurDir => continue,
            Component::ParentDir => {
                return Err(Error::invalid(field, "must not contain \"..\""));
            }
            Component::Normal(name) => {
                let name = name.as_encoded_bytes();
                if !prefix.is_empty() {
                    prefix.push(b'/');
                }
                prefix.extend_from_slice(name);
                out.push((cstring(&prefix, field)?, cstring(name, field)?));
            }
            Component::Prefix(_) => {}
        }
    }
    if out.is_empty() {
        return Err(Error::invalid(field, "must not be the root itself"));
    }
    Ok(out)
}

/// Prepares `mounts[]` of the config, in order.
pub(crate) fn prepare(
    spec: &Spec,
    bundle: &Path,
    cgroup_mounts: &[HostCgroup],
) -> Result<Vec<Prepared>> {
    let mut out = Vec::new();
    let linux = spec.linux().as_ref();
    let container_maps = (
        linux.and_then(|l| l.uid_mappings().as_deref()),
        linux.and_then(|l| l.gid_mappings().as_deref()),
    );
    for (i, m) in spec
        .mounts()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let idmap = idmapped(i, m, container_maps)?;
        prepare_one(i, m, bundle, cgroup_mounts, &mut out)?;
        if let Some(idmap) = idmap {
            let bind = out
                .iter_mut()
                .find(|p| p.index == i && matches!(p.kind, Kind::Bind { .. }))
                .ok_or_else(|| {
                    Error::invalid(
                        format!("mounts[{i}].options"),
                        "idmapped mounts must be bind mounts",
                    )
                })?;
            bind.idmap = Some(idmap);
        }
    }
    Ok(out)
}

type Maps<'a> = (
    Option<&'a [oci_spec::runtime::LinuxIdMapping]>,
    Option<&'a [oci_spec::runtime::LinuxIdMapping]>,
);

/// The idmapping of mount `m`: asked by `idmap`/`ridmap` or by its own
/// `uidMappings`/`gidMappings`, which default to the container's.
fn idmapped(index: usize, m: &Mount, container: Maps<'_>) -> Result<Option<IdMapped>> {
    let field = format!("mounts[{index}]");
    let options = m.options().as_deref().unwrap_or_default();
    let asked = options.iter().find_map(|o| match option(o) {
        Some(Opt::IdMap { recursive }) => Some(recursive),
        _ => None,
    });
    let own = (m.uid_mappings().as_deref(), m.gid_mappings().as_deref());
    if asked.is_none() && own.0.is_none() && own.1.is_none() {
        return Ok(None);
    }
    if own.0.is_some() != own.1.is_some() {
        return Err(Error::invalid(
            format!("{field}.uidMappings"),
            "uidMappings and gidMappings go together",
        ));
    }
    let (uids, gids) = match own {
        (Some(u), Some(g)) => (u, g),
        _ => match container {
            (Some(u), Some(g)) => (u, g),
            _ => {
                return Err(Error::invalid(
                    format!("{field}.options"),
                    "an idmapped mount needs uidMappings and gidMappings, its own or linux's",
                ));
            }
        },
    };
    let recursive = asked.unwrap_or_else(|| options.iter().any(|o| o == "rbind"));
    Ok(Some(IdMapped {
        uid_map: crate::namespaces::id_map(uids, &format!("{field}.uidMappings"))?,
        gid_map: crate::namespaces::id_map(gids, &format!("{field}.gidMappings"))?,
        recursive,
        tree: None,
    }))
}

/// Clones the source of each idmapped bind into its detached, mapped
/// tree (in the parent, before the clone).
pub(crate) fn open_idmapped(mounts: &mut [Prepared]) -> Result<()> {
    for m in mounts.iter_mut() {
        let field = format!("mounts[{}]", m.index);
        if let Some(idmap) = &mut m.idmap {
            idmap.open(&m.source, &field)?;
        }
    }
    Ok(())
}

fn prepare_one(
    index: usize,
    m: &Mount,
    bundle: &Path,
    cgroup_mounts: &[HostCgroup],
    out: &mut Vec<Prepared>,
) -> Result<()> {
    let field = format!("mounts[{index}]");
    let fstype = m.typ().clone().unwrap_or_default();
    let mut flags = MsFlags::empty();
    let mut prop = MsFlags::empty();
    let mut bind = None;
    let mut data = Vec::new();
    let mut rattrs = (0u64, 0u64);
    let mut copy_up = false;
    for opt in m.options().as_deref().unwrap_or_default() {
        match option(opt) {
            Some(Opt::Set(f)) => flags |= f,
            Some(Opt::Clear(f)) => flags.remove(f),
            Some(Opt::Propagation(f)) => prop |= f,
            Some(Opt::Bind { recursive }) => bind = Some(bind.unwrap_or(false) || recursive),
            Some(Opt::IdMap { .. }) => {}
            Some(Opt::Recursive { set, clear }) => {
                rattrs = ((rattrs.0 & !clear) | set, (rattrs.1 & !set) | clear);
            }
            None if opt == "tmpcopyup" => copy_up = true,
            None => data.push(opt.as_str()),
        }
    }
    if fstype == "bind" && bind.is_none() {
        bind = Some(false);
    }
    let components = path_components(m.destination(), &format!("{field}.destination"))?;
    let destination = m.destination().display().to_string();
    let source = m.source().as_deref().map(|s| bundle.join(s));
    let data = (!data.is_empty())
        .then(|| cstring(data.join(",").as_bytes(), &format!("{field}.options")))
        .transpose()?;
    if let Some(recursive) = bind {
        let source = source.ok_or_else(|| {
            Error::invalid(format!("{field}.source"), "a bind mount needs a source")
        })?;
        let meta = std::fs::metadata(&source).map_err(|e| {
            Error::invalid(
                format!("{field}.source"),
                format!("{}: {e}", source.display()),
            )
        })?;
        let remount = flags.difference(MsFlags::MS_REMOUNT);
        out.push(Prepared {
            index,
            kind: Kind::Bind { recursive },
            source: cstring(source.as_os_str().as_encoded_bytes(), &field)?,
            fstype: CString::default(),
            destination: destination.clone(),
            components: components.clone(),
            is_file: !meta.is_dir(),
            flags: MsFlags::empty(),
            data: None,
            propagation: MsFlags::empty(),
            recursive: rattrs,
            copy_up: false,
            idmap: None,
        });
        if !remount.is_empty() || !prop.is_empty() {
            out.push(remount_of(index, destination, components, remount, prop));
        }
        return Ok(());
    }
    if fstype.is_empty() {
        return Err(Error::invalid(
            format!("{field}.type"),
            "missing (and the options ask for no bind)",
        ));
    }
    if fstype == "cgroup" || fstype == "cgroup2" {
        cgroup_mounts_for(index, &destination, &components, flags, cgroup_mounts, out)?;
        return Ok(());
    }
    let source = match &source {
        Some(_) => m
            .source()
            .as_deref()
            .map(|s| s.as_os_str().as_encoded_bytes().to_vec()),
        None => None,
    }
    .unwrap_or_else(|| fstype.as_bytes().to_vec());
    out.push(Prepared {
        index,
        kind: if flags.contains(MsFlags::MS_REMOUNT) {
            Kind::Remount
        } else {
            Kind::Filesystem
        },
        source: cstring(&source, &format!("{field}.source"))?,
        fstype: cstring(fstype.as_bytes(), &format!("{field}.type"))?,
        destination,
        components,
        is_file: false,
        flags,
        data,
        propagation: prop,
        recursive: rattrs,
        copy_up,
        idmap: None,
    });
    Ok(())
}

fn remount_of(
    index: usize,
    destination: String,
    components: Vec<(CString, CString)>,
    flags: MsFlags,
    propagation: MsFlags,
) -> Prepared {
    Prepared {
        index,
        kind: Kind::Remount,
        source: CString::default(),
        fstype: CString::default(),
        destination,
        components,
        is_file: false,
        flags: flags | MsFlags::MS_BIND,
        data: None,
        propagation,
        recursive: (0, 0),
        copy_up: false,
        idmap: None,
    }
}

/// A cgroup hierarchy mounted on the host.
#[derive(Debug, Clone)]
pub(crate) struct HostCgroup {
    /// The directory name under the cgroup root (`memory`, `cpu`, `unified`).
    pub name: String,
    /// `cgroup` or `cgroup2`.
    pub fstype: &'static str,
    /// The options naming its controllers (`memory`, `name=systemd`).
    pub options: String,
}

/// The cgroup hierarchies mounted under `/sys/fs/cgroup` on the host.
pub(crate) fn host_cgroups() -> Vec<HostCgroup> {
    let info = gorae_cgroups::read_mountinfo().unwrap_or_default();
    let mut out = Vec::new();
    for line in info.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let point = left.split(' ').nth(4).unwrap_or_default();
        let mut r = right.split(' ');
        let fstype = match r.next() {
            Some("cgroup") => "cgroup",
            Some("cgroup2") => "cgroup2",
            _ => continue,
        };
        let super_opts = r.nth(1).unwrap_or_default();
        let name = if point == "/sys/fs/cgroup" {
            String::new()
        } else if let Some(name) = point.strip_prefix("/sys/fs/cgroup/") {
            name.to_owned()
        } else {
            continue;
        };
        let options = super_opts
            .split(',')
            .filter(|o| *o != "rw" && *o != "ro")
            .filter(|o| fstype == "cgroup" || o.starts_with("nsdelegate"))
            .collect::<Vec<_>>()
            .join(",");
        out.push(HostCgroup {
            name,
            fstype,
            options,
        });
    }
    out
}

/// A `cgroup` mount: on a cgroup v2 host one `cgroup2` mount; on v1 and
/// hybrid hosts a tmpfs with one mount per hierarchy, as runc lays it out.
/// Hierarchies are mounted fresh (they show the container's own cgroup as
/// root when it has a cgroup namespace) and made read-only by a bind
/// remount, which changes only the new mount, never the host's hierarchy.
fn cgroup_mounts_for(
    index: usize,
    destination: &str,
    root_components: &[(CString, CString)],
    flags: MsFlags,
    host: &[HostCgroup],
    out: &mut Vec<Prepared>,
) -> Result<()> {
    let field = format!("mounts[{index}]");
    let base = flags.difference(MsFlags::MS_RDONLY | MsFlags::MS_REMOUNT);
    let readonly = flags & MsFlags::MS_RDONLY;
    let fs = |dest: String,
              comps: Vec<(CString, CString)>,
              fstype: &str,
              data: &str|
     -> Result<Prepared> {
        Ok(Prepared {
            index,
            kind: Kind::Filesystem,
            source: cstring(fstype.as_bytes(), &field)?,
            fstype: cstring(fstype.as_bytes(), &field)?,
            destination: dest,
            components: comps,
            is_file: false,
            flags: base,
            data: (!data.is_empty())
                .then(|| cstring(data.as_bytes(), &field))
                .transpose()?,
            propagation: MsFlags::empty(),
            recursive: (0, 0),
            copy_up: false,
            idmap: None,
        })
    };
    if let Some(v2) = host.iter().find(|h| h.name.is_empty()) {
        out.push(fs(
            destination.to_owned(),
            root_components.to_vec(),
            v2.fstype,
            "",
        )?);
        if !readonly.is_empty() {
            out.push(remount_of(
                index,
                destination.to_owned(),
                root_components.to_vec(),
                base | readonly,
                MsFlags::empty(),
            ));
        }
        return Ok(());
    }
    out.push(fs(
        destination.to_owned(),
        root_components.to_vec(),
        "tmpfs",
        "mode=755",
    )?);
    for h in host {
        let dest = format!("{}/{}", destination.trim_end_matches('/'), h.name);
        let comps = path_components(Path::new(&dest), &field)?;
        out.push(fs(dest.clone(), comps.clone(), h.fstype, &h.options)?);
        if !readonly.is_empty() {
            out.push(remount_of(
                index,
                dest,
                comps,
                base | readonly,
                MsFlags::empty(),
            ));
        }
    }
    if !readonly.is_empty() {
        out.push(remount_of(
            index,
            destination.to_owned(),
            root_components.to_vec(),
            base | readonly,
            MsFlags::empty(),
        ));
    }
    Ok(())
}

/// Makes the `cgroup` mount show the container's own cgroup, as runc does
/// on v1 and hybrid hosts: each per-hierarchy mount becomes a bind mount of
/// the container's directory in that hierarchy (a fresh v1 mount would show
/// the whole host tree, and cannot be made from a user namespace). The
/// read-only remounts that follow them stay.
pub(crate) fn bind_own_cgroups(mounts: &mut [Prepared], cgroup: &gorae_cgroups::Cgroup) {
    bind_cgroup_dirs(mounts, |name| {
        let prefix = Path::new("/sys/fs/cgroup").join(name);
        if name == "unified" {
            return cgroup
                .unified_dir()
                .filter(|d| d.starts_with(&prefix))
                .map(Path::to_path_buf);
        }
        cgroup
            .v1_dirs()
            .values()
            .find(|d| d.starts_with(&prefix))
            .cloned()
    });
}

/// For a container without a cgroup of its own (rootless, nothing
/// delegated), as runc: the per-hierarchy mounts bind the cgroups the
/// caller is in (`/proc/self/cgroup`), which a fresh v1 mount in a user
/// namespace could not show.
pub(crate) fn bind_caller_cgroups(mounts: &mut [Prepared]) {
    let table = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    bind_cgroup_dirs(mounts, |name| {
        let path = table.lines().find_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            let dir = match controllers {
                "" => "unified",
                c => c.strip_prefix("name=").unwrap_or(c),
            };
            (dir == name).then_some(path)
        })?;
        Some(
            Path::new("/sys/fs/cgroup")
                .join(name)
                .join(path.trim_start_matches('/')),
        )
    });
}

fn bind_cgroup_dirs(mounts: &mut [Prepared], own_dir: impl Fn(&str) -> Option<PathBuf>) {
    for m in mounts.iter_mut() {
        let is_cgroup =
            m.kind == Kind::Filesystem && matches!(m.fstype.to_bytes(), b"cgroup" | b"cgroup2");
        let name = m.destination.rsplit('/').next().unwrap_or_default();
        // The pure-v2 mount at the destination itself stays a fresh mount:
        // in the container's cgroup namespace it shows its own cgroup.
        let per_hierarchy = m.fstype.to_bytes() == b"cgroup" || name == "unified";
        if !is_cgroup || !per_hierarchy {
            continue;
        }
        let Some(dir) = own_dir(name) else { continue };
        let Ok(source) = CString::new(dir.as_os_str().as_encoded_bytes()) else {
            continue;
        };
        m.kind = Kind::Bind { recursive: false };
        m.source = source;
        m.data = None;
    }
}

/// `/proc/self/fd/N` as a C string, built on the stack.
pub(crate) struct FdPath {
    buf: [u8; 32],
}

impl FdPath {
    pub(crate) fn new(fd: BorrowedFd<'_>) -> Self {
        const PREFIX: &[u8] = b"/proc/self/fd/";
        let mut buf = [0u8; 32];
        buf[..PREFIX.len()].copy_from_slice(PREFIX);
        let mut digits = [0u8; 10];
        let mut n = fd.as_raw_fd().unsigned_abs();
        let mut len = 0;
        loop {
            digits[len] = b'0' + (n % 10) as u8;
            len += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for i in 0..len {
            buf[PREFIX.len() + i] = digits[len - 1 - i];
        }
        FdPath { buf }
    }

    pub(crate) fn as_cstr(&self) -> &CStr {
        CStr::from_bytes_until_nul(&self.buf).unwrap_or(c"/proc/self/fd")
    }
}

/// Resolves `path` inside the root, never leaving it.
pub(crate) fn resolve(root: BorrowedFd<'_>, path: &CStr) -> Result<OwnedFd, Errno> {
    sys::openat2_in_root(root, path, libc::O_PATH, 0)
}

/// Resolves the destination of `m`, creating what is missing.
fn destination(root: BorrowedFd<'_>, m: &Prepared) -> Result<OwnedFd, Errno> {
    let Some((full, _)) = m.components.last() else {
        return Err(Errno::EINVAL);
    };
    match resolve(root, full) {
        Err(Errno::ENOENT) => {}
        other => return other,
    }
    make_path(root, &m.components, m.is_file)?.ok_or(Errno::ENOENT)
}

/// Which part of a mount failed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Failed {
    Destination,
    Mount,
    Propagation,
}

/// Carries out one prepared mount in the init.
pub(crate) fn apply(root: BorrowedFd<'_>, m: &Prepared) -> Result<(), (Failed, Errno)> {
    let target = destination(root, m).map_err(|e| (Failed::Destination, e))?;
    let at = FdPath::new(target.as_fd());
    let none: Option<&CStr> = None;
    match m.kind {
        Kind::Bind { .. } if m.idmap.as_ref().is_some_and(|i| i.tree.is_some()) => {
            match m.idmap.as_ref().and_then(|i| i.tree.as_ref()) {
                Some(tree) => sys::move_mount(tree.as_fd(), target.as_fd()),
                None => Err(Errno::EINVAL),
            }
        }
        Kind::Bind { recursive } => {
            let rec = if recursive {
                MsFlags::MS_REC
            } else {
                MsFlags::empty()
            };
            mount(
                Some(m.source.as_c_str()),
                at.as_cstr(),
                none,
                MsFlags::MS_BIND | rec,
                none,
            )
        }
        Kind::Filesystem => mount(
            Some(m.source.as_c_str()),
            at.as_cstr(),
            Some(m.fstype.as_c_str()),
            m.flags,
            m.data.as_deref(),
        )
        .and_then(|()| copy_up(root, m, target.as_fd())),
        Kind::Remount => remount(root, m),
    }
    .map_err(|e| (Failed::Mount, e))?;
    if !m.propagation.is_empty() {
        // The handle opened before the mount points below it: reopen.
        let top = destination(root, m).map_err(|e| (Failed::Propagation, e))?;
        let at = FdPath::new(top.as_fd());
        mount(none, at.as_cstr(), none, m.propagation, none)
            .map_err(|e| (Failed::Propagation, e))?;
    }
    let (set, clear) = m.recursive;
    if set != 0 || clear != 0 {
        let top = destination(root, m).map_err(|e| (Failed::Propagation, e))?;
        sys::mount_setattr(top.as_fd(), true, set, clear).map_err(|e| (Failed::Propagation, e))?;
    }
    Ok(())
}

/// `tmpcopyup`: `below` is the directory the new mount now covers.
fn copy_up(root: BorrowedFd<'_>, m: &Prepared, below: BorrowedFd<'_>) -> nix::Result<()> {
    if !m.copy_up {
        return Ok(());
    }
    let top = destination(root, m)?;
    crate::copyup::copy_tree(below, top.as_fd())
}

/// Changes the flags of the mount now on top of the destination, keeping the
/// flags the kernel locks in a user namespace when it refuses to drop them.
fn remount(root: BorrowedFd<'_>, m: &Prepared) -> nix::Result<()> {
    let top = destination(root, m)?;
    let at = FdPath::new(top.as_fd());
    let none: Option<&CStr> = None;
    let flags = (m.flags | MsFlags::MS_REMOUNT).difference(PROPAGATION | MsFlags::MS_REC);
    match mount(none, at.as_cstr(), none, flags, m.data.as_deref()) {
        Err(Errno::EPERM) => {
            let locked = locked_flags(top.as_fd())?;
            mount(none, at.as_cstr(), none, flags | locked, m.data.as_deref())
        }
        other => other,
    }
}

fn locked_flags(fd: BorrowedFd<'_>) -> nix::Result<MsFlags> {
    let st = fstatvfs(fd)?;
    let pairs = [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
    ];
    Ok(pairs
        .iter()
        .filter(|(st_flag, _)| st.flags().contains(*st_flag))
        .fold(MsFlags::empty(), |acc, (_, ms)| acc | *ms))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fd_path_formats_without_allocating() {
        let fd = std::fs::File::open("/").unwrap();
        let p = FdPath::new(fd.as_fd());
        assert_eq!(
            p.as_cstr().to_str().unwrap(),
            format!("/proc/self/fd/{}", fd.as_raw_fd())
        );
    }

    #[test]
    fn components_refuse_parent_references() {
        assert!(path_components(Path::new("/a/../b"), "f").is_err());
        let c = path_components(Path::new("/sys/fs/cgroup"), "f").unwrap();
        let paths: Vec<_> = c
            .iter()
            .map(|(p, n)| (p.to_str().unwrap(), n.to_str().unwrap()))
            .collect();
        assert_eq!(
            paths,
            [
                ("sys", "sys"),
                ("sys/fs", "fs"),
                ("sys/fs/cgroup", "cgroup")
            ]
        );
    }
}

//! The default devices every container gets in its own `/dev`, and the
//! standard `/dev` symlinks.

use std::ffi::CStr;
use std::os::fd::{AsFd, BorrowedFd};

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::mount::{MsFlags, mount};
use nix::sys::stat::{Mode, SFlag, makedev, mknodat};
use nix::unistd::symlinkat;

use crate::mounts::{FdPath, resolve};

/// A character device of the default set.
pub(crate) struct Device {
    pub name: &'static CStr,
    pub host: &'static CStr,
    pub major: u64,
    pub minor: u64,
}

/// The devices the OCI runtime spec requires (`config-linux.md`, "Default
/// Devices"), mode 0666, owned by the container's root.
pub(crate) const DEFAULT: [Device; 6] = [
    Device {
        name: c"null",
        host: c"/dev/null",
        major: 1,
        minor: 3,
    },
    Device {
        name: c"zero",
        host: c"/dev/zero",
        major: 1,
        minor: 5,
    },
    Device {
        name: c"full",
        host: c"/dev/full",
        major: 1,
        minor: 7,
    },
    Device {
        name: c"random",
        host: c"/dev/random",
        major: 1,
        minor: 8,
    },
    Device {
        name: c"urandom",
        host: c"/dev/urandom",
        major: 1,
        minor: 9,
    },
    Device {
        name: c"tty",
        host: c"/dev/tty",
        major: 5,
        minor: 0,
    },
];

/// The standard `/dev` symlinks: (link name, target).
pub(crate) const SYMLINKS: [(&CStr, &CStr); 5] = [
    (c"fd", c"/proc/self/fd"),
    (c"stdin", c"/proc/self/fd/0"),
    (c"stdout", c"/proc/self/fd/1"),
    (c"stderr", c"/proc/self/fd/2"),
    (c"ptmx", c"pts/ptmx"),
];

/// A device of `linux.devices[]`, prepared for the init.
#[derive(Debug)]
pub(crate) struct Configured {
    /// The path relative to the rootfs, and each ancestor to create.
    pub components: Vec<(std::ffi::CString, std::ffi::CString)>,
    /// The host's node to bind in a user namespace (its own path).
    pub host: std::ffi::CString,
    pub kind: SFlag,
    pub mode: Mode,
    pub dev: libc::dev_t,
    pub uid: u32,
    pub gid: u32,
}

/// Validates and prepares `linux.devices[]`.
pub(crate) fn prepare(spec: &oci_spec::runtime::Spec) -> crate::error::Result<Vec<Configured>> {
    use oci_spec::runtime::LinuxDeviceType as T;
    let list = spec.linux().as_ref().and_then(|l| l.devices().as_ref());
    let mut out = Vec::new();
    for (i, d) in list.into_iter().flatten().enumerate() {
        let field = format!("linux.devices[{i}]");
        let kind = match d.typ() {
            T::C | T::U => SFlag::S_IFCHR,
            T::B => SFlag::S_IFBLK,
            T::P => SFlag::S_IFIFO,
            T::A => {
                return Err(crate::error::Error::invalid(
                    format!("{field}.type"),
                    "\"a\" is for cgroup rules, not a device node",
                ));
            }
        };
        let path = d.path();
        // The spec lets a device live anywhere in the container, "notably
        // outside of /dev".
        if !path.is_absolute() {
            return Err(crate::error::Error::invalid(
                format!("{field}.path"),
                format!("{} is not absolute", path.display()),
            ));
        }

        let (major, minor) = (d.major(), d.minor());
        if kind != SFlag::S_IFIFO && (major < 0 || minor < 0 || major > 0xfff || minor > 0xfffff) {
            return Err(crate::error::Error::invalid(
                format!("{field}.major"),
                "out of range",
            ));
        }
        let host = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| {
            crate::error::Error::invalid(format!("{field}.path"), "contains a NUL byte")
        })?;
        out.push(Configured {
            components: crate::mounts::path_components(path, &format!("{field}.path"))?,
            host,
            kind,
            mode: Mode::from_bits_truncate(d.file_mode().unwrap_or(0o666)),
            dev: makedev(major.max(0) as u64, minor.max(0) as u64),
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        });
    }
    Ok(out)
}

/// Creates the devices of `linux.devices[]` in the rootfs: `mknod` with the
/// mode and owner asked for, or, in a user namespace where `mknod` is
/// refused, a bind mount of the host's node onto an empty file.
pub(crate) fn create_configured(
    root: BorrowedFd<'_>,
    devices: &[Configured],
    in_user_ns: bool,
) -> Result<(), (usize, Errno)> {
    for (i, d) in devices.iter().enumerate() {
        make_one(root, d, in_user_ns).map_err(|e| (i, e))?;
    }
    Ok(())
}

fn make_one(root: BorrowedFd<'_>, d: &Configured, in_user_ns: bool) -> Result<(), Errno> {
    let Some(((_, name), parents)) = d.components.split_last() else {
        return Err(Errno::EINVAL);
    };
    let parent = match parents.last() {
        Some((path, _)) => {
            crate::mounts::mkdir_all(root, parents).and_then(|()| resolve(root, path))?
        }
        None => resolve(root, c".")?,
    };
    if in_user_ns && d.kind != SFlag::S_IFIFO {
        let flags = OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let file = openat(
            parent.as_fd(),
            name.as_c_str(),
            flags,
            Mode::from_bits_truncate(0o644),
        )?;
        let at = FdPath::new(file.as_fd());
        let none: Option<&CStr> = None;
        return mount(
            Some(d.host.as_c_str()),
            at.as_cstr(),
            none,
            MsFlags::MS_BIND,
            none,
        );
    }
    match mknodat(parent.as_fd(), name.as_c_str(), d.kind, d.mode, d.dev) {
        Ok(()) => {}
        Err(Errno::EEXIST) => {
            // The spec: a file at the path that is not the requested device
            // is an error; the same device is kept (its mode and owner set).
            let st = nix::sys::stat::fstatat(
                parent.as_fd(),
                name.as_c_str(),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )?;
            let same_kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == d.kind;
            if !same_kind || (d.kind != SFlag::S_IFIFO && st.st_rdev != d.dev) {
                return Err(Errno::EEXIST);
            }
            nix::sys::stat::fchmodat(
                parent.as_fd(),
                name.as_c_str(),
                d.mode,
                nix::sys::stat::FchmodatFlags::NoFollowSymlink,
            )
            .or_else(|e| {
                if e == Errno::EOPNOTSUPP {
                    Ok(())
                } else {
                    Err(e)
                }
            })?;
        }
        Err(e) => return Err(e),
    }
    nix::unistd::fchownat(
        parent.as_fd(),
        name.as_c_str(),
        Some(nix::unistd::Uid::from_raw(d.uid)),
        Some(nix::unistd::Gid::from_raw(d.gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
}

/// Creates the default devices in the rootfs's `/dev`. In a user namespace,
/// where `mknod` is refused, the host's devices are bind-mounted instead.
/// Returns the device that failed with the error.
pub(crate) fn create_defaults(
    root: BorrowedFd<'_>,
    in_user_ns: bool,
) -> Result<(), (&'static CStr, Errno)> {
    let dev = resolve(root, c"dev").map_err(|e| (c"/dev", e))?;
    for d in &DEFAULT {
        let made = if in_user_ns {
            bind_host_device(dev.as_fd(), d)
        } else {
            let mode = Mode::from_bits_truncate(0o666);
            match mknodat(
                dev.as_fd(),
                d.name,
                SFlag::S_IFCHR,
                mode,
                makedev(d.major, d.minor),
            ) {
                Err(Errno::EEXIST) => Ok(()),
                other => other,
            }
        };
        made.map_err(|e| (d.name, e))?;
    }
    Ok(())
}

/// The standard `/dev` symlinks, made after every device node: `/dev/ptmx`
/// always becomes `pts/ptmx` (the container's own devpts), even where a
/// configured device (a privileged engine lists the host's ptmx) put a
/// node, as runc does.
pub(crate) fn create_symlinks(
    root: BorrowedFd<'_>,
    dev_core: bool,
) -> Result<(), (&'static CStr, Errno)> {
    let dev = resolve(root, c"dev").map_err(|e| (c"/dev", e))?;
    let core = dev_core.then_some((c"core", c"/proc/kcore"));
    for (name, target) in SYMLINKS.into_iter().chain(core) {
        if name == c"ptmx" {
            match nix::unistd::unlinkat(dev.as_fd(), name, nix::unistd::UnlinkatFlags::NoRemoveDir)
            {
                Ok(()) | Err(Errno::ENOENT) => {}
                Err(e) => return Err((name, e)),
            }
        }
        match symlinkat(target, dev.as_fd(), name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err((name, e)),
        }
    }
    Ok(())
}

fn bind_host_device(dev: BorrowedFd<'_>, d: &Device) -> nix::Result<()> {
    let flags = OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let file = openat(dev, d.name, flags, Mode::from_bits_truncate(0o644))?;
    let at = FdPath::new(file.as_fd());
    let none: Option<&CStr> = None;
    mount(Some(d.host), at.as_cstr(), none, MsFlags::MS_BIND, none)
}

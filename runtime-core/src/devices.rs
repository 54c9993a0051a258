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
    for (name, target) in SYMLINKS {
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

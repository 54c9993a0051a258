//! `linux.maskedPaths` and `linux.readonlyPaths`, applied after
//! `pivot_root`. Paths that do not exist are skipped, as runc does.
//!
//! A file is masked by a bind mount of `/dev/null`, which must be the real
//! 1:3 character device (a container could have replaced it with a symlink
//! to something writable: CVE-2025-31133); the bind source is the checked
//! fd itself, never the path again. A directory is masked by an empty
//! read-only tmpfs. A read-only path is bound onto itself and made read-only
//! with `mount_setattr`, recursively, so its submounts are read-only too.

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::mount::{MsFlags, mount};
use nix::sys::stat::{SFlag, fstat, major, minor};
use oci_spec::runtime::Spec;

use crate::error::{Error, Result};
use crate::mounts::FdPath;
use crate::sys;

/// `MOUNT_ATTR_RDONLY` of `mount_setattr(2)`.
pub(crate) const MOUNT_ATTR_RDONLY: u64 = 0x1;

/// The prepared lists.
#[derive(Debug, Default)]
pub(crate) struct Masks {
    pub masked: Vec<CString>,
    pub readonly: Vec<CString>,
}

fn paths(list: Option<&Vec<String>>, field: &str) -> Result<Vec<CString>> {
    list.into_iter()
        .flatten()
        .enumerate()
        .map(|(i, p)| {
            let field = format!("{field}[{i}]");
            if !p.starts_with('/') {
                return Err(Error::invalid(field, format!("{p:?} is not absolute")));
            }
            CString::new(p.as_bytes()).map_err(|_| Error::invalid(field, "contains a NUL byte"))
        })
        .collect()
}

impl Masks {
    /// Prepares both lists from the config.
    pub(crate) fn from_spec(spec: &Spec) -> Result<Self> {
        let linux = spec.linux().as_ref();
        Ok(Masks {
            masked: paths(
                linux.and_then(|l| l.masked_paths().as_ref()),
                "linux.maskedPaths",
            )?,
            readonly: paths(
                linux.and_then(|l| l.readonly_paths().as_ref()),
                "linux.readonlyPaths",
            )?,
        })
    }
}

/// Which list and entry failed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Failed {
    DevNull,
    Masked(usize),
    Readonly(usize),
}

fn open(root: BorrowedFd<'_>, path: &CStr) -> Result<Option<OwnedFd>, Errno> {
    let relative =
        CStr::from_bytes_with_nul(&path.to_bytes_with_nul()[1..]).map_err(|_| Errno::EINVAL)?;
    match sys::openat2_in_root(root, relative, libc::O_PATH, 0) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Applies both lists inside the container, whose root is `root`.
pub(crate) fn apply(root: BorrowedFd<'_>, masks: &Masks) -> Result<(), (Failed, Errno)> {
    for (i, path) in masks.readonly.iter().enumerate() {
        readonly(root, path).map_err(|e| (Failed::Readonly(i), e))?;
    }
    if masks.masked.is_empty() {
        return Ok(());
    }
    let null = dev_null(root).map_err(|e| (Failed::DevNull, e))?;
    for (i, path) in masks.masked.iter().enumerate() {
        mask(root, path, null.as_fd()).map_err(|e| (Failed::Masked(i), e))?;
    }
    Ok(())
}

/// The container's `/dev/null`, checked to be the 1:3 character device.
fn dev_null(root: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    let fd = sys::openat2_in_root(root, c"dev/null", libc::O_PATH | libc::O_NOFOLLOW, 0)?;
    let st = fstat(fd.as_fd())?;
    let is_char = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR;
    if !is_char || major(st.st_rdev) != 1 || minor(st.st_rdev) != 3 {
        return Err(Errno::ENODEV);
    }
    Ok(fd)
}

fn mask(root: BorrowedFd<'_>, path: &CStr, null: BorrowedFd<'_>) -> Result<(), Errno> {
    let Some(target) = open(root, path)? else {
        return Ok(());
    };
    let at = FdPath::new(target.as_fd());
    let none: Option<&CStr> = None;
    let st = fstat(target.as_fd())?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR {
        mount(
            Some(c"tmpfs"),
            at.as_cstr(),
            Some(c"tmpfs"),
            MsFlags::MS_RDONLY,
            none,
        )
    } else {
        let source = FdPath::new(null);
        mount(
            Some(source.as_cstr()),
            at.as_cstr(),
            none,
            MsFlags::MS_BIND,
            none,
        )
    }
}

fn readonly(root: BorrowedFd<'_>, path: &CStr) -> Result<(), Errno> {
    let Some(target) = open(root, path)? else {
        return Ok(());
    };
    let at = FdPath::new(target.as_fd());
    let none: Option<&CStr> = None;
    mount(
        Some(at.as_cstr()),
        at.as_cstr(),
        none,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        none,
    )?;
    // The old handle points below the new mount: resolve again.
    let Some(top) = open(root, path)? else {
        return Err(Errno::ENOENT);
    };
    sys::mount_setattr(top.as_fd(), true, MOUNT_ATTR_RDONLY, 0)
}

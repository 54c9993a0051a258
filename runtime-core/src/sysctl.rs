//! `linux.sysctl`: only keys the container's own namespaces isolate are
//! accepted, and each value is written inside the container to a
//! `/proc/sys` file reached from the root of the container's procfs
//! without crossing a mount (a bind mount over it could redirect the write
//! to another file, even another procfs file: CVE-2025-52881), opened
//! without `O_TRUNC` so that nothing is changed before the checks pass.

use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::stat::fstat;
use nix::sys::statfs::{PROC_SUPER_MAGIC, fstatfs};
use nix::unistd::write;
use oci_spec::runtime::Spec;

use crate::error::{Error, Result};
use crate::namespaces::Namespaces;
use crate::sys;

/// The inode number of a procfs root directory (`PROC_ROOT_INO`).
const PROC_ROOT_INO: u64 = 1;

/// One key: its file relative to the procfs root and its value.
#[derive(Debug)]
pub(crate) struct Setting {
    pub key: String,
    pub file: CString,
    pub value: Vec<u8>,
}

/// The namespace a key belongs to, or `None` when no namespace isolates it.
fn namespace_of(key: &str) -> Option<CloneFlags> {
    const IPC: [&str; 8] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        Some(CloneFlags::CLONE_NEWIPC)
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        Some(CloneFlags::CLONE_NEWUTS)
    } else if key.starts_with("net.") {
        Some(CloneFlags::CLONE_NEWNET)
    } else {
        None
    }
}

/// Validates and prepares `linux.sysctl`, sorted by key.
pub(crate) fn prepare(spec: &Spec, ns: &Namespaces) -> Result<Vec<Setting>> {
    let Some(map) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (key, value) in map {
        let field = format!("linux.sysctl.{key}");
        let valid_name = !key.is_empty()
            && key
                .split(['.', '/'])
                .all(|part| !part.is_empty() && part != ".." && part != ".");
        if !valid_name {
            return Err(Error::invalid(field, "is not a sysctl name"));
        }
        let own =
            |flag: CloneFlags| ns.new.contains(flag) || ns.joins.iter().any(|j| j.kind == flag);
        match namespace_of(key) {
            None => {
                return Err(Error::invalid(
                    field,
                    "is not namespaced: it would change the host",
                ));
            }
            Some(flag) if !own(flag) => {
                return Err(Error::invalid(
                    field,
                    "belongs to a namespace the container shares with the host",
                ));
            }
            Some(_) => {}
        }
        let file = format!("sys/{}", key.replace('.', "/"));
        out.push(Setting {
            key: key.clone(),
            file: CString::new(file).map_err(|_| Error::invalid(&field, "contains a NUL byte"))?,
            value: value.as_bytes().to_vec(),
        });
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// Writes each setting inside the container (root fd `root`).
pub(crate) fn apply(root: BorrowedFd<'_>, settings: &[Setting]) -> Result<(), (usize, Errno)> {
    if settings.is_empty() {
        return Ok(());
    }
    let proc = proc_root(root).map_err(|e| (0, e))?;
    for (i, s) in settings.iter().enumerate() {
        write_one(proc.as_fd(), s).map_err(|e| (i, e))?;
    }
    Ok(())
}

/// The container's `/proc`, checked to be the root of a procfs mount (an
/// image's fake `/proc` directory is not: CVE-2023-27561).
fn proc_root(root: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    let fd = sys::openat2_in_root(root, c"proc", libc::O_PATH | libc::O_DIRECTORY, 0)?;
    let is_procfs = fstatfs(fd.as_fd())?.filesystem_type() == PROC_SUPER_MAGIC;
    if !is_procfs || fstat(fd.as_fd())?.st_ino != PROC_ROOT_INO {
        return Err(Errno::EXDEV);
    }
    Ok(fd)
}

/// Opens the key's file under the procfs root `proc`: no symlink and no
/// mount crossed on the way (`EXDEV`), so it is that procfs's own file.
fn write_one(proc: BorrowedFd<'_>, s: &Setting) -> Result<(), Errno> {
    let fd = sys::openat2_in_root(
        proc,
        &s.file,
        libc::O_WRONLY,
        libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_XDEV,
    )?;
    if fstatfs(fd.as_fd())?.filesystem_type() != PROC_SUPER_MAGIC {
        return Err(Errno::EXDEV);
    }
    let n = write(fd.as_fd(), &s.value)?;
    if n != s.value.len() {
        Err(Errno::EIO)
    } else {
        Ok(())
    }
}

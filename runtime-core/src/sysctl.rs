//! `linux.sysctl`: only keys the container's own namespaces isolate are
//! accepted, and each value is written inside the container to a
//! `/proc/sys` file checked to be on procfs (a bind mount over it could
//! redirect the write to another file: CVE-2025-52881).

use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd};

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::statfs::{PROC_SUPER_MAGIC, fstatfs};
use nix::unistd::write;
use oci_spec::runtime::Spec;

use crate::error::{Error, Result};
use crate::namespaces::Namespaces;
use crate::sys;

/// One key: its file relative to the root and its value.
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
        let file = format!("proc/sys/{}", key.replace('.', "/"));
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
    for (i, s) in settings.iter().enumerate() {
        write_one(root, s).map_err(|e| (i, e))?;
    }
    Ok(())
}

fn write_one(root: BorrowedFd<'_>, s: &Setting) -> Result<(), Errno> {
    let fd = sys::openat2_in_root(
        root,
        &s.file,
        libc::O_WRONLY | libc::O_TRUNC,
        libc::RESOLVE_NO_SYMLINKS,
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

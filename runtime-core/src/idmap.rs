//! Idmapped mounts (`idmap`/`ridmap` options, `mounts[].uidMappings` and
//! `gidMappings`): the parent clones the bind source into a detached mount
//! whose ids are mapped through a user namespace made for it, before the
//! clone; the init attaches that mount at its resolved destination with
//! `move_mount`.

use std::os::fd::{AsFd, OwnedFd};

use nix::sys::wait::waitpid;

use crate::error::{Error, Result};
use crate::sys;

/// An idmapped bind mount being prepared, then its detached tree.
#[derive(Debug)]
pub(crate) struct IdMapped {
    /// `uid_map` and `gid_map` contents of the mapping namespace.
    pub uid_map: String,
    pub gid_map: String,
    /// `ridmap` (or `rbind`): map every mount below the source too.
    pub recursive: bool,
    /// The detached, idmapped copy of the source, once opened.
    pub tree: Option<OwnedFd>,
}

impl IdMapped {
    /// Clones `source` into a detached mount mapped as configured.
    pub(crate) fn open(&mut self, source: &std::ffi::CStr, field: &str) -> Result<()> {
        let userns = user_namespace(&self.uid_map, &self.gid_map)?;
        let tree = sys::open_tree_clone(source, self.recursive)
            .map_err(|errno| Error::sys("open_tree", format!("{field}.source"), errno))?;
        sys::mount_setattr_idmap(tree.as_fd(), self.recursive, userns.as_fd()).map_err(
            |errno| {
                Error::sys(
                    "mount_setattr(MOUNT_ATTR_IDMAP)",
                    format!("{field}.source"),
                    errno,
                )
            },
        )?;
        self.tree = Some(tree);
        Ok(())
    }
}

/// A user namespace with the given mappings, held by a short-lived child.
fn user_namespace(uid_map: &str, gid_map: &str) -> Result<OwnedFd> {
    let (pid, pidfd) = sys::user_namespace_holder()
        .map_err(|errno| Error::sys("clone3", "idmap user namespace", errno))?;
    let made = (|| {
        for (file, map) in [("uid_map", uid_map), ("gid_map", gid_map)] {
            let path = format!("/proc/{pid}/{file}");
            std::fs::write(&path, map).map_err(|e| Error::io("write", &path, e))?;
        }
        let path = format!("/proc/{pid}/ns/user");
        std::fs::File::open(&path)
            .map(OwnedFd::from)
            .map_err(|e| Error::io("open", &path, e))
    })();
    let _ = sys::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
    let _ = waitpid(pid, None);
    made
}

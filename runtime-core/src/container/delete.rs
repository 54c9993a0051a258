//! `delete`: remove a stopped container (`force`: kill it first).

use std::os::fd::AsFd;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::Runtime;
use crate::error::{Error, Result};
use crate::state::{StateDir, Status};
use crate::{hooks, sys};

/// How long `delete --force` waits for a killed init to exit.
const KILL_WAIT_MS: u16 = 10_000;

impl Runtime {
    /// Deletes container `id`. It must be stopped unless `force`, which
    /// kills its processes and waits for them first.
    pub fn delete(&self, id: &str, force: bool) -> Result<()> {
        let mut phases = self.phases("delete");
        let dir = match StateDir::open(&self.root, id) {
            // As runc: forcing the delete of what is already gone succeeds
            // (podman runs it after every failed create).
            Err(Error::NotFound { .. }) if force => return Ok(()),
            other => other?,
        };
        let saved = match dir.load() {
            Ok(saved) => saved,
            Err(e) if force => {
                self.warn(&format!("{e}: deleting container {id:?} without it"));
                // What it recorded is unknown; a cgroup at gorae's default
                // path can only be this container's (a configured
                // `cgroupsPath` may be shared and is left alone).
                super::cgroups::remove_unrecorded(&self.root, id)?;
                None
            }
            Err(e) => return Err(e),
        };
        let status = dir.status(saved.as_ref());
        match status {
            Status::Stopped => {}
            _ if force => {
                // A frozen process does not die of SIGKILL until thawed: the
                // cgroup's kill thaws what it kills.
                if let Some(cgroup) = saved.as_ref().and_then(|s| s.cgroup.as_ref()) {
                    cgroup.kill_all(libc::SIGKILL)?;
                }
                if let Some(pidfd) = saved.as_ref().and_then(|s| s.init).and_then(|i| i.pidfd()) {
                    kill_and_wait(&pidfd, id)?;
                }
            }
            _ => {
                return Err(Error::WrongState {
                    id: id.to_owned(),
                    op: "delete",
                    status,
                });
            }
        }
        phases.mark("stop");
        if let Some(saved) = saved.as_ref() {
            if let Some(before) = &saved.mounts_before {
                let made = crate::shared_mounts::made_since(&saved.rootfs, before)?;
                for warning in crate::shared_mounts::undo(&saved.rootfs, &made) {
                    self.warn(&warning);
                }
            }
        }
        if let Some(saved) = &saved {
            match &saved.cgroup {
                Some(cgroup) => super::cgroups::remove(cgroup, saved.cgroup_is_default)?,
                // A create killed between making its cgroup and recording it.
                None if saved.init.is_none() && saved.cgroup_is_default => {
                    super::cgroups::remove_unrecorded(&self.root, id)?;
                }
                None => {}
            }
        }
        phases.mark("cgroup");
        let hooks = dir.load_config().ok().and_then(|c| c.hooks().clone());
        dir.remove()?;
        phases.mark("state");
        if let Some(saved) = &saved {
            let state = saved.hook_state(Status::Stopped, 0);
            for warning in hooks::run_all(hooks::Kind::Poststop, hooks.as_ref(), &state) {
                self.warn(&warning);
            }
        }
        Ok(())
    }
}

fn kill_and_wait(pidfd: &std::os::fd::OwnedFd, id: &str) -> Result<()> {
    match sys::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
        Err(errno) => {
            return Err(Error::sys(
                "pidfd_send_signal",
                format!("container {id} init"),
                errno,
            ));
        }
    }
    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    match poll(&mut fds, PollTimeout::from(KILL_WAIT_MS)) {
        Ok(n) if n > 0 => Ok(()),
        Ok(_) => Err(Error::sys(
            "wait for exit",
            format!("container {id} init"),
            nix::errno::Errno::ETIMEDOUT,
        )),
        Err(errno) => Err(Error::sys("poll", format!("container {id} init"), errno)),
    }
}

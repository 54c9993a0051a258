//! `kill`: send a signal to the container's init, or to every process in
//! the container.

use std::os::fd::AsFd;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::Runtime;
use crate::error::{Error, Result};
use crate::state::{ProcessId, StateDir, Status};
use crate::sys;

impl Runtime {
    /// Sends `signal` to the init of container `id` (`all`: to every process
    /// in its pid namespace). The container must be created, running or paused.
    pub fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()> {
        let dir = StateDir::open(&self.root, id)?;
        let saved = dir.load()?;
        let status = dir.status(saved.as_ref());
        let pidfd = saved
            .as_ref()
            .and_then(|s| s.init)
            .and_then(|init| init.pidfd());
        let (Some(saved), Some(pidfd), Status::Created | Status::Running | Status::Paused) =
            (saved, pidfd, status)
        else {
            return Err(match status {
                Status::Creating => Error::WrongState {
                    id: id.to_owned(),
                    op: "kill",
                    status,
                },
                _ => Error::NotRunning { id: id.to_owned() },
            });
        };
        if all {
            if let Some(cgroup) = &saved.cgroup {
                return Ok(cgroup.kill_all(signal)?);
            }
            if let (true, Some(init)) = (saved.own_pid_namespace, saved.init) {
                signal_namespace(init, signal);
            }
        }
        sys::pidfd_send_signal(pidfd.as_fd(), signal)
            .map_err(|errno| Error::sys("pidfd_send_signal", format!("container {id} init"), errno))
    }
}

/// Signals every process that shares the init's pid namespace.
fn signal_namespace(init: ProcessId, signal: i32) {
    let Ok(ns) = std::fs::read_link(format!("/proc/{}/ns/pid", init.pid)) else {
        return;
    };
    let Ok(signal) = Signal::try_from(signal) else {
        return;
    };
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if pid != init.pid
            && std::fs::read_link(format!("/proc/{pid}/ns/pid")).is_ok_and(|n| n == ns)
        {
            let _ = kill(Pid::from_raw(pid), signal);
        }
    }
}

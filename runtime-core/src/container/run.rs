//! `run`: create, start and wait for a container, forwarding signals to it,
//! then delete it; the exit status is the container's.

use std::os::fd::AsFd;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitStatus, waitpid};

use super::{CreateOptions, Runtime};
use crate::error::{Error, Result};
use crate::sys;

/// Signals `run` forwards to the container instead of acting on them.
fn forwarded() -> SigSet {
    let mut set = SigSet::all();
    for keep in [
        Signal::SIGCHLD,
        Signal::SIGKILL,
        Signal::SIGSTOP,
        Signal::SIGSEGV,
        Signal::SIGBUS,
        Signal::SIGILL,
        Signal::SIGFPE,
        Signal::SIGTRAP,
        Signal::SIGSYS,
        Signal::SIGABRT,
    ] {
        set.remove(keep);
    }
    set
}

impl Runtime {
    /// Runs container `id` to completion and deletes it. Returns its exit
    /// status, 128+N when a signal N ended it. Signals the calling thread
    /// receives meanwhile (all but SIGCHLD and the synchronous ones) are
    /// blocked in it and forwarded to the container.
    pub fn run(&self, id: &str, opts: &CreateOptions) -> Result<i32> {
        let mask = forwarded();
        let mut old = SigSet::empty();
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&mask), Some(&mut old))
            .map_err(|errno| Error::sys("sigprocmask", "run", errno))?;
        let result = self.run_blocked(id, opts, &mask);
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
        result
    }

    fn run_blocked(&self, id: &str, opts: &CreateOptions, mask: &SigSet) -> Result<i32> {
        let signals = SignalFd::with_flags(mask, SfdFlags::SFD_CLOEXEC)
            .map_err(|errno| Error::sys("signalfd", "run", errno))?;
        let created = self.create(id, opts)?;
        if let Err(e) = self.start(id) {
            let _ = self.delete(id, true);
            let _ = waitpid(created.pid, None);
            return Err(e);
        }
        let status = wait_forwarding(created.pid, &created.pidfd, &signals)?;
        self.delete(id, false)?;
        Ok(status)
    }

    /// Runs a process in running container `id` (see [`Runtime::exec`])
    /// and waits for it, forwarding signals as [`Runtime::run`] does.
    /// Returns its exit status, 128+N when a signal N ended it.
    pub fn exec_and_wait(&self, id: &str, opts: &super::exec::ExecOptions) -> Result<i32> {
        let mask = forwarded();
        let mut old = SigSet::empty();
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&mask), Some(&mut old))
            .map_err(|errno| Error::sys("sigprocmask", "exec", errno))?;
        let result = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC)
            .map_err(|errno| Error::sys("signalfd", "exec", errno))
            .and_then(|signals| {
                let execed = self.exec(id, opts)?;
                wait_forwarding(execed.pid, &execed.pidfd, &signals)
            });
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
        result
    }

    /// Creates and starts container `id`, leaving it running.
    pub fn run_detached(&self, id: &str, opts: &CreateOptions) -> Result<()> {
        self.create(id, opts)?;
        self.start(id).inspect_err(|_| {
            let _ = self.delete(id, true);
        })
    }
}

/// Waits for child `pid`, forwarding the signals that arrive on `signals`
/// to it; returns its exit status (128+N for death by signal N).
fn wait_forwarding(
    pid: nix::unistd::Pid,
    pidfd: &std::os::fd::OwnedFd,
    signals: &SignalFd,
) -> Result<i32> {
    let status = loop {
        let mut fds = [
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(signals.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(errno) => return Err(Error::sys("poll", "container process", errno)),
        }
        if fds[1].any().unwrap_or(false) {
            if let Ok(Some(info)) = signals.read_signal() {
                let _ = sys::pidfd_send_signal(pidfd.as_fd(), info.ssi_signo as i32);
            }
        }
        if fds[0].any().unwrap_or(false) {
            break waitpid(pid, None)
                .map_err(|errno| Error::sys("waitpid", "container process", errno))?;
        }
    };
    Ok(match status {
        WaitStatus::Exited(_, code) => code,
        WaitStatus::Signaled(_, sig, _) => 128 + sig as i32,
        _ => 1,
    })
}

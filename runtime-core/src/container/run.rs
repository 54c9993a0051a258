//! `run`: create, start and wait for a container, forwarding signals to it,
//! then delete it; the exit status is the container's.

use std::os::fd::AsFd;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitStatus, waitpid};

use super::{CreateOptions, Runtime};
use crate::error::{Error, Result};
use crate::{console, sys};

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
    /// With `keep`, the stopped container stays until `delete` (runc's
    /// `run --keep`).
    pub fn run(&self, id: &str, opts: &CreateOptions, keep: bool) -> Result<i32> {
        super::spawn::check_inherited_fds(opts.preserve_fds + opts.listen_fds)?;
        let mask = forwarded();
        let mut old = SigSet::empty();
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&mask), Some(&mut old))
            .map_err(|errno| Error::sys("sigprocmask", "run", errno))?;
        let result = self.run_blocked(id, opts, &mask, keep);
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
        result
    }

    fn run_blocked(
        &self,
        id: &str,
        opts: &CreateOptions,
        mask: &SigSet,
        keep: bool,
    ) -> Result<i32> {
        let signals = SignalFd::with_flags(mask, SfdFlags::SFD_CLOEXEC)
            .map_err(|errno| Error::sys("signalfd", "run", errno))?;
        // For a terminal and no console socket, gorae is the console: it
        // receives the pty master and proxies the caller's terminal.
        let own_console = opts.console_socket.is_none();
        let (ours, theirs) = match own_console {
            true => {
                let (a, b) = console::host::pair()?;
                (Some(a), Some(b))
            }
            false => (None, None),
        };
        let created = self.create_with_console(id, opts, theirs)?;
        if let Err(e) = self.start(id) {
            let _ = self.delete(id, true);
            let _ = waitpid(created.pid, None);
            return Err(e);
        }
        if let Some(ours) = ours.filter(|_| self.has_terminal(id)) {
            let master = console::host::receive_master(&ours)?;
            console::host::proxy(&master, &created.pidfd, &signals)?;
        }
        let status = wait_forwarding(created.pid, &created.pidfd, &signals)?;
        if !keep {
            self.delete(id, false)?;
        }
        Ok(status)
    }

    /// Runs a process in running container `id` (see [`Runtime::exec`])
    /// and waits for it, forwarding signals as [`Runtime::run`] does.
    /// Returns its exit status, 128+N when a signal N ended it.
    pub fn exec_and_wait(&self, id: &str, opts: &super::exec::ExecOptions) -> Result<i32> {
        super::spawn::check_inherited_fds(opts.preserve_fds)?;
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

    /// Whether container `id`'s process has a terminal.
    fn has_terminal(&self, id: &str) -> bool {
        crate::state::StateDir::open_shared(&self.root, id)
            .and_then(|d| d.load_config())
            .ok()
            .and_then(|c| c.process().as_ref().and_then(|p| p.terminal()))
            .unwrap_or(false)
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

//! Running one program and measuring it: wall time from `spawn` to `wait4`,
//! peak RSS from `wait4`'s rusage, stdout and stderr through files (a pipe
//! would stay open as long as a detached container holds it).
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::fs::{self, File};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::sys;

/// How long one invocation may take before it is killed and reported.
pub const INVOCATION_TIMEOUT: Duration = Duration::from_secs(60);

/// A program with its arguments, ready to be spawned.
#[derive(Debug, Clone)]
pub struct Invocable {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// A short form for messages, e.g. `crun create b-crun-l3`.
    pub label: String,
}

/// A finished, successful invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Wall time from just before `spawn` to `wait4`'s return.
    pub elapsed: Duration,
    /// Peak RSS (`ru_maxrss`) in KiB.
    pub max_rss_kib: u64,
    /// User + system CPU time (`ru_utime + ru_stime`).
    pub cpu: Duration,
    /// What it printed on stdout.
    pub stdout: String,
    /// What it printed on stderr.
    pub stderr: String,
}

/// A spawned invocation not waited for yet.
#[derive(Debug)]
pub struct Running {
    pid: Pid,
    started: Instant,
    out_path: PathBuf,
    err_path: PathBuf,
    label: String,
}

/// Spawns `what` with stdin from `/dev/null` and stdout/stderr into files
/// `io_dir/<tag>.out` and `.err`; the clock starts just before the spawn.
pub fn spawn(what: &Invocable, io_dir: &Path, tag: &str) -> Result<Running> {
    let out_path = io_dir.join(format!("{tag}.out"));
    let err_path = io_dir.join(format!("{tag}.err"));
    let out = File::create(&out_path).map_err(|e| Error::io("create", &out_path, e))?;
    let err = File::create(&err_path).map_err(|e| Error::io("create", &err_path, e))?;
    let mut command = Command::new(&what.program);
    command
        .args(&what.args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    let started = Instant::now();
    let child = command.spawn().map_err(|source| Error::Spawn {
        program: what.program.clone(),
        source,
    })?;
    let raw = i32::try_from(child.id()).map_err(|_| Error::Setup("pid out of range".into()))?;
    Ok(Running {
        pid: Pid::from_raw(raw),
        started,
        out_path,
        err_path,
        label: what.label.clone(),
    })
}

impl Running {
    /// Waits until `deadline` at most (then kills it), reaps it and reads its
    /// output; a non-zero exit is an [`Error::Failed`] naming its stderr.
    pub fn wait(self, deadline: Instant) -> Result<Invocation> {
        let timed_out = !wait_exit(self.pid, deadline)?;
        if timed_out {
            // The child is ours and not reaped, so the pid cannot be reused.
            kill(self.pid, Signal::SIGKILL).map_err(|e| Error::sys("kill", self.pid, e))?;
        }
        let reaped = sys::wait4(self.pid).map_err(|e| Error::sys("wait4", self.pid, e))?;
        let elapsed = self.started.elapsed();
        let stdout = read_and_remove(&self.out_path)?;
        let stderr = read_and_remove(&self.err_path)?;
        if timed_out {
            return Err(Error::Timeout {
                what: self.label,
                seconds: INVOCATION_TIMEOUT.as_secs(),
            });
        }
        match reaped.status {
            WaitStatus::Exited(_, 0) => Ok(Invocation {
                elapsed,
                max_rss_kib: reaped.max_rss_kib,
                cpu: reaped.cpu,
                stdout,
                stderr,
            }),
            status => Err(Error::Failed {
                command: self.label,
                status: describe(status),
                stderr: last_lines(&stderr),
            }),
        }
    }
}

/// Runs `what` to completion within [`INVOCATION_TIMEOUT`].
pub fn invoke(what: &Invocable, io_dir: &Path, tag: &str) -> Result<Invocation> {
    spawn(what, io_dir, tag)?.wait(Instant::now() + INVOCATION_TIMEOUT)
}

/// Waits for `pid` to end, until `deadline`: `true` if it ended (or is
/// gone), `false` on timeout. Works for any process, child or not.
pub fn wait_exit(pid: Pid, deadline: Instant) -> Result<bool> {
    let pidfd = match sys::pidfd_open(pid) {
        Ok(fd) => fd,
        Err(Errno::ESRCH) => return Ok(true),
        Err(e) => return Err(Error::sys("pidfd_open", pid, e)),
    };
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let millis = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        if millis == 0 {
            return Ok(false);
        }
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(millis)) {
            Ok(0) | Err(Errno::EINTR) => continue,
            Ok(_) => return Ok(true),
            Err(e) => return Err(Error::sys("poll pidfd of", pid, e)),
        }
    }
}

fn read_and_remove(path: &Path) -> Result<String> {
    let bytes = fs::read(path).map_err(|e| Error::io("read", path, e))?;
    fs::remove_file(path).map_err(|e| Error::io("remove", path, e))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// "exit status 1" or "killed by signal SIGKILL".
fn describe(status: WaitStatus) -> String {
    match status {
        WaitStatus::Exited(_, code) => format!("exit status {code}"),
        WaitStatus::Signaled(_, signal, _) => format!("killed by signal {signal}"),
        other => format!("{other:?}"),
    }
}

/// The last three non-empty lines of `text`, joined, at most 400 bytes.
pub fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let joined = lines[lines.len().saturating_sub(3)..].join(" / ");
    match joined.char_indices().nth(400) {
        Some((cut, _)) => format!("{}…", &joined[..cut]),
        None => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_lines_keeps_the_last_three_non_empty_lines() {
        assert_eq!(last_lines("a\n\nb\nc\nd\n"), "b / c / d");
        assert_eq!(last_lines(""), "");
    }
}

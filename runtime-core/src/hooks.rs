//! `hooks`: programs run at points of the lifecycle with the container's
//! state JSON on stdin.
//!
//! - `prestart`, `createRuntime` (during `create`, after the namespaces
//!   exist, before `pivot_root`), `poststart` (end of `start`) and
//!   `poststop` (end of `delete`) run in the runtime's namespaces, from the
//!   gorae process.
//! - `createContainer` (before `pivot_root`) and `startContainer` (after
//!   `start`, before the program runs) run in the container's namespaces:
//!   the init forks them from argv/env arrays prepared before the clone;
//!   the parent sends the state JSON.
//!
//! A failing `prestart`, `createRuntime`, `createContainer` or
//! `startContainer` hook fails the operation, naming the hook; a failing
//! `poststart` or `poststop` hook is a warning. A hook past its `timeout`
//! is killed and counts as failed.

use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Pid, pipe2, write};
use oci_spec::runtime::{Hook, Hooks};

use crate::error::{Error, Result};
use crate::sys;

/// The six kinds of hooks, named as in `config.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `hooks.prestart` (deprecated by the spec, still run).
    Prestart,
    /// `hooks.createRuntime`.
    CreateRuntime,
    /// `hooks.createContainer`.
    CreateContainer,
    /// `hooks.startContainer`.
    StartContainer,
    /// `hooks.poststart`.
    Poststart,
    /// `hooks.poststop`.
    Poststop,
}

impl Kind {
    /// The config field.
    pub fn field(self) -> &'static str {
        match self {
            Kind::Prestart => "hooks.prestart",
            Kind::CreateRuntime => "hooks.createRuntime",
            Kind::CreateContainer => "hooks.createContainer",
            Kind::StartContainer => "hooks.startContainer",
            Kind::Poststart => "hooks.poststart",
            Kind::Poststop => "hooks.poststop",
        }
    }

    /// The hooks of this kind in `hooks`.
    pub(crate) fn of(self, hooks: Option<&Hooks>) -> &[Hook] {
        let list = hooks.and_then(|h| match self {
            Kind::Prestart => h.prestart().as_ref(),
            Kind::CreateRuntime => h.create_runtime().as_ref(),
            Kind::CreateContainer => h.create_container().as_ref(),
            Kind::StartContainer => h.start_container().as_ref(),
            Kind::Poststart => h.poststart().as_ref(),
            Kind::Poststop => h.poststop().as_ref(),
        });
        list.map_or(&[], Vec::as_slice)
    }
}

/// Checks every hook of the config: absolute paths, positive timeouts.
pub(crate) fn validate(hooks: Option<&Hooks>) -> Result<()> {
    for kind in [
        Kind::Prestart,
        Kind::CreateRuntime,
        Kind::CreateContainer,
        Kind::StartContainer,
        Kind::Poststart,
        Kind::Poststop,
    ] {
        for (i, hook) in kind.of(hooks).iter().enumerate() {
            let field = format!("{}[{i}]", kind.field());
            if !hook.path().is_absolute() {
                return Err(Error::invalid(format!("{field}.path"), "must be absolute"));
            }
            if hook.timeout().is_some_and(|t| t <= 0) {
                return Err(Error::invalid(
                    format!("{field}.timeout"),
                    "must be positive",
                ));
            }
        }
    }
    Ok(())
}

/// Why one hook failed.
fn failure(kind: Kind, i: usize, hook: &Hook, reason: String) -> Error {
    Error::Hook {
        field: format!("{}[{i}]", kind.field()),
        path: hook.path().clone(),
        reason,
    }
}

/// Runs the hooks of `kind` from this process, in order, each with `state`
/// on stdin; stops at the first failure.
pub(crate) fn run(kind: Kind, hooks: Option<&Hooks>, state: &[u8]) -> Result<()> {
    for (i, hook) in kind.of(hooks).iter().enumerate() {
        run_one(hook, state).map_err(|reason| failure(kind, i, hook, reason))?;
    }
    Ok(())
}

/// Runs every hook of `kind`, returning a warning for each that failed.
pub(crate) fn run_all(kind: Kind, hooks: Option<&Hooks>, state: &[u8]) -> Vec<String> {
    kind.of(hooks)
        .iter()
        .enumerate()
        .filter_map(|(i, hook)| {
            run_one(hook, state)
                .err()
                .map(|r| failure(kind, i, hook, r).to_string())
        })
        .collect()
}

fn run_one(hook: &Hook, state: &[u8]) -> std::result::Result<(), String> {
    let args = hook.args().as_deref().unwrap_or_default();
    let mut cmd = Command::new(hook.path());
    if let Some(argv0) = args.first() {
        std::os::unix::process::CommandExt::arg0(&mut cmd, argv0);
    }
    cmd.args(args.iter().skip(1))
        .env_clear()
        .envs(
            hook.env()
                .iter()
                .flatten()
                .filter_map(|e| e.split_once('=')),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().map_err(|e| format!("start: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is no failure.
        let _ = stdin.write_all(state);
    }
    let deadline = hook
        .timeout()
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    loop {
        match child.try_wait().map_err(|e| format!("wait: {e}"))? {
            Some(status) if status.success() => return Ok(()),
            Some(status) => return Err(format!("{status}")),
            None if deadline.is_some_and(|d| Instant::now() >= d) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "killed after its timeout of {}s",
                    hook.timeout().unwrap_or(0)
                ));
            }
            None => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

/// A container-namespace hook prepared before the clone, run by the init.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub path: CString,
    pub exec: sys::ExecArgs,
    pub timeout: Option<Duration>,
}

/// Prepares the hooks of `kind` for the init.
pub(crate) fn prepare(kind: Kind, hooks: Option<&Hooks>) -> Result<Vec<Prepared>> {
    kind.of(hooks)
        .iter()
        .enumerate()
        .map(|(i, hook)| {
            let field = format!("{}[{i}]", kind.field());
            let c = |s: &str| {
                CString::new(s).map_err(|_| Error::invalid(&field, "contains a NUL byte"))
            };
            let path = c(&hook.path().to_string_lossy())?;
            let mut args = hook
                .args()
                .iter()
                .flatten()
                .map(|a| c(a))
                .collect::<Result<Vec<_>>>()?;
            if args.is_empty() {
                args.push(path.clone());
            }
            let env = hook
                .env()
                .iter()
                .flatten()
                .map(|e| c(e))
                .collect::<Result<Vec<_>>>()?;
            let mut exec = sys::ExecArgs::new(args, env);
            exec.set_path(path.as_bytes());
            Ok(Prepared {
                path,
                exec,
                timeout: hook.timeout().map(|t| Duration::from_secs(t as u64)),
            })
        })
        .collect()
}

/// In the init: runs `hooks` in order, each forked with `state` on its
/// stdin. Returns the index of the hook that failed and why.
pub(crate) fn run_in_init(
    hooks: &mut [Prepared],
    state: &[u8],
) -> std::result::Result<(), (usize, Errno)> {
    for (i, hook) in hooks.iter_mut().enumerate() {
        run_forked(hook, state).map_err(|e| (i, e))?;
    }
    Ok(())
}

fn run_forked(hook: &mut Prepared, state: &[u8]) -> std::result::Result<(), Errno> {
    let (read_end, write_end) = pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    // SAFETY: the child only calls dup2, execve and _exit on memory
    // prepared before the clone.
    match unsafe { sys::fork_raw() }? {
        0 => {
            let _ = sys::dup2_raw(read_end.as_fd(), 0);
            let errno = hook.exec.execve_path();
            sys::exit_now(126 + i32::from(errno == Errno::ENOENT))
        }
        child => {
            drop(read_end);
            feed(write_end, state);
            wait_with_timeout(Pid::from_raw(child), hook.timeout)
        }
    }
}

/// Writes the state to the hook's stdin; a hook that does not read it is
/// no failure.
fn feed(pipe: OwnedFd, mut state: &[u8]) {
    while !state.is_empty() {
        match write(pipe.as_fd(), state) {
            Ok(n) => state = &state[n..],
            Err(Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}

fn wait_with_timeout(child: Pid, timeout: Option<Duration>) -> std::result::Result<(), Errno> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        match waitpid(child, Some(WaitPidFlag::WNOHANG))? {
            WaitStatus::Exited(_, 0) => return Ok(()),
            WaitStatus::Exited(..) | WaitStatus::Signaled(..) => return Err(Errno::ECHILD),
            _ if deadline.is_some_and(|d| Instant::now() >= d) => {
                let _ = kill(child, Signal::SIGKILL);
                let _ = waitpid(child, None);
                return Err(Errno::ETIMEDOUT);
            }
            _ => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}

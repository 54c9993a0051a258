//! A minimal shim-like supervisor, the shape a containerd-style shim written
//! in Rust takes: it becomes a child subreaper, creates and starts a
//! container through gorae-core, forwards SIGTERM and SIGINT to it, reaps
//! it (and any orphan reparented to it), and exits with its status.
//!
//! ```text
//! cargo run -p gorae-core --example mini_shim -- /path/to/bundle [state-root]
//! ```

use std::os::fd::AsFd;
use std::process::ExitCode;

use gorae_core::{CreateOptions, Runtime};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

fn main() -> ExitCode {
    match supervise() {
        Ok(status) => ExitCode::from(u8::try_from(status).unwrap_or(255)),
        Err(e) => {
            eprintln!("mini_shim: {e}");
            ExitCode::FAILURE
        }
    }
}

fn supervise() -> Result<i32, String> {
    let mut args = std::env::args().skip(1);
    let bundle = args.next().ok_or("usage: mini_shim BUNDLE [STATE_ROOT]")?;
    let root = args.next().unwrap_or_else(|| "/run/gorae-shim".into());
    // Orphans of the container (its init's children when it has no pid
    // namespace) are reparented to us, not to PID 1.
    nix::sys::prctl::set_child_subreaper(true).map_err(|e| format!("subreaper: {e}"))?;
    // Take SIGTERM, SIGINT and SIGCHLD as events before anything starts.
    let mut mask = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGCHLD] {
        mask.add(s);
    }
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&mask), None).map_err(|e| e.to_string())?;
    let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC).map_err(|e| e.to_string())?;

    let runtime = Runtime::new(root);
    let container = runtime.container(format!("mini-shim-{}", std::process::id()));
    let created = container
        .create(&CreateOptions::new(bundle))
        .map_err(|e| e.to_string())?;
    container.start().map_err(|e| e.to_string())?;
    println!(
        "mini_shim: container {} runs as pid {}",
        container.id(),
        created.pid
    );

    let status = loop {
        let mut fds = [PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        if let Err(e) = poll(&mut fds, PollTimeout::NONE) {
            if e != nix::errno::Errno::EINTR {
                return Err(e.to_string());
            }
        }
        let Ok(Some(info)) = signals.read_signal() else {
            continue;
        };
        match Signal::try_from(info.ssi_signo as i32) {
            Ok(Signal::SIGCHLD) => {
                if let Some(status) = reap(created.pid) {
                    break status;
                }
            }
            Ok(signal) => {
                println!("mini_shim: forwarding {signal} to the container");
                container
                    .kill(signal as i32, false)
                    .map_err(|e| e.to_string())?;
            }
            Err(_) => {}
        }
    };
    container.delete(true).map_err(|e| e.to_string())?;
    println!("mini_shim: container exited with status {status}");
    Ok(status)
}

/// Reaps every child that has exited; returns the init's status once it
/// is among them.
fn reap(init: Pid) -> Option<i32> {
    let mut init_status = None;
    loop {
        match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == init => init_status = Some(code),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == init => {
                init_status = Some(128 + sig as i32)
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return init_status,
            Ok(_) => {}
        }
    }
}

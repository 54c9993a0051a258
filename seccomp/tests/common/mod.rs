//! Helpers for tests that install filters for real: always in a forked
//! child, never in the test harness.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unsafe_code)]

use gorae_seccomp::{Filter, compile, parse_profile};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork};

/// Exit code of a child whose filter failed to install.
pub const INSTALL_FAILED: i32 = 250;

/// Compiles a profile given as JSON.
pub fn filter(json: &str) -> Filter {
    compile(&parse_profile(json).unwrap()).unwrap()
}

/// Forks; the child runs `body` and exits with its result. Returns how the
/// child ended. `body` runs after fork in a multi-threaded process: it makes
/// raw syscalls and does not allocate unless the test needs it.
pub fn in_child(body: impl FnOnce() -> i32) -> WaitStatus {
    // SAFETY: the child only runs `body` and `_exit`s; it never returns into
    // the test harness.
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            let code = body();
            // SAFETY: `_exit` ends the child without running the harness's
            // atexit handlers or destructors.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => waitpid(child, None).unwrap(),
    }
}

/// Forks a child that installs `filter` and then runs `body`.
pub fn with_filter(filter: &Filter, body: impl FnOnce() -> i32) -> WaitStatus {
    in_child(|| match filter.install() {
        Ok(_) => body(),
        Err(_) => INSTALL_FAILED,
    })
}

/// Asserts the child exited with 0.
pub fn assert_exit_ok(status: WaitStatus) {
    assert!(
        matches!(status, WaitStatus::Exited(_, 0)),
        "child ended with {status:?}"
    );
}

/// `syscall(nr, args...)`: the raw return value, or `-errno`.
pub fn raw_syscall(nr: libc::c_long, args: [u64; 6]) -> i64 {
    // SAFETY: the tests only make syscalls whose arguments are plain numbers
    // or null (getpid ignores its arguments; the others fail on null).
    let ret = unsafe { libc::syscall(nr, args[0], args[1], args[2], args[3], args[4], args[5]) };
    if ret == -1 {
        -i64::from(nix::errno::Errno::last_raw())
    } else {
        ret
    }
}

/// getpid with arbitrary (ignored by the kernel, seen by seccomp) arguments.
pub fn getpid_with(args: [u64; 6]) -> i64 {
    raw_syscall(libc::SYS_getpid, args)
}

/// Forks a child that runs `body` and exits with its result; does not wait.
pub fn spawn_child(body: impl FnOnce() -> i32) -> nix::unistd::Pid {
    // SAFETY: as in `in_child`.
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            let code = body();
            // SAFETY: as in `in_child`.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => child,
    }
}

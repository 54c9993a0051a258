//! Each action, observed by a forked child on the real kernel.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use common::{assert_exit_ok, filter, getpid_with, raw_syscall, with_filter};
use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;

fn getpid_rule(action: &str, extra: &str) -> String {
    format!(
        r#"{{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{{"names": ["getpid"], "action": "{action}"{extra}}}]}}"#
    )
}

/// Child exit code: 0 when getpid returned `expected` (`-errno` or the pid).
fn getpid_returns(expected: impl Fn() -> i64 + Copy) -> impl Fn() -> i32 {
    move || {
        if getpid_with([0; 6]) == expected() {
            0
        } else {
            1
        }
    }
}

#[test]
fn errno_action_returns_errno_ret() {
    let f = filter(&getpid_rule("SCMP_ACT_ERRNO", r#", "errnoRet": 33"#));
    assert_exit_ok(with_filter(&f, getpid_returns(|| -33)));
}

#[test]
fn errno_action_without_errno_ret_returns_eperm() {
    let f = filter(&getpid_rule("SCMP_ACT_ERRNO", ""));
    assert_exit_ok(with_filter(&f, getpid_returns(|| -i64::from(libc::EPERM))));
}

#[test]
fn default_errno_ret_applies_to_default_action() {
    let f = filter(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 25,
            "syscalls": [{"names": ["exit_group", "exit"], "action": "SCMP_ACT_ALLOW"}]}"#,
    );
    assert_exit_ok(with_filter(&f, getpid_returns(|| -25)));
}

fn assert_killed_by_sigsys(status: WaitStatus) {
    assert!(
        matches!(status, WaitStatus::Signaled(_, Signal::SIGSYS, _)),
        "child ended with {status:?}"
    );
}

#[test]
fn kill_actions_end_the_child_with_sigsys() {
    for action in [
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_KILL_PROCESS",
    ] {
        let f = filter(&getpid_rule(action, ""));
        assert_killed_by_sigsys(with_filter(&f, getpid_returns(|| 0)));
    }
}

static TRAPPED_SYSCALL: AtomicI32 = AtomicI32::new(-1);
static TRAPPED_CODE: AtomicI32 = AtomicI32::new(-1);
static TRAPPED_ARCH: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_sigsys(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // Layout of the SIGSYS member of siginfo_t (x86_64 and aarch64):
    // si_signo, si_errno, si_code, padding, then _call_addr, _syscall, _arch.
    // SAFETY: the kernel passes a valid siginfo_t for SA_SIGINFO handlers.
    let (code, nr, arch) = unsafe {
        let base = info.cast::<u8>();
        (
            (*info).si_code,
            base.add(24).cast::<i32>().read(),
            base.add(28).cast::<u32>().read(),
        )
    };
    TRAPPED_CODE.store(code, Ordering::SeqCst);
    TRAPPED_SYSCALL.store(nr, Ordering::SeqCst);
    TRAPPED_ARCH.store(arch, Ordering::SeqCst);
}

#[test]
fn trap_action_delivers_sigsys_with_the_syscall_number() {
    let f = filter(&getpid_rule("SCMP_ACT_TRAP", ""));
    let status = common::in_child(|| {
        // SAFETY: installs a handler that only stores atomics.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigsys as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO;
            libc::sigaction(libc::SIGSYS, &action, std::ptr::null_mut());
        }
        if f.install().is_err() {
            return common::INSTALL_FAILED;
        }
        getpid_with([0; 6]);
        const SYS_SECCOMP: i32 = 1;
        let ok = TRAPPED_CODE.load(Ordering::SeqCst) == SYS_SECCOMP
            && i64::from(TRAPPED_SYSCALL.load(Ordering::SeqCst)) == libc::SYS_getpid
            && TRAPPED_ARCH.load(Ordering::SeqCst) != 0;
        if ok { 0 } else { 1 }
    });
    assert_exit_ok(status);
}

#[test]
fn trace_action_without_tracer_returns_enosys() {
    let f = filter(&getpid_rule("SCMP_ACT_TRACE", r#", "errnoRet": 7"#));
    assert_exit_ok(with_filter(&f, getpid_returns(|| -i64::from(libc::ENOSYS))));
}

#[test]
fn log_and_allow_actions_let_the_syscall_run() {
    for action in ["SCMP_ACT_LOG", "SCMP_ACT_ALLOW"] {
        let f = filter(&getpid_rule(action, ""));
        let pid_in_child = || i64::from(nix::unistd::getpid().as_raw());
        assert_exit_ok(with_filter(&f, getpid_returns(pid_in_child)));
    }
}

#[test]
fn unlisted_syscalls_get_the_default_action() {
    let f = filter(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 61,
            "syscalls": [{"names": ["exit_group", "getpid"], "action": "SCMP_ACT_ALLOW"}]}"#,
    );
    assert_exit_ok(with_filter(&f, || {
        let pid_ok = getpid_with([0; 6]) > 0;
        let ppid = raw_syscall(libc::SYS_getppid, [0; 6]);
        if pid_ok && ppid == -61 { 0 } else { 1 }
    }));
}

#[test]
fn tsync_log_and_spec_allow_flags_are_accepted_by_the_kernel() {
    for flag in [
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    ] {
        let f = filter(&format!(
            r#"{{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["{flag}"],
                "syscalls": [{{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3}}]}}"#
        ));
        assert_exit_ok(with_filter(&f, getpid_returns(|| -3)));
    }
}

#[test]
fn syscalls_above_the_highest_listed_one_get_enosys_when_the_default_denies() {
    // exit_group (231) is the highest listed syscall on x86_64.
    let f = filter(
        r#"{"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["exit_group", "getpid"], "action": "SCMP_ACT_ALLOW"}]}"#,
    );
    assert_exit_ok(with_filter(&f, || {
        let below = raw_syscall(libc::SYS_getppid, [0; 6]);
        let above = raw_syscall(libc::SYS_clone3, [0; 6]);
        let eperm = -i64::from(libc::EPERM);
        let enosys = -i64::from(libc::ENOSYS);
        if below == eperm && above == enosys {
            0
        } else {
            1
        }
    }));
}

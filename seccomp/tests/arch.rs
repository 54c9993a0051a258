//! Foreign ABIs on an x86_64 host: 32-bit `int 0x80` calls and x32 calls
//! (`__X32_SYSCALL_BIT`) are killed unless their architecture is listed, and
//! get the profile's rules translated with their own table when it is.
#![cfg(target_arch = "x86_64")]
#![allow(clippy::unwrap_used, clippy::expect_used, unsafe_code)]

mod common;

use common::{assert_exit_ok, filter, in_child, raw_syscall, with_filter};
use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;

const I386_GETPID: i32 = 20;
const X32_SYSCALL_BIT: i64 = 0x4000_0000;

/// getpid through the i386 ABI: the raw return value (`-errno` on error).
fn i386_getpid() -> i32 {
    let mut ret = I386_GETPID;
    // SAFETY: `int 0x80` with eax = 20 (i386 getpid) takes no arguments and
    // only clobbers eax; the kernel preserves the other registers.
    unsafe {
        std::arch::asm!("int 0x80", inout("eax") ret, options(nostack));
    }
    ret
}

fn x32_getpid() -> i64 {
    raw_syscall(X32_SYSCALL_BIT | libc::SYS_getpid, [0; 6])
}

fn profile(arches: &str) -> String {
    format!(
        r#"{{"defaultAction": "SCMP_ACT_ALLOW", "architectures": [{arches}],
            "syscalls": [{{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 33}}]}}"#
    )
}

fn int80_works() -> bool {
    let status = in_child(|| {
        let pid = nix::unistd::getpid().as_raw();
        if i386_getpid() == pid { 0 } else { 1 }
    });
    matches!(status, WaitStatus::Exited(_, 0))
}

fn assert_killed_by_sigsys(status: WaitStatus) {
    assert!(
        matches!(status, WaitStatus::Signaled(_, Signal::SIGSYS, _)),
        "child ended with {status:?}"
    );
}

#[test]
fn i386_syscall_is_killed_when_x86_is_not_listed() {
    if !int80_works() {
        println!("skipped: this kernel does not run int 0x80 (no IA32 emulation)");
        return;
    }
    let f = filter(&profile(r#""SCMP_ARCH_X86_64""#));
    assert_killed_by_sigsys(with_filter(&f, i386_getpid));
}

#[test]
fn i386_syscall_gets_the_translated_rule_when_x86_is_listed() {
    if !int80_works() {
        println!("skipped: this kernel does not run int 0x80 (no IA32 emulation)");
        return;
    }
    let f = filter(&profile(r#""SCMP_ARCH_X86_64", "SCMP_ARCH_X86""#));
    assert_exit_ok(with_filter(&f, || if i386_getpid() == -33 { 0 } else { 1 }));
}

#[test]
fn i386_syscall_is_matched_by_its_own_number_not_the_x86_64_one() {
    if !int80_works() {
        println!("skipped: this kernel does not run int 0x80 (no IA32 emulation)");
        return;
    }
    // Number 20 is writev on x86_64 but getpid on i386: the writev rule is
    // translated to i386's writev (146) and must not catch i386 getpid.
    let f = filter(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [{"names": ["writev"], "action": "SCMP_ACT_ERRNO", "errnoRet": 33}]}"#,
    );
    let status = in_child(|| {
        let pid = nix::unistd::getpid().as_raw();
        if f.install().is_err() {
            return common::INSTALL_FAILED;
        }
        if i386_getpid() == pid { 0 } else { 1 }
    });
    assert_exit_ok(status);
}

#[test]
fn x32_syscall_is_killed_when_x32_is_not_listed() {
    let f = filter(&profile(r#""SCMP_ARCH_X86_64", "SCMP_ARCH_X86""#));
    assert_killed_by_sigsys(with_filter(&f, || i32::from(x32_getpid() > 0)));
}

#[test]
fn x32_syscall_gets_the_translated_rule_when_x32_is_listed() {
    let f = filter(&profile(r#""SCMP_ARCH_X86_64", "SCMP_ARCH_X32""#));
    assert_exit_ok(with_filter(&f, || if x32_getpid() == -33 { 0 } else { 1 }));
}

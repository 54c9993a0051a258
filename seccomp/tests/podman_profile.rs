//! podman's default profile (engine format) converted for podman's default
//! capabilities, compiled and installed in a forked child.
#![cfg(target_arch = "x86_64")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Instant;

use common::{INSTALL_FAILED, assert_exit_ok, in_child, raw_syscall};
use gorae_seccomp::engine_profile::{KernelVersion, Target, to_oci};
use gorae_seccomp::{Filter, compile};
use oci_spec::runtime::Arch;

const PODMAN_PROFILE: &str = include_str!("data/podman-seccomp.json");

/// containers.conf's default capability set, one per line.
const PODMAN_DEFAULT_CAPS: &str = include_str!("data/podman-default-caps.txt");

fn podman_default_caps() -> Vec<String> {
    PODMAN_DEFAULT_CAPS.lines().map(str::to_owned).collect()
}
fn podman_filter() -> Filter {
    let caps = podman_default_caps();
    let target = Target {
        caps: &caps,
        arch: Arch::ScmpArchX86_64,
        kernel: KernelVersion::current().unwrap(),
    };
    let profile = to_oci(PODMAN_PROFILE, &target).unwrap();
    let start = Instant::now();
    let filter = compile(&profile).unwrap();
    println!(
        "podman profile: compiled in {:?}, {} instructions, unknown syscalls: {:?}",
        start.elapsed(),
        filter.instruction_count(),
        filter.unknown_syscalls()
    );
    filter
}

#[test]
fn podman_profile_converts_for_the_host_arch_and_default_caps() {
    let caps = podman_default_caps();
    let target = Target {
        caps: &caps,
        arch: Arch::ScmpArchX86_64,
        kernel: KernelVersion { major: 6, minor: 1 },
    };
    let profile = to_oci(PODMAN_PROFILE, &target).unwrap();
    let arches = profile.architectures().clone().unwrap();
    assert_eq!(
        arches,
        [Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
    );
    let rules = profile.syscalls().clone().unwrap();
    let has = |name: &str| rules.iter().any(|r| r.names().iter().any(|n| n == name));
    // arch_prctl is amd64-only, s390 calls are not, bpf needs CAP_SYS_ADMIN
    // (so only its EPERM rule is kept), chroot comes with CAP_SYS_CHROOT.
    assert!(has("arch_prctl"));
    assert!(!has("s390_runtime_instr"));
    let bpf: Vec<_> = rules
        .iter()
        .filter(|r| r.names().iter().any(|n| n == "bpf"))
        .collect();
    assert_eq!(bpf.len(), 1);
    assert_eq!(bpf[0].errno_ret(), Some(1));
    let chroot: Vec<_> = rules
        .iter()
        .filter(|r| r.names().iter().any(|n| n == "chroot"))
        .collect();
    assert_eq!(chroot.len(), 1);
    assert_eq!(chroot[0].errno_ret(), None);
}

#[test]
fn podman_profile_allows_normal_syscalls_and_denies_the_listed_ones() {
    let filter = podman_filter();
    let status = in_child(|| {
        if filter.install().is_err() {
            return INSTALL_FAILED;
        }
        let none = [0; 6];
        let dev_null = c"/dev/null".as_ptr() as u64;
        let fd = raw_syscall(
            libc::SYS_openat,
            [
                libc::AT_FDCWD as u64,
                dev_null,
                libc::O_WRONLY as u64,
                0,
                0,
                0,
            ],
        );
        if fd < 0 {
            return 10;
        }
        let byte = c"x".as_ptr() as u64;
        if raw_syscall(libc::SYS_write, [fd as u64, byte, 1, 0, 0, 0]) != 1 {
            return 11;
        }
        let tcp = raw_syscall(
            libc::SYS_socket,
            [libc::AF_INET as u64, libc::SOCK_STREAM as u64, 0, 0, 0, 0],
        );
        if tcp < 0 {
            return 12;
        }
        let pid = raw_syscall(libc::SYS_fork, none);
        if pid == 0 {
            // SAFETY: the grandchild exits at once.
            unsafe { libc::_exit(0) }
        }
        if pid < 0 || raw_syscall(libc::SYS_wait4, [pid as u64, 0, 0, 0, 0, 0]) != pid {
            return 13;
        }
        // Denied by rules with errnoRet 1 (EPERM).
        if raw_syscall(libc::SYS_kexec_load, none) != -i64::from(libc::EPERM) {
            return 20;
        }
        if raw_syscall(libc::SYS_bpf, none) != -i64::from(libc::EPERM) {
            return 21;
        }
        if raw_syscall(libc::SYS_open_by_handle_at, none) != -i64::from(libc::EPERM) {
            return 22;
        }
        // Not listed: the default action, ENOSYS.
        if raw_syscall(libc::SYS_add_key, none) != -i64::from(libc::ENOSYS) {
            return 23;
        }
        // Argument rule: NETLINK_AUDIT sockets fail with EINVAL.
        let audit = [libc::AF_NETLINK as u64, libc::SOCK_RAW as u64, 9, 0, 0, 0];
        if raw_syscall(libc::SYS_socket, audit) != -i64::from(libc::EINVAL) {
            return 24;
        }
        0
    });
    assert_exit_ok(status);
}

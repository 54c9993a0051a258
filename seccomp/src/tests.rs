#![allow(clippy::unwrap_used, clippy::expect_used)]

use oci_spec::runtime::{Arch, LinuxSeccompAction};

use crate::arch::Host;
use crate::compile::{SECCOMP_FILTER_FLAG_NEW_LISTENER, SECCOMP_FILTER_FLAG_TSYNC_ESRCH};
use crate::syscalls::{self, Table};
use crate::{ErrnoField, Error, compile, parse_profile};

fn compile_json(json: &str) -> Result<crate::Filter, Error> {
    compile(&parse_profile(json)?)
}

fn with_rule(rule: &str) -> String {
    format!(r#"{{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{rule}]}}"#)
}

#[test]
fn unknown_action_operator_flag_and_arch_are_rejected_at_parse() {
    for json in [
        r#"{"defaultAction": "SCMP_ACT_MAYBE"}"#,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_FAST"]}"#,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]}"#,
        &with_rule(
            r#"{"names": ["read"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ABOUT"}]}"#,
        ),
    ] {
        assert!(
            matches!(parse_profile(json), Err(Error::ProfileJson(_))),
            "{json}"
        );
    }
}

#[test]
fn arg_index_above_5_names_rule_and_arg() {
    let json = with_rule(
        r#"{"names": ["read"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}"#,
    );
    let err = compile_json(&json).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ArgIndex {
                rule: 0,
                arg: 1,
                index: 6
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "seccomp syscalls[0].args[1].index: 6 is not in 0..=5"
    );
}

#[test]
fn errno_ret_on_an_action_without_data_is_rejected() {
    let err = compile_json(&with_rule(
        r#"{"names": ["read"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}"#,
    ))
    .unwrap_err();
    assert!(matches!(
        err,
        Error::RuleErrnoRet {
            rule: 0,
            action: LinuxSeccompAction::ScmpActAllow
        }
    ));
    let err =
        compile_json(r#"{"defaultAction": "SCMP_ACT_KILL", "defaultErrnoRet": 1}"#).unwrap_err();
    assert!(matches!(err, Error::DefaultErrnoRet { .. }));
    let err = compile_json(r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 65536}"#)
        .unwrap_err();
    assert!(matches!(
        err,
        Error::ErrnoRetRange {
            field: ErrnoField::Default,
            value: 65536
        }
    ));
}

#[test]
fn listener_path_and_notify_rules_go_together() {
    let notify = r#"{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}"#;
    let err = compile_json(&with_rule(notify)).unwrap_err();
    assert!(matches!(err, Error::NotifyWithoutListenerPath { rule: 0 }));
    let err = compile_json(r#"{"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "m"}"#)
        .unwrap_err();
    assert!(matches!(err, Error::MetadataWithoutListenerPath));
    // Without a notify rule a listenerPath is ignored (the spec).
    let filter =
        compile_json(r#"{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock"}"#)
            .unwrap();
    assert!(!filter.needs_listener());
    let err = compile_json(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap_err();
    assert!(matches!(err, Error::EmptyNames { rule: 0 }));
    let err =
        compile_json(r#"{"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/a"}"#).unwrap_err();
    assert!(matches!(err, Error::NotifyDefaultAction));
}

#[test]
fn notify_sets_new_listener_and_tsync_esrch() {
    let json = format!(
        r#"{{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/a",
            "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "syscalls": [{}]}}"#,
        r#"{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}"#
    );
    let filter = compile_json(&json).unwrap();
    assert!(filter.needs_listener());
    assert_eq!(
        filter.flags(),
        1 | SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_TSYNC_ESRCH | 32
    );
}

#[test]
fn wait_killable_recv_is_dropped_without_a_listener() {
    let json = r#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}"#;
    assert_eq!(compile_json(json).unwrap().flags(), 0);
}

#[test]
fn architecture_of_another_host_is_rejected() {
    let json = r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_S390X"]}"#;
    let err = compile_json(json).unwrap_err();
    assert!(matches!(
        err,
        Error::ForeignArchitecture {
            arch: Arch::ScmpArchS390x
        }
    ));
}

#[test]
fn compat_architectures_of_both_hosts_are_known() {
    let x86 = Host::for_arch(Arch::ScmpArchX86_64);
    for arch in [
        Arch::ScmpArchNative,
        Arch::ScmpArchX86_64,
        Arch::ScmpArchX86,
        Arch::ScmpArchX32,
    ] {
        assert!(x86.abi(arch).is_ok(), "{arch}");
    }
    assert!(x86.abi(Arch::ScmpArchArm).is_err());
    let arm = Host::for_arch(Arch::ScmpArchAarch64);
    assert!(arm.abi(Arch::ScmpArchArm).is_ok());
    assert!(arm.abi(Arch::ScmpArchX86).is_err());
}

#[test]
fn unknown_syscall_names_are_skipped_and_reported() {
    let json =
        with_rule(r#"{"names": ["read", "no_such_call", "read"], "action": "SCMP_ACT_ERRNO"}"#);
    let filter = compile_json(&json).unwrap();
    assert_eq!(filter.unknown_syscalls(), ["no_such_call"]);
}

#[test]
fn aarch64_profile_compiles_with_arm_compat() {
    let json = r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
        "syscalls": [{"names": ["openat", "read", "set_tls", "arch_prctl"], "action": "SCMP_ACT_ALLOW"}]}"#;
    let profile = parse_profile(json).unwrap();
    let compiled =
        crate::compile::compile_for(&profile, &Host::for_arch(Arch::ScmpArchAarch64)).unwrap();
    assert_eq!(compiled.unknown_syscalls, ["set_tls", "arch_prctl"]);
    assert!(compiled.program.len() > 8);
}

#[test]
fn too_many_conditional_rules_exceed_the_kernel_limit() {
    let rule = r#"{"names": ["read"], "action": "SCMP_ACT_ERRNO",
        "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_LT"}, {"index": 1, "value": 1, "op": "SCMP_CMP_GT"}]}"#;
    let rules = vec![rule; 600].join(",");
    let err = compile_json(&with_rule(&rules)).unwrap_err();
    assert!(matches!(err, Error::ProgramTooLarge { .. }), "{err:?}");
}

fn tables_sorted_and_unique(table: &Table) -> bool {
    table.entries.windows(2).all(|w| w[0].0 < w[1].0)
}

#[test]
fn generated_tables_are_sorted_and_every_name_is_found_through_the_index() {
    for table in [
        syscalls::X86_64,
        syscalls::X32,
        syscalls::X86,
        syscalls::AARCH64,
        syscalls::ARM,
    ] {
        assert!(tables_sorted_and_unique(&table));
        for (name, nr) in table.entries {
            assert_eq!(table.lookup(name), Some(*nr), "{name}");
        }
        assert_eq!(table.lookup("no_such_syscall"), None);
        assert_eq!(table.lookup(""), None);
    }
}

/// Every `SYS_*` constant the libc crate has for this host, checked against
/// the generated native table.
macro_rules! assert_libc_numbers {
    ($table:expr, $($name:ident),* $(,)?) => {{
        let mut checked = 0;
        $(
            let name = stringify!($name).trim_start_matches("SYS_");
            if let Some(nr) = $table.lookup(name) {
                assert_eq!(i64::from(nr), libc::$name as i64, "{name}");
                checked += 1;
            }
        )*
        checked
    }};
}

#[cfg(target_arch = "x86_64")]
#[test]
fn x86_64_table_agrees_with_libc() {
    let checked = assert_libc_numbers!(
        syscalls::X86_64,
        SYS_read,
        SYS_write,
        SYS_open,
        SYS_close,
        SYS_stat,
        SYS_fstat,
        SYS_lstat,
        SYS_poll,
        SYS_lseek,
        SYS_mmap,
        SYS_mprotect,
        SYS_munmap,
        SYS_brk,
        SYS_rt_sigaction,
        SYS_rt_sigprocmask,
        SYS_rt_sigreturn,
        SYS_ioctl,
        SYS_pread64,
        SYS_pwrite64,
        SYS_readv,
        SYS_writev,
        SYS_access,
        SYS_pipe,
        SYS_select,
        SYS_sched_yield,
        SYS_mremap,
        SYS_msync,
        SYS_mincore,
        SYS_madvise,
        SYS_shmget,
        SYS_dup,
        SYS_dup2,
        SYS_pause,
        SYS_nanosleep,
        SYS_getpid,
        SYS_sendfile,
        SYS_socket,
        SYS_connect,
        SYS_accept,
        SYS_clone,
        SYS_fork,
        SYS_vfork,
        SYS_execve,
        SYS_exit,
        SYS_wait4,
        SYS_kill,
        SYS_uname,
        SYS_fcntl,
        SYS_flock,
        SYS_getdents,
        SYS_getcwd,
        SYS_chdir,
        SYS_rename,
        SYS_mkdir,
        SYS_rmdir,
        SYS_link,
        SYS_unlink,
        SYS_symlink,
        SYS_readlink,
        SYS_chmod,
        SYS_chown,
        SYS_umask,
        SYS_ptrace,
        SYS_getuid,
        SYS_syslog,
        SYS_setuid,
        SYS_setgid,
        SYS_getppid,
        SYS_setsid,
        SYS_personality,
        SYS_statfs,
        SYS_prctl,
        SYS_arch_prctl,
        SYS_chroot,
        SYS_mount,
        SYS_umount2,
        SYS_swapon,
        SYS_reboot,
        SYS_sethostname,
        SYS_iopl,
        SYS_ioperm,
        SYS_init_module,
        SYS_gettid,
        SYS_tkill,
        SYS_futex,
        SYS_getdents64,
        SYS_set_tid_address,
        SYS_clock_gettime,
        SYS_exit_group,
        SYS_epoll_wait,
        SYS_tgkill,
        SYS_kexec_load,
        SYS_add_key,
        SYS_keyctl,
        SYS_openat,
        SYS_mkdirat,
        SYS_unshare,
        SYS_splice,
        SYS_utimensat,
        SYS_epoll_pwait,
        SYS_signalfd,
        SYS_eventfd,
        SYS_fallocate,
        SYS_accept4,
        SYS_dup3,
        SYS_pipe2,
        SYS_perf_event_open,
        SYS_recvmmsg,
        SYS_prlimit64,
        SYS_name_to_handle_at,
        SYS_open_by_handle_at,
        SYS_setns,
        SYS_getcpu,
        SYS_kcmp,
        SYS_finit_module,
        SYS_renameat2,
        SYS_seccomp,
        SYS_getrandom,
        SYS_memfd_create,
        SYS_bpf,
        SYS_execveat,
        SYS_userfaultfd,
        SYS_membarrier,
        SYS_mlock2,
        SYS_copy_file_range,
        SYS_preadv2,
        SYS_pkey_mprotect,
        SYS_statx,
        SYS_rseq,
        SYS_pidfd_send_signal,
        SYS_io_uring_setup,
        SYS_open_tree,
        SYS_move_mount,
        SYS_fsopen,
        SYS_fsconfig,
        SYS_fsmount,
        SYS_fspick,
        SYS_pidfd_open,
        SYS_clone3,
        SYS_close_range,
        SYS_openat2,
        SYS_pidfd_getfd,
        SYS_faccessat2,
        SYS_process_madvise,
        SYS_epoll_pwait2,
        SYS_mount_setattr,
        SYS_landlock_create_ruleset,
        SYS_memfd_secret,
        SYS_process_mrelease,
        SYS_futex_waitv,
        SYS_set_mempolicy_home_node,
    );
    assert!(checked >= 150, "only {checked} checked");
}

#[cfg(target_arch = "aarch64")]
#[test]
fn aarch64_table_agrees_with_libc() {
    let checked = assert_libc_numbers!(
        syscalls::AARCH64,
        SYS_read,
        SYS_write,
        SYS_openat,
        SYS_close,
        SYS_fstat,
        SYS_mmap,
        SYS_clone,
        SYS_clone3,
        SYS_execve,
        SYS_exit_group,
        SYS_getpid,
        SYS_unshare,
        SYS_mount,
        SYS_setns,
        SYS_seccomp,
        SYS_bpf,
        SYS_pidfd_open,
        SYS_openat2,
        SYS_fcntl,
        SYS_renameat,
    );
    assert!(checked >= 18, "only {checked} checked");
}

mod differential {
    //! Compiled programs run in a BPF interpreter against a direct reading
    //! of the profile's semantics, on both host architectures.
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator as Op};

    use crate::ErrnoField;
    use crate::arch::{Abi, Host, X32_SYSCALL_BIT};
    use crate::compile::{action_value, compile_for};
    use crate::engine_profile::{KernelVersion, Target, to_oci};
    use crate::interp::{SeccompData, run};

    const KILL_PROCESS: u32 = 0x8000_0000;
    const ENOSYS: u32 = 0x0005_0000 | 38;

    /// The ABI a call belongs to, if the profile lists it.
    fn abi_of(profile: &LinuxSeccomp, host: &Host, data: &SeccompData) -> Option<Abi> {
        let listed = profile.architectures().as_deref().unwrap_or_default();
        let mut abis = vec![host.native];
        abis.extend(listed.iter().filter_map(|a| host.abi(*a).ok()));
        abis.into_iter().find(|abi| {
            let x32_bit = data.nr & X32_SYSCALL_BIT != 0;
            abi.audit_arch == data.arch
                && (abi.audit_arch != host.native.audit_arch
                    || host.native.arch != Arch::ScmpArchX86_64
                    || x32_bit == (abi.first_nr == X32_SYSCALL_BIT))
        })
    }

    fn holds(op: Op, arg: u64, value: u64, value_two: u64) -> bool {
        match op {
            Op::ScmpCmpEq => arg == value,
            Op::ScmpCmpNe => arg != value,
            Op::ScmpCmpLt => arg < value,
            Op::ScmpCmpLe => arg <= value,
            Op::ScmpCmpGe => arg >= value,
            Op::ScmpCmpGt => arg > value,
            Op::ScmpCmpMaskedEq => arg & value == value_two,
        }
    }

    fn expected(profile: &LinuxSeccomp, host: &Host, data: &SeccompData) -> u32 {
        let Some(abi) = abi_of(profile, host, data) else {
            return KILL_PROCESS;
        };
        let width = |v: u64| if abi.narrow_args { v & 0xFFFF_FFFF } else { v };
        let nr_of = |name: &String| abi.table.lookup(name);
        let rules = profile.syscalls().as_deref().unwrap_or_default();
        let default = action_value(
            profile.default_action(),
            profile.default_errno_ret(),
            ErrnoField::Default,
        )
        .unwrap();
        let mine: Vec<_> = rules
            .iter()
            .filter(|r| r.names().iter().any(|n| nr_of(n) == Some(data.nr)))
            .collect();
        let action = |r: &oci_spec::runtime::LinuxSyscall| {
            action_value(r.action(), r.errno_ret(), ErrnoField::Rule(0)).unwrap()
        };
        if let Some(r) = mine
            .iter()
            .find(|r| r.args().as_deref().unwrap_or_default().is_empty())
        {
            return action(r);
        }
        for r in &mine {
            let args = r.args().as_deref().unwrap_or_default();
            let test = |a: &oci_spec::runtime::LinuxSeccompArg| {
                let arg = width(data.args[a.index()]);
                holds(
                    a.op(),
                    arg,
                    width(a.value()),
                    width(a.value_two().unwrap_or(0)),
                )
            };
            let same_index = args
                .iter()
                .enumerate()
                .any(|(i, a)| args[..i].iter().any(|b| b.index() == a.index()));
            let matched = if same_index {
                args.iter().any(test)
            } else {
                args.iter().all(test)
            };
            if matched {
                return action(r);
            }
        }
        let highest = rules
            .iter()
            .flat_map(|r| r.names().iter().filter_map(nr_of))
            .max();
        let permissive = matches!(
            profile.default_action(),
            LinuxSeccompAction::ScmpActAllow
                | LinuxSeccompAction::ScmpActLog
                | LinuxSeccompAction::ScmpActTrace
        );
        match highest {
            Some(max) if data.nr > max && !permissive => ENOSYS,
            _ => default,
        }
    }

    /// A small deterministic generator (no rand crate needed).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0
        }
        fn pick(&mut self, from: &[u64]) -> u64 {
            from[(self.next() >> 33) as usize % from.len()]
        }
    }

    const INTERESTING: &[u64] = &[
        0,
        1,
        2,
        3,
        8,
        9,
        16,
        0x20000,
        0x2_0000_0000,
        0xFFFF_FFFF,
        0x1_0000_0000,
        0x1_0000_0001,
        0x1_0000_0002,
        0x7E02_0000,
        0xFFFF_FFFF_FFFF_FFFF,
        0x8000_0000_0000_0000,
    ];

    fn check(profile: &LinuxSeccomp, host: &Host) {
        let program = compile_for(profile, host).unwrap().program;
        let mut rng = Lcg(42);
        let mut audit_arches = vec![host.native.audit_arch, 0x4000_0003, 0x4000_0028, 0xDEAD];
        audit_arches.dedup();
        for arch in audit_arches {
            let bases = [0, X32_SYSCALL_BIT];
            for base in bases {
                for nr in (0..600).chain([0x0F_0001, 0x0F_0005, 0xFFFF]) {
                    for _ in 0..4 {
                        let data = SeccompData {
                            nr: base | nr,
                            arch,
                            args: std::array::from_fn(|_| rng.pick(INTERESTING)),
                        };
                        assert_eq!(
                            run(&program, &data),
                            expected(profile, host, &data),
                            "{data:x?}"
                        );
                    }
                }
            }
        }
    }

    fn podman(arch: Arch) -> LinuxSeccomp {
        let json = include_str!("../tests/data/podman-seccomp.json");
        let target = Target {
            caps: &["CAP_SYS_CHROOT".to_owned(), "CAP_KILL".to_owned()],
            arch,
            kernel: KernelVersion { major: 6, minor: 1 },
        };
        to_oci(json, &target).unwrap()
    }

    #[test]
    fn podman_profile_program_matches_the_semantics_on_both_hosts() {
        for arch in [Arch::ScmpArchX86_64, Arch::ScmpArchAarch64] {
            check(&podman(arch), &Host::for_arch(arch));
        }
    }

    #[test]
    fn long_conditional_programs_with_wide_jumps_match_the_semantics() {
        let ops = [
            "SCMP_CMP_NE",
            "SCMP_CMP_LT",
            "SCMP_CMP_LE",
            "SCMP_CMP_EQ",
            "SCMP_CMP_GE",
            "SCMP_CMP_GT",
            "SCMP_CMP_MASKED_EQ",
        ];
        let mut rng = Lcg(7);
        let names = crate::syscalls::X86_64.entries.iter().take(80);
        let rules: Vec<String> = names
            .enumerate()
            .map(|(i, (name, _))| {
                let op = ops[i % ops.len()];
                let (v, v2) = (rng.pick(INTERESTING), rng.pick(INTERESTING));
                let index = if i % 5 == 0 { 0 } else { i % 6 };
                format!(
                    r#"{{"names": ["{name}"], "action": "SCMP_ACT_ERRNO", "errnoRet": {},
                        "args": [{{"index": {index}, "op": "{op}", "value": {v}, "valueTwo": {v2}}},
                                 {{"index": 0, "op": "SCMP_CMP_NE", "value": 3}}]}}"#,
                    i + 1
                )
            })
            .collect();
        let json = format!(
            r#"{{"defaultAction": "SCMP_ACT_KILL_THREAD",
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                "syscalls": [{}]}}"#,
            rules.join(",")
        );
        let profile: LinuxSeccomp = serde_json::from_str(&json).unwrap();
        let host = Host::for_arch(Arch::ScmpArchX86_64);
        let program = compile_for(&profile, &host).unwrap().program;
        assert!(program.len() > 1000);
        assert!(
            program.iter().any(|insn| insn.code == 0x05),
            "no widened jump"
        );
        check(&profile, &host);
    }
}

//! OCI `linux.seccomp` -> classic BPF.
//!
//! Program layout:
//!
//! ```text
//!   A = arch; one `jeq` per listed ABI family, else KILL_PROCESS
//! per family:
//!   A = nr
//!   (x86_64) if nr >= __X32_SYSCALL_BIT goto x32 section, or KILL_PROCESS
//!   binary search on nr over intervals -> leaf: `ret action`, or the
//!   syscall's rules in profile order, each a chain of argument checks
//!   ending in `ret action`, then `ret defaultAction`
//! ```

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
};
use seccompiler::sock_filter;

use crate::Error;
use crate::arch::{Abi, Host, X32_SYSCALL_BIT};
use crate::bpf::{Asm, Cond, Target};
use crate::cmp::{Cmp, emit_cmp};
use crate::error::ErrnoField;

const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
const SECCOMP_RET_KILL_THREAD: u32 = 0x0000_0000;
const SECCOMP_RET_TRAP: u32 = 0x0003_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const SECCOMP_RET_USER_NOTIF: u32 = 0x7FC0_0000;
const SECCOMP_RET_TRACE: u32 = 0x7FF0_0000;
const SECCOMP_RET_LOG: u32 = 0x7FFC_0000;
const SECCOMP_RET_ALLOW: u32 = 0x7FFF_0000;

pub(crate) const SECCOMP_FILTER_FLAG_TSYNC: u32 = 1 << 0;
const SECCOMP_FILTER_FLAG_LOG: u32 = 1 << 1;
const SECCOMP_FILTER_FLAG_SPEC_ALLOW: u32 = 1 << 2;
pub(crate) const SECCOMP_FILTER_FLAG_NEW_LISTENER: u32 = 1 << 3;
pub(crate) const SECCOMP_FILTER_FLAG_TSYNC_ESRCH: u32 = 1 << 4;
const SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: u32 = 1 << 5;

/// Offsets in `struct seccomp_data`.
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;

/// Highest syscall argument index.
const MAX_ARG_INDEX: usize = 5;

/// The output of [`compile_for`].
pub(crate) struct Compiled {
    pub(crate) program: Vec<sock_filter>,
    pub(crate) flags: u32,
    pub(crate) needs_listener: bool,
    pub(crate) unknown_syscalls: Vec<String>,
}

/// A rule for one syscall: all comparisons must hold for `action`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    action: u32,
    cmps: Vec<Cmp>,
}

/// What a range of syscall numbers does.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Block<'r> {
    Ret(u32),
    Rules(Vec<&'r Rule>),
}

/// The actions for syscall numbers without a rule.
#[derive(Debug, Clone, Copy)]
struct Actions {
    /// The profile's default action.
    default: u32,
    /// For numbers above the highest syscall the profile names: `ENOSYS`
    /// when the default action denies (runc's -ENOSYS stub), so that libc
    /// falls back from syscalls newer than the profile (e.g. `clone3`).
    beyond_last: u32,
}

impl Actions {
    fn new(profile: &LinuxSeccomp, default: u32) -> Self {
        use LinuxSeccompAction as A;
        let permissive = matches!(
            profile.default_action(),
            A::ScmpActAllow | A::ScmpActLog | A::ScmpActTrace | A::ScmpActNotify
        );
        let enosys = SECCOMP_RET_ERRNO | libc::ENOSYS.unsigned_abs();
        Self {
            default,
            beyond_last: if permissive { default } else { enosys },
        }
    }
}

/// Compiles `profile` for the ABIs of `host`.
pub(crate) fn compile_for(profile: &LinuxSeccomp, host: &Host) -> Result<Compiled, Error> {
    let default = action_value(
        profile.default_action(),
        profile.default_errno_ret(),
        ErrnoField::Default,
    )?;
    if profile.default_action() == LinuxSeccompAction::ScmpActNotify {
        return Err(Error::NotifyDefaultAction);
    }
    let rules = rules(profile)?;
    let needs_listener = check_listener(profile)?;
    let abis = abis(profile, host)?;
    let actions = Actions::new(profile, default);

    let mut asm = Asm::default();
    let mut unknown_syscalls = Vec::new();
    let families: Vec<Vec<Abi>> = group_by_audit_arch(&abis);
    let labels: Vec<usize> = families.iter().map(|_| asm.label()).collect();
    asm.load(DATA_ARCH);
    for (family, label) in families.iter().zip(&labels) {
        asm.jump(
            Cond::Eq,
            family[0].audit_arch,
            Target::Label(*label),
            Target::Next,
        );
    }
    asm.ret(SECCOMP_RET_KILL_PROCESS);
    for (family, label) in families.iter().zip(&labels) {
        asm.bind(*label);
        asm.load(DATA_NR);
        emit_family(
            &mut asm,
            family,
            host,
            &rules,
            actions,
            &mut unknown_syscalls,
        );
    }
    Ok(Compiled {
        program: asm.assemble()?,
        flags: flags(profile, needs_listener),
        needs_listener,
        unknown_syscalls,
    })
}

/// A profile entry: its syscall names and the rules they get.
type Entry<'a> = (&'a [String], Vec<Rule>);

/// The profile's rules with their syscall names, in profile order.
fn rules(profile: &LinuxSeccomp) -> Result<Vec<Entry<'_>>, Error> {
    let syscalls = profile.syscalls().as_deref().unwrap_or_default();
    syscalls
        .iter()
        .enumerate()
        .map(|(i, syscall)| {
            if syscall.names().is_empty() {
                return Err(Error::EmptyNames { rule: i });
            }
            let action = action_value(syscall.action(), syscall.errno_ret(), ErrnoField::Rule(i))?;
            let args = syscall.args().as_deref().unwrap_or_default();
            let cmps = args
                .iter()
                .enumerate()
                .map(|(arg, a)| cmp(i, arg, a))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((syscall.names().as_slice(), split_same_index(action, cmps)))
        })
        .collect()
}

/// runc's rule for several comparisons of the same argument in one rule:
/// libseccomp cannot AND them, so each comparison becomes a rule of its own
/// (the rule then matches when any of them holds). Otherwise all are ANDed.
fn split_same_index(action: u32, cmps: Vec<Cmp>) -> Vec<Rule> {
    let repeated = cmps
        .iter()
        .enumerate()
        .any(|(i, a)| cmps[..i].iter().any(|b| b.index == a.index));
    if repeated {
        cmps.into_iter()
            .map(|c| Rule {
                action,
                cmps: vec![c],
            })
            .collect()
    } else {
        vec![Rule { action, cmps }]
    }
}

fn cmp(rule: usize, arg: usize, a: &LinuxSeccompArg) -> Result<Cmp, Error> {
    let index = a.index();
    if index > MAX_ARG_INDEX {
        return Err(Error::ArgIndex { rule, arg, index });
    }
    Ok(Cmp {
        index: u32::try_from(index).unwrap_or_default(),
        op: a.op(),
        value: a.value(),
        value_two: a.value_two().unwrap_or_default(),
    })
}

/// The seccomp return value of an action. `errno_ret` (EPERM when absent,
/// as in runc) is the data of `SCMP_ACT_ERRNO` and `SCMP_ACT_TRACE`; other
/// actions reject it.
pub(crate) fn action_value(
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    field: ErrnoField,
) -> Result<u32, Error> {
    use LinuxSeccompAction as A;
    let with_data = |base: u32| {
        let value = errno_ret.unwrap_or(libc::EPERM.unsigned_abs());
        match value {
            0..=0xFFFF => Ok(base | value),
            _ => Err(Error::ErrnoRetRange { field, value }),
        }
    };
    match action {
        A::ScmpActErrno => return with_data(SECCOMP_RET_ERRNO),
        A::ScmpActTrace => return with_data(SECCOMP_RET_TRACE),
        _ if errno_ret.is_some() => {
            return Err(match field {
                ErrnoField::Default => Error::DefaultErrnoRet { action },
                ErrnoField::Rule(rule) => Error::RuleErrnoRet { rule, action },
            });
        }
        _ => {}
    }
    Ok(match action {
        A::ScmpActKill | A::ScmpActKillThread => SECCOMP_RET_KILL_THREAD,
        A::ScmpActKillProcess => SECCOMP_RET_KILL_PROCESS,
        A::ScmpActTrap => SECCOMP_RET_TRAP,
        A::ScmpActNotify => SECCOMP_RET_USER_NOTIF,
        A::ScmpActLog => SECCOMP_RET_LOG,
        A::ScmpActErrno | A::ScmpActTrace | A::ScmpActAllow => SECCOMP_RET_ALLOW,
    })
}

/// Checks `listenerPath` against the notify rules; true when the filter
/// needs a listener.
fn check_listener(profile: &LinuxSeccomp) -> Result<bool, Error> {
    let syscalls = profile.syscalls().as_deref().unwrap_or_default();
    let notify = syscalls
        .iter()
        .position(|s| s.action() == LinuxSeccompAction::ScmpActNotify);
    if profile.listener_metadata().is_some() && profile.listener_path().is_none() {
        return Err(Error::MetadataWithoutListenerPath);
    }
    // Without a notify rule the spec has listenerPath ignored.
    match (notify, profile.listener_path().is_some()) {
        (Some(rule), false) => Err(Error::NotifyWithoutListenerPath { rule }),
        (notify, _) => Ok(notify.is_some()),
    }
}

/// The listed ABIs, the native one first and always.
fn abis(profile: &LinuxSeccomp, host: &Host) -> Result<Vec<Abi>, Error> {
    let mut abis = vec![host.native];
    for arch in profile.architectures().as_deref().unwrap_or_default() {
        let abi = host.abi(*arch)?;
        if !abis.contains(&abi) {
            abis.push(abi);
        }
    }
    Ok(abis)
}

/// ABIs sharing an `AUDIT_ARCH_*` value (x86_64 and x32), native first.
fn group_by_audit_arch(abis: &[Abi]) -> Vec<Vec<Abi>> {
    let mut families: Vec<Vec<Abi>> = Vec::new();
    for abi in abis {
        match families
            .iter_mut()
            .find(|f| f[0].audit_arch == abi.audit_arch)
        {
            Some(family) => family.push(*abi),
            None => families.push(vec![*abi]),
        }
    }
    for family in &mut families {
        family.sort_by_key(|abi| abi.first_nr);
    }
    families
}

fn flags(profile: &LinuxSeccomp, needs_listener: bool) -> u32 {
    let mut flags = 0;
    for flag in profile.flags().as_deref().unwrap_or_default() {
        flags |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            // Only meaningful for a listener; the kernel rejects it without one.
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv if needs_listener => {
                SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => 0,
        };
    }
    if needs_listener {
        flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
        // The kernel takes TSYNC with NEW_LISTENER only in ESRCH mode, where
        // a failed sync is an error instead of a thread id.
        if flags & SECCOMP_FILTER_FLAG_TSYNC != 0 {
            flags |= SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
        }
    }
    flags
}

/// Emits the code of ABIs sharing one `AUDIT_ARCH_*`, with `A = nr`.
fn emit_family(
    asm: &mut Asm,
    family: &[Abi],
    host: &Host,
    rules: &[Entry<'_>],
    actions: Actions,
    unknown: &mut Vec<String>,
) {
    let needs_x32_split = family[0].arch == Arch::ScmpArchX86_64;
    let split = asm.label();
    if needs_x32_split {
        // x32 calls must never be matched against the x86_64 table.
        asm.jump(
            Cond::Ge,
            X32_SYSCALL_BIT,
            Target::Label(split),
            Target::Next,
        );
    }
    for (i, abi) in family.iter().enumerate() {
        if i == 1 {
            asm.bind(split);
        }
        let record = (abi.arch == host.native.arch).then_some(&mut *unknown);
        let intervals = intervals(abi, rules, actions, record);
        emit_tree(asm, &intervals, abi.narrow_args, actions.default);
    }
    if needs_x32_split && family.len() == 1 {
        asm.bind(split);
        asm.ret(SECCOMP_RET_KILL_PROCESS);
    }
}

/// The syscall numbers of `abi` partitioned into `(first number, block)`
/// intervals, adjacent equal blocks merged. Names missing from the ABI's
/// table are skipped, and recorded in `unknown` when given.
fn intervals<'r>(
    abi: &Abi,
    rules: &'r [Entry<'_>],
    actions: Actions,
    mut unknown: Option<&mut Vec<String>>,
) -> Vec<(u32, Block<'r>)> {
    // (number, rule) for every name the ABI knows, in profile order.
    let mut by_nr: Vec<(u32, &'r Rule)> = Vec::new();
    for (names, name_rules) in rules {
        for name in names.iter() {
            match abi.table.lookup(name) {
                Some(nr) => by_nr.extend(name_rules.iter().map(|rule| (nr, rule))),
                None => {
                    if let Some(unknown) = unknown.as_deref_mut()
                        && !unknown.contains(name)
                    {
                        unknown.push(name.clone());
                    }
                }
            }
        }
    }
    // Stable: the rules of one syscall keep their profile order.
    by_nr.sort_by_key(|(nr, _)| *nr);
    let mut intervals = vec![(abi.first_nr, Block::Ret(actions.default))];
    let last = by_nr.last().map(|(nr, _)| *nr);
    for group in by_nr.chunk_by(|a, b| a.0 == b.0) {
        let nr = group[0].0;
        push_interval(&mut intervals, nr, block(group));
        if let Some(next) = nr.checked_add(1) {
            let gap = if Some(nr) == last {
                actions.beyond_last
            } else {
                actions.default
            };
            push_interval(&mut intervals, next, Block::Ret(gap));
        }
    }
    intervals
}

/// libseccomp's precedence: an unconditional rule decides the syscall (the
/// first one if several), otherwise the conditional rules are tried in
/// profile order.
fn block<'r>(rules: &[(u32, &'r Rule)]) -> Block<'r> {
    match rules.iter().find(|(_, r)| r.cmps.is_empty()) {
        Some((_, rule)) => Block::Ret(rule.action),
        None => Block::Rules(rules.iter().map(|(_, rule)| *rule).collect()),
    }
}

fn push_interval<'r>(intervals: &mut Vec<(u32, Block<'r>)>, start: u32, block: Block<'r>) {
    match intervals.last_mut() {
        Some(last) if last.0 == start => last.1 = block,
        _ => intervals.push((start, block)),
    }
    let n = intervals.len();
    if n >= 2 && intervals[n - 2].1 == intervals[n - 1].1 {
        intervals.pop();
    }
}

/// Binary search over the intervals' first numbers, `A = nr`.
fn emit_tree(asm: &mut Asm, intervals: &[(u32, Block)], narrow: bool, default: u32) {
    match intervals {
        [] => asm.ret(default),
        [(_, block)] => emit_block(asm, block, narrow, default),
        _ => {
            let mid = intervals.len() / 2;
            let right = asm.label();
            asm.jump(
                Cond::Ge,
                intervals[mid].0,
                Target::Label(right),
                Target::Next,
            );
            emit_tree(asm, &intervals[..mid], narrow, default);
            asm.bind(right);
            emit_tree(asm, &intervals[mid..], narrow, default);
        }
    }
}

fn emit_block(asm: &mut Asm, block: &Block, narrow: bool, default: u32) {
    match block {
        Block::Ret(action) => asm.ret(*action),
        Block::Rules(rules) => {
            for rule in rules {
                let fail = asm.label();
                for cmp in &rule.cmps {
                    emit_cmp(asm, cmp, narrow, Target::Label(fail));
                }
                asm.ret(rule.action);
                asm.bind(fail);
            }
            asm.ret(default);
        }
    }
}

//! Argument comparisons on the real kernel: getpid ignores its arguments but
//! seccomp sees them, so a rule that returns an errno when the comparison
//! holds shows whether it held.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{INSTALL_FAILED, assert_exit_ok, filter, getpid_with, in_child};

/// Expected result of getpid: the pid, or an errno from a rule.
#[derive(Clone, Copy)]
enum Expect {
    Allowed,
    Errno(i64),
}

/// Installs `rules` (JSON array of getpid rules, default allow) and checks
/// each case in one child. The child exits with the 1-based index of the
/// first case that failed.
fn check(rules: &str, cases: &[([u64; 6], Expect)]) {
    let f = filter(&format!(
        r#"{{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": {rules}}}"#
    ));
    let status = in_child(|| {
        // Before the filter: getpid itself is what the rules filter.
        let pid = i64::from(nix::unistd::getpid().as_raw());
        if f.install().is_err() {
            return INSTALL_FAILED;
        }
        for (i, (args, expect)) in cases.iter().enumerate() {
            let want = match expect {
                Expect::Allowed => pid,
                Expect::Errno(errno) => -errno,
            };
            if getpid_with(*args) != want {
                return i32::try_from(i + 1).unwrap_or(255);
            }
        }
        0
    });
    assert_exit_ok(status);
}

fn one(op: &str, value: u64, value_two: u64) -> String {
    format!(
        r#"[{{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
              "args": [{{"index": 0, "op": "{op}", "value": {value}, "valueTwo": {value_two}}}]}}]"#
    )
}

fn a0(value: u64) -> [u64; 6] {
    [value, 0, 0, 0, 0, 0]
}

const HIT: Expect = Expect::Errno(1);
const MISS: Expect = Expect::Allowed;

#[test]
fn eq_and_ne_compare_both_32_bit_halves() {
    let v = 0x1_0000_0002;
    let cases = [
        (a0(v), HIT),
        (a0(2), MISS),
        (a0(0x1_0000_0003), MISS),
        (a0(0x2_0000_0002), MISS),
    ];
    check(&one("SCMP_CMP_EQ", v, 0), &cases);
    let flipped = cases.map(|(a, e)| {
        (
            a,
            if matches!(e, Expect::Allowed) {
                HIT
            } else {
                MISS
            },
        )
    });
    check(&one("SCMP_CMP_NE", v, 0), &flipped);
}

#[test]
fn gt_and_ge_at_their_edges() {
    let v = 0x1_0000_0000;
    check(
        &one("SCMP_CMP_GT", v, 0),
        &[
            (a0(v), MISS),
            (a0(v + 1), HIT),
            (a0(v - 1), MISS),
            (a0(0x2_0000_0000), HIT),
            (a0(u64::MAX), HIT),
            (a0(0), MISS),
        ],
    );
    check(
        &one("SCMP_CMP_GE", v, 0),
        &[
            (a0(v), HIT),
            (a0(v - 1), MISS),
            (a0(v + 1), HIT),
            (a0(u64::MAX), HIT),
        ],
    );
}

#[test]
fn lt_and_le_at_their_edges() {
    let v = 0x1_0000_0005;
    check(
        &one("SCMP_CMP_LT", v, 0),
        &[
            (a0(v), MISS),
            (a0(v - 1), HIT),
            (a0(5), HIT),
            (a0(6), HIT),
            (a0(0), HIT),
            (a0(0x1_0000_0006), MISS),
            (a0(0x2_0000_0000), MISS),
            (a0(u64::MAX), MISS),
        ],
    );
    check(
        &one("SCMP_CMP_LE", v, 0),
        &[
            (a0(v), HIT),
            (a0(v + 1), MISS),
            (a0(v - 1), HIT),
            (a0(0x2_0000_0004), MISS),
        ],
    );
}

#[test]
fn masked_eq_tests_the_masked_bits_of_both_halves() {
    let mask = 0xFF00_0000_0000_00FF;
    let datum = 0x1200_0000_0000_0034;
    check(
        &one("SCMP_CMP_MASKED_EQ", mask, datum),
        &[
            (a0(datum), HIT),
            (a0(0x12AB_CDEF_0123_4534), HIT),
            (a0(0x1300_0000_0000_0034), MISS),
            (a0(0x1200_0000_0000_0035), MISS),
            (a0(0), MISS),
        ],
    );
}

#[test]
fn comparisons_of_one_rule_on_different_args_are_anded() {
    let rule = r#"[{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "args": [
        {"index": 0, "op": "SCMP_CMP_EQ", "value": 1},
        {"index": 5, "op": "SCMP_CMP_EQ", "value": 2}]}]"#;
    check(
        rule,
        &[
            ([1, 0, 0, 0, 0, 2], HIT),
            ([1, 0, 0, 0, 0, 3], MISS),
            ([0, 0, 0, 0, 0, 2], MISS),
        ],
    );
}

#[test]
fn comparisons_of_one_rule_on_the_same_arg_are_ored_as_in_runc() {
    let rule = r#"[{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "args": [
        {"index": 0, "op": "SCMP_CMP_EQ", "value": 1},
        {"index": 0, "op": "SCMP_CMP_EQ", "value": 2}]}]"#;
    check(rule, &[(a0(1), HIT), (a0(2), HIT), (a0(3), MISS)]);
}

#[test]
fn conditional_rules_of_one_syscall_keep_their_own_actions() {
    let rules = r#"[
        {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 10,
         "args": [{"index": 0, "op": "SCMP_CMP_EQ", "value": 1}]},
        {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 11,
         "args": [{"index": 1, "op": "SCMP_CMP_GE", "value": 100}]}]"#;
    check(
        rules,
        &[
            ([1, 0, 0, 0, 0, 0], Expect::Errno(10)),
            ([0, 100, 0, 0, 0, 0], Expect::Errno(11)),
            ([1, 100, 0, 0, 0, 0], Expect::Errno(10)),
            ([0, 99, 0, 0, 0, 0], MISS),
        ],
    );
}

#[test]
fn an_unconditional_rule_overrides_conditional_ones() {
    let rules = r#"[
        {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 10,
         "args": [{"index": 0, "op": "SCMP_CMP_EQ", "value": 1}]},
        {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 11}]"#;
    check(
        rules,
        &[(a0(1), Expect::Errno(11)), (a0(0), Expect::Errno(11))],
    );
}

//! Code for one argument comparison. Arguments are 64-bit in
//! `seccomp_data` and classic BPF compares 32-bit words, so a comparison
//! tests the high halves first and the low halves only when the high ones
//! cannot decide. On 32-bit ABIs only the low halves are compared.

use oci_spec::runtime::LinuxSeccompOperator as Op;

use crate::bpf::{Asm, Cond, Target};

/// Offset of `args[0]` in `struct seccomp_data`.
const DATA_ARGS: u32 = 16;

/// One validated argument comparison of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cmp {
    /// Argument index, 0..=5.
    pub(crate) index: u32,
    /// The operator.
    pub(crate) op: Op,
    /// The operand (the mask for `SCMP_CMP_MASKED_EQ`).
    pub(crate) value: u64,
    /// The datum of `SCMP_CMP_MASKED_EQ`.
    pub(crate) value_two: u64,
}

/// Where a test goes: the argument's words and the two exits.
struct Test {
    low: u32,
    high: u32,
    narrow: bool,
    if_true: Target,
    if_false: Target,
}

/// Falls through when `cmp` holds, jumps to `fail` otherwise. Comparisons
/// are unsigned, as in libseccomp.
pub(crate) fn emit_cmp(asm: &mut Asm, cmp: &Cmp, narrow: bool, fail: Target) {
    let pass = asm.label();
    let low = DATA_ARGS + 8 * cmp.index;
    let test = |if_true, if_false| Test {
        low,
        high: low + 4,
        narrow,
        if_true,
        if_false,
    };
    let (holds, fails) = (Target::Label(pass), fail);
    match cmp.op {
        Op::ScmpCmpEq => equal(asm, &test(holds, fails), u64::MAX, cmp.value),
        Op::ScmpCmpNe => equal(asm, &test(fails, holds), u64::MAX, cmp.value),
        Op::ScmpCmpMaskedEq => equal(asm, &test(holds, fails), cmp.value, cmp.value_two),
        Op::ScmpCmpGt => above(asm, &test(holds, fails), Cond::Gt, cmp.value),
        Op::ScmpCmpGe => above(asm, &test(holds, fails), Cond::Ge, cmp.value),
        // a < v is !(a >= v), a <= v is !(a > v).
        Op::ScmpCmpLt => above(asm, &test(fails, holds), Cond::Ge, cmp.value),
        Op::ScmpCmpLe => above(asm, &test(fails, holds), Cond::Gt, cmp.value),
    }
    asm.bind(pass);
}

/// `(arg & mask) == datum`.
fn equal(asm: &mut Asm, test: &Test, mask: u64, datum: u64) {
    let (mask_hi, mask_lo) = halves(mask);
    let (datum_hi, datum_lo) = halves(datum);
    if !test.narrow {
        load_masked(asm, test.high, mask_hi);
        asm.jump(Cond::Eq, datum_hi, Target::Next, test.if_false);
    }
    load_masked(asm, test.low, mask_lo);
    asm.jump(Cond::Eq, datum_lo, test.if_true, test.if_false);
}

/// `arg > value` (`Cond::Gt`) or `arg >= value` (`Cond::Ge`): a larger high
/// half decides for, a smaller one against, an equal one defers to `cond`
/// on the low halves.
fn above(asm: &mut Asm, test: &Test, cond: Cond, value: u64) {
    let (value_hi, value_lo) = halves(value);
    if !test.narrow {
        asm.load(test.high);
        asm.jump(Cond::Gt, value_hi, test.if_true, Target::Next);
        asm.jump(Cond::Eq, value_hi, Target::Next, test.if_false);
    }
    asm.load(test.low);
    asm.jump(cond, value_lo, test.if_true, test.if_false);
}

fn load_masked(asm: &mut Asm, offset: u32, mask: u32) {
    asm.load(offset);
    if mask != u32::MAX {
        asm.and(mask);
    }
}

fn halves(value: u64) -> (u32, u32) {
    ((value >> 32) as u32, value as u32)
}

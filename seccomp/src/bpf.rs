//! A tiny classic-BPF assembler: forward labels, and conditional jumps that
//! are widened through `ja` trampolines when their target lies beyond the
//! 255 instructions an 8-bit offset reaches.

use seccompiler::sock_filter;

use crate::Error;

// Opcodes from <linux/bpf_common.h>: BPF_LD | BPF_W | BPF_ABS, ...
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_ALU_AND_K: u16 = 0x04 | 0x50;
const BPF_JMP_JA: u16 = 0x05;
const BPF_RET_K: u16 = 0x06;

/// Kernel limit on the length of a seccomp program (`BPF_MAXINSNS`).
pub(crate) const MAX_INSTRUCTIONS: usize = 4096;

/// Conditional jump comparing the accumulator with a constant.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Cond {
    /// `A == k`
    Eq = 0x05 | 0x10,
    /// `A > k` (unsigned)
    Gt = 0x05 | 0x20,
    /// `A >= k` (unsigned)
    Ge = 0x05 | 0x30,
}

/// Where a jump goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// The instruction that follows.
    Next,
    /// A label bound later with [`Asm::bind`].
    Label(usize),
}

#[derive(Clone, Copy)]
enum Item {
    Insn {
        code: u16,
        k: u32,
    },
    Jump {
        cond: Cond,
        k: u32,
        jt: Target,
        jf: Target,
    },
    Bind(usize),
}

/// An instruction list with symbolic forward jumps.
#[derive(Default)]
pub(crate) struct Asm {
    items: Vec<Item>,
    labels: usize,
}

impl Asm {
    /// A fresh, unbound label.
    pub(crate) fn label(&mut self) -> usize {
        self.labels += 1;
        self.labels - 1
    }

    /// Binds `label` to the next instruction.
    pub(crate) fn bind(&mut self, label: usize) {
        self.items.push(Item::Bind(label));
    }

    /// `A = *(u32 *)(seccomp_data + offset)`
    pub(crate) fn load(&mut self, offset: u32) {
        self.insn(BPF_LD_W_ABS, offset);
    }

    /// `A &= k`
    pub(crate) fn and(&mut self, k: u32) {
        self.insn(BPF_ALU_AND_K, k);
    }

    /// `return k`
    pub(crate) fn ret(&mut self, k: u32) {
        self.insn(BPF_RET_K, k);
    }

    /// `if A <cond> k goto jt else goto jf`
    pub(crate) fn jump(&mut self, cond: Cond, k: u32, jt: Target, jf: Target) {
        self.items.push(Item::Jump { cond, k, jt, jf });
    }

    fn insn(&mut self, code: u16, k: u32) {
        self.items.push(Item::Insn { code, k });
    }

    /// Resolves the labels into a program.
    pub(crate) fn assemble(&self) -> Result<Vec<sock_filter>, Error> {
        let mut wide = vec![false; self.items.len()];
        let (positions, labels) = loop {
            let (positions, labels) = self.layout(&wide);
            let mut widened = false;
            for (i, item) in self.items.iter().enumerate() {
                if let Item::Jump { jt, jf, .. } = *item {
                    let from = positions[i] + 1;
                    let far = |t| distance(from, resolve(t, from, &labels)) > 255;
                    if !wide[i] && (far(jt) || far(jf)) {
                        wide[i] = true;
                        widened = true;
                    }
                }
            }
            if !widened {
                break (positions, labels);
            }
        };
        let len = positions.last().copied().unwrap_or(0);
        if len > MAX_INSTRUCTIONS {
            return Err(Error::ProgramTooLarge { instructions: len });
        }
        let mut program = Vec::with_capacity(len);
        for (i, item) in self.items.iter().enumerate() {
            let (at, next) = (positions[i], positions[i + 1]);
            match *item {
                Item::Insn { code, k } => program.push(sock_filter {
                    code,
                    jt: 0,
                    jf: 0,
                    k,
                }),
                Item::Bind(_) => {}
                Item::Jump { cond, k, jt, jf } if wide[i] => {
                    program.push(jcond(cond, k, 0, 1));
                    program.push(ja(distance(at + 2, resolve(jt, next, &labels))));
                    program.push(ja(distance(at + 3, resolve(jf, next, &labels))));
                }
                Item::Jump { cond, k, jt, jf } => {
                    let near = |t| u8::try_from(distance(next, resolve(t, next, &labels)));
                    program.push(jcond(cond, k, near(jt).unwrap_or(0), near(jf).unwrap_or(0)));
                }
            }
        }
        Ok(program)
    }

    /// Start position of each item (plus the total length at the end) and
    /// the position of each label.
    fn layout(&self, wide: &[bool]) -> (Vec<usize>, Vec<usize>) {
        let mut positions = Vec::with_capacity(self.items.len() + 1);
        let mut labels = vec![0; self.labels];
        let mut at = 0;
        for (i, item) in self.items.iter().enumerate() {
            positions.push(at);
            at += match item {
                Item::Bind(label) => {
                    labels[*label] = at;
                    0
                }
                Item::Jump { .. } if wide[i] => 3,
                Item::Jump { .. } | Item::Insn { .. } => 1,
            };
        }
        positions.push(at);
        (positions, labels)
    }
}

/// Absolute position of `target` for a jump whose next instruction is `next`.
fn resolve(target: Target, next: usize, labels: &[usize]) -> usize {
    match target {
        Target::Next => next,
        Target::Label(label) => labels[label],
    }
}

/// Jump offset from `from` (the instruction after the jump) to `to`. Every
/// jump this crate emits goes forward.
fn distance(from: usize, to: usize) -> u32 {
    debug_assert!(to >= from, "backward jump");
    u32::try_from(to.saturating_sub(from)).unwrap_or(u32::MAX)
}

fn jcond(cond: Cond, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter {
        code: cond as u16,
        jt,
        jf,
        k,
    }
}

fn ja(k: u32) -> sock_filter {
    sock_filter {
        code: BPF_JMP_JA,
        jt: 0,
        jf: 0,
        k,
    }
}

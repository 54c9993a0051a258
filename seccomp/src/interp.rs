//! A classic-BPF interpreter for the instructions this crate emits, so that
//! unit tests can run compiled programs for any host architecture.

use seccompiler::sock_filter;

/// `struct seccomp_data`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SeccompData {
    pub(crate) nr: u32,
    pub(crate) arch: u32,
    pub(crate) args: [u64; 6],
}

impl SeccompData {
    fn word(&self, offset: u32) -> u32 {
        match offset {
            0 => self.nr,
            4 => self.arch,
            16..=63 => {
                let arg = self.args[((offset - 16) / 8) as usize];
                if offset % 8 == 0 {
                    arg as u32
                } else {
                    (arg >> 32) as u32
                }
            }
            _ => panic!("load outside seccomp_data (or of the ip) at {offset}"),
        }
    }
}

/// Runs `program` on `data` and returns the seccomp action.
pub(crate) fn run(program: &[sock_filter], data: &SeccompData) -> u32 {
    let (mut pc, mut a) = (0usize, 0u32);
    loop {
        let insn = &program[pc];
        pc += 1;
        let cond = |taken: bool| if taken { insn.jt } else { insn.jf } as usize;
        match insn.code {
            0x20 => a = data.word(insn.k),
            0x54 => a &= insn.k,
            0x05 => pc += insn.k as usize,
            0x15 => pc += cond(a == insn.k),
            0x25 => pc += cond(a > insn.k),
            0x35 => pc += cond(a >= insn.k),
            0x06 => return insn.k,
            code => panic!("unexpected opcode {code:#x}"),
        }
    }
}

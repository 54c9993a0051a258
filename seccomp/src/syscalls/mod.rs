//! Syscall name tables, generated from the kernel's uapi headers by
//! `seccomp/tools/gen_syscalls.py` (see that script for the sources).

mod aarch64;
mod arm;
mod x32;
mod x86;
mod x86_64;

/// One ABI's syscall names and numbers, with a hash index for lookups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Table {
    /// `(name, number)` sorted by name.
    pub(crate) entries: &'static [(&'static str, u32)],
    /// Open-addressing slots (power-of-two length): position in `entries`
    /// plus one, 0 for an empty slot.
    index: &'static [u16],
}

pub(crate) const X86_64: Table = Table {
    entries: x86_64::ENTRIES,
    index: x86_64::INDEX,
};
pub(crate) const X32: Table = Table {
    entries: x32::ENTRIES,
    index: x32::INDEX,
};
pub(crate) const X86: Table = Table {
    entries: x86::ENTRIES,
    index: x86::INDEX,
};
pub(crate) const AARCH64: Table = Table {
    entries: aarch64::ENTRIES,
    index: aarch64::INDEX,
};
pub(crate) const ARM: Table = Table {
    entries: arm::ENTRIES,
    index: arm::INDEX,
};

/// 32-bit FNV-1a, the hash the generator built the index with.
fn fnv1a(name: &str) -> u32 {
    name.bytes().fold(0x811C_9DC5, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

impl Table {
    /// The number of syscall `name`.
    pub(crate) fn lookup(&self, name: &str) -> Option<u32> {
        let mask = self.index.len().checked_sub(1)?;
        let mut slot = fnv1a(name) as usize & mask;
        for _ in 0..self.index.len() {
            let position = usize::from(*self.index.get(slot)?).checked_sub(1)?;
            let (entry, nr) = self.entries.get(position)?;
            if *entry == name {
                return Some(*nr);
            }
            slot = (slot + 1) & mask;
        }
        None
    }
}

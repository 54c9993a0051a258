//! Syscall name tables, generated from the kernel's uapi headers by
//! `seccomp/tools/gen_syscalls.py` (see that script for the sources).

pub(crate) mod aarch64;
pub(crate) mod arm;
pub(crate) mod x32;
pub(crate) mod x86;
pub(crate) mod x86_64;

/// Number of `name` in a table sorted by name.
pub(crate) fn lookup(table: &[(&str, u32)], name: &str) -> Option<u32> {
    table
        .binary_search_by(|(entry, _)| (*entry).cmp(name))
        .ok()
        .map(|i| table[i].1)
}

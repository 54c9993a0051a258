//! Prints the BPF program compiled from a `linux.seccomp` JSON file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

fn main() {
    let path = std::env::args().nth(1).expect("usage: dump PROFILE.json");
    let json = std::fs::read_to_string(path).unwrap();
    let filter = gorae_seccomp::compile(&gorae_seccomp::parse_profile(&json).unwrap()).unwrap();
    for (i, insn) in filter.program().iter().enumerate() {
        println!(
            "{i:4}: code={:#06x} jt={:3} jf={:3} k={:#x}",
            insn.code, insn.jt, insn.jf, insn.k
        );
    }
}

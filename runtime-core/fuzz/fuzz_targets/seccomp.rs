//! A `linux.seccomp` profile as gorae compiles it before the clone: parsed
//! with `parse_profile`, compiled for the host with `compile`. The filter is
//! never installed here. Whatever compiles must be a program the kernel's
//! classic-BPF and seccomp checks accept (`bpf_check_classic`,
//! `seccomp_check_filter`): otherwise the container's init would fail at its
//! last step instead of `create` failing up front. Every error must print.
#![no_main]

use gorae_seccomp::Filter;
use libfuzzer_sys::fuzz_target;

/// `sizeof(struct seccomp_data)`: what `BPF_LD|BPF_W|BPF_ABS` may read.
const SECCOMP_DATA_SIZE: u32 = 64;
/// `BPF_MAXINSNS`.
const MAX_INSTRUCTIONS: usize = 4096;

const LD_W_ABS: u16 = 0x20;
const ALU_AND_K: u16 = 0x54;
const JMP_JA: u16 = 0x05;
const JMP_JEQ_K: u16 = 0x15;
const JMP_JGT_K: u16 = 0x25;
const JMP_JGE_K: u16 = 0x35;
const JMP_JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;

/// Why the kernel would refuse `filter`, if it would.
fn kernel_refusal(filter: &Filter) -> Option<String> {
    let program = filter.program();
    if program.is_empty() || program.len() > MAX_INSTRUCTIONS {
        return Some(format!("{} instructions", program.len()));
    }
    for (pc, insn) in program.iter().enumerate() {
        let left = program.len() - pc - 1;
        let bad = match insn.code {
            LD_W_ABS => insn.k >= SECCOMP_DATA_SIZE || insn.k % 4 != 0,
            ALU_AND_K | RET_K => false,
            JMP_JA => insn.k as usize >= left,
            JMP_JEQ_K | JMP_JGT_K | JMP_JGE_K | JMP_JSET_K => {
                insn.jt as usize >= left || insn.jf as usize >= left
            }
            _ => true,
        };
        if bad {
            return Some(format!("instruction {pc} of {}: {insn:?}", program.len()));
        }
    }
    let last = program.last().map(|i| i.code);
    (last != Some(RET_K)).then(|| format!("the last instruction is {last:?}, not a return"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let profile = match gorae_seccomp::parse_profile(text) {
        Ok(profile) => profile,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    match gorae_seccomp::compile(&profile) {
        Ok(filter) => {
            if let Some(why) = kernel_refusal(&filter) {
                panic!("compiled a program the kernel refuses: {why}");
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});

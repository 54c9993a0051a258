//! Prints compile time and instruction count for podman's default profile:
//! `cargo run --release -p gorae-seccomp --example podman_bench`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use gorae_seccomp::engine_profile::{KernelVersion, Target, to_oci};
use oci_spec::runtime::Arch;

const PODMAN_PROFILE: &str = include_str!("../tests/data/podman-seccomp.json");

fn main() {
    let caps: Vec<String> = include_str!("../tests/data/podman-default-caps.txt")
        .lines()
        .map(str::to_owned)
        .collect();
    let arch = if cfg!(target_arch = "aarch64") {
        Arch::ScmpArchAarch64
    } else {
        Arch::ScmpArchX86_64
    };
    let target = Target {
        caps: &caps,
        arch,
        kernel: KernelVersion::current().unwrap(),
    };
    let start = Instant::now();
    let profile = to_oci(PODMAN_PROFILE, &target).unwrap();
    let converted = start.elapsed();
    let start = Instant::now();
    let filter = gorae_seccomp::compile(&profile).unwrap();
    let first = start.elapsed();
    const RUNS: u32 = 1000;
    let start = Instant::now();
    for _ in 0..RUNS {
        gorae_seccomp::compile(&profile).unwrap();
    }
    let mean = start.elapsed() / RUNS;
    println!(
        "podman default profile: convert {converted:?}, first compile {first:?}, \
         mean compile {mean:?} over {RUNS}, {} instructions",
        filter.instruction_count()
    );
}

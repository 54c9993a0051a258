//! The crate's examples do what their docs say, on real containers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// target/<profile>/examples/<name>, next to this test's own binary.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} not built (cargo test builds examples)",
        path.display()
    );
    path
}

#[test]
fn run_container_prints_the_containers_exit_status() {
    if !support::can_run_containers() {
        return;
    }
    let dir = support::scratch("run-container");
    let bundle = support::bundle(&dir.join("bundle"), &["sh", "-c", "exit 7"], true);
    let out = Command::new(example("run_container"))
        .arg(&bundle)
        .arg(dir.join("state"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "container exited with status 7\n"
    );
    assert!(out.status.success(), "{out:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn mini_shim_forwards_sigterm_and_exits_with_the_containers_status() {
    if !support::can_run_containers() {
        return;
    }
    let dir = support::scratch("mini-shim");
    // Without a pid namespace the container's process is not a namespace
    // init, so SIGTERM's default action ends it.
    let bundle = support::bundle(&dir.join("bundle"), &["sleep", "30"], false);
    let mut shim = Command::new(example("mini_shim"))
        .arg(&bundle)
        .arg(dir.join("state"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the container runs (the shim says so), then signal the shim.
    let mut stdout = shim.stdout.take().unwrap();
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.contains("runs as pid") && Instant::now() < deadline {
        let mut buf = [0u8; 256];
        let n = std::io::Read::read(&mut stdout, &mut buf).unwrap();
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shim.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = shim.wait().unwrap();
    assert_eq!(status.code(), Some(143), "{seen}");
    std::fs::remove_dir_all(&dir).unwrap();
}

//! Churn (issue #11 point 2): containers created, started and deleted, 20
//! at a time, with `exec`, `kill` and `pause`/`resume` interleaved. No
//! operation may fail, and afterwards no mount, cgroup, process, zombie,
//! open fd or state dir is left, and the state root lists nothing.
//!
//! `cargo test` runs 100 containers; `GORAE_STRESS_COUNT=1000` (what
//! `make stress` runs, on the release build) runs more and prints the
//! figures. This file holds one test: it is the subreaper of every process
//! it starts and reaps them all at the end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use common::{
    Lab, cgroup_parent_exists, eventually, processes_rooted_in, reap, reap_all_children,
    wait_until_caught,
};

/// Containers alive at once.
const AT_ONCE: usize = 20;
/// Containers in a plain `cargo test`.
const DEFAULT_COUNT: usize = 100;

#[test]
fn churn_with_exec_kill_and_pause_interleaved_never_fails_and_leaves_nothing() {
    let count = std::env::var("GORAE_STRESS_COUNT")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_COUNT);
    common::become_subreaper();
    let lab = Lab::new(
        "churn",
        &["sh", "-c", "trap 'exit 0' TERM; sleep 300 & wait"],
    );
    let fds = open_fds();
    let next = AtomicUsize::new(0);
    let began = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..AT_ONCE {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= count {
                        break;
                    }
                    life(&lab, i);
                }
            });
        }
    });
    let took = began.elapsed().as_secs_f64();
    println!(
        "churn: {count} containers, {AT_ONCE} at a time, in {took:.1} s: {:.1} containers/s",
        count as f64 / took
    );
    assert_eq!(lab.gorae(&["list", "--quiet"]).expect_ok().stdout, "");
    let left: Vec<_> = fs::read_dir(&lab.root).unwrap().flatten().collect();
    assert!(left.is_empty(), "left in the state root: {left:?}");
    assert!(!cgroup_parent_exists(&lab.root), "cgroups left");
    let procs = processes_rooted_in(&lab.rootfs());
    assert!(procs.is_empty(), "processes left: {procs:?}");
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(lab.dir.to_str().unwrap()), "mounts left");
    assert_eq!(reap_all_children(), Vec::<i32>::new(), "processes left");
    assert_eq!(open_fds(), fds, "fds of the test process left open");
}

/// The life of container `i`: created, started, then, depending on `i`,
/// `exec` (in the foreground and detached), paused and resumed, and ended
/// by `kill` (SIGTERM or SIGKILL) and `delete`, or by `delete --force`.
fn life(lab: &Lab, i: usize) {
    let id = format!("churn{i}");
    let bundle = lab.bundle.to_str().unwrap();
    let pid_file = lab.dir.join(format!("{id}.pid"));
    let pid_path = pid_file.to_str().unwrap();
    lab.gorae(&["create", "--bundle", bundle, "--pid-file", pid_path, &id])
        .expect_ok();
    let init: i32 = fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    assert_eq!(lab.status(&id), "created");
    lab.gorae(&["start", &id]).expect_ok();
    assert_eq!(lab.status(&id), "running");
    assert_stdio_only(init);
    let mut execed = Vec::new();
    if i % 2 == 0 {
        lab.gorae(&["exec", &id, "true"]).expect_ok();
    }
    if i % 3 == 0 {
        let exec_pid = lab.dir.join(format!("{id}.exec.pid"));
        let exec_path = exec_pid.to_str().unwrap();
        lab.gorae(&[
            "exec",
            "--detach",
            "--pid-file",
            exec_path,
            &id,
            "sleep",
            "300",
        ])
        .expect_ok();
        let pid = fs::read_to_string(&exec_pid).unwrap().parse().unwrap();
        assert_stdio_only(pid);
        execed.push(pid);
    }
    if i % 5 == 1 {
        lab.gorae(&["pause", &id]).expect_ok();
        assert_eq!(lab.status(&id), "paused");
        lab.gorae(&["resume", &id]).expect_ok();
        assert_eq!(lab.status(&id), "running");
    }
    match i % 4 {
        0 | 1 => {
            let signal = if i % 4 == 0 { "TERM" } else { "KILL" };
            if signal == "TERM" {
                wait_until_caught(init, libc::SIGTERM);
            }
            lab.gorae(&["kill", &id, signal]).expect_ok();
            lab.wait_status(&id, "stopped");
            lab.gorae(&["delete", &id]).expect_ok();
        }
        _ => {
            lab.gorae(&["delete", "--force", &id]).expect_ok();
        }
    }
    lab.gorae(&["state", &id]).expect_error("does not exist");
    for pid in std::iter::once(init).chain(execed) {
        assert!(reap(pid), "{id}: process {pid} still runs after delete");
    }
}

/// Asserts that process `pid` of a container, once it runs its program
/// (`start` and `exec` return a moment before its `execve`), holds its
/// stdio and no other fd.
#[track_caller]
fn assert_stdio_only(pid: i32) {
    let fds = || {
        let mut fds: Vec<String> = fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        fds.sort();
        fds
    };
    assert!(
        eventually(|| fds() == ["0", "1", "2"]),
        "fds of {pid}: {:?}",
        fds()
    );
}

/// The fds of this process with what they point to, but those into
/// `/proc` (the reaper thread's, open for a moment).
fn open_fds() -> Vec<(String, String)> {
    let mut fds: Vec<(String, String)> = fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let target = fs::read_link(e.path()).ok()?;
            let target = target.to_string_lossy().into_owned();
            (!target.starts_with("/proc"))
                .then(|| (e.file_name().to_string_lossy().into_owned(), target))
        })
        .collect();
    fds.sort();
    fds
}

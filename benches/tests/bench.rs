//! gorae-bench on the real kernel, as root: the floor runs a bundle's
//! program in its namespaces, and a quick run prints every table, writes
//! its JSON and leaves nothing behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

const BENCH: &str = env!("CARGO_BIN_EXE_gorae-bench");

/// A temp dir removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("gorae-bench-test-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A bundle at `dir` whose rootfs holds busybox and the `true`/`false`
/// applets, running `program`.
fn bundle(dir: &Path, program: &str) {
    let bin = dir.join("rootfs/bin");
    fs::create_dir_all(&bin).unwrap();
    fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
    for applet in ["true", "false"] {
        symlink("busybox", bin.join(applet)).unwrap();
    }
    let config = format!(
        r#"{{"ociVersion": "1.0.2", "root": {{"path": "rootfs"}},
            "process": {{"args": ["{program}"], "cwd": "/"}}}}"#
    );
    fs::write(dir.join("config.json"), config).unwrap();
}

#[test]
fn floor_runs_the_bundle_program_and_exits_with_its_status() {
    let tmp = TempDir::new("floor");
    for (program, code) in [("/bin/true", 0), ("/bin/false", 1)] {
        let dir = tmp.0.join(program.trim_start_matches("/bin/"));
        bundle(&dir, program);
        let status = Command::new(BENCH).arg("floor").arg(&dir).status().unwrap();
        assert_eq!(status.code(), Some(code), "floor of {program}");
    }
}

#[test]
fn floor_of_a_missing_program_fails_naming_execve() {
    let tmp = TempDir::new("floor-missing");
    bundle(&tmp.0, "/bin/nothing-here");
    let out = Command::new(BENCH)
        .arg("floor")
        .arg(&tmp.0)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("execve /bin/nothing-here"), "{stderr}");
}

#[test]
fn quick_run_prints_every_table_writes_json_and_leaves_nothing_behind() {
    let tmp = TempDir::new("quick");
    let json = tmp.0.join("bench.json");
    // gorae beside gorae-bench when the workspace built it, else only the floor.
    let out = Command::new(BENCH)
        .args(["--quick", "--runtimes", "gorae", "--iterations", "2"])
        .args(["--concurrency", "3", "--trace-iterations", "1", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for heading in [
        "## Lifecycle latency",
        "## Ratios",
        "## Throughput",
        "## Resources",
    ] {
        assert!(stdout.contains(heading), "{heading} missing:\n{stdout}");
    }
    assert!(stdout.contains("| floor | "), "{stdout}");
    assert!(stdout.contains("cleanup: nothing left behind"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&json).unwrap()).unwrap();
    let floor = report["runtimes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "floor")
        .unwrap();
    assert_eq!(floor["ops"]["run"]["outcome"], "measured");
    assert_eq!(floor["ops"]["run"]["ms"]["n"], 2);
    assert_eq!(floor["ops"]["create"]["outcome"], "not_applicable");
}

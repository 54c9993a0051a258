//! The rest of the command surface engines use: spec, features, version,
//! fd passing, --no-pivot, the session keyring, run --keep, and a
//! foreground run under a pseudo-terminal.
#![allow(clippy::unwrap_used, clippy::expect_used, unsafe_code)]

mod common;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{GORAE, Lab};
use serde_json::{Value, json};

#[test]
fn spec_then_run_under_a_pseudo_terminal_works_with_only_the_rootfs_added() {
    let lab = Lab::new("specrun", &["true"]);
    std::fs::remove_file(lab.bundle.join("config.json")).unwrap();
    lab.gorae(&["spec", "--bundle", lab.bundle.to_str().unwrap()])
        .expect_ok();
    lab.gorae(&["spec", "--bundle", lab.bundle.to_str().unwrap()])
        .expect_error("exists: remove it first");
    // The default config runs `sh` on a terminal: give gorae one.
    let pty = nix::pty::openpty(None, None).unwrap();
    let slave = pty.slave;
    let stdio = |fd: &OwnedFd| Stdio::from(fd.try_clone().unwrap());
    let mut child = Command::new(GORAE)
        .arg("--root")
        .arg(&lab.root)
        .args(["run", "--bundle"])
        .arg(&lab.bundle)
        .arg("s")
        .stdin(stdio(&slave))
        .stdout(stdio(&slave))
        .stderr(stdio(&slave))
        .process_group(0)
        .spawn()
        .unwrap();
    drop(slave);
    let mut master = std::fs::File::from(pty.master);
    master
        .write_all(b"hostname; echo marker-$((6*7)); exit 3\n")
        .unwrap();
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 1024];
    while !seen.contains("marker-42") && Instant::now() < deadline {
        match master.read(&mut buf) {
            Ok(n) if n > 0 => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            _ => break,
        }
    }
    assert!(
        seen.contains("gorae") && seen.contains("marker-42"),
        "{seen:?}"
    );
    assert_eq!(child.wait().unwrap().code(), Some(3), "{seen:?}");
    lab.assert_nothing_left("s");
}

#[test]
fn features_lists_what_gorae_supports_as_valid_json() {
    let lab = Lab::new("features", &["true"]);
    let doc: Value = serde_json::from_str(&lab.gorae(&["features"]).expect_ok().stdout).unwrap();
    let parsed: oci_spec::runtime::Features = serde_json::from_value(doc.clone()).unwrap();
    assert_eq!(parsed.oci_version_max(), "1.2.1");
    assert_eq!(doc["linux"]["namespaces"].as_array().unwrap().len(), 8);
    assert_eq!(doc["hooks"].as_array().unwrap().len(), 6);
    assert_eq!(doc["linux"]["seccomp"]["enabled"], true);
    assert_eq!(doc["linux"]["apparmor"]["enabled"], false);
    assert_eq!(doc["linux"]["intelRdt"]["enabled"], false);
    assert_eq!(doc["linux"]["netDevices"]["enabled"], true);
    let memory_policy = &doc["linux"]["memoryPolicy"];
    assert_eq!(memory_policy["modes"].as_array().unwrap().len(), 7);
    assert_eq!(memory_policy["flags"].as_array().unwrap().len(), 3);
    assert!(
        doc["mountOptions"]
            .as_array()
            .unwrap()
            .contains(&json!("rbind"))
    );
}

#[test]
fn version_names_gorae_and_the_spec() {
    let lab = Lab::new("version", &["true"]);
    let out = lab.gorae(&["--version"]).expect_ok().stdout;
    assert_eq!(
        out,
        format!("gorae version {}\nspec: 1.2.1\n", env!("CARGO_PKG_VERSION"))
    );
}

/// Runs `gorae run` with `file` open as fd 3 and `extra` arguments/env.
fn run_with_fd3(
    lab: &Lab,
    id: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, String) {
    let file = std::fs::File::open(lab.dir.join("fd3")).unwrap();
    let out_path = lab.dir.join(format!("{id}.out"));
    let fd = file.as_raw_fd();
    let mut cmd = Command::new(GORAE);
    cmd.arg("--root")
        .arg(&lab.root)
        .arg("run")
        .args(extra)
        .arg("--bundle")
        .arg(&lab.bundle)
        .arg(id);
    cmd.stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .envs(env.iter().copied());
    // SAFETY: dup2 and fcntl are async-signal-safe; fd stays open until
    // the spawn. When the file already is fd 3, dup2 is a no-op that keeps
    // close-on-exec, so the flag is cleared explicitly.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(fd, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let status = cmd.status().unwrap();
    (status.code(), std::fs::read_to_string(out_path).unwrap())
}

#[test]
fn preserve_fds_passes_exactly_those_fds_and_nothing_else_leaks() {
    let lab = Lab::new(
        "preservefds",
        &["sh", "-c", "cat <&3; ls /proc/self/fd | tr '\\n' ' '"],
    );
    std::fs::write(lab.dir.join("fd3"), "through fd 3\n").unwrap();
    let (code, out) = run_with_fd3(&lab, "p", &["--preserve-fds", "1"], &[]);
    assert_eq!(code, Some(0), "{out}");
    // ls itself opens one more fd for the directory it lists.
    assert_eq!(out, "through fd 3\n0 1 2 3 4 ");
    let (code, out) = run_with_fd3(&lab, "q", &[], &[]);
    assert_eq!(code, Some(0));
    assert!(
        out.ends_with("0 1 2 3 "),
        "fd 3 leaked without --preserve-fds: {out}"
    );
    lab.gorae(&[
        "run",
        "--preserve-fds",
        "5",
        "--bundle",
        lab.bundle.to_str().unwrap(),
        "r",
    ])
    .expect_error("fd 3 is not open in the caller");
    lab.assert_nothing_left("r");
}

#[test]
fn listen_fds_are_passed_with_their_environment() {
    let lab = Lab::new(
        "listenfds",
        &["sh", "-c", "echo $LISTEN_FDS $LISTEN_PID; cat <&3"],
    );
    std::fs::write(lab.dir.join("fd3"), "activated\n").unwrap();
    let (code, out) = run_with_fd3(&lab, "l", &[], &[("LISTEN_FDS", "1")]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out, "1 1\nactivated\n");
}

#[test]
fn no_pivot_enters_the_rootfs_by_move_and_chroot() {
    let lab = Lab::new(
        "nopivot",
        &[
            "sh",
            "-c",
            "ls /bin/busybox && cat /proc/self/mountinfo | wc -l",
        ],
    );
    let out = lab
        .gorae(&[
            "run",
            "--no-pivot",
            "--bundle",
            lab.bundle.to_str().unwrap(),
            "n",
        ])
        .expect_ok();
    assert!(out.stdout.starts_with("/bin/busybox\n"), "{out:?}");
    lab.assert_nothing_left("n");
}

#[test]
fn each_container_gets_its_own_session_keyring_unless_asked_not_to() {
    let lab = Lab::new(
        "keyring",
        &["sh", "-c", "grep -c \"_ses.$(hostname)-\" /proc/keys"],
    );
    lab.edit_config(|c| c["hostname"] = json!("key1"));
    assert_eq!(lab.output("key1-a"), "1\n");
    lab.edit_config(|c| c["hostname"] = json!("key2"));
    let out = lab.gorae(&[
        "run",
        "--no-new-keyring",
        "--bundle",
        lab.bundle.to_str().unwrap(),
        "key2-b",
    ]);
    assert_eq!(out.stdout, "0\n", "{out:?}");
}

#[test]
fn run_keep_leaves_the_stopped_container_for_delete() {
    let lab = Lab::new("keep", &["true"]);
    lab.gorae(&[
        "run",
        "--keep",
        "--bundle",
        lab.bundle.to_str().unwrap(),
        "k",
    ])
    .expect_ok();
    assert_eq!(lab.status("k"), "stopped");
    lab.gorae(&["delete", "k"]).expect_ok();
    lab.assert_nothing_left("k");
}

#[test]
fn systemd_cgroup_is_refused_without_systemd() {
    let lab = Lab::new("systemd", &["true"]);
    if std::path::Path::new("/run/systemd/system").exists() {
        println!("skipped: systemd runs on this host");
        return;
    }
    lab.gorae(&[
        "--systemd-cgroup",
        "create",
        "--bundle",
        lab.bundle.to_str().unwrap(),
        "s",
    ])
    .expect_error("--systemd-cgroup: systemd is not running on this host");
    lab.assert_nothing_left("s");
}

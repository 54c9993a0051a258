//! `gorae exec` into real running containers, each flag checked from inside
//! the exec'd process, and the pty handed over `--console-socket`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use common::Lab;
use serde_json::json;

/// A running container `c` whose init sleeps.
fn running(name: &str) -> (Lab, i64) {
    let lab = Lab::new(name, &["sleep", "30"]);
    lab.create("c").expect_ok();
    lab.gorae(&["start", "c"]).expect_ok();
    let pid = lab.state("c")["pid"].as_i64().unwrap();
    (lab, pid)
}

fn exec(lab: &Lab, flags: &[&str], script: &str) -> common::Outcome {
    let mut args = vec!["exec"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["c", "sh", "-c", script]);
    lab.gorae(&args)
}

#[test]
fn exec_joins_every_namespace_and_the_cgroup_of_the_container() {
    let (lab, init) = running("execns");
    let out = exec(&lab, &[], "hostname; for n in pid net ipc uts mnt cgroup; do readlink /proc/self/ns/$n; done; cat /proc/self/cgroup")
        .expect_ok()
        .stdout;
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("gorae-test"));
    for n in ["pid", "net", "ipc", "uts", "mnt", "cgroup"] {
        let theirs = std::fs::read_link(format!("/proc/{init}/ns/{n}")).unwrap();
        assert_eq!(lines.next(), theirs.to_str(), "{n} namespace not joined");
    }
    // Inside the container's cgroup namespace its own cgroup is the root.
    assert!(lines.all(|l| l.ends_with(":/")), "{out}");
    lab.gorae(&["delete", "--force", "c"]).expect_ok();
    lab.assert_nothing_left("c");
}

#[test]
fn exec_exits_with_the_process_status() {
    let (lab, _) = running("execstatus");
    assert_eq!(exec(&lab, &[], "exit 5").code, Some(5));
    assert_eq!(exec(&lab, &[], "kill -9 $$").code, Some(137));
    lab.gorae(&["delete", "--force", "c"]).expect_ok();
}

#[test]
fn exec_flags_set_cwd_env_user_groups_caps_and_no_new_privs() {
    let (lab, _) = running("execflags");
    lab.edit_config(|_| {});
    let out = exec(
        &lab,
        &[
            "--cwd",
            "/tmp",
            "--env",
            "GREETING=hi",
            "-e",
            "PATH=/bin",
            "--user",
            "1000:1000",
            "-g",
            "10",
            "--no-new-privs",
        ],
        "pwd; echo $GREETING; id -u; id -g; id -G; grep NoNewPrivs /proc/self/status",
    )
    .expect_ok()
    .stdout;
    assert_eq!(out, "/tmp\nhi\n1000\n1000\n1000 10\nNoNewPrivs:\t1\n");
    let caps = exec(
        &lab,
        &["--cap", "CAP_SYS_ADMIN"],
        "grep CapEff /proc/self/status",
    )
    .expect_ok()
    .stdout;
    let want = (1u64 << 5) | (1 << 10) | (1 << 29) | (1 << 21);
    assert_eq!(caps, format!("CapEff:\t{want:016x}\n"));
    // CVE-2026-30892 (crun): "--user 1" must run as uid 1, never 0.
    assert_eq!(
        exec(&lab, &["--user", "1"], "id -u").expect_ok().stdout,
        "1\n"
    );
    exec(&lab, &["--user", "root"], "true").expect_error("numeric uid[:gid]");
    lab.gorae(&["delete", "--force", "c"]).expect_ok();
}

#[test]
fn exec_process_file_replaces_the_containers_process() {
    let (lab, _) = running("execprocess");
    let file = lab.dir.join("process.json");
    std::fs::write(
        &file,
        serde_json::to_vec(&json!({
            "args": ["sh", "-c", "echo $FROM; pwd; id -u"],
            "env": ["PATH=/bin", "FROM=file"],
            "cwd": "/etc",
            "user": {"uid": 7, "gid": 7}
        }))
        .unwrap(),
    )
    .unwrap();
    let out = lab
        .gorae(&["exec", "--process", file.to_str().unwrap(), "c"])
        .expect_ok();
    assert_eq!(out.stdout, "file\n/etc\n7\n");
    lab.gorae(&["delete", "--force", "c"]).expect_ok();
}

#[test]
fn exec_process_file_is_read_as_create_reads_the_configs_process() {
    let (lab, _) = running("execprocessparse");
    let file = lab.dir.join("process.json");
    let write = |process: serde_json::Value| {
        std::fs::write(&file, serde_json::to_vec(&process).unwrap()).unwrap();
    };
    let caps = json!(["CAP_KILL", "CAP_FROM_A_NEWER_KERNEL"]);
    // A capability newer than gorae is dropped with a warning (as in
    // config.json, as runc does); the spec's scheduler flag names parse.
    write(json!({
        "args": ["sh", "-c", "grep CapEff /proc/self/status"],
        "cwd": "/",
        "user": {"uid": 0, "gid": 0},
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "scheduler": {"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_RESET_ON_FORK"]}
    }));
    let out = lab
        .gorae(&["exec", "--process", file.to_str().unwrap(), "c"])
        .expect_ok();
    assert_eq!(out.stdout, "CapEff:\t0000000000000020\n");
    assert!(
        out.stderr
            .contains("ignoring capability CAP_FROM_A_NEWER_KERNEL"),
        "{out:?}"
    );
    // A field of the wrong type is named.
    write(json!({"args": ["true"], "cwd": "/", "user": {"uid": "root", "gid": 0}}));
    let out = lab
        .gorae(&["exec", "--process", file.to_str().unwrap(), "c"])
        .expect_error("user.uid");
    assert_eq!(out.code, Some(1));
    // Not a regular file: refused before it is read, no waiting on a FIFO.
    let fifo = lab.dir.join("process.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    lab.gorae(&["exec", "--process", fifo.to_str().unwrap(), "c"])
        .expect_error("not a regular file");
    lab.gorae(&["delete", "--force", "c"]).expect_ok();
}

#[test]
fn exec_detach_writes_the_pid_file_and_returns() {
    let (lab, _) = running("execdetach");
    let pid_file = lab.dir.join("exec.pid");
    lab.gorae(&[
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        "c",
        "sleep",
        "30",
    ])
    .expect_ok();
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    let pids: Vec<i32> = serde_json::from_str(
        &lab.gorae(&["ps", "--format", "json", "c"])
            .expect_ok()
            .stdout,
    )
    .unwrap();
    assert!(pids.contains(&pid), "{pid} not among {pids:?}");
    lab.gorae(&["delete", "--force", "c"]).expect_ok();
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}/stat")).exists()
            || common::processes_rooted_in(&lab.rootfs()).is_empty()
    );
    lab.assert_nothing_left("c");
}

#[test]
fn exec_applies_the_containers_seccomp_profile() {
    let lab = Lab::new("execseccomp", &["sleep", "30"]);
    lab.edit_config(|c| {
        c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 30}]});
    });
    lab.create("c").expect_ok();
    lab.gorae(&["start", "c"]).expect_ok();
    let out = exec(&lab, &[], "mkdir /tmp/x 2>&1; echo end")
        .expect_ok()
        .stdout;
    assert_eq!(
        out,
        "mkdir: can't create directory '/tmp/x': Read-only file system\nend\n"
    );
    lab.gorae(&["delete", "--force", "c"]).expect_ok();
}

#[test]
fn exec_is_refused_unless_the_container_runs() {
    let lab = Lab::new("execstate", &["sh", "-c", "sleep 30"]);
    lab.create("c").expect_ok();
    exec(&lab, &[], "true").expect_error("container is created");
    lab.gorae(&["start", "c"]).expect_ok();
    lab.gorae(&["pause", "c"]).expect_ok();
    exec(&lab, &[], "true").expect_error("container is paused");
    lab.gorae(&["resume", "c"]).expect_ok();
    lab.gorae(&["kill", "c", "KILL"]).expect_ok();
    lab.wait_status("c", "stopped");
    exec(&lab, &[], "true").expect_error("container is stopped");
    lab.gorae(&["exec", "ghost", "true"])
        .expect_error("does not exist");
    lab.gorae(&["delete", "c"]).expect_ok();
    lab.assert_nothing_left("c");
}

#[test]
fn exec_with_a_tty_needs_a_console_socket() {
    let (lab, _) = running("exectty");
    lab.gorae(&["exec", "--tty", "c", "true"])
        .expect_error("--console-socket");
    lab.gorae(&["delete", "--force", "c"]).expect_ok();
}

/// Receives the pty master and the name it was sent with.
fn receive_master(listener: &UnixListener) -> (String, OwnedFd) {
    let (name, fd) = common::receive_fd(listener);
    (String::from_utf8_lossy(&name).into_owned(), fd)
}

/// Reads from the pty master until `needle` shows up (10 s at most).
fn read_until(master: &mut std::fs::File, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.contains(needle) {
        assert!(
            Instant::now() < deadline,
            "never saw {needle:?} in {seen:?}"
        );
        match master.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => panic!("read pty: {e} after {seen:?}"),
        }
    }
    seen
}

#[test]
fn a_terminal_container_sends_its_pty_over_the_console_socket() {
    let lab = Lab::new("console", &["sh"]);
    lab.edit_config(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["consoleSize"] = json!({"height": 30, "width": 100});
    });
    let socket = lab.dir.join("console.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let receiver = std::thread::spawn(move || receive_master(&listener));
    lab.gorae(&[
        "create",
        "--console-socket",
        socket.to_str().unwrap(),
        "--bundle",
        lab.bundle.to_str().unwrap(),
        "t",
    ])
    .expect_ok();
    let (name, master) = receiver.join().unwrap();
    assert_eq!(name, "/dev/ptmx");
    lab.gorae(&["start", "t"]).expect_ok();
    let mut master = std::fs::File::from(master);
    master
        .write_all(b"stty size; tty; echo typed-$((40+2))\n")
        .unwrap();
    let seen = read_until(&mut master, "typed-42");
    assert!(
        seen.contains("30 100"),
        "console size not applied: {seen:?}"
    );
    assert!(
        seen.contains("/dev/pts/0"),
        "the shell's tty is not the pty: {seen:?}"
    );
    master.write_all(b"exit\n").unwrap();
    lab.wait_status("t", "stopped");
    lab.gorae(&["delete", "t"]).expect_ok();
    lab.assert_nothing_left("t");
}

#[test]
fn exec_with_a_tty_sends_its_pty_over_the_console_socket() {
    let (lab, _) = running("exectty2");
    let socket = lab.dir.join("exec-console.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let receiver = std::thread::spawn(move || receive_master(&listener));
    let root = lab.root.clone();
    let sock = socket.clone();
    let execer = std::thread::spawn(move || {
        std::process::Command::new(common::GORAE)
            .arg("--root")
            .arg(&root)
            .args(["exec", "--tty", "--console-socket"])
            .arg(&sock)
            .args(["c", "sh"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap()
    });
    let (_, master) = receiver.join().unwrap();
    let mut master = std::fs::File::from(master);
    master.write_all(b"tty; exit 3\n").unwrap();
    let seen = read_until(&mut master, "/dev/pts/");
    assert!(seen.contains("/dev/pts/"), "{seen:?}");
    assert_eq!(execer.join().unwrap().code(), Some(3));
    lab.gorae(&["delete", "--force", "c"]).expect_ok();
}

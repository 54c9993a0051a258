//! The OCI lifecycle through the `gorae` binary, as engines drive it, on
//! real containers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{GORAE, Lab};

fn pid_of(lab: &Lab, id: &str) -> i32 {
    lab.state(id)["pid"].as_i64().unwrap() as i32
}

fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z")
}

#[test]
fn create_start_exit_delete_walks_every_status() {
    let lab = Lab::new("walk", &["sh", "-c", "read x < /tmp/go; exit 0"]);
    let go = lab.rootfs().join("tmp/go");
    nix::unistd::mkfifo(&go, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    lab.create("walk").expect_ok();
    let state = lab.state("walk");
    assert_eq!(state["status"], "created");
    let pid = state["pid"].as_i64().unwrap() as i32;
    assert!(
        pid > 0 && alive(pid),
        "created container has no live init: {state}"
    );
    assert_eq!(state["bundle"], lab.bundle.to_str().unwrap());
    assert_eq!(state["rootfs"], lab.rootfs().to_str().unwrap());
    assert!(state["created"].as_str().unwrap().ends_with('Z'));
    assert_eq!(state["owner"], "");
    assert_eq!(state["ociVersion"], "1.2.1");

    lab.gorae(&["start", "walk"]).expect_ok();
    assert_eq!(lab.status("walk"), "running");
    assert_eq!(pid_of(&lab, "walk"), pid);

    std::fs::write(&go, "x\n").unwrap();
    lab.wait_status("walk", "stopped");
    assert_eq!(pid_of(&lab, "walk"), 0);

    lab.gorae(&["delete", "walk"]).expect_ok();
    lab.gorae(&["state", "walk"]).expect_error("does not exist");
    lab.assert_nothing_left("walk");
}

#[test]
fn kill_with_default_signal_stops_a_running_container() {
    let lab = Lab::new(
        "kill",
        &[
            "sh",
            "-c",
            "trap 'exit 3' TERM; while :; do sleep 0.05; done",
        ],
    );
    lab.create("k").expect_ok();
    lab.gorae(&["start", "k"]).expect_ok();
    assert_eq!(lab.status("k"), "running");
    common::wait_until_caught(pid_of(&lab, "k"), libc::SIGTERM);
    lab.gorae(&["kill", "k"]).expect_ok();
    lab.wait_status("k", "stopped");
    // containerd's shim matches runc's "container not running".
    lab.gorae(&["kill", "k", "KILL"])
        .expect_error("container not running");
    lab.gorae(&["delete", "k"]).expect_ok();
    lab.gorae(&["state", "k"]).expect_error("does not exist");
    lab.assert_nothing_left("k");
}

#[test]
fn kill_takes_signal_names_with_and_without_sig_and_numbers() {
    let lab = Lab::new("signames", &["sleep", "30"]);
    for (id, signal) in [("a", "KILL"), ("b", "SIGKILL"), ("c", "9")] {
        lab.create(id).expect_ok();
        lab.gorae(&["start", id]).expect_ok();
        lab.gorae(&["kill", id, signal]).expect_ok();
        lab.wait_status(id, "stopped");
        lab.gorae(&["delete", id]).expect_ok();
        lab.assert_nothing_left(id);
    }
    lab.create("d").expect_ok();
    lab.gorae(&["kill", "d", "NOSUCHSIGNAL"])
        .expect_error("NOSUCHSIGNAL");
    assert_eq!(lab.status("d"), "created");
}

#[test]
fn delete_force_removes_a_running_container() {
    let lab = Lab::new("force", &["sleep", "30"]);
    lab.create("f").expect_ok();
    lab.gorae(&["start", "f"]).expect_ok();
    let pid = pid_of(&lab, "f");
    lab.gorae(&["delete", "--force", "f"]).expect_ok();
    assert!(!alive(pid), "init {pid} survived delete --force");
    lab.gorae(&["state", "f"]).expect_error("does not exist");
    lab.assert_nothing_left("f");
}

#[test]
fn delete_force_removes_a_created_container() {
    let lab = Lab::new("forcecreated", &["sleep", "30"]);
    lab.create("fc").expect_ok();
    let pid = pid_of(&lab, "fc");
    lab.gorae(&["delete", "-f", "fc"]).expect_ok();
    assert!(!alive(pid));
    lab.assert_nothing_left("fc");
}

#[test]
fn delete_of_running_container_fails_and_leaves_it_running() {
    let lab = Lab::new("nodelete", &["sleep", "30"]);
    lab.create("r").expect_ok();
    lab.gorae(&["start", "r"]).expect_ok();
    lab.gorae(&["delete", "r"]).expect_error("running");
    assert_eq!(lab.status("r"), "running");
    lab.gorae(&["delete", "--force", "r"]).expect_ok();
    lab.assert_nothing_left("r");
}

#[test]
fn start_is_refused_unless_created() {
    let lab = Lab::new("restart", &["sh", "-c", "sleep 0.2"]);
    lab.create("s").expect_ok();
    lab.gorae(&["start", "s"]).expect_ok();
    lab.gorae(&["start", "s"]).expect_error("running");
    lab.wait_status("s", "stopped");
    lab.gorae(&["start", "s"]).expect_error("stopped");
    lab.gorae(&["delete", "s"]).expect_ok();
    lab.assert_nothing_left("s");
}

#[test]
fn run_exits_with_the_containers_status_and_deletes_it() {
    let lab = Lab::new("runstatus", &["sh", "-c", "echo out; exit 7"]);
    let out = lab.run("rs");
    assert_eq!(out.code, Some(7), "{out:?}");
    assert_eq!(out.stdout, "out\n");
    lab.gorae(&["state", "rs"]).expect_error("does not exist");
    lab.assert_nothing_left("rs");
}

#[test]
fn run_of_a_container_killed_by_a_signal_exits_128_plus_it() {
    let lab = Lab::new("runsignal", &["sh", "-c", "kill -9 $$"]);
    // A pid namespace's init is immune to signals sent from inside it:
    // share the host's pid namespace so the shell can kill itself.
    lab.edit_config(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "pid");
    });
    assert_eq!(lab.run("sig").code, Some(137));
    lab.assert_nothing_left("sig");
}

#[test]
fn run_forwards_the_signals_it_receives_to_the_container() {
    let lab = Lab::new(
        "forward",
        &[
            "sh",
            "-c",
            "trap 'echo got-term; exit 42' TERM; touch /tmp/ready; while :; do sleep 0.05; done",
        ],
    );
    let out_path = lab.dir.join("forward.out");
    let mut child = Command::new(GORAE)
        .args(["--root", lab.root.to_str().unwrap(), "run", "--bundle"])
        .arg(&lab.bundle)
        .arg("fw")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .spawn()
        .unwrap();
    let ready = lab.rootfs().join("tmp/ready");
    for _ in 0..250 {
        if ready.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(ready.exists(), "container never got ready");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(42));
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), "got-term\n");
    lab.assert_nothing_left("fw");
}

#[test]
fn run_detach_leaves_the_container_running() {
    let lab = Lab::new("detach", &["sleep", "30"]);
    lab.gorae(&[
        "run",
        "--detach",
        "--bundle",
        lab.bundle.to_str().unwrap(),
        "d",
    ])
    .expect_ok();
    assert_eq!(lab.status("d"), "running");
    lab.gorae(&["delete", "--force", "d"]).expect_ok();
    lab.assert_nothing_left("d");
}

#[test]
fn pid_file_holds_the_init_pid() {
    let lab = Lab::new("pidfile", &["sleep", "30"]);
    let file = lab.dir.join("init.pid");
    lab.gorae(&[
        "create",
        "--pid-file",
        file.to_str().unwrap(),
        "--bundle",
        lab.bundle.to_str().unwrap(),
        "p",
    ])
    .expect_ok();
    let pid: i32 = std::fs::read_to_string(&file).unwrap().parse().unwrap();
    assert_eq!(pid, pid_of(&lab, "p"));
    lab.gorae(&["delete", "--force", "p"]).expect_ok();
}

#[test]
fn a_reused_pid_is_not_mistaken_for_the_init() {
    let lab = Lab::new("reuse", &["sh", "-c", "exit 0"]);
    lab.run("gone").expect_ok();
    // Simulate pid reuse: a container whose recorded init pid now belongs
    // to another live process (this test) with a different start time.
    lab.create("reused").expect_ok();
    let state_file = lab.root.join("reused/state.json");
    let mut saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
    let real = saved["init"].clone();
    saved["init"]["pid"] = serde_json::json!(std::process::id());
    std::fs::write(&state_file, serde_json::to_vec(&saved).unwrap()).unwrap();
    assert_eq!(lab.status("reused"), "stopped");
    saved["init"] = real;
    std::fs::write(&state_file, serde_json::to_vec(&saved).unwrap()).unwrap();
    assert_eq!(lab.status("reused"), "created");
    lab.gorae(&["delete", "--force", "reused"]).expect_ok();
    lab.assert_nothing_left("reused");
}

#[test]
fn two_concurrent_starts_have_exactly_one_winner() {
    let lab = Lab::new("racestart", &["sleep", "30"]);
    lab.create("race").expect_ok();
    let outcomes: Vec<_> = std::thread::scope(|s| {
        let a = s.spawn(|| lab.gorae(&["start", "race"]));
        let b = s.spawn(|| lab.gorae(&["start", "race"]));
        vec![a.join().unwrap(), b.join().unwrap()]
    });
    let winners = outcomes.iter().filter(|o| o.ok()).count();
    assert_eq!(winners, 1, "{outcomes:?}");
    let loser = outcomes.into_iter().find(|o| !o.ok()).unwrap();
    loser.expect_error("running");
    assert_eq!(lab.status("race"), "running");
    lab.gorae(&["delete", "--force", "race"]).expect_ok();
    lab.assert_nothing_left("race");
}

#[test]
fn two_concurrent_creates_of_one_id_have_exactly_one_winner() {
    let lab = Lab::new("racecreate", &["sleep", "30"]);
    let outcomes: Vec<_> = std::thread::scope(|s| {
        let a = s.spawn(|| lab.create("same"));
        let b = s.spawn(|| lab.create("same"));
        vec![a.join().unwrap(), b.join().unwrap()]
    });
    assert_eq!(
        outcomes.iter().filter(|o| o.ok()).count(),
        1,
        "{outcomes:?}"
    );
    let loser = outcomes.into_iter().find(|o| !o.ok()).unwrap();
    loser.expect_error("exists");
    assert_eq!(lab.status("same"), "created");
    lab.gorae(&["delete", "--force", "same"]).expect_ok();
    lab.assert_nothing_left("same");
}

#[test]
fn errors_go_to_the_log_file_as_runc_json_lines() {
    let lab = Lab::new("logjson", &["true"]);
    let log = lab.dir.join("gorae.log");
    let out = lab.gorae(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "state",
        "nope",
    ]);
    assert_eq!(out.code, Some(1));
    assert_eq!(out.stderr, "container \"nope\" does not exist\n");
    let line: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&log).unwrap().trim()).unwrap();
    assert_eq!(line["level"], "error");
    assert_eq!(line["msg"], "container \"nope\" does not exist");
    assert!(line["time"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn list_shows_containers_with_their_status() {
    let lab = Lab::new("list", &["sleep", "30"]);
    lab.create("one").expect_ok();
    let out = lab.gorae(&["list", "--format", "json"]).expect_ok();
    let list: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(list[0]["id"], "one");
    assert_eq!(list[0]["status"], "created");
    assert_eq!(lab.gorae(&["list", "-q"]).expect_ok().stdout, "one\n");
    // A state that does not load is left out with a warning naming it, as
    // runc does; the others are listed.
    let broken = lab.root.join("broken");
    std::fs::create_dir(&broken).unwrap();
    std::fs::write(broken.join("state.json"), "{not json").unwrap();
    let out = lab.gorae(&["list", "-q"]).expect_ok();
    assert_eq!(out.stdout, "one\n");
    assert!(out.stderr.contains("load container broken"), "{out:?}");
    std::fs::remove_dir_all(&broken).unwrap();
    lab.gorae(&["delete", "--force", "one"]).expect_ok();
}

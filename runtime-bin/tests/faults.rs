//! gorae killed with SIGKILL at each phase of `create`, `start`, `exec`
//! and `delete`, and a state root on a full or read-only disk (issue #11
//! point 3). After each crash `gorae state` tells the truth (a valid state
//! or "does not exist"), `gorae delete --force` removes everything
//! (process, cgroup, mounts, state dir), and a container running alongside
//! is unharmed.
//!
//! The crashes are deterministic: with `GORAE_FAULT_KILL_AT=<op>.<phase>`
//! gorae sends itself SIGKILL as that phase of `gorae --trace` ends. The
//! tests run one at a time: this process is the subreaper of everything
//! they start and reaps it at the end of each, which proves that no
//! process and no zombie is left.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};

use common::{
    GORAE, Lab, Tmpfs, cgroup_dirs, cgroup_parent_exists, cgroup_pids, eventually,
    reap_all_children,
};

/// The container each crash test keeps running next to the one that crashes.
const BYSTANDER: &str = "bystander";

/// Runs the tests of this file one at a time (see the module docs).
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    let guard = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    common::become_subreaper();
    guard
}

/// One crash: a lab whose bystander runs, and the crashing container `id`.
struct Crash {
    lab: Lab,
    id: &'static str,
    // Dropped after the lab: its cleanup is serialized too.
    _serial: MutexGuard<'static, ()>,
}

impl Crash {
    fn new(name: &str, id: &'static str) -> Self {
        let serial = serial();
        let lab = Lab::new(name, &["sleep", "300"]);
        lab.create(BYSTANDER).expect_ok();
        lab.gorae(&["start", BYSTANDER]).expect_ok();
        Crash {
            lab,
            id,
            _serial: serial,
        }
    }

    /// `gorae args` with the fault at `phase`; asserts gorae died there.
    #[track_caller]
    fn killed_at(&self, phase: &str, args: &[&str]) {
        let out = self.lab.gorae_as(Path::new(GORAE), args, |c| {
            c.env("GORAE_FAULT_KILL_AT", phase);
        });
        assert_eq!(
            out.signal,
            Some(libc::SIGKILL),
            "not killed at {phase}: {out:?}"
        );
    }

    /// `gorae create` of the crashing container, killed at `phase`.
    #[track_caller]
    fn create_killed_at(&self, phase: &str) {
        let bundle = self.lab.bundle.to_str().unwrap().to_owned();
        self.killed_at(phase, &["create", "--bundle", &bundle, self.id]);
    }

    /// Creates and starts the crashing container.
    fn run_it(&self) {
        self.lab.create(self.id).expect_ok();
        self.lab.gorae(&["start", self.id]).expect_ok();
    }

    /// What `gorae state` says of the crashing container (`None`: it does
    /// not exist).
    #[track_caller]
    fn status(&self) -> Option<String> {
        self.lab.status_or_absent(self.id)
    }

    /// The processes in the crashing container's cgroup.
    fn pids(&self) -> Vec<i32> {
        cgroup_pids(&self.lab.root, self.id)
    }

    /// Asserts that the processes of the crashing container end by
    /// themselves, before any `delete`.
    #[track_caller]
    fn assert_its_processes_end(&self) {
        assert!(
            eventually(|| self.pids().is_empty()),
            "processes of {} outlived the killed gorae: {:?}",
            self.id,
            self.pids()
        );
    }

    /// `delete --force` of the crashing container, then the checks every
    /// crash ends with: nothing of it is left, the bystander still runs and
    /// is deleted the ordinary way, the state root lists nothing, no cgroup
    /// and no process (zombies included) is left.
    #[track_caller]
    fn finish(self) {
        let (lab, id) = (&self.lab, self.id);
        lab.gorae(&["delete", "--force", id]).expect_ok();
        assert_eq!(lab.status_or_absent(id), None);
        assert_eq!(cgroup_dirs(&lab.root, id), Vec::<std::path::PathBuf>::new());
        assert_eq!(lab.status(BYSTANDER), "running");
        lab.gorae(&["kill", BYSTANDER, "KILL"]).expect_ok();
        lab.wait_status(BYSTANDER, "stopped");
        lab.gorae(&["delete", BYSTANDER]).expect_ok();
        lab.assert_nothing_left(id);
        lab.assert_nothing_left(BYSTANDER);
        assert_eq!(lab.gorae(&["list", "--quiet"]).expect_ok().stdout, "");
        assert!(!cgroup_parent_exists(&lab.root), "cgroup parent left");
        assert_eq!(reap_all_children(), Vec::<i32>::new(), "processes left");
    }
}

#[test]
fn create_killed_before_the_state_dir_leaves_no_container() {
    for phase in ["create.validate", "create.cgroup-validate"] {
        let crash = Crash::new("killvalidate", "c");
        crash.create_killed_at(phase);
        assert_eq!(crash.status(), None, "at {phase}");
        assert!(!crash.lab.root.join(crash.id).exists());
        assert_eq!(cgroup_dirs(&crash.lab.root, crash.id).len(), 0);
        crash.finish();
    }
}

#[test]
fn create_killed_after_reserving_the_state_dir_reads_stopped() {
    let crash = Crash::new("killreserve", "c");
    crash.create_killed_at("create.reserve");
    assert_eq!(crash.status().as_deref(), Some("stopped"));
    crash.finish();
}

#[test]
fn create_killed_after_making_the_cgroup_reads_stopped_and_delete_removes_the_cgroup() {
    let crash = Crash::new("killcgroup", "c");
    crash.create_killed_at("create.cgroup");
    assert_eq!(crash.status().as_deref(), Some("stopped"));
    assert!(!cgroup_dirs(&crash.lab.root, crash.id).is_empty());
    crash.finish();
}

#[test]
fn create_killed_between_the_clone_and_the_state_write_leaves_an_init_that_exits_by_itself() {
    // After the clone the init waits to be released; released, it enters
    // its namespaces and mounts the rootfs; ready, it waits to be recorded
    // in the state. Whichever it was doing, it ends with gorae.
    for phase in ["create.clone", "create.release", "create.init"] {
        let crash = Crash::new("killinit", "c");
        crash.create_killed_at(phase);
        assert_eq!(crash.status().as_deref(), Some("stopped"), "at {phase}");
        crash.assert_its_processes_end();
        crash.finish();
    }
}

#[test]
fn create_killed_mid_rootfs_leaves_no_process_in_the_half_built_container() {
    // A createContainer hook runs once the init has mounted everything and
    // before pivot_root: gorae is killed while it blocks there.
    let crash = Crash::new("killmidrootfs", "c");
    let marker = crash.lab.dir.join("hook-ran");
    crash.lab.edit_config(|c| {
        let script = format!("touch {}; exec sleep 300", marker.display());
        c["hooks"] = serde_json::json!({
            "createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", script]}]
        });
    });
    crash.lab.track(crash.id);
    let mut create = Command::new(GORAE)
        .arg("--root")
        .arg(&crash.lab.root)
        .args(["create", "--bundle"])
        .arg(&crash.lab.bundle)
        .arg(crash.id)
        .stdin(Stdio::null())
        .stdout(fs::File::create(crash.lab.dir.join("create.out")).unwrap())
        .stderr(fs::File::create(crash.lab.dir.join("create.err")).unwrap())
        .spawn()
        .unwrap();
    let ran = eventually(|| marker.exists());
    create.kill().unwrap();
    create.wait().unwrap();
    assert!(ran, "the createContainer hook never ran");
    assert_eq!(crash.status().as_deref(), Some("stopped"));
    crash.assert_its_processes_end();
    crash.finish();
}

#[test]
fn create_killed_after_the_state_write_leaves_a_created_container_that_starts() {
    let crash = Crash::new("killstate", "c");
    crash.create_killed_at("create.state");
    assert_eq!(crash.status().as_deref(), Some("created"));
    crash.lab.gorae(&["start", crash.id]).expect_ok();
    assert_eq!(crash.status().as_deref(), Some("running"));
    crash.finish();
}

#[test]
fn start_killed_at_any_phase_leaves_a_running_container() {
    for phase in ["start.release", "start.socket", "start.poststart"] {
        let crash = Crash::new("killstart", "c");
        crash.lab.create(crash.id).expect_ok();
        crash.killed_at(phase, &["start", crash.id]);
        assert!(
            eventually(|| crash.status().as_deref() == Some("running")),
            "at {phase}: {:?}",
            crash.status()
        );
        crash
            .lab
            .gorae(&["start", crash.id])
            .expect_error("container is running");
        crash.finish();
    }
}

#[test]
fn exec_killed_at_any_phase_leaves_the_container_running() {
    // How many processes the container has once things settle: the exec'd
    // one ends with gorae until it is ready, and runs on after. Killed
    // while it sets up, it may have been just ready: either is right, as
    // long as the container's delete ends it.
    for (phase, processes) in [
        ("exec.prepare", Some(1)),
        ("exec.clone", Some(1)),
        ("exec.release", None),
        ("exec.init", Some(2)),
    ] {
        let crash = Crash::new("killexec", "c");
        crash.run_it();
        crash.killed_at(phase, &["exec", crash.id, "sleep", "301"]);
        assert_eq!(crash.status().as_deref(), Some("running"), "at {phase}");
        if let Some(n) = processes {
            let settled = eventually(|| crash.pids().len() == n);
            assert!(settled, "at {phase}: {:?}", crash.pids());
        }
        crash.finish();
    }
}

#[test]
fn delete_killed_at_any_phase_reads_stopped_or_gone_and_a_second_delete_finishes() {
    for (phase, after) in [
        ("delete.stop", Some("stopped")),
        ("delete.cgroup", Some("stopped")),
        ("delete.state", None),
    ] {
        let crash = Crash::new("killdelete", "c");
        crash.run_it();
        crash.killed_at(phase, &["delete", "--force", crash.id]);
        assert_eq!(crash.status().as_deref(), after, "at {phase}");
        assert!(crash.pids().is_empty(), "at {phase}: {:?}", crash.pids());
        if after.is_some() {
            crash.lab.gorae(&["delete", crash.id]).expect_ok();
        }
        crash.finish();
    }
}

#[test]
fn a_state_dir_without_state_json_reads_stopped_and_deletes() {
    // What a create killed between its mkdir and its first write leaves
    // (no phase ends in between), and a delete killed mid-removal.
    let crash = Crash::new("nostatejson", "c");
    fs::create_dir_all(crash.lab.root.join(crash.id)).unwrap();
    assert_eq!(crash.status().as_deref(), Some("stopped"));
    let list = crash.lab.gorae(&["list", "--quiet"]).expect_ok().stdout;
    assert_eq!(list, format!("{BYSTANDER}\n{}\n", crash.id));
    crash.lab.gorae(&["delete", crash.id]).expect_ok();
    crash.finish();
}

/// A tmpfs mounted with `options` and a lab whose state root is on it;
/// the test runs alone. Bound in this order, the lab is dropped first, its
/// containers deleted while the disk is still mounted.
fn on_disk(name: &str, options: &str) -> (MutexGuard<'static, ()>, Tmpfs, Lab) {
    let serial = serial();
    let disk = Tmpfs::mount(name, options);
    let mut lab = Lab::new(name, &["sleep", "300"]);
    lab.root = disk.path.join("root");
    (serial, disk, lab)
}

/// Asserts that container `id` of `lab` left nothing: no state dir, no
/// cgroup, no process.
#[track_caller]
fn assert_no_trace(lab: &Lab, id: &str) {
    assert!(!lab.root.join(id).exists(), "state dir of {id} left");
    assert_eq!(cgroup_dirs(&lab.root, id), Vec::<std::path::PathBuf>::new());
    assert!(!cgroup_parent_exists(&lab.root), "cgroup parent left");
    lab.assert_nothing_left(id);
    assert_eq!(reap_all_children(), Vec::<i32>::new(), "processes left");
}

#[test]
fn create_on_a_full_state_disk_fails_in_one_line_and_leaves_nothing() {
    // Out of space, the state file cannot be written; out of inodes, the
    // state dir cannot be made.
    for inodes in [false, true] {
        let options = if inodes {
            "size=1m,nr_inodes=64"
        } else {
            "size=64k"
        };
        let (_serial, disk, lab) = on_disk("fulldisk", options);
        fs::create_dir(&lab.root).unwrap();
        if inodes {
            disk.fill_inodes();
        } else {
            disk.fill_space();
        }
        lab.create("c").expect_error("No space left on device");
        assert_no_trace(&lab, "c");
    }
}

#[test]
fn create_on_a_read_only_state_disk_fails_in_one_line_and_leaves_nothing() {
    let (_serial, disk, mut lab) = on_disk("rodisk", "size=1m");
    fs::create_dir(&lab.root).unwrap();
    disk.set_readonly(true);
    lab.create("c").expect_error("Read-only file system");
    assert_no_trace(&lab, "c");
    // A state root that does not exist yet cannot be made either.
    lab.root = disk.path.join("fresh");
    lab.create("c").expect_error("Read-only file system");
    assert_no_trace(&lab, "c");
}

#[test]
fn delete_on_a_read_only_state_disk_stops_the_container_and_fails_in_one_line() {
    let (_serial, disk, lab) = on_disk("rodelete", "size=1m");
    lab.create("c").expect_ok();
    lab.gorae(&["start", "c"]).expect_ok();
    disk.set_readonly(true);
    lab.gorae(&["delete", "--force", "c"])
        .expect_error("Read-only file system");
    // Everything but the state dir is gone, and the state says so.
    assert_eq!(lab.status("c"), "stopped");
    assert_eq!(
        cgroup_dirs(&lab.root, "c"),
        Vec::<std::path::PathBuf>::new()
    );
    disk.set_readonly(false);
    lab.gorae(&["delete", "c"]).expect_ok();
    assert_no_trace(&lab, "c");
}

#[test]
fn start_on_a_read_only_state_disk_starts_the_container_with_a_warning() {
    // The start socket cannot be removed, but the init is released: the
    // container runs, and says so.
    let (_serial, disk, lab) = on_disk("rostart", "size=1m");
    lab.create("c").expect_ok();
    disk.set_readonly(true);
    let out = lab.gorae(&["start", "c"]).expect_ok();
    assert!(
        out.stderr.contains("level=warning") && out.stderr.contains("Read-only file system"),
        "{out:?}"
    );
    assert_eq!(lab.status("c"), "running");
    lab.gorae(&["start", "c"])
        .expect_error("container is running");
    disk.set_readonly(false);
    lab.gorae(&["delete", "--force", "c"]).expect_ok();
    assert_no_trace(&lab, "c");
}

/// A container sharing gorae's mount namespace (no "mount" entry): killed
/// once its init has mounted, create leaves those mounts on the host until
/// `delete --force` detaches them.
#[test]
fn create_killed_after_mounting_in_our_namespace_leaves_no_mount_after_delete() {
    let _serial = serial();
    let lab = Lab::new("killsharedmnt", &["sleep", "300"]);
    lab.edit_config(|c| {
        c["linux"]["namespaces"] = serde_json::json!([{"type": "pid"}]);
        c.as_object_mut().unwrap().remove("hostname");
    });
    let rootfs = fs::canonicalize(lab.rootfs()).unwrap();
    let below = || {
        fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter(|l| l.contains(rootfs.to_str().unwrap()))
            .count()
    };
    let bundle = lab.bundle.to_str().unwrap().to_owned();
    let out = lab.gorae_as(
        Path::new(GORAE),
        &["create", "--bundle", &bundle, "m"],
        |c| {
            c.env("GORAE_FAULT_KILL_AT", "create.init");
        },
    );
    assert_eq!(out.signal, Some(libc::SIGKILL), "{out:?}");
    assert!(below() > 0, "the init's mounts are in our namespace");
    assert_eq!(lab.status_or_absent("m").as_deref(), Some("stopped"));
    lab.gorae(&["delete", "--force", "m"]).expect_ok();
    assert_eq!(below(), 0, "mounts left below the rootfs");
    lab.assert_nothing_left("m");
    assert_eq!(reap_all_children(), Vec::<i32>::new(), "processes left");
}

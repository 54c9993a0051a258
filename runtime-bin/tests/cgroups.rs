//! The container's cgroup, on this host's real hierarchies: limits the
//! kernel enforces, pause/resume, update, ps, events, kill --all, and
//! removal on delete.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use common::Lab;
use serde_json::{Value, json};

/// The host directory of the init's cgroup in the v1 `controller`
/// hierarchy, read from `/proc/<pid>/cgroup`.
fn host_cgroup_dir(pid: i64, controller: &str) -> PathBuf {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let line = text
        .lines()
        .find(|l| {
            l.split(':')
                .nth(1)
                .is_some_and(|c| c.split(',').any(|c| c == controller))
        })
        .unwrap_or_else(|| panic!("no {controller} line in {text}"));
    let rel = line.splitn(3, ':').nth(2).unwrap().trim_start_matches('/');
    PathBuf::from("/sys/fs/cgroup").join(controller).join(rel)
}

fn running(name: &str, args: &[&str], resources: Value) -> (Lab, i64) {
    let lab = Lab::new(name, args);
    lab.edit_config(|c| c["linux"]["resources"] = resources);
    lab.create("c").expect_ok();
    lab.gorae(&["start", "c"]).expect_ok();
    let pid = lab.state("c")["pid"].as_i64().unwrap();
    (lab, pid)
}

#[test]
fn limits_are_in_the_kernels_cgroup_files_and_update_changes_them() {
    let (lab, pid) = running(
        "limits",
        &["sleep", "30"],
        json!({"memory": {"limit": 67108864}, "cpu": {"shares": 512, "quota": 50000, "period": 100000}, "pids": {"limit": 32}}),
    );
    let read = |ctrl: &str, file: &str| {
        std::fs::read_to_string(host_cgroup_dir(pid, ctrl).join(file)).unwrap()
    };
    assert_eq!(read("memory", "memory.limit_in_bytes"), "67108864\n");
    assert_eq!(read("cpu", "cpu.shares"), "512\n");
    assert_eq!(read("cpu", "cpu.cfs_quota_us"), "50000\n");
    assert_eq!(read("pids", "pids.max"), "32\n");
    lab.gorae(&["update", "--memory", "128m", "--pids-limit", "64", "c"])
        .expect_ok();
    assert_eq!(read("memory", "memory.limit_in_bytes"), "134217728\n");
    assert_eq!(read("pids", "pids.max"), "64\n");
    let file = lab.dir.join("resources.json");
    std::fs::write(&file, r#"{"cpu": {"shares": 256}}"#).unwrap();
    lab.gorae(&["update", "-r", file.to_str().unwrap(), "c"])
        .expect_ok();
    assert_eq!(read("cpu", "cpu.shares"), "256\n");
    // A source without end is read up to the limit, then refused.
    lab.gorae(&["update", "-r", "/dev/zero", "c"])
        .expect_error("/dev/zero is larger than");
    assert_eq!(read("cpu", "cpu.shares"), "256\n");
    let dirs: Vec<PathBuf> = ["memory", "cpu", "pids", "freezer"]
        .iter()
        .map(|c| host_cgroup_dir(pid, c))
        .collect();
    lab.gorae(&["delete", "--force", "c"]).expect_ok();
    for d in dirs {
        assert!(!d.exists(), "{} left after delete", d.display());
    }
    lab.assert_nothing_left("c");
}

#[test]
fn a_pids_limit_stops_a_fork_bomb_at_the_limit() {
    let lab = Lab::new(
        "forkbomb",
        &[
            "sh",
            "-c",
            "cat /sys/fs/cgroup/pids/pids.max; (for i in $(seq 1 30); do sleep 2 & done); read n < /sys/fs/cgroup/pids/pids.current; echo $n",
        ],
    );
    lab.edit_config(|c| c["linux"]["resources"] = json!({"pids": {"limit": 10}}));
    // The subshell forks sleeps until the shell, itself and 8 sleeps make
    // 10; the 9th fork fails and ends it, leaving the shell and 8 sleeps.
    let out = lab.run("f").expect_ok();
    assert_eq!(out.stdout, "10\n9\n");
    assert!(out.stderr.contains("can't fork"), "{out:?}");
    lab.assert_nothing_left("f");
}

#[test]
fn pause_freezes_every_process_and_resume_thaws_them() {
    let (lab, pid) = running("pause", &["sh", "-c", "sleep 30 & sleep 30"], json!({}));
    lab.gorae(&["pause", "c"]).expect_ok();
    assert_eq!(lab.status("c"), "paused");
    let freezer = host_cgroup_dir(pid, "freezer");
    assert_eq!(
        std::fs::read_to_string(freezer.join("freezer.state")).unwrap(),
        "FROZEN\n"
    );
    lab.gorae(&["pause", "c"]).expect_error("paused");
    lab.gorae(&["resume", "c"]).expect_ok();
    assert_eq!(lab.status("c"), "running");
    assert_eq!(
        std::fs::read_to_string(freezer.join("freezer.state")).unwrap(),
        "THAWED\n"
    );
    lab.gorae(&["resume", "c"]).expect_error("running");
    lab.gorae(&["delete", "--force", "c"]).expect_ok();
    lab.assert_nothing_left("c");
}

#[test]
fn delete_force_of_a_paused_container_removes_it() {
    let (lab, _) = running("pausedelete", &["sleep", "30"], json!({}));
    lab.gorae(&["pause", "c"]).expect_ok();
    lab.gorae(&["delete", "--force", "c"]).expect_ok();
    lab.assert_nothing_left("c");
}

#[test]
fn default_parent_cgroups_stay_while_a_container_uses_them_and_go_with_the_last() {
    let (lab, first) = running("defaultparents", &["sleep", "30"], json!({}));
    lab.create("d").expect_ok();
    let second = lab.state("d")["pid"].as_i64().unwrap();
    let controllers = ["pids", "memory", "freezer", "cpu"];
    // `/gorae/<tag of the state root>` in every hierarchy.
    let parents: Vec<PathBuf> = controllers
        .iter()
        .map(|c| host_cgroup_dir(first, c).parent().unwrap().to_path_buf())
        .collect();
    for (c, parent) in controllers.iter().zip(&parents) {
        assert_eq!(host_cgroup_dir(second, c).parent().unwrap(), parent);
    }
    lab.gorae(&["delete", "--force", "c"]).expect_ok();
    for parent in &parents {
        assert!(
            parent.is_dir(),
            "{} removed while d uses it",
            parent.display()
        );
    }
    lab.gorae(&["delete", "--force", "d"]).expect_ok();
    for parent in &parents {
        assert!(!parent.exists(), "{} left behind", parent.display());
    }
    lab.assert_nothing_left("c");
    lab.assert_nothing_left("d");
}

#[test]
fn ps_lists_the_containers_processes() {
    let (lab, pid) = running("ps", &["sh", "-c", "sleep 30 & sleep 30"], json!({}));
    std::thread::sleep(std::time::Duration::from_millis(100));
    let out = lab.gorae(&["ps", "--format", "json", "c"]).expect_ok();
    let pids: Vec<i64> = serde_json::from_str(&out.stdout).unwrap();
    // The shell runs the first sleep in the background and becomes the second.
    assert_eq!(pids.len(), 2, "{pids:?}");
    assert!(pids.contains(&pid));
    let table = lab.gorae(&["ps", "c"]).expect_ok().stdout;
    assert!(table.starts_with("UID"), "{table}");
    assert_eq!(table.lines().count(), 3, "{table}");
    lab.gorae(&["delete", "--force", "c"]).expect_ok();
}

#[test]
fn kill_all_signals_every_process_even_without_a_pid_namespace() {
    let lab = Lab::new("killall", &["sh", "-c", "sleep 30 & sleep 30 & sleep 30"]);
    lab.edit_config(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "pid")
    });
    lab.create("c").expect_ok();
    lab.gorae(&["start", "c"]).expect_ok();
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(common::processes_rooted_in(&lab.rootfs()).len(), 3);
    lab.gorae(&["kill", "--all", "c", "KILL"]).expect_ok();
    lab.wait_status("c", "stopped");
    lab.gorae(&["delete", "c"]).expect_ok();
    lab.assert_nothing_left("c");
}

#[test]
fn events_stats_reports_memory_cpu_and_pids() {
    let (lab, _) = running(
        "events",
        &["sleep", "30"],
        json!({"memory": {"limit": 67108864}}),
    );
    let out = lab.gorae(&["events", "--stats", "c"]).expect_ok();
    let event: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(event["type"], "stats");
    assert_eq!(event["id"], "c");
    assert_eq!(event["data"]["memory"]["usage"]["limit"], 67108864);
    assert!(event["data"]["pids"]["current"].as_u64().unwrap() >= 1);
    assert!(
        event["data"]["cpu"]["usage"]["total"].as_u64().is_some(),
        "{event}"
    );
    lab.gorae(&["delete", "--force", "c"]).expect_ok();
}

#[test]
fn events_stats_has_the_keys_runc_prints() {
    if !std::path::Path::new("/usr/sbin/runc").exists() {
        println!("skipped: runc is not installed");
        return;
    }
    let (lab, _) = running("runcshape", &["sleep", "30"], json!({}));
    let ours: Value =
        serde_json::from_str(&lab.gorae(&["events", "--stats", "c"]).expect_ok().stdout).unwrap();
    let runc_root = lab.dir.join("runc-root");
    let runc = |args: &[&str]| {
        std::process::Command::new("runc")
            .arg("--root")
            .arg(&runc_root)
            .args(args)
            .current_dir(&lab.bundle)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    lab.edit_config(|c| c["ociVersion"] = json!("1.0.2"));
    // A detached container keeps its stdio: give runc run none to hold.
    let started = std::process::Command::new("runc")
        .arg("--root")
        .arg(&runc_root)
        .args(["run", "-d", "r"])
        .current_dir(&lab.bundle)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(started.success());
    let theirs: Value = serde_json::from_slice(&runc(&["events", "--stats", "r"]).stdout).unwrap();
    runc(&["delete", "--force", "r"]);
    let keys = |v: &Value| {
        v.as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert_eq!(keys(&ours), keys(&theirs));
    for section in ["cpu", "memory", "pids", "blkio"] {
        for key in keys(&theirs["data"][section]) {
            assert!(
                ours["data"][section].get(&key).is_some(),
                "data.{section}.{key} missing: {ours}"
            );
        }
    }
    lab.gorae(&["delete", "--force", "c"]).expect_ok();
}

#[test]
fn bad_cgroup_input_is_refused_before_anything_is_made() {
    let lab = Lab::new("badcgroup", &["true"]);
    lab.edit_config(|c| c["linux"]["resources"] = json!({"cpu": {"cpus": "0-abc"}}));
    lab.create("a").expect_error("cpu.cpus");
    lab.edit_config(|c| {
        c["linux"]["resources"] = json!({});
        c["linux"]["cgroupsPath"] = json!("a/../../escape");
    });
    lab.create("b").expect_error("..");
    lab.edit_config(|c| c["linux"]["cgroupsPath"] = json!("system.slice:gorae:x"));
    lab.create("c").expect_error("systemd");
    lab.edit_config(|c| {
        c["linux"].as_object_mut().unwrap().remove("cgroupsPath");
        c["linux"]["resources"] =
            json!({"devices": [{"allow": false, "type": "q", "access": "rwm"}]});
    });
    lab.create("d").expect_error("unknown variant `q`");
    for id in ["a", "b", "c", "d"] {
        lab.assert_nothing_left(id);
    }
}

#[test]
fn the_cgroup_mount_shows_the_containers_own_cgroup_even_in_a_user_namespace() {
    let lab = Lab::new(
        "cgroupview",
        &[
            "sh",
            "-c",
            "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; ls /sys/fs/cgroup/memory | grep -c process_api; cat /sys/fs/cgroup/pids/pids.max",
        ],
    );
    lab.edit_config(|c| {
        c["linux"]["resources"] = json!({"memory": {"limit": 67108864}, "pids": {"limit": 40}})
    });
    assert_eq!(lab.output("v"), "67108864\n0\n40\n");
    lab.edit_config(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        // sysfs needs the network namespace to belong to the user namespace.
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["destination"] != "/sys");
        c["mounts"].as_array_mut().unwrap().insert(
            0,
            json!({"destination": "/sys", "type": "tmpfs", "source": "tmpfs"}),
        );
    });
    // The rootfs's busybox is a hard link of the host's: copy it first so
    // that changing the owner never touches the host's file.
    let busybox = lab.rootfs().join("bin/busybox");
    std::fs::copy(&busybox, lab.dir.join("busybox.copy")).unwrap();
    std::fs::rename(lab.dir.join("busybox.copy"), &busybox).unwrap();
    std::process::Command::new("chown")
        .args(["-R", "100000:100000"])
        .arg(lab.rootfs())
        .status()
        .unwrap();
    assert_eq!(
        std::fs::metadata("/bin/busybox")
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
            .unwrap(),
        0
    );
    assert_eq!(lab.output("u"), "67108864\n0\n40\n");
}

#[test]
fn a_memory_limit_oom_kills_and_events_reports_it() {
    // dd allocates a 64 MiB buffer for one block: over the 32 MiB limit.
    let (lab, _) = running(
        "oomevents",
        &[
            "sh",
            "-c",
            "touch /tmp/ready; while [ ! -e /tmp/go ]; do sleep 0.05; done; dd if=/dev/zero of=/dev/null bs=64M count=1; sleep 30",
        ],
        json!({"memory": {"limit": 33554432}}),
    );
    let out = lab.dir.join("events.out");
    let mut events = std::process::Command::new(common::GORAE)
        .arg("--root")
        .arg(&lab.root)
        .args(["events", "--interval", "1s", "c"])
        .stdout(std::fs::File::create(&out).unwrap())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    std::fs::write(lab.rootfs().join("tmp/go"), "").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut seen = String::new();
    while std::time::Instant::now() < deadline {
        seen = std::fs::read_to_string(&out).unwrap_or_default();
        if seen.contains("\"oom\"") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = events.kill();
    let _ = events.wait();
    let oom: Vec<Value> = seen
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["type"] == "oom")
        .collect();
    assert!(!oom.is_empty(), "no oom event in {seen:?}");
    assert_eq!(oom[0]["id"], "c");
    lab.gorae(&["delete", "--force", "c"]).expect_ok();
    lab.assert_nothing_left("c");
}

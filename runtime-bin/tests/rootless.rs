//! Rootless: an unprivileged user runs containers with gorae. The test
//! creates a user of its own (with an /etc/subuid range), runs gorae as
//! that user with setpriv, and removes the user afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::json;

/// A temporary unprivileged user with a subordinate id range, and a
/// directory it owns; both removed on drop.
struct User {
    name: String,
    uid: u32,
    gid: u32,
    dir: PathBuf,
}

impl User {
    fn create(tag: &str) -> Option<User> {
        if !nix::unistd::geteuid().is_root() || !Path::new("/usr/bin/setpriv").exists() {
            println!("skipped: needs root, useradd and setpriv to make a test user");
            return None;
        }
        let name = format!("gorae-{tag}-{}", std::process::id() % 100_000);
        let status = Command::new("useradd")
            .args(["--no-create-home", "--shell", "/bin/false", &name])
            .status()
            .unwrap();
        assert!(status.success(), "useradd {name}");
        let status = Command::new("usermod")
            .args([
                "--add-subuids",
                "300000-365535",
                "--add-subgids",
                "300000-365535",
                &name,
            ])
            .status()
            .unwrap();
        assert!(status.success(), "usermod --add-subuids");
        let id = |flag: &str| -> u32 {
            let out = Command::new("id").args([flag, &name]).output().unwrap();
            String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
        };
        let (uid, gid) = (id("-u"), id("-g"));
        let dir = common::tests_dir().join(format!("rootless-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("xdg")).unwrap();
        let user = User {
            name,
            uid,
            gid,
            dir,
        };
        user.chown(&user.dir);
        Some(user)
    }

    fn chown(&self, path: &Path) {
        let owner = format!("{}:{}", self.uid, self.gid);
        assert!(
            Command::new("chown")
                .args(["-R", &owner])
                .arg(path)
                .status()
                .unwrap()
                .success()
        );
    }

    /// Runs gorae as this user, with its own XDG_RUNTIME_DIR (so the
    /// default state root is `<dir>/xdg/gorae`). Output goes through files:
    /// a created container's init keeps the caller's stdio open.
    fn gorae(&self, args: &[&str]) -> common::Outcome {
        let out_path = self.dir.join("gorae.out");
        let err_path = self.dir.join("gorae.err");
        let status = Command::new("setpriv")
            .args([
                "--reuid",
                &self.uid.to_string(),
                "--regid",
                &self.gid.to_string(),
                "--clear-groups",
            ])
            .arg("env")
            .arg(format!(
                "XDG_RUNTIME_DIR={}",
                self.dir.join("xdg").display()
            ))
            .arg(common::GORAE)
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .status()
            .unwrap();
        common::Outcome::of(status, &out_path, &err_path)
    }

    /// A bundle from `gorae spec --rootless` made by the user, with its own
    /// busybox rootfs and `args` as the process.
    fn bundle(&self, name: &str, args: &[&str]) -> PathBuf {
        let bundle = self.dir.join(name);
        common::make_rootfs(&bundle.join("rootfs"));
        // A copy, not the host's busybox through a hard link: the chown
        // below must not reach the host's file.
        let busybox = bundle.join("rootfs/bin/busybox");
        std::fs::remove_file(&busybox).unwrap();
        std::fs::copy("/bin/busybox", &busybox).unwrap();
        self.chown(&bundle);
        self.gorae(&["spec", "--rootless", "--bundle", bundle.to_str().unwrap()])
            .expect_ok();
        let path = bundle.join("config.json");
        let mut config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(args);
        config["root"]["readonly"] = json!(false);
        std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
        self.chown(&bundle);
        bundle
    }
}

impl Drop for User {
    fn drop(&mut self) {
        let state = self.dir.join("xdg/gorae");
        for id in std::fs::read_dir(&state).into_iter().flatten().flatten() {
            let id = id.file_name().to_string_lossy().into_owned();
            let _ = self.gorae(&["delete", "--force", &id]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = Command::new("usermod")
            .args([
                "--del-subuids",
                "300000-365535",
                "--del-subgids",
                "300000-365535",
                &self.name,
            ])
            .status();
        let _ = Command::new("userdel").arg(&self.name).status();
        assert!(
            std::fs::metadata("/bin/busybox").unwrap().uid() == 0,
            "the host's busybox changed owner"
        );
    }
}

#[test]
fn an_unprivileged_user_runs_a_container_as_root_inside_and_itself_outside() {
    let Some(user) = User::create("rl") else {
        return;
    };
    let bundle = user.bundle("b1", &["sh", "-c", "id -u; cat /proc/self/uid_map"]);
    let out = user.gorae(&["run", "--bundle", bundle.to_str().unwrap(), "r1"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let lines: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["0"], "{out:?}");
    assert_eq!(
        lines[1],
        ["0", user.uid.to_string().as_str(), "1"],
        "{out:?}"
    );
    assert!(
        user.dir.join("xdg/gorae").is_dir(),
        "the state root is not under XDG_RUNTIME_DIR"
    );
}

#[test]
fn an_unprivileged_user_creates_starts_kills_and_deletes() {
    let Some(user) = User::create("lc") else {
        return;
    };
    let bundle = user.bundle("b2", &["sleep", "30"]);
    user.gorae(&["create", "--bundle", bundle.to_str().unwrap(), "c"])
        .expect_ok();
    user.gorae(&["start", "c"]).expect_ok();
    let state: serde_json::Value =
        serde_json::from_str(&user.gorae(&["state", "c"]).expect_ok().stdout).unwrap();
    assert_eq!(state["status"], "running");
    let pid = state["pid"].as_i64().unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uid_line.split_whitespace().nth(1),
        Some(user.uid.to_string().as_str()),
        "host view: {uid_line}"
    );
    // exec joins the container's user namespace first, then (from inside
    // it) the pid namespace it owns: the process is pid 2 there, root
    // inside and the user outside.
    let out = user
        .gorae(&[
            "exec",
            "c",
            "sh",
            "-c",
            "echo $$; id -u; cat /proc/self/uid_map",
        ])
        .expect_ok();
    let lines: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let uid = user.uid.to_string();
    assert_eq!(
        lines,
        [vec!["2"], vec!["0"], vec!["0", &uid, "1"]],
        "{out:?}"
    );
    user.gorae(&["kill", "c", "KILL"]).expect_ok();
    for _ in 0..100 {
        let s: serde_json::Value =
            serde_json::from_str(&user.gorae(&["state", "c"]).stdout).unwrap_or_default();
        if s["status"] == "stopped" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    user.gorae(&["delete", "c"]).expect_ok();
    user.gorae(&["state", "c"]).expect_error("does not exist");
}

#[test]
fn subordinate_ids_map_through_newuidmap() {
    let Some(user) = User::create("sub") else {
        return;
    };
    if !Path::new("/usr/bin/newuidmap").exists() {
        println!("skipped: newuidmap missing (Debian's uidmap)");
        return;
    }
    let bundle = user.bundle(
        "b3",
        &["sh", "-c", "stat -c %u:%g /owned; cat /proc/self/uid_map"],
    );
    let owned = bundle.join("rootfs/owned");
    std::fs::write(&owned, "x").unwrap();
    std::os::unix::fs::chown(&owned, Some(300_001), Some(300_001)).unwrap();
    let path = bundle.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let maps = json!([{"containerID": 0, "hostID": user.uid, "size": 1}, {"containerID": 1, "hostID": 300000, "size": 65536}]);
    config["linux"]["uidMappings"] = maps.clone();
    config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": user.gid, "size": 1}, {"containerID": 1, "hostID": 300000, "size": 65536}]);
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
    let out = user.gorae(&["run", "--bundle", bundle.to_str().unwrap(), "s"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some("2:2"), "{out:?}");
}

#[test]
fn limits_without_a_delegated_cgroup_fail_saying_why() {
    let Some(user) = User::create("cg") else {
        return;
    };
    let bundle = user.bundle("b4", &["true"]);
    let path = bundle.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    config["linux"]["resources"] = json!({"pids": {"limit": 10}});
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
    user.gorae(&["create", "--bundle", bundle.to_str().unwrap(), "l"])
        .expect_error("rootless and no cgroup is delegated to this user");
}

fn edit_config(bundle: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let path = bundle.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    f(&mut config);
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
}

/// Rootless safety: root inside is the user outside, so a host directory
/// of root's, bound in read-write, stays as unwritable as it is to the user.
#[test]
fn rootless_root_cannot_write_a_host_file_the_user_cannot() {
    let Some(user) = User::create("ro") else {
        return;
    };
    let host = user.dir.join("roots");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("file"), "host\n").unwrap();
    let script = "echo pwned > /host/file; touch /host/new; chmod 777 /host/file; \
                  cat /host/file";
    let bundle = user.bundle("b5", &["sh", "-c", script]);
    edit_config(&bundle, |c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/host", "type": "bind", "source": host,
            "options": ["rbind", "rw"]
        }));
    });
    let out = user.gorae(&["run", "--bundle", bundle.to_str().unwrap(), "w"]);
    assert_eq!(out.stdout, "host\n", "{out:?}");
    assert_eq!(
        std::fs::read_to_string(host.join("file")).unwrap(),
        "host\n"
    );
    assert!(
        !host.join("new").exists(),
        "the container created a host file"
    );
    let mode = std::fs::metadata(host.join("file")).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o644, "the container changed the host file's mode");
}

/// Rootless variants of CVE-2021-30465 and CVE-2026-41579: a mount
/// destination that is a symlink to a host directory the user owns, and a
/// rootfs whose /dev is such a symlink (devices are bind-mounted here, not
/// made): everything lands inside the rootfs.
#[test]
fn rootless_symlinks_to_the_host_keep_mounts_and_devices_in_the_rootfs() {
    let Some(user) = User::create("sl") else {
        return;
    };
    let bundle = user.bundle(
        "b6",
        &["sh", "-c", "stat -c %t:%T /dev/null; touch /escape/x"],
    );
    let rootfs = bundle.join("rootfs");
    let (victim, host_dev) = (user.dir.join("victim"), user.dir.join("host-dev"));
    for dir in [&victim, &host_dev] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::create_dir_all(rootfs.join(dir.strip_prefix("/").unwrap())).unwrap();
    }
    std::os::unix::fs::symlink(&victim, rootfs.join("escape")).unwrap();
    std::fs::remove_dir(rootfs.join("dev")).unwrap();
    std::os::unix::fs::symlink(&host_dev, rootfs.join("dev")).unwrap();
    user.chown(&bundle);
    user.chown(&user.dir);
    edit_config(&bundle, |c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/escape", "type": "tmpfs", "source": "tmpfs", "options": ["rw"]
        }));
    });
    let out = user.gorae(&["run", "--bundle", bundle.to_str().unwrap(), "s"]);
    assert_eq!(out.stdout, "1:3\n", "{out:?}");
    let listed = |d: &Path| std::fs::read_dir(d).unwrap().count();
    assert_eq!(
        listed(&victim),
        0,
        "the tmpfs or its file reached the host dir"
    );
    assert_eq!(listed(&host_dev), 0, "a device reached the host dir");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(victim.to_str().unwrap()));
}

/// A rootless pod: a second container joins the first one's user, pid,
/// ipc and uts namespaces by path (the rootless spec has no network
/// namespace) (the pid namespace is entered
/// from inside the joined user namespace) and sees its processes.
#[test]
fn rootless_containers_share_a_pod_s_namespaces() {
    let Some(user) = User::create("pod") else {
        return;
    };
    let sandbox = user.bundle("b7", &["sleep", "30"]);
    user.gorae(&["create", "--bundle", sandbox.to_str().unwrap(), "sb"])
        .expect_ok();
    user.gorae(&["start", "sb"]).expect_ok();
    let state: serde_json::Value =
        serde_json::from_str(&user.gorae(&["state", "sb"]).expect_ok().stdout).unwrap();
    let pid = state["pid"].as_i64().unwrap();
    let app = user.bundle("b8", &["sh", "-c", "echo $$; ps -o comm"]);
    edit_config(&app, |c| {
        let mut ns = vec![json!({"type": "mount"})];
        for kind in ["user", "pid", "ipc", "uts"] {
            ns.push(json!({"type": kind, "path": format!("/proc/{pid}/ns/{kind}")}));
        }
        c["linux"]["namespaces"] = json!(ns);
        c["linux"].as_object_mut().unwrap().remove("uidMappings");
        c["linux"].as_object_mut().unwrap().remove("gidMappings");
    });
    let out = user.gorae(&["run", "--bundle", app.to_str().unwrap(), "app"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let mut lines = out.stdout.lines();
    assert_ne!(
        lines.next(),
        Some("1"),
        "not in the sandbox's pid namespace: {out:?}"
    );
    assert!(out.stdout.lines().any(|l| l.trim() == "sleep"), "{out:?}");
    user.gorae(&["delete", "--force", "sb"]).expect_ok();
}

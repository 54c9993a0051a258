//! What the process inside a gorae container actually sees: namespaces,
//! pid 1, hostname, user, capabilities, cwd, env, mounts, devices.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Lab;
use serde_json::json;

fn sh(script: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), script.into()]
}

fn lab(name: &str, script: &str) -> Lab {
    let args = sh(script);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Lab::new(name, &args)
}

#[test]
fn the_container_has_the_configured_hostname() {
    let lab = lab("hostname", "hostname");
    assert_eq!(lab.output("h"), "gorae-test\n");
}

#[test]
fn the_process_is_pid_1_of_its_own_pid_namespace() {
    let lab = lab("pid1", "echo $$; ps -o pid,comm; exit 0");
    let out = lab.output("p");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("1"));
    let procs: Vec<Vec<&str>> = lines
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        procs.len(),
        2,
        "only the shell and ps should be visible: {out}"
    );
    assert_eq!(procs[0], ["1", "sh"], "{out}");
    assert_eq!(procs[1][1], "ps", "{out}");
}

#[test]
fn every_configured_namespace_differs_from_the_hosts() {
    let lab = lab(
        "namespaces",
        "for n in pid net ipc uts mnt cgroup; do echo $n $(readlink /proc/self/ns/$n); done",
    );
    for line in lab.output("n").lines() {
        let (name, inside) = line.split_once(' ').unwrap();
        let host = std::fs::read_link(format!("/proc/self/ns/{name}")).unwrap();
        assert_ne!(
            inside,
            host.to_str().unwrap(),
            "{name} namespace is the host's"
        );
    }
}

#[test]
fn a_namespace_given_by_path_is_joined() {
    let lab = lab(
        "joinns",
        "readlink /proc/self/ns/net; readlink /proc/self/ns/uts",
    );
    let target = common::Lab::new("joinns-target", &["sleep", "30"]);
    target.create("target").expect_ok();
    let pid = target.state("target")["pid"].as_i64().unwrap();
    lab.edit_config(|c| {
        c["linux"]["namespaces"][1] =
            json!({"type": "network", "path": format!("/proc/{pid}/ns/net")});
    });
    let out = lab.output("joiner");
    let mut lines = out.lines();
    let target_net = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    let target_uts = std::fs::read_link(format!("/proc/{pid}/ns/uts")).unwrap();
    assert_eq!(lines.next(), target_net.to_str());
    assert_ne!(lines.next(), target_uts.to_str());
    target.gorae(&["delete", "--force", "target"]).expect_ok();
}

#[test]
fn user_group_and_additional_groups_are_as_configured() {
    let lab = lab("user", "id -u; id -g; id -G");
    lab.edit_config(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [10, 20]})
    });
    assert_eq!(lab.output("u"), "1000\n1000\n1000 10 20\n");
}

#[test]
fn capabilities_are_exactly_the_configured_sets() {
    let lab = lab("caps", "grep Cap /proc/self/status");
    let out = lab.output("c");
    // CAP_KILL (5), CAP_NET_BIND_SERVICE (10), CAP_AUDIT_WRITE (29).
    let want = format!("{:016x}", (1u64 << 5) | (1 << 10) | (1 << 29));
    assert!(out.contains(&format!("CapPrm:\t{want}")), "{out}");
    assert!(out.contains(&format!("CapEff:\t{want}")), "{out}");
    assert!(out.contains(&format!("CapBnd:\t{want}")), "{out}");
    assert!(
        out.contains("CapInh:\t0000000000000000"),
        "inheritable must stay empty: {out}"
    );
    assert!(
        out.contains("CapAmb:\t0000000000000000"),
        "ambient must stay empty: {out}"
    );
}

#[test]
fn ambient_and_inheritable_capabilities_are_raised_only_when_asked() {
    let lab = lab("ambient", "grep -E 'Cap(Inh|Amb|Eff)' /proc/self/status");
    lab.edit_config(|c| {
        let caps = json!(["CAP_NET_BIND_SERVICE"]);
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["process"]["capabilities"] = json!({
            "bounding": caps, "effective": caps, "permitted": caps,
            "inheritable": caps, "ambient": caps
        });
    });
    let out = lab.output("a");
    let want = format!("{:016x}", 1u64 << 10);
    for set in ["CapInh", "CapAmb", "CapEff"] {
        assert!(
            out.contains(&format!("{set}:\t{want}")),
            "{set} for uid 1000: {out}"
        );
    }
}

#[test]
fn cwd_and_env_are_as_configured() {
    let lab = lab(
        "cwdenv",
        "pwd; echo \"$GREETING\"; env | sort | grep -E '^(GREETING|PATH)='",
    );
    lab.edit_config(|c| {
        c["process"]["cwd"] = json!("/home/user");
        c["process"]["env"] = json!(["PATH=/bin", "GREETING=hello world"]);
    });
    assert_eq!(
        lab.output("e"),
        "/home/user\nhello world\nGREETING=hello world\nPATH=/bin\n"
    );
}

#[test]
fn a_missing_cwd_is_created_as_runc_does() {
    let lab = lab("cwdmissing", "pwd");
    lab.edit_config(|c| c["process"]["cwd"] = json!("/work/dir"));
    assert_eq!(lab.output("t"), "/work/dir\n");
    assert!(lab.rootfs().join("work/dir").is_dir());
}

#[test]
fn the_configured_mounts_are_in_the_containers_mount_table() {
    let lab = lab("mounts", "cat /proc/self/mountinfo");
    let out = lab.output("m");
    let find = |point: &str| {
        out.lines()
            .find(|l| l.split(' ').nth(4) == Some(point))
            .unwrap_or_else(|| panic!("{point} not mounted:\n{out}"))
            .to_owned()
    };
    assert!(find("/proc").contains(" - proc "));
    let dev = find("/dev");
    assert!(
        dev.contains(" - tmpfs ") && dev.contains("nosuid") && dev.contains("mode=755"),
        "{dev}"
    );
    assert!(find("/dev/pts").contains(" - devpts "));
    assert!(find("/dev/shm").contains(" - tmpfs "));
    assert!(find("/dev/mqueue").contains(" - mqueue "));
    let sys = find("/sys");
    assert!(
        sys.contains(" - sysfs ") && sys.split(' ').nth(5).unwrap().starts_with("ro"),
        "{sys}"
    );
    let cgroup = find("/sys/fs/cgroup");
    assert!(
        cgroup.split(' ').nth(5).unwrap().starts_with("ro"),
        "{cgroup}"
    );
    // No mount point of the host is visible.
    for line in out.lines() {
        let point = line.split(' ').nth(4).unwrap();
        assert!(
            !point.starts_with("/work") && !point.starts_with("/run"),
            "host mount visible: {line}"
        );
    }
}

#[test]
fn a_bind_mount_shows_the_host_directory_read_only() {
    let lab = lab(
        "bind",
        "cat /data/hello; touch /data/new 2>&1 || echo refused",
    );
    let data = lab.dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("hello"), "from host\n").unwrap();
    lab.edit_config(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/data", "type": "bind", "source": data, "options": ["rbind", "ro"]
        }));
    });
    let out = lab.output("b");
    assert!(out.starts_with("from host\n"), "{out}");
    assert!(
        out.contains("Read-only file system") && out.ends_with("refused\n"),
        "{out}"
    );
    assert!(!data.join("new").exists());
}

#[test]
fn a_readonly_root_refuses_writes() {
    let lab = lab("readonly", "touch /x 2>&1; echo done");
    lab.edit_config(|c| c["root"]["readonly"] = json!(true));
    let out = lab.output("r");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(!lab.rootfs().join("x").exists());
}

#[test]
fn default_devices_are_real_character_devices() {
    let lab = lab(
        "devices",
        "for d in null zero full random urandom tty; do stat -c '%n %F %t:%T %a' /dev/$d; done; readlink /dev/fd; readlink /dev/ptmx",
    );
    let out = lab.output("d");
    let want = [
        "/dev/null character special file 1:3 666",
        "/dev/zero character special file 1:5 666",
        "/dev/full character special file 1:7 666",
        "/dev/random character special file 1:8 666",
        "/dev/urandom character special file 1:9 666",
        "/dev/tty character special file 5:0 666",
        "/proc/self/fd",
        "pts/ptmx",
    ];
    assert_eq!(out.lines().collect::<Vec<_>>(), want);
}

#[test]
fn no_new_privileges_is_set_when_asked_and_not_otherwise() {
    let lab = lab("nnp", "grep NoNewPrivs /proc/self/status");
    assert_eq!(lab.output("n1"), "NoNewPrivs:\t1\n");
    lab.edit_config(|c| c["process"]["noNewPrivileges"] = json!(false));
    assert_eq!(lab.output("n0"), "NoNewPrivs:\t0\n");
}

#[test]
fn a_user_namespace_maps_ids_as_configured() {
    let lab = lab(
        "userns",
        "cat /proc/self/uid_map /proc/self/gid_map; id -u; stat -c %u /bin/busybox",
    );
    lab.edit_config(|c| {
        c["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 1}, {"containerID": 1, "hostID": 100001, "size": 65535}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 1}, {"containerID": 1, "hostID": 100001, "size": 65535}]);
        // sysfs and cgroup cannot be mounted from a user namespace without
        // its own network namespace being owned by it; keep what can be.
        c["mounts"].as_array_mut().unwrap().retain(|m| m["type"] != "cgroup");
    });
    let out = lab.output("un");
    let lines: Vec<_> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        lines,
        [
            "0 0 1",
            "1 100001 65535",
            "0 0 1",
            "1 100001 65535",
            "0",
            "0"
        ]
    );
}

#[test]
fn a_time_namespace_offsets_the_boottime_clock() {
    let lab = lab("timens", "cut -d. -f1 /proc/uptime");
    lab.edit_config(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "time"}));
        c["linux"]["timeOffsets"] = json!({"boottime": {"secs": 86400000, "nanosecs": 0}});
    });
    let uptime: u64 = lab.output("t").trim().parse().unwrap();
    assert!(uptime >= 86_400_000, "uptime {uptime} not offset");
}

#[test]
fn the_program_is_found_in_the_containers_path() {
    let lab = Lab::new("lookpath", &["busybox", "echo", "found"]);
    lab.edit_config(|c| c["process"]["env"] = json!(["PATH=/nonexistent:/bin"]));
    assert_eq!(lab.output("l"), "found\n");
}

#[test]
fn start_turns_the_waiting_init_into_the_program() {
    let lab = Lab::new("initexe", &["sleep", "30"]);
    lab.create("d").expect_ok();
    let pid = lab.state("d")["pid"].as_i64().unwrap();
    let exe = || std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    let waiting = exe();
    assert!(waiting.to_str().unwrap().contains("gorae"), "{waiting:?}");
    lab.gorae(&["start", "d"]).expect_ok();
    // start returns once the init is released; its execve follows.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while !exe().ends_with("busybox") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(exe().ends_with("busybox"), "the init runs {:?}", exe());
    lab.gorae(&["delete", "--force", "d"]).expect_ok();
}

/// A pod's container: it joins the sandbox's user, network, ipc and uts
/// namespaces by path and creates its own mount and pid namespaces, which
/// must then be owned by the joined user namespace (else mounting its
/// `/proc` and a tmpfs, as root of that namespace, is refused).
#[test]
fn a_container_joins_a_user_namespace_and_creates_namespaces_it_owns() {
    let map = json!([{"containerID": 0, "hostID": 0, "size": 1}, {"containerID": 1, "hostID": 100001, "size": 65535}]);
    let sandbox = lab("pod-sandbox", "sleep 30");
    sandbox.edit_config(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = map.clone();
        c["linux"]["gidMappings"] = map.clone();
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["type"] != "cgroup");
    });
    sandbox.create("sb").expect_ok();
    let pid = sandbox.state("sb")["pid"].as_i64().unwrap();
    let app = lab(
        "pod-app",
        "echo $$; readlink /proc/self/ns/user; readlink /proc/self/ns/net; \
         mkdir -p /tmp/t && mount -t tmpfs t /tmp/t && echo mounted",
    );
    app.edit_config(|c| {
        let mut ns = vec![json!({"type": "mount"}), json!({"type": "pid"})];
        for kind in ["user", "network", "ipc", "uts"] {
            ns.push(json!({"type": kind, "path": format!("/proc/{pid}/ns/{}", if kind == "network" { "net" } else { kind })}));
        }
        c["linux"]["namespaces"] = json!(ns);
        c["mounts"].as_array_mut().unwrap().retain(|m| m["type"] != "cgroup");
        c.as_object_mut().unwrap().remove("hostname");
        for set in ["bounding", "effective", "permitted"] {
            let caps = c["process"]["capabilities"][set].as_array_mut().unwrap();
            caps.push(json!("CAP_SYS_ADMIN"));
        }
    });
    let out = app.output("app");
    let link = |name: &str| std::fs::read_link(format!("/proc/{pid}/ns/{name}")).unwrap();
    let want = format!(
        "1\n{}\n{}\nmounted\n",
        link("user").display(),
        link("net").display()
    );
    assert_eq!(out, want);
    sandbox.gorae(&["delete", "--force", "sb"]).expect_ok();
    sandbox.assert_nothing_left("sb");
    app.assert_nothing_left("app");
}

/// Without a "mount" namespace entry the container shares gorae's mount
/// namespace, as runc allows: it is `chroot`ed into its rootfs, its mounts
/// are made there, and `delete` detaches them again.
#[test]
fn without_a_mount_namespace_the_container_shares_ours_and_delete_undoes_its_mounts() {
    let lab = lab("shared-mnt", "sleep 30");
    std::fs::write(lab.rootfs().join("marker"), "inside\n").unwrap();
    lab.edit_config(|c| {
        c["linux"]["namespaces"] = json!([{"type": "pid"}]);
        c.as_object_mut().unwrap().remove("hostname");
    });
    let rootfs = std::fs::canonicalize(lab.rootfs()).unwrap();
    let below = || {
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter(|l| l.contains(rootfs.to_str().unwrap()))
            .count()
    };
    lab.create("s").expect_ok();
    lab.gorae(&["start", "s"]).expect_ok();
    assert!(below() >= 7, "the config's mounts are in our namespace");
    lab.gorae(&["delete", "--force", "s"]).expect_ok();
    assert_eq!(below(), 0, "delete left mounts below the rootfs");
    lab.assert_nothing_left("s");
    // A run shows what the process sees: our mount namespace, its rootfs.
    lab.edit_config(|c| {
        c["process"]["args"] = json!(["sh", "-c", "readlink /proc/self/ns/mnt; cat /marker"])
    });
    let ours = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    assert_eq!(lab.output("r"), format!("{}\ninside\n", ours.display()));
    assert_eq!(below(), 0);
    lab.assert_nothing_left("r");
}

#[test]
fn paths_that_need_a_mount_namespace_are_refused_without_one() {
    for (field, edit) in [
        ("linux.maskedPaths", json!({"maskedPaths": ["/proc/kcore"]})),
        (
            "linux.readonlyPaths",
            json!({"readonlyPaths": ["/proc/sys"]}),
        ),
        (
            "linux.rootfsPropagation",
            json!({"rootfsPropagation": "private"}),
        ),
    ] {
        let lab = lab("shared-mnt-refused", "true");
        lab.edit_config(|c| {
            c["linux"]["namespaces"] = json!([{"type": "pid"}]);
            c.as_object_mut().unwrap().remove("hostname");
            for (k, v) in edit.as_object().unwrap() {
                c["linux"][k] = v.clone();
            }
        });
        let out = lab.create("x");
        out.expect_error(&format!("{field}: needs a new mnt namespace"));
        lab.assert_nothing_left("x");
    }
}

/// Idmapped bind mounts: with `idmap` and no mappings of its own a mount
/// maps ids as the container's user namespace does, so a host file of
/// uid 1 shows as 1 inside (65534, unmapped, through a plain bind); with
/// `uidMappings` of its own the mount's mapping applies (1 -> host
/// 100006, which is 6 inside).
#[test]
fn idmapped_mounts_show_host_ids_through_their_mapping() {
    let map = json!([{"containerID": 0, "hostID": 0, "size": 1}, {"containerID": 1, "hostID": 100001, "size": 65535}]);
    let lab = lab("idmap", "stat -c %u:%g /plain/f /idmap/f /own/f");
    let host = lab.dir.join("shared");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("f"), "x").unwrap();
    std::os::unix::fs::chown(host.join("f"), Some(1), Some(1)).unwrap();
    let own = json!([{"containerID": 0, "hostID": 100005, "size": 10}]);
    lab.edit_config(|c| {
        c["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = map.clone();
        c["linux"]["gidMappings"] = map.clone();
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.retain(|m| m["type"] != "cgroup");
        mounts.push(json!({"destination": "/plain", "type": "bind", "source": host, "options": ["bind"]}));
        mounts.push(json!({"destination": "/idmap", "type": "bind", "source": host, "options": ["bind", "idmap"]}));
        mounts.push(json!({"destination": "/own", "type": "bind", "source": host, "options": ["rbind", "ridmap"],
                           "uidMappings": own, "gidMappings": own}));
    });
    assert_eq!(lab.output("i"), "65534:65534\n1:1\n6:6\n");
}

#[test]
fn idmapped_mounts_refuse_what_cannot_be_mapped() {
    let cases = [
        (
            json!({"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"],
                "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
                "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}),
            "idmapped mounts must be bind mounts",
        ),
        (
            json!({"destination": "/t", "type": "bind", "source": "/tmp", "options": ["bind", "idmap"]}),
            "needs uidMappings and gidMappings",
        ),
        (
            json!({"destination": "/t", "type": "bind", "source": "/tmp", "options": ["bind"],
                "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}),
            "uidMappings and gidMappings go together",
        ),
    ];
    for (mount, error) in cases {
        let lab = lab("idmap-refused", "true");
        lab.edit_config(|c| c["mounts"].as_array_mut().unwrap().push(mount));
        lab.create("x").expect_error(error);
        lab.assert_nothing_left("x");
    }
}

/// A fully remapped container (no host id mapped in): a rootfs owned by
/// the mapped root, and a non-root user inside, who is the mapped id on
/// the host.
#[test]
fn a_remapped_rootfs_and_a_non_root_user_inside() {
    let lab = lab("remapped", "sleep 30");
    let rootfs = lab.rootfs();
    let busybox = rootfs.join("bin/busybox");
    // A copy: the rootfs hard-links the host's busybox, which must keep its owner.
    std::fs::remove_file(&busybox).unwrap();
    std::fs::copy("/bin/busybox", &busybox).unwrap();
    std::fs::create_dir_all(rootfs.join("tmp")).unwrap();
    let status = std::process::Command::new("chown")
        .args(["-R", "200000:200000"])
        .arg(&rootfs)
        .status()
        .unwrap();
    assert!(status.success());
    std::os::unix::fs::chown(rootfs.join("tmp"), Some(201000), Some(201000)).unwrap();
    let map = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    lab.edit_config(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = map.clone();
        c["linux"]["gidMappings"] = map.clone();
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["type"] != "cgroup");
    });
    lab.create("m").expect_ok();
    let pid = lab.state("m")["pid"].as_i64().unwrap();
    lab.gorae(&["start", "m"]).expect_ok();
    let mut host_uid = String::new();
    for _ in 0..100 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        host_uid = status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or_default()
            .to_owned();
        if host_uid == "201000" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(host_uid, "201000", "the process's uid on the host");
    lab.gorae(&["kill", "m", "KILL"]).expect_ok();
    lab.wait_status("m", "stopped");
    lab.gorae(&["delete", "m"]).expect_ok();
    let script = "id -u; id -g; stat -c %u:%g /bin/busybox; touch /tmp/mine; stat -c %u /tmp/mine";
    lab.edit_config(|c| c["process"]["args"] = json!(["sh", "-c", script]));
    let out = lab.output("r");
    assert_eq!(out, "1000\n1000\n0:0\n1000\n", "as seen inside");
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(rootfs.join("tmp/mine")).unwrap()),
        201000,
        "the file the user made, on the host"
    );
}

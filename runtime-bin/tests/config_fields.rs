//! Linux fields of `config.json` beyond the basics, each checked from
//! inside the running container: masked and read-only paths, sysctl,
//! rlimits, oom score, scheduler, I/O priority, CPU affinity, personality,
//! umask, domainname, memory policy, Intel RDT, network devices.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Lab;
use serde_json::json;

fn lab(name: &str, script: &str) -> Lab {
    Lab::new(name, &["sh", "-c", script])
}

#[test]
fn masked_paths_hide_files_and_directories_and_skip_missing_ones() {
    let lab = lab(
        "masked",
        "wc -c < /etc/secret; ls -A /secret | wc -l; stat -c '%F' /secret; echo end",
    );
    std::fs::write(lab.rootfs().join("etc/secret"), "hidden").unwrap();
    std::fs::create_dir_all(lab.rootfs().join("secret")).unwrap();
    std::fs::write(lab.rootfs().join("secret/key"), "hidden").unwrap();
    lab.edit_config(|c| {
        c["linux"]["maskedPaths"] =
            json!(["/etc/secret", "/secret", "/proc/kcore", "/does/not/exist"]);
    });
    assert_eq!(lab.output("m"), "0\n0\ndirectory\nend\n");
    assert_eq!(
        std::fs::read_to_string(lab.rootfs().join("secret/key")).unwrap(),
        "hidden"
    );
}

#[test]
fn masking_refuses_a_dev_null_that_is_not_the_null_device() {
    // CVE-2025-31133: with /dev from the image, /dev/null may be a symlink
    // to a file the container wants writable; masking must not bind it.
    let lab = lab("badnull", "true");
    std::fs::write(lab.rootfs().join("etc/target"), "x").unwrap();
    std::os::unix::fs::symlink("/etc/target", lab.rootfs().join("dev/null")).unwrap();
    lab.edit_config(|c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| !m["destination"].as_str().unwrap().starts_with("/dev"));
        c["linux"]["maskedPaths"] = json!(["/proc/kcore"]);
    });
    lab.create("n")
        .expect_error("check /dev/null is the 1:3 character device");
    lab.assert_nothing_left("n");
}

#[test]
fn readonly_paths_refuse_writes_including_their_submounts() {
    let lab = lab(
        "readonlypaths",
        "touch /data/f 2>&1 | grep -c Read-only; touch /data/sub/f 2>&1 | grep -c Read-only; \
         (echo 1 > /proc/sys/kernel/shm_rmid_forced) 2>&1 | grep -c Read-only; echo end",
    );
    lab.edit_config(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs"}));
        m.push(json!({"destination": "/data/sub", "type": "tmpfs", "source": "tmpfs"}));
        c["linux"]["readonlyPaths"] = json!(["/data", "/proc/sys", "/nope"]);
    });
    assert_eq!(lab.output("r"), "1\n1\n1\nend\n");
}

#[test]
fn namespaced_sysctls_are_set_inside_the_container() {
    let lab = lab(
        "sysctl",
        "cat /proc/sys/kernel/shmmax /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax",
    );
    let host_shmmax = std::fs::read_to_string("/proc/sys/kernel/shmmax").unwrap();
    lab.edit_config(|c| {
        c["linux"]["sysctl"] = json!({
            "kernel.shmmax": "4096000",
            "net.ipv4.ip_forward": "1",
            "kernel.msgmax": "4000"
        });
    });
    assert_eq!(lab.output("s"), "4096000\n1\n4000\n");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/shmmax").unwrap(),
        host_shmmax
    );
}

#[test]
fn sysctls_the_host_would_see_are_refused() {
    let lab = lab("sysctlhost", "true");
    lab.edit_config(|c| c["linux"]["sysctl"] = json!({"vm.swappiness": "10"}));
    lab.create("v")
        .expect_error("linux.sysctl.vm.swappiness: is not namespaced");
    lab.edit_config(|c| {
        c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "network");
    });
    lab.create("n")
        .expect_error("linux.sysctl.net.ipv4.ip_forward: belongs to a namespace");
    lab.edit_config(|c| c["linux"]["sysctl"] = json!({"kernel/../../x": "1"}));
    lab.create("p").expect_error("is not a sysctl name");
    lab.assert_nothing_left("v");
}

#[test]
fn rlimits_are_set_as_configured() {
    let lab = lab(
        "rlimits",
        "grep -E 'open files|core file' /proc/self/limits",
    );
    lab.edit_config(|c| {
        c["process"]["rlimits"] = json!([
            {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}
        ]);
    });
    let out = lab.output("l");
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0][4..7], ["0", "0", "bytes"], "{out}");
    assert_eq!(rows[1][3..6], ["512", "1024", "files"], "{out}");
}

#[test]
fn an_rlimit_above_the_hard_limit_is_refused_naming_it() {
    let lab = lab("rlimithigh", "true");
    let (_, hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    lab.edit_config(|c| {
        c["process"]["rlimits"] =
            json!([{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": hard + 1}]);
    });
    lab.create("h")
        .expect_error("process.rlimits[0]: RLIMIT_NOFILE: hard limit");
    lab.edit_config(|c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 2048, "hard": 1024}]);
    });
    lab.create("s")
        .expect_error("soft limit 2048 is above hard limit 1024");
    lab.edit_config(|c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}])
    });
    lab.create("u")
        .expect_error("unknown variant `RLIMIT_BOGUS`");
    lab.edit_config(|c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": -1, "hard": 1}])
    });
    lab.create("n").expect_error("invalid value: integer `-1`");
    lab.assert_nothing_left("h");
}

#[test]
fn oom_score_adj_umask_and_domainname_are_as_configured() {
    let lab = lab(
        "oomumask",
        "cat /proc/self/oom_score_adj; umask; cat /proc/sys/kernel/domainname",
    );
    lab.edit_config(|c| {
        c["process"]["oomScoreAdj"] = json!(500);
        c["process"]["user"]["umask"] = json!(0o077);
        c["domainname"] = json!("example.test");
    });
    assert_eq!(lab.output("o"), "500\n0077\nexample.test\n");
}

#[test]
fn scheduler_and_io_priority_are_as_configured() {
    // /proc/self/stat: field 19 is nice, 41 the policy (3 = SCHED_BATCH).
    let lab = lab("sched", "cut -d' ' -f19,41 /proc/self/stat; ionice -p $$");
    lab.edit_config(|c| {
        c["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 5});
        c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0});
    });
    assert_eq!(lab.output("s"), "5 3\nidle\n");
}

#[test]
fn invalid_scheduling_values_are_refused_naming_the_field() {
    let lab = lab("badsched", "true");
    lab.edit_config(|c| c["process"]["scheduler"] = json!({"policy": "SCHED_OTHER", "nice": 40}));
    lab.create("a")
        .expect_error("process.scheduler.nice: 40 is outside -20..19");
    lab.edit_config(|c| {
        c["process"]["scheduler"] = json!({"policy": "SCHED_OTHER", "priority": 5})
    });
    lab.create("b").expect_error("process.scheduler.priority");
    lab.edit_config(|c| {
        c["process"].as_object_mut().unwrap().remove("scheduler");
        c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 9});
    });
    lab.create("c")
        .expect_error("process.ioPriority.priority: 9 is outside 0..7");
    lab.edit_config(|c| {
        c["process"].as_object_mut().unwrap().remove("ioPriority");
        c["process"]["execCPUAffinity"] = json!({"final": "0-abc"});
    });
    lab.create("d")
        .expect_error("Invalid execCPUAffinity format: 0-abc");
    lab.assert_nothing_left("d");
}

#[test]
fn cpu_affinity_applies_to_exec_and_leaves_the_init_alone() {
    // config.md: execCPUAffinity "is not applicable to the container's
    // init process"; an exec'd process runs on `final`.
    let lab = lab("affinity", "sleep 30");
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let last = (cpus - 1).to_string();
    lab.edit_config(|c| c["process"]["execCPUAffinity"] = json!({"initial": "0", "final": last}));
    let host = std::fs::read_to_string("/proc/self/status").unwrap();
    let allowed = |status: &str| {
        status
            .lines()
            .find(|l| l.starts_with("Cpus_allowed_list:"))
            .unwrap_or_default()
            .to_owned()
    };
    lab.create("a").expect_ok();
    lab.gorae(&["start", "a"]).expect_ok();
    let pid = lab.state("a")["pid"].as_i64().unwrap();
    let init = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert_eq!(allowed(&init), allowed(&host), "the init's affinity");
    let out = lab
        .gorae(&[
            "exec",
            "a",
            "grep",
            "Cpus_allowed_list",
            "/proc/self/status",
        ])
        .expect_ok();
    assert_eq!(out.stdout, format!("Cpus_allowed_list:\t{last}\n"));
    lab.gorae(&["delete", "--force", "a"]).expect_ok();
}

#[test]
fn personality_linux32_reports_a_32_bit_machine() {
    let lab = lab("personality", "uname -m");
    lab.edit_config(|c| c["linux"]["personality"] = json!({"domain": "LINUX32"}));
    assert_eq!(lab.output("p"), "i686\n");
}

#[test]
fn configured_devices_have_the_type_numbers_mode_and_owner_asked_for() {
    let lab = lab(
        "devices",
        "stat -c '%n %F %t:%T %a %u:%g' /dev/fuse-like /dev/sub/blk /dev/fifo",
    );
    lab.edit_config(|c| {
        c["linux"]["devices"] = json!([
            {"path": "/dev/fuse-like", "type": "c", "major": 10, "minor": 229, "fileMode": 0o620, "uid": 7, "gid": 8},
            {"path": "/dev/sub/blk", "type": "b", "major": 7, "minor": 3, "fileMode": 0o600},
            {"path": "/dev/fifo", "type": "p", "major": 0, "minor": 0, "fileMode": 0o644}
        ]);
    });
    assert_eq!(
        lab.output("d"),
        "/dev/fuse-like character special file a:e5 620 7:8\n\
         /dev/sub/blk block special file 7:3 600 0:0\n\
         /dev/fifo fifo 0:0 644 0:0\n"
    );
}

#[test]
fn bad_devices_are_refused_naming_the_field() {
    let lab = lab("baddevices", "true");
    lab.edit_config(|c| {
        c["linux"]["devices"] = json!([{"path": "/dev/x", "type": "z", "major": 1, "minor": 1}])
    });
    lab.create("a").expect_error("unknown variant `z`");
    lab.edit_config(|c| {
        c["linux"]["devices"] = json!([{"path": "relative/x", "type": "c", "major": 1, "minor": 1}])
    });
    lab.create("b")
        .expect_error("linux.devices[0].path: relative/x is not absolute");
    lab.edit_config(|c| {
        c["linux"]["devices"] = json!([{"path": "/dev/x", "type": "c", "major": -1, "minor": 1}])
    });
    lab.create("c")
        .expect_error("linux.devices[0].major: out of range");
    lab.assert_nothing_left("c");
}

#[test]
fn recursive_mount_options_apply_to_every_mount_below() {
    let lab = lab(
        "rro",
        "touch /data/f 2>&1 | grep -c Read-only; touch /data/sub/f 2>&1 | grep -c Read-only; grep ' /data/sub ' /proc/self/mountinfo | grep -c nosuid",
    );
    let data = lab.dir.join("data");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    lab.edit_config(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs"}));
        m.push(json!({"destination": "/data/sub", "type": "tmpfs", "source": "tmpfs"}));
        // Once the submount exists, make /data and all below it read-only
        // and nosuid.
        m.push(json!({"destination": "/data", "type": "none", "source": "none", "options": ["remount", "rro", "rnosuid"]}));
    });
    assert_eq!(lab.output("r"), "1\n1\n1\n");
}

#[test]
fn capabilities_gorae_does_not_know_are_dropped_with_a_warning() {
    let lab = lab("unknowncap", "grep CapEff /proc/self/status");
    lab.edit_config(|c| {
        c["process"]["capabilities"]["effective"] = json!(["CAP_KILL", "CAP_FROM_THE_FUTURE"]);
        c["process"]["capabilities"]["bounding"] = json!(["CAP_KILL", "CAP_FROM_THE_FUTURE"]);
        c["process"]["capabilities"]["permitted"] = json!(["CAP_KILL"]);
    });
    let out = lab.run("u").expect_ok();
    assert_eq!(out.stdout, format!("CapEff:\t{:016x}\n", 1u64 << 5));
    assert!(
        out.stderr.contains("level=warning") && out.stderr.contains("CAP_FROM_THE_FUTURE"),
        "{out:?}"
    );
}

#[test]
fn tmpcopyup_fills_the_tmpfs_with_the_directorys_contents() {
    let lab = lab(
        "tmpcopyup",
        "grep -c user /etc/passwd; stat -c '%a' /etc/secret; echo new > /etc/added; grep ' /etc ' /proc/self/mountinfo | grep -c tmpfs",
    );
    std::fs::write(lab.rootfs().join("etc/secret"), "s").unwrap();
    std::fs::set_permissions(
        lab.rootfs().join("etc/secret"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    lab.edit_config(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/etc", "type": "tmpfs", "source": "tmpfs",
            "options": ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]
        }));
    });
    assert_eq!(lab.output("t"), "1\n600\n1\n");
    assert!(
        !lab.rootfs().join("etc/added").exists(),
        "the write reached the image"
    );
}

#[test]
fn listed_host_devices_like_a_privileged_engines_keep_ptmx_on_the_containers_devpts() {
    // podman --privileged lists every host device, /dev/ptmx and /dev/null
    // among them.
    let lab = lab(
        "privdevices",
        "readlink /dev/ptmx; stat -c '%t:%T' /dev/null",
    );
    lab.edit_config(|c| {
        c["linux"]["devices"] = json!([
            {"path": "/dev/ptmx", "type": "c", "major": 5, "minor": 2, "fileMode": 0o666},
            {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666}
        ]);
    });
    assert_eq!(lab.output("p"), "pts/ptmx\n1:3\n");
}

/// The policies `/proc/self/numa_maps` names in the container: the
/// task's policy stands on every mapping that has none of its own.
const NUMA_MAPS_POLICIES: &str = "cut -d' ' -f2 /proc/self/numa_maps | sort -u";

#[test]
fn memory_policy_is_the_policy_of_the_program_and_of_exec_processes() {
    let lab = lab("mempolicy", NUMA_MAPS_POLICIES);
    lab.edit_config(|c| {
        c["linux"]["memoryPolicy"] =
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]});
    });
    assert_eq!(lab.output("b"), "bind=static:0\n");
    lab.edit_config(|c| {
        c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_INTERLEAVE", "nodes": "0"});
        c["process"]["args"] = json!(["sleep", "30"]);
    });
    lab.create("i").expect_ok();
    lab.gorae(&["start", "i"]).expect_ok();
    let out = lab
        .gorae(&["exec", "i", "sh", "-c", NUMA_MAPS_POLICIES])
        .expect_ok();
    assert_eq!(out.stdout, "interleave:0\n");
    lab.gorae(&["delete", "--force", "i"]).expect_ok();
    lab.edit_config(|c| {
        c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_DEFAULT"});
        c["process"]["args"] = json!(["sh", "-c", NUMA_MAPS_POLICIES]);
    });
    assert_eq!(lab.output("d"), "default\n");
}

#[test]
fn bad_memory_policies_are_refused_naming_the_field() {
    let lab = lab("badmempolicy", "true");
    let refused = [
        (
            json!({"mode": "MPOL_FOO"}),
            "linux.memoryPolicy.mode: unknown variant `MPOL_FOO`",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_BOGUS"]}),
            "linux.memoryPolicy.flags[0]: unknown variant `MPOL_F_BOGUS`",
        ),
        (
            json!({"mode": "MPOL_BIND"}),
            "linux.memoryPolicy.nodes: MPOL_BIND needs at least one node",
        ),
        (
            json!({"mode": "MPOL_LOCAL", "nodes": "0"}),
            "linux.memoryPolicy.nodes: MPOL_LOCAL takes no nodes",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0-x"}),
            "linux.memoryPolicy.nodes: \"0-x\": not a node list",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "4096"}),
            "linux.memoryPolicy.nodes: \"4096\": node number 4096 too large (at most 1023)",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0",
                   "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]}),
            "linux.memoryPolicy.flags: MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other",
        ),
    ];
    for (policy, error) in refused {
        lab.edit_config(|c| c["linux"]["memoryPolicy"] = policy);
        lab.create("p").expect_error(error);
        lab.assert_nothing_left("p");
    }
}

#[test]
fn a_memory_policy_on_a_node_the_host_lacks_fails_create_in_the_init() {
    let lab = lab("absentnode", "true");
    let absent = (0..)
        .find(|n| !std::path::Path::new(&format!("/sys/devices/system/node/node{n}")).exists())
        .unwrap();
    lab.edit_config(|c| {
        c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": absent.to_string()});
    });
    lab.create("n").expect_error(&format!(
        "container init: set_mempolicy linux.memoryPolicy MPOL_BIND nodes \"{absent}\": EINVAL"
    ));
    lab.assert_nothing_left("n");
}

#[test]
fn intel_rdt_is_refused_at_validation_naming_the_field() {
    // gorae makes no resctrl groups. Without a mounted resctrl (as on the
    // test VMs, whose kernel lacks it) the spec requires the error.
    let lab = lab("intelrdt", "true");
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let refusal = if mountinfo.contains(" - resctrl ") {
        "linux.intelRdt: resctrl groups are not supported by gorae"
    } else {
        "linux.intelRdt: no resctrl filesystem is mounted in the runtime's mount namespace"
    };
    let refused = [
        (
            json!({"closID": "guaranteed_group", "schemata": ["L3:0=7f0;1=1f", "MB:0=20;1=70"]}),
            refusal,
        ),
        (json!({}), refusal),
        (
            json!({"memBwSchema": "L3:0=1"}),
            "linux.intelRdt.memBwSchema: \"L3:0=1\" does not start with \"MB:\"",
        ),
        (
            json!({"closID": "../x"}),
            "linux.intelRdt.closID: \"../x\" is not a directory name (or \"/\")",
        ),
        (
            json!({"schemata": ["L3:0=1\nMB:0=2"]}),
            "linux.intelRdt.schemata[0]: holds a newline",
        ),
    ];
    for (rdt, error) in refused {
        lab.edit_config(|c| c["linux"]["intelRdt"] = rdt);
        lab.create("r").expect_error(error);
        lab.assert_nothing_left("r");
    }
}

/// A virtual interface on the host made for a test (`ip link add NAME type
/// ifb`: this kernel has no dummy driver), with `addresses` added; deleted
/// on drop if it is still on the host. Named `gtst...`, which
/// scripts/leak-check.sh looks for.
struct HostLink {
    name: String,
}

impl HostLink {
    fn new(tag: char, addresses: &[&[&str]]) -> Self {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("gtst{}{n}{tag}", std::process::id() % 100_000);
        ip(&["link", "add", &name, "type", "ifb"]);
        for address in addresses {
            let mut args = vec!["addr", "add"];
            args.extend_from_slice(address);
            args.extend_from_slice(&["dev", &name]);
            ip(&args);
        }
        HostLink { name }
    }

    fn on_host(&self) -> bool {
        std::path::Path::new("/sys/class/net")
            .join(&self.name)
            .exists()
    }
}

impl Drop for HostLink {
    fn drop(&mut self) {
        if self.on_host() {
            let _ = std::process::Command::new("ip")
                .args(["link", "del", &self.name])
                .status();
        }
    }
}

#[track_caller]
fn ip(args: &[&str]) {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .expect("ip (install Debian's iproute2)");
    assert!(out.status.success(), "ip {args:?}: {out:?}");
}

#[test]
fn net_devices_move_into_the_container_renamed_with_their_global_addresses_and_up() {
    let lab = lab(
        "netdevices",
        "ls /sys/class/net | tr '\\n' ' '; echo; \
         ip -o addr show dev ctr0 scope global | awk '{print $4}'; \
         ip -o link show dev ctr0 | grep -c ',UP'; ip -o link show dev ctr1 | grep -c ',UP'",
    );
    let fixed = HostLink::new(
        'a',
        &[
            &["10.99.1.2/24"],
            &["fd00:99::2/64"],
            &["10.99.2.2/24", "scope", "link"],
            &["10.99.3.2/24", "valid_lft", "300", "preferred_lft", "300"],
        ],
    );
    let template = HostLink::new('b', &[]);
    lab.edit_config(|c| {
        c["linux"]["netDevices"] = json!({
            &fixed.name: {"name": "ctr0"},
            &template.name: {"name": "ctr%d"}
        });
    });
    // Only the permanent addresses of global scope move (the spec's
    // RFC 3549 rule): not the link-scope one, nor the one with a lifetime.
    assert_eq!(
        lab.output("n"),
        "ctr0 ctr1 lo \n10.99.1.2/24\nfd00:99::2/64\n1\n1\n"
    );
    // The namespace ended with the container: the kernel deletes virtual
    // devices then (physical ones return to the host); gorae moves
    // neither back.
    assert!(
        common::eventually(|| !fixed.on_host() && !template.on_host()),
        "a moved virtual device came back to the host"
    );
    let host_links = std::fs::read_dir("/sys/class/net").unwrap();
    let names: Vec<String> = host_links
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.contains(&"ctr0".to_owned()), "{names:?}");
}

/// A pod's container joins the sandbox's network namespace by path: the
/// device moves there and stays with the sandbox after the container goes.
#[test]
fn net_devices_move_into_a_network_namespace_joined_by_path() {
    let sandbox = lab("netdev-sandbox", "sleep 30");
    sandbox.create("sb").expect_ok();
    let pid = sandbox.state("sb")["pid"].as_i64().unwrap();
    let link = HostLink::new('p', &[]);
    let app = lab("netdev-app", "ls /sys/class/net | tr '\\n' ' '");
    app.edit_config(|c| {
        let namespaces = c["linux"]["namespaces"].as_array_mut().unwrap();
        namespaces.retain(|n| n["type"] != "network");
        namespaces.push(json!({"type": "network", "path": format!("/proc/{pid}/ns/net")}));
        c["linux"]["netDevices"] = json!({&link.name: {"name": "pod0"}});
    });
    assert_eq!(app.output("a"), "lo pod0 ");
    assert!(!link.on_host());
    let in_sandbox = std::fs::read_dir(format!("/proc/{pid}/root/sys/class/net"));
    let names: Vec<String> = in_sandbox
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&"pod0".to_owned()), "{names:?}");
    sandbox.gorae(&["delete", "--force", "sb"]).expect_ok();
    app.assert_nothing_left("a");
    sandbox.assert_nothing_left("sb");
}

#[test]
fn net_devices_are_refused_naming_the_field_before_anything_moves() {
    let lab = lab("badnetdevices", "true");
    let link = HostLink::new('a', &[]);
    let missing = format!("{}z", link.name);
    let cases = [
        (
            json!({&missing: {}}),
            format!("linux.netDevices.{missing}: no such network device on the host"),
        ),
        (
            json!({"a/b": {}}),
            "linux.netDevices.a/b: \"a/b\" holds '/', ':', white space or a NUL".to_owned(),
        ),
        (
            json!({&link.name: {"name": "much-too-long-name"}}),
            format!(
                "linux.netDevices.{}.name: \"much-too-long-name\" is longer than 15 bytes (IFNAMSIZ)",
                link.name
            ),
        ),
        (
            json!({&link.name: {"name": "lo"}}),
            format!(
                "linux.netDevices.{}.name: \"lo\" in the container is already the name of the new network namespace's loopback",
                link.name
            ),
        ),
        (
            json!({&link.name: {"name": "ctr0"}, &missing: {"name": "ctr0"}}),
            format!(
                "linux.netDevices.{missing}.name: \"ctr0\" in the container is already the name of linux.netDevices.{}",
                link.name
            ),
        ),
    ];
    for (devices, error) in cases {
        lab.edit_config(|c| c["linux"]["netDevices"] = devices);
        lab.create("d").expect_error(&error);
        lab.assert_nothing_left("d");
        assert!(link.on_host(), "{} moved by a refused create", link.name);
    }
    // Without a network namespace of its own, or with one joined by path.
    lab.edit_config(|c| {
        c["linux"]["netDevices"] = json!({&link.name: {}});
        let namespaces = c["linux"]["namespaces"].as_array_mut().unwrap();
        namespaces.retain(|n| n["type"] != "network");
    });
    lab.create("d")
        .expect_error("linux.netDevices: needs a net namespace in linux.namespaces");
    lab.edit_config(|c| {
        let namespaces = c["linux"]["namespaces"].as_array_mut().unwrap();
        namespaces.push(json!({"type": "network", "path": "/proc/self/ns/net"}));
    });
    lab.create("d")
        .expect_error("linux.netDevices: /proc/self/ns/net is the runtime's own network namespace");
    lab.assert_nothing_left("d");
    assert!(link.on_host());
}

#[test]
fn a_device_the_kernel_will_not_move_fails_create_and_leaves_nothing() {
    // The loopback's namespace is immutable: the kernel refuses the move,
    // after the clone, and create undoes everything.
    let lab = lab("immovable", "true");
    lab.edit_config(|c| c["linux"]["netDevices"] = json!({"lo": {"name": "hostlo"}}));
    lab.create("l").expect_error(
        "linux.netDevices.lo: move into the container's network namespace as \"hostlo\": EINVAL",
    );
    lab.assert_nothing_left("l");
    assert!(std::path::Path::new("/sys/class/net/lo").exists());
}

//! `config-linux.md`: namespaces, id mappings, time offsets, devices,
//! default filesystems, sysctl, masked and readonly paths, rootfs
//! propagation, personality, cgroups and seccomp.
#![forbid(unsafe_code)]

use std::fs;
use std::os::unix::fs::MetadataExt;

use serde_json::{Value, json};

use super::{
    MUST, SHOULD, check, create_fails, create_fails_unlike, host_namespace, probe_with, set,
};
use crate::lab::{Lab, base_config};
use crate::report::{Fallible, IdMap, Node, Report, parse_mountinfo};
use crate::suite::{Check, Failure, Outcome, ensure, ensure_eq, fail, skip};

/// One check per namespace type: a new namespace of that type.
macro_rules! new_namespace_checks {
    ($($fn:ident: $kind:literal => $proc:literal),* $(,)?) => {
        $(fn $fn(lab: &mut Lab) -> Outcome { new_namespace(lab, $kind, $proc) })*
        fn new_namespace_list() -> Vec<Check> {
            vec![$(check(MUST,
                concat!("linux.namespaces.new.", $kind),
                "config-linux.md#namespaces",
                concat!($kind, ": an entry without path makes a new namespace"),
                "If path is not specified, the runtime MUST create a new container namespace of type type.",
                $fn,
            )),*]
        }
    };
}

new_namespace_checks! {
    new_pid: "pid" => "pid",
    new_network: "network" => "net",
    new_ipc: "ipc" => "ipc",
    new_uts: "uts" => "uts",
    new_mount: "mount" => "mnt",
    new_cgroup: "cgroup" => "cgroup",
    new_user: "user" => "user",
    new_time: "time" => "time",
}

/// One check per joinable type: joining another container's namespace.
macro_rules! join_namespace_checks {
    ($($fn:ident: $kind:literal => $proc:literal),* $(,)?) => {
        $(fn $fn(lab: &mut Lab) -> Outcome { join_namespace(lab, $kind, $proc) })*
        fn join_namespace_list() -> Vec<Check> {
            vec![$(check(MUST,
                concat!("linux.namespaces.join.", $kind),
                "config-linux.md#namespaces",
                concat!($kind, ": an entry with a path joins that namespace"),
                "The runtime MUST place the container process in the namespace associated with that path.",
                $fn,
            )),*]
        }
    };
}

join_namespace_checks! {
    join_pid: "pid" => "pid",
    join_network: "network" => "net",
    join_ipc: "ipc" => "ipc",
    join_uts: "uts" => "uts",
    join_cgroup: "cgroup" => "cgroup",
    join_user: "user" => "user",
}

/// One check per `rootfsPropagation` value.
macro_rules! propagation_checks {
    ($($fn:ident: $value:literal),* $(,)?) => {
        $(fn $fn(lab: &mut Lab) -> Outcome { rootfs_propagation(lab, $value) })*
        fn propagation_list() -> Vec<Check> {
            vec![$(check(MUST,
                concat!("linux.rootfs-propagation.", $value),
                "config-linux.md#rootfs-mount-propagation",
                concat!("rootfsPropagation ", $value, " sets the propagation of the rootfs mount"),
                "rootfsPropagation (string, OPTIONAL) sets the rootfs's mount propagation. Its value is either shared, slave, private or unbindable.",
                $fn,
            )),*]
        }
    };
}

propagation_checks! {
    propagation_shared: "shared",
    propagation_slave: "slave",
    propagation_private: "private",
    propagation_unbindable: "unbindable",
}

pub(super) fn checks() -> Vec<Check> {
    let mut checks = new_namespace_list();
    checks.extend(join_namespace_list());
    checks.extend(vec![
        check(MUST, "linux.namespaces.inherit", "config-linux.md#namespaces",
            "namespace types not listed are the runtime's",
            "If a namespace type is not specified in the namespaces array, the container MUST inherit the runtime namespace of that type.",
            namespaces_inherit),
        check(MUST, "linux.namespaces.wrong-type", "config-linux.md#namespaces",
            "create with a path to a namespace of another type fails",
            "The runtime MUST generate an error if path is not associated with a namespace of type type.",
            namespaces_wrong_type),
        check(MUST, "linux.namespaces.duplicate", "config-linux.md#namespaces",
            "create with a namespace type listed twice fails",
            "If a namespaces field contains duplicated namespaces with same type, the runtime MUST generate an error.",
            namespaces_duplicate),
        check(MUST, "linux.namespaces.relative-path", "config-linux.md#namespaces",
            "create with a relative namespace path fails",
            "path (string, OPTIONAL) - namespace file. This value MUST be an absolute path in the runtime mount namespace. ... Runtimes MUST generate an error when invalid or unsupported values are encountered.",
            namespaces_relative_path),
        check(MUST, "linux.user-mappings", "config-linux.md#user-namespace-mappings",
            "uidMappings and gidMappings are the user namespace's maps",
            "uidMappings (array of objects, OPTIONAL) describes the user namespace uid mappings from the host to the container. gidMappings (array of objects, OPTIONAL) describes the user namespace gid mappings from the host to the container.",
            user_mappings),
        check(SHOULD, "linux.user-mappings.no-chown", "config-linux.md#user-namespace-mappings",
            "a user namespace leaves the owners of the rootfs files as they were",
            "The runtime SHOULD NOT modify the ownership of referenced filesystems to realize the mapping.",
            user_mappings_no_chown),
        check(MUST, "linux.time-offsets", "config-linux.md#offset-for-time-namespace",
            "timeOffsets are the time namespace's clock offsets",
            "timeOffsets (object, OPTIONAL) sets the offset for Time Namespace.",
            time_offsets),
        check(MUST, "linux.devices", "config-linux.md#devices",
            "configured devices exist with their type, numbers, mode and owner",
            "devices (array of objects, OPTIONAL) lists devices that MUST be available in the container.",
            devices),
        check(MUST, "linux.devices.outside-dev", "config-linux.md#devices",
            "a device path outside /dev is created",
            "devices (array of objects, OPTIONAL) lists devices that MUST be available in the container. ... The path MAY be anywhere in the container filesystem, notably outside of /dev.",
            devices_outside_dev),
        check(MUST, "linux.devices.conflict", "config-linux.md#devices",
            "create fails when a different file exists at a device path",
            "If a file already exists at path that does not match the requested device, the runtime MUST generate an error.",
            devices_conflict),
        check(MUST, "linux.default-devices", "config-linux.md#default-devices",
            "/dev/null, zero, full, random, urandom and tty are supplied",
            "In addition to any devices configured with this setting, the runtime MUST also supply: /dev/null, /dev/zero, /dev/full, /dev/random, /dev/urandom, /dev/tty",
            default_devices),
        check(MUST, "linux.default-devices.ptmx", "config-linux.md#default-devices",
            "/dev/ptmx is the container's /dev/pts/ptmx",
            "/dev/ptmx. A bind-mount or symlink of the container's /dev/pts/ptmx.",
            default_devices_ptmx),
        check(MUST, "linux.default-devices.console", "config-linux.md#default-devices",
            "with terminal true, /dev/console is the process's pty",
            "/dev/console is set up if terminal is enabled in the config by bind mounting the pseudoterminal pty to /dev/console.",
            default_devices_console),
        check(SHOULD, "linux.default-filesystems", "config-linux.md#default-filesystems",
            "/proc, /sys, /dev/pts and /dev/shm are mounted",
            "The following filesystems SHOULD be made available in each container's filesystem: /proc proc, /sys sysfs, /dev/pts devpts, /dev/shm tmpfs",
            default_filesystems),
        check(MUST, "linux.sysctl", "config-linux.md#sysctl",
            "sysctl values are set in the container",
            "sysctl (object, OPTIONAL) allows kernel parameters to be modified at runtime for the container.",
            sysctl),
        check(MUST, "linux.sysctl.unknown", "config.md#valid-values",
            "create with a sysctl the kernel does not have fails",
            "Runtimes MUST generate an error when invalid or unsupported values are encountered.",
            sysctl_unknown),
        check(MUST, "linux.masked-paths", "config-linux.md#masked-paths",
            "maskedPaths files and directories cannot be read",
            "maskedPaths (array of strings, OPTIONAL) will mask over the provided paths inside the container so that they cannot be read.",
            masked_paths),
        check(MUST, "linux.readonly-paths", "config-linux.md#readonly-paths",
            "readonlyPaths are read-only and still readable",
            "readonlyPaths (array of strings, OPTIONAL) will set the provided paths as readonly inside the container.",
            readonly_paths),
        check(MUST, "linux.masked-paths.relative", "config-linux.md#masked-paths",
            "create with a relative maskedPaths entry fails",
            "The values MUST be absolute paths in the container namespace. ... Runtimes MUST generate an error when invalid or unsupported values are encountered.",
            masked_paths_relative),
        check(MUST, "linux.readonly-paths.relative", "config-linux.md#readonly-paths",
            "create with a relative readonlyPaths entry fails",
            "The values MUST be absolute paths in the container namespace. ... Runtimes MUST generate an error when invalid or unsupported values are encountered.",
            readonly_paths_relative),
    ]);
    checks.extend(propagation_list());
    checks.extend(vec![
        check(MUST, "linux.personality", "config-linux.md#personality",
            "personality LINUX32 sets the persona and a 32-bit uname machine",
            "LINUX32 will set the uname system call to show a 32 bit CPU type, such as i686.",
            personality),
        check(MUST, "linux.cgroups-path", "config-linux.md#cgroups-path",
            "an absolute cgroupsPath is the container's cgroup in every hierarchy",
            "In the case of an absolute path (starting with /), the runtime MUST take the path to be relative to the cgroups mount point.",
            cgroups_path),
        check(MUST, "linux.resources.pids", "config-linux.md#pids",
            "resources.pids.limit is the cgroup's pids.max",
            "limit (int64, OPTIONAL) - specifies the maximum number of tasks in the cgroup",
            resources_pids),
        check(MUST, "linux.resources.memory", "config-linux.md#memory",
            "resources.memory.limit is the cgroup's memory limit",
            "limit (int64, OPTIONAL) - sets limit of memory usage",
            resources_memory),
        check(MUST, "linux.resources.cpu", "config-linux.md#cpu",
            "resources.cpu quota and period are the cgroup's CFS bandwidth",
            "quota (int64, OPTIONAL) - specifies the total amount of time in microseconds for which all tasks in a cgroup can run during one period ... period (uint64, OPTIONAL) - specifies a period of time in microseconds",
            resources_cpu),
        check(MUST, "linux.resources.cpuset", "config-linux.md#cpu",
            "resources.cpu.cpus confines the container to those CPUs",
            "cpus (string, OPTIONAL) - list of CPUs the container will run on.",
            resources_cpuset),
        check(MUST, "linux.resources.devices", "config-linux.md#allowed-device-list",
            "a device cgroup deny rule makes the device unusable",
            "devices (array of objects, OPTIONAL) configures the allowed device list. The runtime MUST apply entries in the listed order.",
            resources_devices),
        check(MUST, "linux.memory-policy", "config-linux.md#memory-policy",
            "memoryPolicy mode, nodes and flags are the process's NUMA policy",
            "memoryPolicy (object, OPTIONAL) sets the NUMA memory policy for the container.",
            memory_policy),
        check(MUST, "linux.memory-policy.invalid", "config-linux.md#memory-policy",
            "create with a memoryPolicy binding to a node that is not online fails",
            "nodes (string, OPTIONAL) - list of memory nodes from which nodemask is constructed to set_mempolicy(2). ... Runtimes MUST generate an error when invalid or unsupported values are encountered.",
            memory_policy_invalid),
        check(MUST, "linux.intel-rdt", "config-linux.md#intelrdt",
            "intelRdt without closID puts the process in a resctrl group named for the container, removed by delete",
            "If intelRdt is set, the runtime MUST write the container process ID to the tasks file in a proper sub-directory in a mounted resctrl pseudo-filesystem. ... If closID is not set, runtimes MUST use the container ID from start and create the <container-id> directory. ... If closID is not set and the runtime has created the sub-directory, the runtime MUST remove the sub-directory when the container is deleted.",
            intel_rdt),
        check(MUST, "linux.intel-rdt.no-resctrl", "config-linux.md#intelrdt",
            "create with intelRdt fails where no resctrl is mounted",
            "If no mounted resctrl pseudo-filesystem is available in the runtime mount namespace, the runtime MUST generate an error.",
            intel_rdt_no_resctrl),
        check(MUST, "linux.seccomp.errno", "config-linux.md#seccomp",
            "a seccomp SCMP_ACT_ERRNO rule makes the syscall fail with EPERM",
            "errnoRet (uint, OPTIONAL) - the errno return code to use. Some actions like SCMP_ACT_ERRNO and SCMP_ACT_TRACE allow to specify the errno code to return. ... The default is EPERM.",
            seccomp_errno),
        check(MUST, "linux.seccomp.errno-ret", "config-linux.md#seccomp",
            "a seccomp rule's errnoRet is the syscall's errno",
            "errnoRet (uint, OPTIONAL) - the errno return code to use. Some actions like SCMP_ACT_ERRNO and SCMP_ACT_TRACE allow to specify the errno code to return.",
            seccomp_errno_ret),
        check(MUST, "linux.seccomp.errno-unsupported", "config-linux.md#seccomp",
            "create fails for errnoRet on an action without errno",
            "When the action doesn't support an errno, the runtime MUST print and error and fail.",
            seccomp_errno_unsupported),
    ]);
    checks
}

/// The base config's namespace list with `extra` added.
fn add_namespace(config: &mut Value, extra: Value) {
    if let Some(list) = config["linux"]["namespaces"].as_array_mut() {
        list.push(extra);
    }
}

fn mappings(config: &mut Value) {
    let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    config["linux"]["uidMappings"] = map.clone();
    config["linux"]["gidMappings"] = map;
}

fn new_namespace(lab: &mut Lab, kind: &str, proc_name: &str) -> Outcome {
    let report = probe_with(lab, &[], |c, _| {
        c["ociVersion"] = json!("1.1.0");
        let listed = c["linux"]["namespaces"]
            .as_array()
            .is_some_and(|l| l.iter().any(|n| n["type"] == kind));
        if !listed {
            add_namespace(c, json!({"type": kind}));
        }
        if kind == "user" {
            mappings(c);
        }
    })?;
    let host = host_namespace(proc_name)
        .ok_or_else(|| skip(format!("this kernel has no {kind} namespaces")))?;
    let inside = report.namespaces.get(proc_name).copied();
    ensure(
        inside.is_some_and(|i| i != host),
        format!("{kind} namespace {inside:?} is the runtime's ({host})"),
    )
}

fn namespaces_inherit(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &[], |c, _| {
        c["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "pid"}]);
        if let Some(obj) = c.as_object_mut() {
            obj.remove("hostname");
        }
    })?;
    for name in ["net", "ipc", "uts", "cgroup", "user", "time"] {
        let Some(host) = host_namespace(name) else {
            continue;
        };
        ensure_eq(
            report.namespaces.get(name).copied(),
            Some(host),
            &format!("{name} namespace"),
        )?;
    }
    Ok(())
}

/// Creates a holder container with a new `kind` namespace, then a
/// container whose `kind` namespace is the holder's, by path.
fn join_namespace(lab: &mut Lab, kind: &str, proc_name: &str) -> Outcome {
    let holder = lab.bundle("holder")?;
    let mut holder_config = base_config(&["--wait-signal", "60"]);
    let listed = holder_config["linux"]["namespaces"]
        .as_array()
        .is_some_and(|l| l.iter().any(|n| n["type"] == kind));
    if !listed {
        add_namespace(&mut holder_config, json!({"type": kind}));
    }
    if kind == "user" {
        mappings(&mut holder_config);
    }
    holder.write_config(&holder_config)?;
    let holder_id = lab.id("holder");
    lab.create(&holder, &holder_id)?.require()?;
    let pid = lab
        .state(&holder_id)?
        .get("pid")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let path = format!("/proc/{pid}/ns/{proc_name}");
    let wanted = fs::metadata(&path)
        .map_err(|e| fail(format!("stat {path}: {e}")))?
        .ino();
    let report = probe_with(lab, &[], |c, _| {
        if let Some(list) = c["linux"]["namespaces"].as_array_mut() {
            list.retain(|n| n["type"] != kind);
            list.push(json!({"type": kind, "path": path}));
        }
        // A hostname may only be set in a new uts namespace.
        if let (Some(obj), "uts") = (c.as_object_mut(), kind) {
            obj.remove("hostname");
        }
        // The joined user namespace's own mappings, as engines pass them.
        if kind == "user" {
            mappings(c);
        }
    })?;
    ensure_eq(
        report.namespaces.get(proc_name).copied(),
        Some(wanted),
        &format!("{kind} namespace"),
    )
}

fn namespaces_wrong_type(lab: &mut Lab) -> Outcome {
    let net = format!("/proc/{}/ns/net", std::process::id());
    create_fails(lab, "the ipc namespace path is a network namespace", |c| {
        if let Some(list) = c["linux"]["namespaces"].as_array_mut() {
            list.retain(|n| n["type"] != "ipc");
            list.push(json!({"type": "ipc", "path": net}));
        }
    })
    .map(drop)
}

fn namespaces_duplicate(lab: &mut Lab) -> Outcome {
    create_fails(lab, "pid is listed twice", |c| {
        add_namespace(c, json!({"type": "pid"}))
    })
    .map(drop)
}

fn user_mappings(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &[], |c, _| {
        add_namespace(c, json!({"type": "user"}));
        mappings(c);
    })?;
    let expected = vec![IdMap {
        inside: 0,
        outside: 100000,
        count: 65536,
    }];
    ensure_eq(&report.uid_map, &expected, "uid_map")?;
    ensure_eq(&report.gid_map, &expected, "gid_map")?;
    ensure_eq(report.ids.uid, vec![0; 4], "uid in the container")
}

fn time_offsets(lab: &mut Lab) -> Outcome {
    if host_namespace("time").is_none() {
        return Err(skip("this kernel has no time namespaces"));
    }
    let report = probe_with(lab, &[], |c, _| {
        c["ociVersion"] = json!("1.1.0");
        add_namespace(c, json!({"type": "time"}));
        c["linux"]["timeOffsets"] = json!({
            "monotonic": {"secs": 86400, "nanosecs": 0},
            "boottime": {"secs": 172800, "nanosecs": 500}
        });
    })?;
    ensure_eq(
        report.time_offsets.get("monotonic"),
        Some(&(86400, 0)),
        "monotonic offset",
    )?;
    ensure_eq(
        report.time_offsets.get("boottime"),
        Some(&(172800, 500)),
        "boottime offset",
    )
}

fn node<'r>(report: &'r Report, path: &str) -> Option<&'r Node> {
    report.dev.iter().find(|n| n.path == path).or_else(|| {
        report
            .paths
            .iter()
            .find(|p| p.path == path)
            .and_then(|p| p.node.as_ref())
    })
}

/// (kind, major, minor, mode, uid, gid) of a node, for comparison.
fn shape(node: Option<&Node>) -> Option<(String, u64, u64, u32, u32, u32)> {
    node.map(|n| (n.kind.clone(), n.major, n.minor, n.mode, n.uid, n.gid))
}

fn devices(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &[], |c, _| {
        c["linux"]["devices"] = json!([
            {"path": "/dev/conf-char", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640, "uid": 1000, "gid": 1001},
            {"path": "/dev/conf-block", "type": "b", "major": 7, "minor": 200, "fileMode": 0o600, "uid": 0, "gid": 0},
            {"path": "/dev/conf-fifo", "type": "p", "fileMode": 0o620, "uid": 0, "gid": 6}
        ]);
    })?;
    let expect = [
        ("/dev/conf-char", ("c", 1, 3, 0o640, 1000, 1001)),
        ("/dev/conf-block", ("b", 7, 200, 0o600, 0, 0)),
        ("/dev/conf-fifo", ("p", 0, 0, 0o620, 0, 6)),
    ];
    for (path, (kind, major, minor, mode, uid, gid)) in expect {
        ensure_eq(
            shape(node(&report, path)),
            Some((kind.to_owned(), major, minor, mode, uid, gid)),
            &format!("{path} (type, major, minor, mode, uid, gid)"),
        )?;
    }
    Ok(())
}

fn devices_outside_dev(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &["--check-path", "/conf-zero"], |c, _| {
        c["linux"]["devices"] = json!([
            {"path": "/conf-zero", "type": "c", "major": 1, "minor": 5, "fileMode": 0o666, "uid": 0, "gid": 0}
        ]);
    })?;
    let got = shape(node(&report, "/conf-zero")).map(|s| (s.0, s.1, s.2));
    ensure_eq(
        got,
        Some(("c".to_owned(), 1, 5)),
        "/conf-zero (type, major, minor)",
    )
}

fn devices_conflict(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    fs::write(bundle.host_path("/conf-file"), b"not a device")
        .map_err(|e| fail(format!("write: {e}")))?;
    let mut config = base_config(&[]);
    config["linux"]["devices"] = json!([
        {"path": "/conf-file", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666, "uid": 0, "gid": 0}
    ]);
    bundle.write_config(&config)?;
    let id = lab.id("conflict");
    lab.create(&bundle, &id)?
        .require_error("/conf-file is a regular file, not c 1:3")?;
    Ok(())
}

fn default_devices(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &[], |_, _| {})?;
    let expect = [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ];
    for (path, major, minor) in expect {
        let got = shape(node(&report, path)).map(|s| (s.0, s.1, s.2));
        ensure_eq(
            got,
            Some(("c".to_owned(), major, minor)),
            &format!("{path} (type, major, minor)"),
        )?;
    }
    Ok(())
}

fn default_devices_ptmx(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &[], |_, _| {})?;
    let ptmx = node(&report, "/dev/ptmx").ok_or_else(|| fail("no /dev/ptmx"))?;
    let pts_ptmx = node(&report, "/dev/pts/ptmx");
    let symlink =
        ptmx.kind == "l" && matches!(ptmx.target.as_deref(), Some("pts/ptmx" | "/dev/pts/ptmx"));
    let bind = ptmx.kind == "c"
        && (ptmx.major, ptmx.minor) == (5, 2)
        && pts_ptmx.is_some_and(|p| (p.major, p.minor) == (5, 2));
    ensure(
        symlink || bind,
        format!("/dev/ptmx is {ptmx:?}, neither a symlink to pts/ptmx nor a bind mount of it"),
    )
}

fn default_devices_console(lab: &mut Lab) -> Outcome {
    let report = super::config::terminal_report(lab)?;
    let pty = report
        .stdio
        .first()
        .map(|s| s.target.clone())
        .unwrap_or_default();
    let numbers = |path: &str| {
        node(&report, path)
            .filter(|n| n.kind == "c")
            .map(|n| (n.major, n.minor))
    };
    ensure(
        pty.starts_with("/dev/pts/"),
        format!("stdin is {pty:?}, not a pty"),
    )?;
    ensure_eq(
        numbers("/dev/console"),
        numbers(&pty),
        "/dev/console (major, minor) vs the pty's",
    )
}

fn default_filesystems(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &[], |_, _| {})?;
    for (path, fs_type) in [
        ("/proc", "proc"),
        ("/sys", "sysfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
    ] {
        ensure(
            report
                .mounts
                .iter()
                .any(|m| m.mount_point == path && m.fs_type == fs_type),
            format!("no {fs_type} mounted on {path}"),
        )?;
    }
    Ok(())
}

fn sysctl(lab: &mut Lab) -> Outcome {
    let report = probe_with(
        lab,
        &[
            "--sysctl",
            "net.ipv4.ip_default_ttl",
            "--sysctl",
            "kernel.msgmax",
        ],
        |c, _| {
            c["linux"]["sysctl"] =
                json!({"net.ipv4.ip_default_ttl": "42", "kernel.msgmax": "12345"});
        },
    )?;
    ensure_eq(
        report.sysctls.get("net.ipv4.ip_default_ttl"),
        Some(&Fallible::Ok("42".to_owned())),
        "net.ipv4.ip_default_ttl",
    )?;
    ensure_eq(
        report.sysctls.get("kernel.msgmax"),
        Some(&Fallible::Ok("12345".to_owned())),
        "kernel.msgmax",
    )
}

fn sysctl_unknown(lab: &mut Lab) -> Outcome {
    create_fails(lab, "kernel.conformance_unknown is no sysctl", |c| {
        c["linux"]["sysctl"] = json!({"kernel.conformance_unknown": "1"});
    })
    .map(drop)
}

/// Writes `/<name>-file` (5 bytes) and `/<name>-dir/file` into the rootfs.
fn rootfs_samples(bundle: &crate::lab::Bundle, name: &str) -> Result<(), Failure> {
    let dir = bundle.host_path(&format!("/{name}-dir"));
    fs::create_dir_all(&dir).map_err(|e| fail(format!("mkdir: {e}")))?;
    fs::write(dir.join("file"), b"hello").map_err(|e| fail(format!("write: {e}")))?;
    fs::write(bundle.host_path(&format!("/{name}-file")), b"hello")
        .map_err(|e| fail(format!("write: {e}")))
}

fn read_of(report: &Report, path: &str) -> Option<Fallible<u64>> {
    report
        .paths
        .iter()
        .find(|p| p.path == path)
        .map(|p| p.read.clone())
}

fn masked_paths(lab: &mut Lab) -> Outcome {
    let paths = [
        "/proc/version",
        "/masked-file",
        "/masked-dir",
        "/unmasked-file",
    ];
    let args: Vec<&str> = paths.iter().flat_map(|p| ["--check-path", *p]).collect();
    let report = probe_with(lab, &args, |c, b| {
        let _ = rootfs_samples(b, "masked").and_then(|()| rootfs_samples(b, "unmasked"));
        c["linux"]["maskedPaths"] = json!(["/proc/version", "/masked-file", "/masked-dir"]);
    })?;
    ensure_eq(
        read_of(&report, "/unmasked-file"),
        Some(Fallible::Ok(5)),
        "bytes read from the unmasked /unmasked-file",
    )?;
    for path in &paths[..3] {
        let read = read_of(&report, path);
        ensure(
            matches!(read, Some(Fallible::Ok(0) | Fallible::Errno(_))),
            format!("{path} is readable: {read:?} (bytes or entries)"),
        )?;
    }
    Ok(())
}

fn readonly_paths(lab: &mut Lab) -> Outcome {
    let args = [
        "--check-path",
        "/proc/sys/kernel/hostname",
        "--check-path",
        "/ro-dir",
        "--check-path",
        "/ro-dir/file",
        "--check-path",
        "/rw-dir",
    ];
    let report = probe_with(lab, &args, |c, b| {
        let _ = rootfs_samples(b, "ro").and_then(|()| rootfs_samples(b, "rw"));
        c["linux"]["readonlyPaths"] = json!(["/proc/sys", "/ro-dir"]);
    })?;
    let write = |path: &str| {
        report
            .paths
            .iter()
            .find(|p| p.path == path)
            .map(|p| p.write.clone())
    };
    ensure_eq(
        write("/rw-dir"),
        Some(Fallible::Ok(true)),
        "creating a file in /rw-dir (not listed)",
    )?;
    ensure_eq(
        write("/proc/sys/kernel/hostname"),
        Some(Fallible::Errno(libc::EROFS)),
        "opening /proc/sys/kernel/hostname for writing",
    )?;
    ensure_eq(
        write("/ro-dir"),
        Some(Fallible::Errno(libc::EROFS)),
        "creating a file in /ro-dir",
    )?;
    ensure_eq(
        read_of(&report, "/ro-dir/file"),
        Some(Fallible::Ok(5)),
        "bytes read from /ro-dir/file",
    )
}

fn rootfs_propagation(lab: &mut Lab, value: &str) -> Outcome {
    if value == "slave" {
        let host = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let root_shared = parse_mountinfo(&host)
            .iter()
            .rfind(|m| m.mount_point == "/")
            .is_some_and(|m| m.propagation.iter().any(|p| p.starts_with("shared:")));
        if !root_shared {
            return Err(skip(
                "the host's / is private: a slave rootfs would have no master to receive from",
            ));
        }
    }
    let report = probe_with(lab, &[], |c, _| {
        c["linux"]["rootfsPropagation"] = json!(value)
    })?;
    let root = report
        .mounts
        .iter()
        .rfind(|m| m.mount_point == "/")
        .ok_or_else(|| fail("no / in mountinfo"))?;
    let has = |prefix: &str| root.propagation.iter().any(|p| p.starts_with(prefix));
    let ok = match value {
        "shared" => has("shared:"),
        "slave" => has("master:") && !has("shared:"),
        "private" => root.propagation.is_empty(),
        _ => has("unbindable"),
    };
    ensure(ok, format!("/ has propagation {:?}", root.propagation))
}

fn personality(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &[], |c, _| {
        c["ociVersion"] = json!("1.1.0");
        c["linux"]["personality"] = json!({"domain": "LINUX32"});
    })?;
    ensure_eq(
        report.personality.map(|p| p & 0xff),
        Some(0x0008),
        "persona (PER_LINUX32)",
    )?;
    ensure_eq(report.machine.as_str(), "i686", "uname machine")
}

/// The cgroup hierarchies a process is in that have controllers (v1), or
/// the v2 one on a pure v2 host.
fn controller_lines(report: &Report) -> Vec<&crate::report::CgroupMembership> {
    let v1: Vec<_> = report
        .cgroups
        .iter()
        .filter(|c| !c.controllers.is_empty())
        .collect();
    if v1.is_empty() {
        report.cgroups.iter().filter(|c| c.hierarchy == 0).collect()
    } else {
        v1
    }
}

fn cgroups_path(lab: &mut Lab) -> Outcome {
    let path = lab.cgroups_path();
    let report = probe_with(lab, &[], |c, _| c["linux"]["cgroupsPath"] = json!(path))?;
    for line in controller_lines(&report) {
        ensure_eq(
            line.path.as_str(),
            path.as_str(),
            &format!("cgroup of {:?}", line.controllers),
        )?;
    }
    Ok(())
}

/// Creates a container with `resources` in a cgroupsPath of its own and
/// returns the host path of `controller`'s directory for it.
fn resources_cgroup(
    lab: &mut Lab,
    controller: &str,
    resources: Value,
) -> Result<std::path::PathBuf, Failure> {
    super::cgroups::container_cgroup(lab, controller, |c| c["linux"]["resources"] = resources)
        .map(|c| c.dir)
}

pub(super) fn read_cgroup(dir: &std::path::Path, v1: &str, v2: &str) -> Result<String, Failure> {
    [v1, v2]
        .iter()
        .find_map(|f| fs::read_to_string(dir.join(f)).ok())
        .map(|s| s.trim().to_owned())
        .ok_or_else(|| fail(format!("neither {v1} nor {v2} in {}", dir.display())))
}

fn resources_pids(lab: &mut Lab) -> Outcome {
    let dir = resources_cgroup(lab, "pids", json!({"pids": {"limit": 77}}))?;
    ensure_eq(
        read_cgroup(&dir, "pids.max", "pids.max")?.as_str(),
        "77",
        "pids.max",
    )
}

fn resources_memory(lab: &mut Lab) -> Outcome {
    let dir = resources_cgroup(lab, "memory", json!({"memory": {"limit": 67108864}}))?;
    ensure_eq(
        read_cgroup(&dir, "memory.limit_in_bytes", "memory.max")?.as_str(),
        "67108864",
        "memory limit",
    )
}

fn resources_cpu(lab: &mut Lab) -> Outcome {
    let dir = resources_cgroup(
        lab,
        "cpu",
        json!({"cpu": {"quota": 50000, "period": 100000}}),
    )?;
    if dir.join("cpu.max").exists() {
        return ensure_eq(
            read_cgroup(&dir, "cpu.max", "cpu.max")?.as_str(),
            "50000 100000",
            "cpu.max",
        );
    }
    ensure_eq(
        read_cgroup(&dir, "cpu.cfs_quota_us", "-")?.as_str(),
        "50000",
        "cpu.cfs_quota_us",
    )?;
    ensure_eq(
        read_cgroup(&dir, "cpu.cfs_period_us", "-")?.as_str(),
        "100000",
        "cpu.cfs_period_us",
    )
}

fn resources_cpuset(lab: &mut Lab) -> Outcome {
    let path = lab.cgroups_path();
    let report = probe_with(lab, &[], |c, _| {
        c["linux"]["cgroupsPath"] = json!(path);
        set(c, &["linux", "resources", "cpu", "cpus"], json!("0"));
    })?;
    ensure_eq(report.cpu_affinity, Fallible::Ok(vec![0]), "CPU affinity")
}

/// Denies c 1:11 (kmsg, which any process may open write-only and which
/// is none of the default devices a runtime keeps allowed) after allowing
/// everything; /dev/null stays usable.
fn resources_devices(lab: &mut Lab) -> Outcome {
    let path = lab.cgroups_path();
    let args = [
        "--check-path",
        "/dev/conf-kmsg",
        "--check-path",
        "/dev/null",
    ];
    let report = probe_with(lab, &args, |c, _| {
        c["linux"]["cgroupsPath"] = json!(path);
        c["linux"]["devices"] = json!([
            {"path": "/dev/conf-kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 0o666, "uid": 0, "gid": 0}
        ]);
        set(
            c,
            &["linux", "resources", "devices"],
            json!([
                {"allow": true, "access": "rwm"},
                {"allow": false, "type": "c", "major": 1, "minor": 11, "access": "rw"}
            ]),
        );
    })?;
    let kmsg = report.paths.iter().find(|p| p.path == "/dev/conf-kmsg");
    let node = kmsg.and_then(|p| p.node.as_ref());
    ensure(
        node.is_some_and(|n| (n.kind.as_str(), n.major, n.minor) == ("c", 1, 11)),
        format!("/dev/conf-kmsg (linux.devices) is not c 1:11: {node:?}"),
    )?;
    ensure_eq(
        report
            .paths
            .iter()
            .find(|p| p.path == "/dev/null")
            .map(|p| p.write.clone()),
        Some(Fallible::Ok(true)),
        "open of /dev/null for writing (allowed)",
    )?;
    ensure_eq(
        kmsg.map(|p| p.write.clone()),
        Some(Fallible::Errno(libc::EPERM)),
        "open of /dev/conf-kmsg (c 1:11) for writing (denied)",
    )
}

pub(super) fn seccomp_config(c: &mut Value, rule: Value) {
    c["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [rule]
    });
}

fn seccomp_errno(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &[], |c, _| {
        seccomp_config(
            c,
            json!({"names": ["sched_getaffinity"], "action": "SCMP_ACT_ERRNO"}),
        );
    })?;
    ensure_eq(report.seccomp, 2, "seccomp mode (2: filter)")?;
    ensure_eq(
        report.cpu_affinity,
        Fallible::Errno(libc::EPERM),
        "sched_getaffinity",
    )
}

fn seccomp_errno_ret(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &[], |c, _| {
        seccomp_config(
            c,
            json!({"names": ["sched_getaffinity"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOTSUP}),
        );
    })?;
    ensure_eq(
        report.cpu_affinity,
        Fallible::Errno(libc::ENOTSUP),
        "sched_getaffinity",
    )
}

fn seccomp_errno_unsupported(lab: &mut Lab) -> Outcome {
    create_fails(lab, "SCMP_ACT_ALLOW takes no errnoRet", |c| {
        seccomp_config(
            c,
            json!({"names": ["sched_getaffinity"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}),
        );
    })
    .map(drop)
}

fn namespaces_relative_path(lab: &mut Lab) -> Outcome {
    let ipc = |c: &mut Value, path: &str| {
        if let Some(list) = c["linux"]["namespaces"].as_array_mut() {
            list.retain(|n| n["type"] != "ipc");
            list.push(json!({"type": "ipc", "path": path}));
        }
    };
    create_fails_unlike(
        lab,
        "the ipc namespace path is relative",
        |c| ipc(c, &format!("/proc/{}/ns/ipc", std::process::id())),
        |c| ipc(c, &format!("proc/{}/ns/ipc", std::process::id())),
    )
    .map(drop)
}

fn user_mappings_no_chown(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    let owners = |b: &crate::lab::Bundle| -> Vec<(String, u32, u32)> {
        ["/", "/gorae-probe", "/etc", "/tmp"]
            .iter()
            .filter_map(|p| {
                let m = fs::symlink_metadata(b.host_path(p)).ok()?;
                Some(((*p).to_owned(), m.uid(), m.gid()))
            })
            .collect()
    };
    let before = owners(&bundle);
    let mut config = base_config(&[]);
    add_namespace(&mut config, json!({"type": "user"}));
    mappings(&mut config);
    lab.probe(&bundle, &config)?;
    ensure_eq(
        owners(&bundle),
        before,
        "owners (uid, gid) of rootfs files after the run",
    )
}

fn masked_paths_relative(lab: &mut Lab) -> Outcome {
    relative_entry(lab, "maskedPaths", "proc/kcore")
}

fn readonly_paths_relative(lab: &mut Lab) -> Outcome {
    relative_entry(lab, "readonlyPaths", "proc/sys")
}

/// create with `linux.<field>` holding the relative `path` must fail,
/// after the same with `/path` created.
fn relative_entry(lab: &mut Lab, field: &str, path: &str) -> Outcome {
    create_fails_unlike(
        lab,
        &format!("the {field} entry {path} is relative"),
        |c| c["linux"][field] = json!([format!("/{path}")]),
        |c| c["linux"][field] = json!([path]),
    )
    .map(drop)
}

/// Node numbers of a sysfs node list (`0-3,7`).
fn node_list(text: &str) -> Vec<usize> {
    text.trim()
        .split(',')
        .filter(|p| !p.is_empty())
        .flat_map(|part| {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            match (a.parse::<usize>(), b.parse::<usize>()) {
                (Ok(a), Ok(b)) => (a..=b).collect(),
                _ => Vec::new(),
            }
        })
        .collect()
}

/// The online memory nodes (`/sys/devices/system/node/online`).
fn online_nodes() -> Result<Vec<usize>, Failure> {
    let text = fs::read_to_string("/sys/devices/system/node/online").map_err(|e| {
        skip(format!(
            "no /sys/devices/system/node/online (a kernel without NUMA): {e}"
        ))
    })?;
    let nodes = node_list(&text);
    if nodes.is_empty() {
        return Err(skip(format!("no online memory node in {text:?}")));
    }
    Ok(nodes)
}

fn memory_policy(lab: &mut Lab) -> Outcome {
    let node = online_nodes()?[0];
    let report = probe_with(lab, &[], |c, _| {
        c["ociVersion"] = json!("1.3.0");
        c["linux"]["memoryPolicy"] = json!({
            "mode": "MPOL_BIND", "nodes": node.to_string(), "flags": ["MPOL_F_STATIC_NODES"]
        });
    })?;
    ensure_eq(
        report.memory_policy,
        Fallible::Ok(crate::report::MemoryPolicy {
            mode: "MPOL_BIND".to_owned(),
            flags: vec!["MPOL_F_STATIC_NODES".to_owned()],
            nodes: vec![node],
        }),
        "get_mempolicy",
    )
}

fn memory_policy_invalid(lab: &mut Lab) -> Outcome {
    let online = online_nodes()?;
    let first = online[0];
    let possible = fs::read_to_string("/sys/devices/system/node/possible").unwrap_or_default();
    let beyond = node_list(&possible)
        .into_iter()
        .chain(online)
        .max()
        .unwrap_or(0)
        + 1;
    let policy = |c: &mut Value, node: usize| {
        c["ociVersion"] = json!("1.3.0");
        c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": node.to_string()});
    };
    create_fails_unlike(
        lab,
        &format!("memory node {beyond} does not exist"),
        |c| policy(c, first),
        |c| policy(c, beyond),
    )
    .map(drop)
}

/// Where resctrl is mounted in the suite's (the runtime's) mount namespace.
fn resctrl_mount() -> Option<String> {
    parse_mountinfo(&fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
        .into_iter()
        .find(|m| m.fs_type == "resctrl")
        .map(|m| m.mount_point)
}

fn intel_rdt(lab: &mut Lab) -> Outcome {
    let root = resctrl_mount().ok_or_else(|| {
        skip("no resctrl mounted here (no Intel RDT or AMD QoS); linux.intel-rdt.no-resctrl checks the error")
    })?;
    let bundle = lab.bundle("bundle")?;
    let mut config = base_config(&["--wait-signal", "60"]);
    config["linux"]["intelRdt"] = json!({});
    let (id, pid) = super::create_with(lab, &bundle, &config, "rdt")?;
    let group = std::path::Path::new(&root).join(&id);
    let tasks = fs::read_to_string(group.join("tasks"))
        .map_err(|e| fail(format!("read {}/tasks: {e}", group.display())))?;
    ensure(
        tasks.lines().any(|t| t.trim() == pid.to_string()),
        format!(
            "{}/tasks does not list the container process {pid}",
            group.display()
        ),
    )?;
    lab.runtime(&["kill", &id, "KILL"])?.require()?;
    lab.wait_status(&id, "stopped")?;
    lab.runtime(&["delete", &id])?.require()?;
    ensure(
        !group.exists(),
        format!("{} is left after delete", group.display()),
    )
}

fn intel_rdt_no_resctrl(lab: &mut Lab) -> Outcome {
    if let Some(root) = resctrl_mount() {
        return Err(skip(format!(
            "resctrl is mounted at {root}: linux.intel-rdt checks it"
        )));
    }
    create_fails_unlike(
        lab,
        "no resctrl is mounted",
        |_| {},
        |c| {
            c["linux"]["intelRdt"] = json!({"closID": "conformance"});
        },
    )
    .map(drop)
}

//! `config.md`: version, root, mounts, process, hostname, hooks,
//! extensibility.
#![forbid(unsafe_code)]

use std::fs;

use nix::sys::resource::{Resource, getrlimit};
use serde_json::{Value, json};

use super::{MUST, SHOULD, check, create_fails, create_with, probe_with, set};
use crate::lab::{Bundle, Lab, PROBE, base_config};
use crate::report::{Fallible, Report};
use crate::suite::{Check, Failure, Outcome, ensure, ensure_eq, fail, skip};

const EROFS: i32 = libc::EROFS;

pub(super) fn checks() -> Vec<Check> {
    vec![
        check(
            MUST,
            "config.version.invalid",
            "config.md#specification-version",
            "create with an ociVersion that is not SemVer fails",
            "ociVersion (string, REQUIRED) MUST be in SemVer v2.0.0 format ... Runtimes MUST generate an error when invalid or unsupported values are encountered.",
            version_invalid,
        ),
        check(
            MUST,
            "config.root.readonly",
            "config.md#root",
            "root.readonly true makes / read-only in the container",
            "readonly (bool, OPTIONAL) If true then the root filesystem MUST be read-only inside the container, defaults to false.",
            root_readonly,
        ),
        check(
            MUST,
            "config.root.writable",
            "config.md#root",
            "root.readonly false leaves / writable",
            "readonly (bool, OPTIONAL) If true then the root filesystem MUST be read-only inside the container, defaults to false.",
            root_writable,
        ),
        check(
            MUST,
            "config.root.absolute-path",
            "config.md#root",
            "an absolute root.path is used as the root filesystem",
            "On POSIX platforms, path is either an absolute path or a relative path to the bundle. ... A directory MUST exist at the path declared by the field.",
            root_absolute,
        ),
        check(
            MUST,
            "config.mounts.order",
            "config.md#mounts",
            "mounts on one destination are made in the listed order (the last is on top)",
            "The runtime MUST mount entries in the listed order.",
            mounts_order,
        ),
        check(
            MUST,
            "config.mounts.bind",
            "config.md#mounts",
            "a bind mount shows the host directory's files",
            "Runtimes MUST/SHOULD/MAY implement the following option strings for Linux: ... bind | MUST | Bind mount ... rbind | MUST | Recursive bind mount",
            mounts_bind,
        ),
        check(
            MUST,
            "config.mounts.bind-ro",
            "config.md#mounts",
            "a bind mount with ro is read-only",
            "Runtimes MUST/SHOULD/MAY implement the following option strings for Linux: ... ro | MUST",
            mounts_bind_ro,
        ),
        check(
            MUST,
            "config.mounts.options",
            "config.md#mounts",
            "nosuid, nodev, noexec and ro options appear on the mount",
            "Runtimes MUST/SHOULD/MAY implement the following option strings for Linux: ... nodev | MUST ... noexec | MUST ... nosuid | MUST ... ro | MUST",
            mounts_options,
        ),
        check(
            MUST,
            "config.mounts.relative-destination",
            "config.md#mounts",
            "a relative mount destination is taken relative to /",
            "Linux: This value SHOULD be an absolute path. For compatibility with old tools and configurations, it MAY be a relative path, in which case it MUST be interpreted as relative to \"/\".",
            mounts_relative,
        ),
        check(
            SHOULD,
            "config.mounts.idmap",
            "config.md#posix-platform-mounts",
            "a mount's uidMappings and gidMappings map the owners of its files",
            "uidMappings (array of type LinuxIDMapping, OPTIONAL) The mapping to convert UIDs from the source file system to the destination mount point. This SHOULD be implemented using mount_setattr(MOUNT_ATTR_IDMAP)",
            mounts_idmap,
        ),
        check(
            MUST,
            "config.mounts.idmap.pair",
            "config.md#posix-platform-mounts",
            "create with a mount's uidMappings but no gidMappings fails",
            "If specified, it MUST be specified along with gidMappings.",
            mounts_idmap_pair,
        ),
        check(
            MUST,
            "config.mounts.missing-source",
            "runtime.md#lifecycle",
            "create with a bind mount of a source that does not exist fails",
            "If the runtime is unable to create the environment specified in the config.json, it MUST generate an error.",
            mounts_missing_source,
        ),
        check(
            MUST,
            "config.mounts.cgroup",
            "runtime.md#lifecycle",
            "a cgroup mount on /sys/fs/cgroup (as engines pass) is made",
            "The container's runtime environment MUST be created according to the configuration in config.json. If the runtime is unable to create the environment specified in the config.json, it MUST generate an error.",
            mounts_cgroup,
        ),
        check(
            MUST,
            "config.process.args",
            "config.md#process",
            "the process runs with the configured args",
            "args (array of strings, OPTIONAL) with similar semantics to IEEE Std 1003.1-2008 execvp's argv.",
            process_args,
        ),
        check(
            MUST,
            "config.process.args-path",
            "config.md#process",
            "a relative args[0] is looked up in the PATH of process.env",
            "This specification extends the IEEE standard in that at least one entry is REQUIRED (non-Windows), and that entry is used with the same semantics as execvp's file.",
            process_args_path,
        ),
        check(
            MUST,
            "config.process.terminal",
            "config.md#process",
            "terminal true gives the process a pseudoterminal on stdin, stdout and stderr",
            "terminal (bool, OPTIONAL) specifies whether a terminal is attached to the process, defaults to false. As an example, if set to true on Linux a pseudoterminal pair is allocated for the process and the pseudoterminal pty is duplicated on the process's standard streams.",
            process_terminal,
        ),
        check(
            MUST,
            "config.process.env",
            "config.md#process",
            "the process environment holds process.env",
            "env (array of strings, OPTIONAL) with the same semantics as IEEE Std 1003.1-2008's environ.",
            process_env,
        ),
        check(
            MUST,
            "config.process.cwd",
            "config.md#process",
            "the process starts in process.cwd",
            "cwd (string, REQUIRED) is the working directory that will be set for the executable. This value MUST be an absolute path.",
            process_cwd,
        ),
        check(
            MUST,
            "config.process.cwd-relative",
            "config.md#process",
            "create with a relative process.cwd fails",
            "cwd (string, REQUIRED) ... This value MUST be an absolute path. ... Runtimes MUST generate an error when invalid or unsupported values are encountered.",
            process_cwd_relative,
        ),
        check(
            MUST,
            "config.process.user",
            "config.md#posix-platform-user",
            "uid, gid and additionalGids are those of process.user",
            "uid (int, REQUIRED) specifies the user ID in the container namespace. gid (int, REQUIRED) specifies the group ID in the container namespace. additionalGids (array of ints, OPTIONAL) specifies additional group IDs in the container namespace to be added to the process.",
            process_user,
        ),
        check(
            SHOULD,
            "config.process.umask",
            "config.md#posix-platform-user",
            "process.user.umask is the process umask",
            "umask (int, OPTIONAL) specifies the umask of the user.",
            process_umask,
        ),
        check(
            MUST,
            "config.process.capabilities",
            "config.md#linux-process",
            "the five capability sets are those of process.capabilities",
            "effective ... bounding ... inheritable ... permitted ... ambient (array of strings, OPTIONAL) the <set> field is an array of <set> capabilities that are kept for the process.",
            process_capabilities,
        ),
        check(
            MUST,
            "config.process.capabilities-unlisted",
            "config.md#linux-process",
            "sets the config leaves out (inheritable, ambient) are empty",
            "inheritable (array of strings, OPTIONAL) the inheritable field is an array of inheritable capabilities that are kept for the process. ambient (array of strings, OPTIONAL) ... kept for the process.",
            process_capabilities_unlisted,
        ),
        check(
            SHOULD,
            "config.process.capabilities-unknown",
            "config.md#linux-process",
            "an unknown capability is a warning, not a failure",
            "Any value which cannot be mapped to a relevant kernel interface, or cannot be granted otherwise MUST be logged as a warning by the runtime. Runtimes SHOULD NOT fail if the container configuration requests capabilities that cannot be granted.",
            process_capabilities_unknown,
        ),
        check(
            MUST,
            "config.process.rlimits",
            "config.md#posix-process",
            "rlimits soft and hard values are applied",
            "soft (uint64, REQUIRED) ... rlim.rlim_cur MUST match the configured value. hard (uint64, REQUIRED) ... rlim.rlim_max MUST match the configured value.",
            process_rlimits,
        ),
        check(
            MUST,
            "config.process.rlimits-duplicate",
            "config.md#posix-process",
            "create with two rlimits of one type fails",
            "If rlimits contains duplicated entries with same type, the runtime MUST generate an error.",
            process_rlimits_duplicate,
        ),
        check(
            MUST,
            "config.process.rlimits-invalid",
            "config.md#posix-process",
            "create with an unknown rlimit type fails",
            "The runtime MUST generate an error for any values which cannot be mapped to a relevant kernel interface.",
            process_rlimits_invalid,
        ),
        check(
            MUST,
            "config.process.no-new-privileges",
            "config.md#linux-process",
            "noNewPrivileges true sets no_new_privs",
            "noNewPrivileges (bool, OPTIONAL) setting noNewPrivileges to true prevents the process from gaining additional privileges.",
            process_nnp,
        ),
        check(
            MUST,
            "config.process.oom-score-adj",
            "config.md#linux-process",
            "oomScoreAdj is the process oom_score_adj",
            "If oomScoreAdj is set, the runtime MUST set oom_score_adj to the given value.",
            process_oom,
        ),
        check(
            MUST,
            "config.process.oom-score-adj-unset",
            "config.md#linux-process",
            "without oomScoreAdj the oom_score_adj is the runtime's",
            "If oomScoreAdj is not set, the runtime MUST NOT change the value of oom_score_adj.",
            process_oom_unset,
        ),
        check(
            MUST,
            "config.process.scheduler",
            "config.md#linux-process",
            "scheduler policy and nice are applied",
            "scheduler (object, OPTIONAL) is an object describing the scheduler properties for the process. ... nice (int32, OPTIONAL) is the nice value for the process",
            process_scheduler,
        ),
        check(
            MUST,
            "config.process.io-priority",
            "config.md#linux-process",
            "ioPriority class and priority are applied",
            "ioPriority (object, OPTIONAL) configures the I/O priority settings for the container's processes within the process group.",
            process_io_priority,
        ),
        check(
            MUST,
            "config.hostname",
            "config.md#hostname",
            "hostname is the container's hostname",
            "hostname (string, OPTIONAL) specifies the container's hostname as seen by processes running inside the container.",
            hostname,
        ),
        check(
            MUST,
            "config.domainname",
            "config.md#domainname",
            "domainname is the container's NIS domain name",
            "domainname (string, OPTIONAL) specifies the container's domainname as seen by processes running inside the container.",
            domainname,
        ),
        check(
            MUST,
            "config.extensibility",
            "config.md#extensibility",
            "unknown properties are ignored, not errors",
            "Runtimes MAY log unknown properties but MUST otherwise ignore them. That includes not generating errors if they encounter an unknown property.",
            extensibility,
        ),
        check(
            MUST,
            "config.hooks.create",
            "config.md#posix-platform-hooks",
            "prestart, createRuntime, createContainer hooks run during create, in that order",
            "The prestart hooks MUST be called before the createRuntime hooks. ... The createContainer hooks MUST be called after the createRuntime hooks. ... Hooks MUST be called in the listed order.",
            hooks_create,
        ),
        check(
            MUST,
            "config.hooks.state",
            "config.md#posix-platform-hooks",
            "hooks receive the container state on stdin",
            "The state of the container MUST be passed to hooks over stdin so that they may do work appropriate to the current state of the container.",
            hooks_state,
        ),
        check(
            MUST,
            "config.hooks.namespaces",
            "config.md#posix-platform-hooks",
            "createRuntime runs in the runtime's mount namespace, createContainer in the container's",
            "The createRuntime hooks MUST be executed in the runtime namespace. ... The createContainer hooks MUST be executed in the container namespace.",
            hooks_namespaces,
        ),
        check(
            MUST,
            "config.hooks.start",
            "config.md#startcontainer-hooks",
            "startContainer runs in the container before the program, poststart before start returns",
            "The startContainer hooks MUST be called before the user-specified process is executed as part of the start operation. ... The poststart hooks MUST be called after the user-specified process is executed but before the start operation returns.",
            hooks_start,
        ),
        check(
            MUST,
            "config.hooks.poststop",
            "config.md#poststop",
            "poststop hooks run before delete returns",
            "The poststop hooks MUST be called after the container is deleted but before the delete operation returns.",
            hooks_poststop,
        ),
        check(
            MUST,
            "config.hooks.failure",
            "runtime.md#lifecycle",
            "a failing createRuntime hook fails create and no container remains",
            "If any createRuntime hook fails, the runtime MUST generate an error, stop the container, and continue the lifecycle at step 12.",
            hooks_failure,
        ),
    ]
}

fn version_invalid(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    let mut config = base_config(&[]);
    config["ociVersion"] = json!("one.two");
    bundle.write_config(&config)?;
    let id = lab.id("v");
    lab.create(&bundle, &id)?
        .require_error("ociVersion is not SemVer")?;
    Ok(())
}

/// The probe's access report for `path`.
fn access<'r>(report: &'r Report, path: &str) -> Result<&'r crate::report::PathAccess, Failure> {
    report
        .paths
        .iter()
        .find(|p| p.path == path)
        .ok_or_else(|| fail(format!("the probe did not check {path}")))
}

fn root_readonly(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &["--check-path", "/"], |c, _| {
        c["root"]["readonly"] = json!(true);
    })?;
    ensure_eq(
        &access(&report, "/")?.write,
        &Fallible::Errno(EROFS),
        "creating a file in /",
    )
}

fn root_writable(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &["--check-path", "/"], |_, _| {})?;
    ensure_eq(
        &access(&report, "/")?.write,
        &Fallible::Ok(true),
        "creating a file in /",
    )
}

fn root_absolute(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &["--check-path", "/marker"], |c, b| {
        let _ = fs::write(b.host_path("/marker"), b"absolute");
        c["root"]["path"] = json!(b.rootfs.display().to_string());
    })?;
    ensure_eq(
        &access(&report, "/marker")?.read,
        &Fallible::Ok(8),
        "bytes read from /marker",
    )
}

fn mounts_order(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &[], |c, _| {
        push_mounts(
            c,
            json!([
                {"destination": "/mnt", "type": "tmpfs", "source": "first", "options": ["mode=700"]},
                {"destination": "/mnt", "type": "tmpfs", "source": "second", "options": ["mode=755"]}
            ]),
        );
    })?;
    let sources: Vec<&str> = report
        .mounts
        .iter()
        .filter(|m| m.mount_point == "/mnt")
        .map(|m| m.source.as_str())
        .collect();
    ensure_eq(
        sources,
        vec!["first", "second"],
        "mounts on /mnt, bottom to top",
    )
}

pub(super) fn push_mounts(config: &mut Value, mounts: Value) {
    if let (Some(list), Some(new)) = (config["mounts"].as_array_mut(), mounts.as_array()) {
        list.extend(new.iter().cloned());
    }
}

/// A host directory with one 5-byte file, for bind mounts.
pub(super) fn host_dir(lab: &Lab) -> Result<String, Failure> {
    let dir = lab.dir.join("host-data");
    fs::create_dir_all(&dir).map_err(|e| fail(format!("mkdir {}: {e}", dir.display())))?;
    fs::write(dir.join("file"), b"hello").map_err(|e| fail(format!("write: {e}")))?;
    Ok(dir.display().to_string())
}

fn mounts_bind(lab: &mut Lab) -> Outcome {
    let source = host_dir(lab)?;
    let report = probe_with(lab, &["--check-path", "/data/file"], |c, _| {
        push_mounts(
            c,
            json!([{"destination": "/data", "type": "bind", "source": source, "options": ["rbind", "rw"]}]),
        );
    })?;
    ensure_eq(
        &access(&report, "/data/file")?.read,
        &Fallible::Ok(5),
        "bytes read from /data/file",
    )
}

fn mounts_bind_ro(lab: &mut Lab) -> Outcome {
    let source = host_dir(lab)?;
    let report = probe_with(lab, &["--check-path", "/data"], |c, _| {
        push_mounts(
            c,
            json!([{"destination": "/data", "type": "bind", "source": source, "options": ["rbind", "ro"]}]),
        );
    })?;
    ensure_eq(
        &access(&report, "/data")?.write,
        &Fallible::Errno(EROFS),
        "creating a file in /data",
    )
}

fn mounts_options(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &[], |c, _| {
        push_mounts(
            c,
            json!([{"destination": "/mnt", "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "nodev", "noexec", "ro", "size=1m"]}]),
        );
    })?;
    let mount = report
        .mounts
        .iter()
        .rfind(|m| m.mount_point == "/mnt")
        .ok_or_else(|| fail("no mount on /mnt"))?;
    for option in ["nosuid", "nodev", "noexec", "ro"] {
        ensure(
            mount.options.iter().any(|o| o == option),
            format!("/mnt options {:?} lack {option}", mount.options),
        )?;
    }
    Ok(())
}

fn mounts_relative(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &[], |c, _| {
        push_mounts(
            c,
            json!([{"destination": "mnt/rel", "type": "tmpfs", "source": "relative"}]),
        );
    })?;
    ensure(
        report
            .mounts
            .iter()
            .any(|m| m.mount_point == "/mnt/rel" && m.source == "relative"),
        "no tmpfs mounted on /mnt/rel",
    )
}

/// A container in a user namespace (0 -> 100000) binds a host directory
/// whose file belongs to root, through a mount mapping 0 -> 100000: the
/// file then belongs to root inside (65534, unmapped, without the mapping).
fn mounts_idmap(lab: &mut Lab) -> Outcome {
    let source = host_dir(lab)?;
    let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    let report = probe_with(lab, &["--check-path", "/data/file"], |c, bundle| {
        // The mount point exists: root of the user namespace may not
        // create it in a rootfs that belongs to the host's root.
        let _ = fs::create_dir_all(bundle.rootfs.join("data"));
        if let Some(list) = c["linux"]["namespaces"].as_array_mut() {
            list.push(json!({"type": "user"}));
        }
        c["linux"]["uidMappings"] = map.clone();
        c["linux"]["gidMappings"] = map.clone();
        push_mounts(
            c,
            json!([{"destination": "/data", "type": "bind", "source": source,
                    "options": ["rbind", "ridmap"], "uidMappings": map, "gidMappings": map}]),
        );
    })?;
    let owner = access(&report, "/data/file")?
        .node
        .as_ref()
        .map(|n| (n.uid, n.gid));
    ensure_eq(&owner, &Some((0, 0)), "owner of /data/file inside")
}

fn mounts_idmap_pair(lab: &mut Lab) -> Outcome {
    let source = host_dir(lab)?;
    create_fails(lab, "uidMappings without gidMappings", |c| {
        push_mounts(
            c,
            json!([{"destination": "/data", "type": "bind", "source": source,
                    "options": ["rbind", "idmap"],
                    "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]}]),
        );
    })
    .map(drop)
}

fn mounts_missing_source(lab: &mut Lab) -> Outcome {
    let source = lab.dir.join("no-such-dir").display().to_string();
    create_fails(lab, "the bind mount's source does not exist", |c| {
        push_mounts(
            c,
            json!([{"destination": "/data", "type": "bind", "source": source, "options": ["rbind"]}]),
        );
    })
    .map(drop)
}

fn mounts_cgroup(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &[], |c, _| {
        push_mounts(
            c,
            json!([{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}]),
        );
    })?;
    ensure(
        report.mounts.iter().any(|m| {
            m.mount_point.starts_with("/sys/fs/cgroup") && m.fs_type.starts_with("cgroup")
        }),
        "no cgroup filesystem mounted at or below /sys/fs/cgroup",
    )
}

fn process_args(lab: &mut Lab) -> Outcome {
    let report = probe_with(
        lab,
        &["--exit", "0", "--sysctl", "kernel.ostype"],
        |_, _| {},
    )?;
    ensure_eq(
        report.args,
        vec![
            PROBE.to_owned(),
            "--exit".into(),
            "0".into(),
            "--sysctl".into(),
            "kernel.ostype".into(),
        ],
        "argv",
    )
}

fn process_args_path(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &[], |c, _| {
        c["process"]["args"] = json!(["gorae-probe"]);
        c["process"]["env"] = json!(["PATH=/nowhere:/"]);
    })?;
    ensure_eq(
        report.args.first().map(String::as_str),
        Some("gorae-probe"),
        "argv[0]",
    )
}

fn process_terminal(lab: &mut Lab) -> Outcome {
    let report = terminal_report(lab)?;
    let targets: Vec<&str> = report.stdio.iter().map(|s| s.target.as_str()).collect();
    ensure(
        report.stdio.len() == 3 && report.stdio.iter().all(|s| s.terminal),
        format!("standard streams are not all terminals: {:?}", report.stdio),
    )?;
    ensure(
        targets
            .iter()
            .all(|t| t.starts_with("/dev/pts/") && *t == targets[0]),
        format!("standard streams are not one pty: {targets:?}"),
    )
}

/// The probe's report from a container with `process.terminal` true.
pub(super) fn terminal_report(lab: &mut Lab) -> Result<Report, Failure> {
    let bundle = lab.bundle("bundle")?;
    let mut config = base_config(&[]);
    config["process"]["terminal"] = json!(true);
    lab.probe_on_console(&bundle, &config)
}

fn process_env(lab: &mut Lab) -> Outcome {
    let env = [
        "PATH=/bin",
        "HOME=/root",
        "CONFORMANCE=1",
        "EMPTY=",
        "SPACES=a b  c",
    ];
    let report = probe_with(lab, &[], |c, _| c["process"]["env"] = json!(env))?;
    for var in env {
        ensure(
            report.env.iter().any(|e| e == var),
            format!("{var:?} missing from the environment {:?}", report.env),
        )?;
    }
    Ok(())
}

fn process_cwd(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &[], |c, _| c["process"]["cwd"] = json!("/etc"))?;
    ensure_eq(report.cwd, Fallible::Ok("/etc".to_owned()), "cwd")
}

fn process_cwd_relative(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    let mut config = base_config(&[]);
    config["process"]["cwd"] = json!("etc");
    bundle.write_config(&config)?;
    let id = lab.id("cwd");
    lab.create(&bundle, &id)?
        .require_error("process.cwd is relative")?;
    Ok(())
}

fn process_user(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &[], |c, _| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1001, "additionalGids": [10, 20]});
    })?;
    ensure_eq(
        report.ids.uid,
        vec![1000; 4],
        "uid (real, effective, saved, fs)",
    )?;
    ensure_eq(
        report.ids.gid,
        vec![1001; 4],
        "gid (real, effective, saved, fs)",
    )?;
    let mut groups = report.ids.groups;
    groups.sort_unstable();
    ensure_eq(groups, vec![10, 20], "supplementary groups")
}

fn process_umask(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &[], |c, _| {
        c["ociVersion"] = json!("1.1.0");
        c["process"]["user"]["umask"] = json!(0o027);
    })?;
    ensure_eq(report.umask, Some(0o027), "umask")
}

fn caps(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

fn process_capabilities(lab: &mut Lab) -> Outcome {
    let main = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let report = probe_with(lab, &[], |c, _| {
        c["process"]["capabilities"] = json!({
            "bounding": main, "effective": main, "permitted": main,
            "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]
        });
    })?;
    let got = &report.capabilities;
    ensure_eq(&got.bounding, &caps(&main), "bounding set")?;
    ensure_eq(&got.permitted, &caps(&main), "permitted set")?;
    ensure_eq(&got.effective, &caps(&main), "effective set")?;
    ensure_eq(&got.inheritable, &caps(&["CAP_KILL"]), "inheritable set")?;
    ensure_eq(&got.ambient, &caps(&["CAP_KILL"]), "ambient set")
}

fn process_capabilities_unlisted(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &[], |_, _| {})?;
    ensure_eq(
        &report.capabilities.inheritable,
        &Vec::new(),
        "inheritable set",
    )?;
    ensure_eq(&report.capabilities.ambient, &Vec::new(), "ambient set")
}

fn process_capabilities_unknown(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &[], |c, _| {
        let set = json!(["CAP_KILL", "CAP_CONFORMANCE_UNKNOWN"]);
        c["process"]["capabilities"] = json!({"bounding": set, "effective": set, "permitted": set});
    })?;
    ensure_eq(
        &report.capabilities.bounding,
        &caps(&["CAP_KILL"]),
        "bounding set",
    )
}

/// Limits below the suite's own hard limit (raising it needs
/// CAP_SYS_RESOURCE, which this machine may not grant).
fn nofile_limits() -> Result<(u64, u64), Failure> {
    let (_, hard) =
        getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| fail(format!("getrlimit: {e}")))?;
    if hard < 64 {
        return Err(skip(format!("RLIMIT_NOFILE hard limit is only {hard}")));
    }
    let hard = hard.min(4096) - 7;
    Ok((hard / 2, hard))
}

fn process_rlimits(lab: &mut Lab) -> Outcome {
    let (soft, hard) = nofile_limits()?;
    let report = probe_with(lab, &[], |c, _| {
        c["process"]["rlimits"] = json!([
            {"type": "RLIMIT_NOFILE", "soft": soft, "hard": hard},
            {"type": "RLIMIT_CORE", "soft": 4096, "hard": 8192}
        ]);
    })?;
    let get = |name: &str| report.rlimits.get(name).map(|r| (r.soft, r.hard));
    ensure_eq(
        get("RLIMIT_NOFILE"),
        Some((soft, hard)),
        "RLIMIT_NOFILE (soft, hard)",
    )?;
    ensure_eq(
        get("RLIMIT_CORE"),
        Some((4096, 8192)),
        "RLIMIT_CORE (soft, hard)",
    )
}

fn process_rlimits_duplicate(lab: &mut Lab) -> Outcome {
    create_fails(lab, "RLIMIT_CORE is given twice", |c| {
        c["process"]["rlimits"] = json!([
            {"type": "RLIMIT_CORE", "soft": 1024, "hard": 1024},
            {"type": "RLIMIT_CORE", "soft": 2048, "hard": 2048}
        ]);
    })
    .map(drop)
}

fn process_rlimits_invalid(lab: &mut Lab) -> Outcome {
    create_fails(lab, "RLIMIT_CONFORMANCE is no rlimit", |c| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_CONFORMANCE", "soft": 1, "hard": 1}]);
    })
    .map(drop)
}

fn process_nnp(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &[], |c, _| {
        c["process"]["noNewPrivileges"] = json!(true)
    })?;
    ensure(report.no_new_privs, "NoNewPrivs is 0")
}

fn process_oom(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &[], |c, _| c["process"]["oomScoreAdj"] = json!(123))?;
    ensure_eq(report.oom_score_adj, 123, "oom_score_adj")
}

fn process_oom_unset(lab: &mut Lab) -> Outcome {
    let own: i32 = fs::read_to_string("/proc/self/oom_score_adj")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| skip("cannot read the suite's own oom_score_adj"))?;
    let report = probe_with(lab, &[], |_, _| {})?;
    ensure_eq(
        report.oom_score_adj,
        own,
        "oom_score_adj (the runtime's is the suite's)",
    )
}

fn process_scheduler(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &[], |c, _| {
        c["ociVersion"] = json!("1.2.0");
        c["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 7});
    })?;
    ensure_eq(report.scheduler.policy.as_str(), "SCHED_BATCH", "policy")?;
    ensure_eq(report.scheduler.nice, 7, "nice")
}

fn process_io_priority(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &[], |c, _| {
        c["ociVersion"] = json!("1.2.0");
        c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 6});
    })?;
    let got = report.io_priority.map(|p| (p.class, p.priority));
    ensure_eq(got, Some(("IOPRIO_CLASS_BE".to_owned(), 6)), "I/O priority")
}

fn hostname(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &[], |c, _| c["hostname"] = json!("conformance-host"))?;
    ensure_eq(report.hostname.as_str(), "conformance-host", "hostname")
}

fn domainname(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &[], |c, _| {
        c["ociVersion"] = json!("1.2.0");
        c["domainname"] = json!("conformance.example");
    })?;
    ensure_eq(
        report.domainname.as_str(),
        "conformance.example",
        "domainname",
    )
}

fn extensibility(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &[], |c, _| {
        c["org.example.conformance"] = json!({"nested": [1, 2, 3]});
        c["process"]["conformanceUnknown"] = json!(true);
        c["linux"]["conformanceUnknown"] = json!("x");
        c["root"]["conformanceUnknown"] = json!(1);
    })?;
    ensure_eq(report.hostname.as_str(), "conformance", "hostname")
}

/// A runtime-namespace hook appending `name` to the log `log`. Like every
/// hook here it reads the state on its stdin first: a runtime writing to a
/// hook that already exited may die of SIGPIPE, which is not what these
/// checks are about.
pub(super) fn log_hook(name: &str, log: &str) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", format!("cat >/dev/null; echo {name} >> {log}")]})
}

/// A poststart hook that logs `poststart` when the container process (the
/// pid in the state on its stdin) already runs the probe, else
/// `poststart-before-program`.
fn poststart_hook(log: &str) -> Value {
    let script = format!(
        "pid=$(grep -o '\"pid\": *[0-9]*' | grep -o '[0-9]*$'); \
         case $(readlink /proc/$pid/exe) in */gorae-probe) echo poststart;; \
         *) echo poststart-before-program;; esac >> {log}"
    );
    json!({"path": "/bin/sh", "args": ["sh", "-c", script]})
}

/// Sets up a bundle whose hooks all append their name to one log, also
/// bind-mounted at `/hooks.log` for the container-namespace hook. The
/// startContainer hook takes 0.3 s, so a runtime that runs poststart
/// without waiting for the program to be executed is caught every time,
/// not by luck.
fn hooks_bundle(lab: &mut Lab) -> Result<(Bundle, String, String), Failure> {
    let bundle = lab.bundle_with_shell("bundle")?.ok_or_else(|| {
        skip("startContainer hooks need a shell in the rootfs: install busybox-static")
    })?;
    let log = bundle.dir.join("hooks.log");
    fs::write(&log, b"").map_err(|e| fail(format!("write {}: {e}", log.display())))?;
    fs::write(bundle.host_path("/hooks.log"), b"").map_err(|e| fail(format!("write: {e}")))?;
    let log = log.display().to_string();
    let mut config = base_config(&["--touch", "/ran", "--wait-signal", "60"]);
    push_mounts(
        &mut config,
        json!([{"destination": "/hooks.log", "type": "bind", "source": log, "options": ["bind"]}]),
    );
    let start = json!({"path": "/bin/sh", "args": ["sh", "-c",
        "cat >/dev/null; sleep 0.3; if [ -e /ran ]; then echo startContainer-after-program; else echo startContainer; fi >> /hooks.log"]});
    set(
        &mut config,
        &["hooks"],
        json!({
            "prestart": [log_hook("prestart", &log)],
            "createRuntime": [log_hook("createRuntime", &log)],
            "createContainer": [log_hook("createContainer", &log)],
            "startContainer": [start],
            "poststart": [poststart_hook(&log)],
            "poststop": [log_hook("poststop", &log)]
        }),
    );
    bundle.write_config(&config)?;
    let id = lab.id("h");
    Ok((bundle, log, id))
}

pub(super) fn log_lines(log: &str) -> Vec<String> {
    fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn hooks_create(lab: &mut Lab) -> Outcome {
    let (bundle, log, id) = hooks_bundle(lab)?;
    lab.create(&bundle, &id)?.require()?;
    ensure_eq(
        log_lines(&log),
        caps(&["prestart", "createRuntime", "createContainer"]),
        "hooks run by create",
    )
}

fn hooks_start(lab: &mut Lab) -> Outcome {
    let (bundle, log, id) = hooks_bundle(lab)?;
    lab.create(&bundle, &id)?.require()?;
    lab.runtime(&["start", &id])?.require()?;
    let lines = log_lines(&log);
    ensure_eq(
        lines.get(3..).map(<[String]>::to_vec),
        Some(caps(&["startContainer", "poststart"])),
        "hooks run by start",
    )
    .map_err(|f| f.with("log", lines.join(",")))
}

fn hooks_poststop(lab: &mut Lab) -> Outcome {
    let (bundle, log, id) = hooks_bundle(lab)?;
    lab.create(&bundle, &id)?.require()?;
    lab.runtime(&["start", &id])?.require()?;
    lab.runtime(&["kill", &id, "KILL"])?.require()?;
    lab.wait_status(&id, "stopped")?;
    lab.runtime(&["delete", &id])?.require()?;
    let lines = log_lines(&log);
    ensure_eq(
        lines.last().map(String::as_str),
        Some("poststop"),
        "last hook after delete",
    )
    .map_err(|f| f.with("log", lines.join(",")))
}

fn hooks_state(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    let saved = bundle.dir.join("hook-state.json").display().to_string();
    let mut config = base_config(&["--wait-signal", "60"]);
    set(
        &mut config,
        &["hooks", "createRuntime"],
        json!([
            {"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {saved}")]}
        ]),
    );
    bundle.write_config(&config)?;
    let id = lab.id("hs");
    lab.create(&bundle, &id)?.require()?;
    let text = fs::read_to_string(&saved).unwrap_or_default();
    let state: Value = serde_json::from_str(&text).map_err(|e| {
        fail(format!("the hook's stdin was not a JSON state: {e}")).with("stdin", text.clone())
    })?;
    ensure_eq(
        state.get("id").and_then(Value::as_str),
        Some(id.as_str()),
        "state id",
    )?;
    let dir = bundle.dir.display().to_string();
    ensure_eq(
        state.get("bundle").and_then(Value::as_str),
        Some(dir.as_str()),
        "state bundle",
    )?;
    ensure(
        state
            .get("pid")
            .and_then(Value::as_i64)
            .is_some_and(|p| p > 0),
        format!("state pid is not a positive integer: {state}"),
    )
}

fn hooks_namespaces(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    let saved = |name: &str| bundle.dir.join(format!("{name}.ns"));
    let hook = |name: &str| {
        let file = saved(name).display().to_string();
        json!([{"path": "/bin/sh", "args": ["sh", "-c", format!("cat >/dev/null; readlink /proc/self/ns/mnt > {file}")]}])
    };
    let mut config = base_config(&["--wait-signal", "60"]);
    set(
        &mut config,
        &["hooks", "createRuntime"],
        hook("createRuntime"),
    );
    set(
        &mut config,
        &["hooks", "createContainer"],
        hook("createContainer"),
    );
    let (_, pid) = create_with(lab, &bundle, &config, "hn")?;
    let read = |name: &str| {
        fs::read_to_string(saved(name))
            .map(|t| t.trim().to_owned())
            .map_err(|_| fail(format!("the {name} hook did not run")))
    };
    let link = |path: String| {
        fs::read_link(path)
            .map(|t| t.display().to_string())
            .unwrap_or_default()
    };
    let runtime_ns = link("/proc/self/ns/mnt".to_owned());
    let container_ns = link(format!("/proc/{pid}/ns/mnt"));
    ensure_eq(
        read("createRuntime")?,
        runtime_ns,
        "createRuntime hook's mount namespace",
    )?;
    ensure_eq(
        read("createContainer")?,
        container_ns,
        "createContainer hook's mount namespace",
    )
}

fn hooks_failure(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    let mut config = base_config(&["--touch", "/ran"]);
    set(
        &mut config,
        &["hooks", "createRuntime"],
        json!([{"path": "/bin/false"}]),
    );
    bundle.write_config(&config)?;
    let id = lab.id("hf");
    lab.create(&bundle, &id)?
        .require_error("the createRuntime hook failed")?;
    lab.runtime(&["state", &id])?
        .require_error("the container should be destroyed")?;
    ensure(!bundle.host_path("/ran").exists(), "the program ran")
}

//! `config-linux.md`, control groups: the `resources` fields the
//! `linux` module leaves out (memory, cpu and pids details, block I/O,
//! huge pages, network, RDMA), `unified`, and cgroup ownership.
//!
//! Each check reads the container's cgroup files from the host: the
//! hierarchy mounts of `/proc/self/mountinfo` joined with the paths of
//! `/proc/<container pid>/cgroup`. Where a controller is not on this host,
//! the check of the field skips and its `.unavailable` twin verifies what
//! the spec wants then: an error (runtime.md, create).
#![forbid(unsafe_code)]

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::linux::read_cgroup;
use super::{MUST, SHOULD, UNAPPLIABLE, check, create_fails_unlike, create_with};
use crate::lab::{Lab, base_config};
use crate::report::parse_mountinfo;
use crate::suite::{Check, Failure, Outcome, ensure, ensure_eq, fail, skip};

pub(super) fn checks() -> Vec<Check> {
    vec![
        check(
            MUST,
            "linux.resources.memory.reservation",
            "config-linux.md#memory",
            "resources.memory.reservation is the cgroup's soft limit",
            "reservation (int64, OPTIONAL) - sets soft limit of memory usage",
            memory_reservation,
        ),
        check(
            MUST,
            "linux.resources.memory.swap",
            "config-linux.md#memory",
            "resources.memory.swap is the cgroup's memory+swap limit",
            "swap (int64, OPTIONAL) - sets limit of memory+Swap usage",
            memory_swap,
        ),
        check(
            MUST,
            "linux.resources.memory.kernel",
            "config-linux.md#memory",
            "resources.memory.kernel is the cgroup's kernel memory limit",
            "kernel (int64, OPTIONAL, NOT RECOMMENDED) - sets hard limit for kernel memory",
            memory_kernel,
        ),
        check(
            MUST,
            "linux.resources.memory.kernel-tcp",
            "config-linux.md#memory",
            "resources.memory.kernelTCP is the cgroup's TCP buffer limit",
            "kernelTCP (int64, OPTIONAL, NOT RECOMMENDED) - sets hard limit for kernel TCP buffer memory",
            memory_kernel_tcp,
        ),
        check(
            MUST,
            "linux.resources.memory.swappiness",
            "config-linux.md#memory",
            "resources.memory.swappiness is the cgroup's swappiness",
            "swappiness (uint64, OPTIONAL) - sets swappiness parameter of vmscan (See sysctl's vm.swappiness) The values are from 0 to 100.",
            memory_swappiness,
        ),
        check(
            MUST,
            "linux.resources.memory.disable-oom-killer",
            "config-linux.md#memory",
            "disableOOMKiller true disables the cgroup's OOM killer",
            "disableOOMKiller (bool, OPTIONAL) - enables or disables the OOM killer. ... To disable it, specify a value of true.",
            memory_disable_oom_killer,
        ),
        check(
            MUST,
            "linux.resources.memory.use-hierarchy",
            "config-linux.md#memory",
            "useHierarchy false disables hierarchical accounting, or create fails where the kernel cannot",
            "useHierarchy (bool, OPTIONAL) - enables or disables hierarchical memory accounting. ... If the runtime cannot apply a property as specified in the configuration, it MUST generate an error",
            memory_use_hierarchy,
        ),
        check(
            MUST,
            "linux.resources.memory.check-before-update",
            "config-linux.md#memory",
            "with checkBeforeUpdate, update to a limit below the usage fails and the limit stays",
            "checkBeforeUpdate (bool, OPTIONAL) - enables container memory usage check before setting a new limit. If enabled (true), runtime MAY check if a new memory limit is lower than the current usage, and MUST reject the new limit.",
            memory_check_before_update,
        ),
        check(
            MUST,
            "linux.resources.cpu.shares",
            "config-linux.md#cpu",
            "resources.cpu.shares is the cgroup's CPU shares",
            "shares (uint64, OPTIONAL) - specifies a relative share of CPU time available to the tasks in a cgroup",
            cpu_shares,
        ),
        check(
            MUST,
            "linux.resources.cpu.burst",
            "config-linux.md#cpu",
            "resources.cpu.burst is the cgroup's CFS burst",
            "burst (uint64, OPTIONAL) - specifies the maximum amount of accumulated time in microseconds for which all tasks in a cgroup can run additionally for burst during one period",
            cpu_burst,
        ),
        check(
            MUST,
            "linux.resources.cpu.realtime",
            "config-linux.md#cpu",
            "realtimeRuntime and realtimePeriod are the cgroup's RT bandwidth",
            "realtimeRuntime (int64, OPTIONAL) - specifies a period of time in microseconds for the longest continuous period in which the tasks in a cgroup have access to CPU resources ... realtimePeriod (uint64, OPTIONAL) - same as period but applies to realtime scheduler only",
            cpu_realtime,
        ),
        check(
            MUST,
            "linux.resources.cpu.mems",
            "config-linux.md#cpu",
            "resources.cpu.mems is the cgroup's cpuset.mems",
            "mems (string, OPTIONAL) - list of memory nodes the container will run on.",
            cpu_mems,
        ),
        check(
            MUST,
            "linux.resources.cpu.idle",
            "config-linux.md#cpu",
            "resources.cpu.idle 1 makes the cgroup SCHED_IDLE",
            "idle (int64, OPTIONAL) - cgroups are configured with minimum weight, 0: default behavior, 1: SCHED_IDLE.",
            cpu_idle,
        ),
        check(
            SHOULD,
            "linux.resources.pids.zero",
            "config-linux.md#pids",
            "resources.pids.limit 0 is a limit of 0 tasks",
            "Even though it may superficially seem redundant, 0 is a valid limit value for the pids cgroup controller from the kernel's perspective and SHOULD be treated as such by runtimes.",
            pids_zero,
        ),
        check(
            MUST,
            "linux.resources.block-io.weight",
            "config-linux.md#block-io",
            "blockIO weight and leafWeight are the cgroup's I/O weights",
            "weight (uint16, OPTIONAL) - specifies per-cgroup weight. ... leafWeight (uint16, OPTIONAL) - equivalents of weight for the purpose of deciding how much weight tasks in the given cgroup has while competing with the cgroup's child cgroups.",
            blkio_weight,
        ),
        check(
            MUST,
            "linux.resources.block-io.weight-device",
            "config-linux.md#block-io",
            "blockIO weightDevice is the cgroup's per-device weight",
            "weightDevice (array of objects, OPTIONAL) - an array of per-device bandwidth weights.",
            blkio_weight_device,
        ),
        check(
            MUST,
            "linux.resources.block-io.weight.unavailable",
            "runtime.md#create",
            "create with blockIO weight fails where the cgroup has no weight file",
            UNAPPLIABLE,
            blkio_weight_unavailable,
        ),
        check(
            MUST,
            "linux.resources.block-io.throttle",
            "config-linux.md#block-io",
            "the four blockIO throttle lists are the cgroup's device limits",
            "throttleReadBpsDevice, throttleWriteBpsDevice (array of objects, OPTIONAL) - an array of per-device bandwidth rate limits. ... throttleReadIOPSDevice, throttleWriteIOPSDevice (array of objects, OPTIONAL) - an array of per-device IO rate limits.",
            blkio_throttle,
        ),
        check(
            MUST,
            "linux.resources.hugepage-limits",
            "config-linux.md#huge-page-limits",
            "hugepageLimits is the cgroup's HugeTLB reservation limit (usage limit without reservation accounting)",
            "hugepageLimits (array of objects, OPTIONAL) represents the hugetlb controller which allows to limit the HugeTLB reservations (if supported) or usage (page fault).",
            hugepage_limits,
        ),
        check(
            MUST,
            "linux.resources.network",
            "config-linux.md#network",
            "network classID and priorities are the cgroup's net_cls and net_prio values",
            "classID (uint32, OPTIONAL) - is the network class identifier the cgroup's network packets will be tagged with ... priorities (array of objects, OPTIONAL) - specifies a list of objects of the priorities assigned to traffic originating from processes in the group and egressing the system on various interfaces.",
            network,
        ),
        check(
            MUST,
            "linux.resources.network.unavailable",
            "runtime.md#create",
            "create with network resources fails where net_cls/net_prio are not mounted",
            UNAPPLIABLE,
            network_unavailable,
        ),
        check(
            MUST,
            "linux.resources.rdma",
            "config-linux.md#rdma",
            "rdma limits are the cgroup's rdma.max",
            "hcaHandles (uint32, OPTIONAL) - specifies the maximum number of hca_handles in the cgroup ... hcaObjects (uint32, OPTIONAL) - specifies the maximum number of hca_objects in the cgroup",
            rdma,
        ),
        check(
            MUST,
            "linux.resources.rdma.unavailable",
            "runtime.md#create",
            "create with rdma resources fails where the rdma controller is not mounted",
            UNAPPLIABLE,
            rdma_unavailable,
        ),
        check(
            MUST,
            "linux.resources.unified",
            "config-linux.md#unified",
            "unified values are written to the cgroup v2 files, controllers enabled",
            "The OCI runtime MUST ensure that the needed cgroup controllers are enabled for the cgroup. Configuration unknown to the runtime MUST still be written to the relevant file.",
            unified,
        ),
        check(
            MUST,
            "linux.resources.unified.absent-controller",
            "config-linux.md#unified",
            "create with a unified key of a controller cgroup v2 lacks here fails",
            "The runtime MUST generate an error when the configuration refers to a cgroup controller that is not present or that cannot be enabled.",
            unified_absent_controller,
        ),
        check(
            SHOULD,
            "linux.cgroups.ownership.v1",
            "config-linux.md#cgroup-ownership",
            "with cgroup v1 in use the container's cgroups keep their owner",
            "Runtimes SHOULD NOT change the ownership of container cgroups when cgroups v1 is in use.",
            ownership_v1,
        ),
        check(
            MUST,
            "linux.cgroups.ownership.delegate",
            "config-linux.md#cgroup-ownership",
            "a runtime that chowns a v2 cgroup chowns the delegation files",
            "If the /sys/kernel/cgroup/delegate file does not exist, the runtime MUST fall back to using the following list of files: cgroup.procs cgroup.subtree_control cgroup.threads",
            ownership_delegate,
        ),
    ]
}

/// A container created (not started) in a cgroup of its own.
pub(super) struct Cgrouped {
    /// Its id.
    pub id: String,
    /// Its pid, as the state says.
    pub pid: i64,
    /// The host directory of the asked controller's cgroup.
    pub dir: PathBuf,
}

/// Creates a container whose config is the base one (the probe waiting
/// for a signal) in a cgroupsPath of its own, changed by `edit`, and finds
/// the directory of its `controller` cgroup on the host.
pub(super) fn container_cgroup(
    lab: &mut Lab,
    controller: &str,
    edit: impl FnOnce(&mut Value),
) -> Result<Cgrouped, Failure> {
    let path = lab.cgroups_path();
    let bundle = lab.bundle("bundle")?;
    let mut config = base_config(&["--wait-signal", "60"]);
    config["linux"]["cgroupsPath"] = json!(path);
    edit(&mut config);
    let (id, pid) = create_with(lab, &bundle, &config, "r")?;
    let dir = controller_dir(pid, controller)?
        .ok_or_else(|| skip(format!("no {controller} controller mounted on this host")))?;
    let (mount, cg) = dir;
    ensure_eq(
        cg.as_str(),
        path.as_str(),
        &format!("{controller} cgroup of the container"),
    )?;
    Ok(Cgrouped {
        id,
        pid,
        dir: Path::new(&mount).join(cg.trim_start_matches('/')),
    })
}

/// The hierarchy mount point and cgroup path of `controller` for process
/// `pid`: a v1 hierarchy bound to it, else the v2 one when it has it.
fn controller_dir(pid: i64, controller: &str) -> Result<Option<(String, String)>, Failure> {
    let cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .map_err(|e| fail(format!("read /proc/{pid}/cgroup: {e}")))?;
    let mounts = parse_mountinfo(&fs::read_to_string("/proc/self/mountinfo").unwrap_or_default());
    for line in cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(cg)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let v1 = controllers.split(',').any(|c| c == controller);
        let mount = mounts.iter().find(|m| {
            if v1 {
                m.fs_type == "cgroup" && m.super_options.iter().any(|o| o == controller)
            } else {
                controllers.is_empty()
                    && m.fs_type == "cgroup2"
                    && v2_controllers(&m.mount_point)
                        .iter()
                        .any(|c| c == controller)
            }
        });
        if let Some(mount) = mount {
            return Ok(Some((mount.mount_point.clone(), cg.to_owned())));
        }
    }
    Ok(None)
}

/// The controllers a cgroup v2 directory offers.
fn v2_controllers(dir: &str) -> Vec<String> {
    fs::read_to_string(format!("{dir}/cgroup.controllers"))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Whether a v1 hierarchy bound to `controller` is mounted.
fn v1_mounted(controller: &str) -> bool {
    parse_mountinfo(&fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
        .iter()
        .any(|m| m.fs_type == "cgroup" && m.super_options.iter().any(|o| o == controller))
}

/// The cgroup v2 mount point, if one is mounted.
fn v2_mount() -> Option<String> {
    parse_mountinfo(&fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
        .into_iter()
        .find(|m| m.fs_type == "cgroup2")
        .map(|m| m.mount_point)
}

/// Whether `controller` is usable: bound to a v1 hierarchy or offered by
/// the v2 root.
fn controller_available(controller: &str) -> bool {
    v1_mounted(controller)
        || v2_mount().is_some_and(|m| v2_controllers(&m).iter().any(|c| c == controller))
}

/// Reads `file` of a cgroup directory, trimmed.
fn read(dir: &Path, file: &str) -> Result<String, Failure> {
    read_cgroup(dir, file, file)
}

/// Whether the directory is a cgroup v2 one (it has `cgroup.controllers`).
fn is_v2(dir: &Path) -> bool {
    dir.join("cgroup.controllers").exists()
}

/// create with `resources` in cgroupsPath `path` must fail (`why`), after
/// the same config without them created.
fn with_and_without(lab: &mut Lab, why: &str, path: &str, value: Value) -> Outcome {
    create_fails_unlike(
        lab,
        why,
        |c| c["linux"]["cgroupsPath"] = json!(path),
        |c| {
            c["linux"]["cgroupsPath"] = json!(path);
            resources(c, value);
        },
    )
    .map(drop)
}

/// `config.linux.resources` of the config, as an object.
fn resources(config: &mut Value, value: Value) {
    config["linux"]["resources"] = value;
}

/// Writes `value` into `file` of a cgroup of `controller` the check makes
/// itself (beside the container's), reads it back and removes the cgroup:
/// whether this kernel keeps such a value at all.
fn kernel_keeps(lab: &Lab, controller: &str, file: &str, value: &str) -> bool {
    let Some(mount) =
        parse_mountinfo(&fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
            .into_iter()
            .find(|m| m.fs_type == "cgroup" && m.super_options.iter().any(|o| o == controller))
    else {
        return false;
    };
    let dir = Path::new(&mount.mount_point)
        .join("gorae-conformance")
        .join(lab.id("kernel-test"));
    if fs::create_dir_all(&dir).is_err() {
        return false;
    }
    let kept = fs::write(dir.join(file), value).is_ok()
        && fs::read_to_string(dir.join(file)).is_ok_and(|v| v.trim() == value);
    let _ = fs::remove_dir(&dir);
    if let Some(parent) = dir.parent() {
        let _ = fs::remove_dir(parent);
    }
    kept
}

const MIB: u64 = 1 << 20;

fn memory_reservation(lab: &mut Lab) -> Outcome {
    let c = container_cgroup(lab, "memory", |c| {
        resources(
            c,
            json!({"memory": {"limit": 128 * MIB, "reservation": 64 * MIB}}),
        );
    })?;
    let file = if is_v2(&c.dir) {
        "memory.low"
    } else {
        "memory.soft_limit_in_bytes"
    };
    ensure_eq(read(&c.dir, file)?, (64 * MIB).to_string(), file)
}

fn memory_swap(lab: &mut Lab) -> Outcome {
    let c = container_cgroup(lab, "memory", |c| {
        resources(c, json!({"memory": {"limit": 64 * MIB, "swap": 128 * MIB}}));
    })?;
    if is_v2(&c.dir) {
        // cgroup v2 limits swap alone: memory+swap minus memory.
        return ensure_eq(
            read(&c.dir, "memory.swap.max")?,
            (64 * MIB).to_string(),
            "memory.swap.max",
        );
    }
    if !c.dir.join("memory.memsw.limit_in_bytes").exists() {
        return Err(skip(
            "this kernel does not account swap (no memory.memsw.limit_in_bytes)",
        ));
    }
    ensure_eq(
        read(&c.dir, "memory.memsw.limit_in_bytes")?,
        (128 * MIB).to_string(),
        "memory.memsw.limit_in_bytes",
    )
}

/// A v1-only memory file set from `field`: checks the container's value,
/// and skips where cgroup v2 (no such file) or the kernel (ignores writes)
/// cannot show it.
fn memory_v1_file(lab: &mut Lab, field: &str, value: Value, file: &str, expected: &str) -> Outcome {
    let c = container_cgroup(lab, "memory", |c| {
        resources(c, json!({"memory": {field: value}}))
    })?;
    if is_v2(&c.dir) {
        return Err(skip(format!(
            "cgroup v2 has no {file}: {field} is a cgroup v1 setting"
        )));
    }
    let got = read(&c.dir, file)?;
    if got != expected && !kernel_keeps(lab, "memory", file, expected) {
        return Err(skip(format!(
            "this kernel does not keep a value written to {file}"
        )));
    }
    ensure_eq(got.as_str(), expected, file)
}

fn memory_kernel(lab: &mut Lab) -> Outcome {
    let limit = 64 * MIB;
    memory_v1_file(
        lab,
        "kernel",
        json!(limit),
        "memory.kmem.limit_in_bytes",
        &limit.to_string(),
    )
}

fn memory_kernel_tcp(lab: &mut Lab) -> Outcome {
    let limit = 32 * MIB;
    memory_v1_file(
        lab,
        "kernelTCP",
        json!(limit),
        "memory.kmem.tcp.limit_in_bytes",
        &limit.to_string(),
    )
}

fn memory_swappiness(lab: &mut Lab) -> Outcome {
    memory_v1_file(lab, "swappiness", json!(37), "memory.swappiness", "37")
}

fn memory_disable_oom_killer(lab: &mut Lab) -> Outcome {
    let c = container_cgroup(lab, "memory", |c| {
        resources(
            c,
            json!({"memory": {"limit": 64 * MIB, "disableOOMKiller": true}}),
        );
    })?;
    if is_v2(&c.dir) {
        return Err(skip(
            "cgroup v2 has no switch to disable the OOM killer of a cgroup",
        ));
    }
    let control = read(&c.dir, "memory.oom_control")?;
    ensure(
        control.lines().any(|l| l == "oom_kill_disable 1"),
        format!("memory.oom_control says {control:?}, not oom_kill_disable 1"),
    )
}

fn memory_use_hierarchy(lab: &mut Lab) -> Outcome {
    if v2_mount().is_some() && !v1_mounted("memory") {
        return Err(skip(
            "cgroup v2 accounts hierarchically, always: useHierarchy is a cgroup v1 setting",
        ));
    }
    if kernel_keeps(lab, "memory", "memory.use_hierarchy", "0") {
        let c = container_cgroup(lab, "memory", |c| {
            resources(c, json!({"memory": {"useHierarchy": false}}));
        })?;
        return ensure_eq(
            read(&c.dir, "memory.use_hierarchy")?.as_str(),
            "0",
            "memory.use_hierarchy",
        );
    }
    let path = lab.cgroups_path();
    let hierarchy = |c: &mut Value, on: bool| {
        c["linux"]["cgroupsPath"] = json!(path);
        resources(c, json!({"memory": {"useHierarchy": on}}));
    };
    create_fails_unlike(
        lab,
        "this kernel cannot disable hierarchical accounting (memory.use_hierarchy refuses 0)",
        |c| hierarchy(c, true),
        |c| hierarchy(c, false),
    )
    .map(drop)
}

fn memory_check_before_update(lab: &mut Lab) -> Outcome {
    let limit = 64 * MIB;
    let c = container_cgroup(lab, "memory", |c| {
        c["ociVersion"] = json!("1.1.0");
        resources(
            c,
            json!({"memory": {"limit": limit, "checkBeforeUpdate": true}}),
        );
    })?;
    let (limit_file, usage_file) = if is_v2(&c.dir) {
        ("memory.max", "memory.current")
    } else {
        ("memory.limit_in_bytes", "memory.usage_in_bytes")
    };
    let usage: u64 = read(&c.dir, usage_file)?.parse().unwrap_or(0);
    if usage <= 4096 {
        return Err(skip(format!(
            "the container uses only {usage} bytes, no limit is below that"
        )));
    }
    let run = lab.runtime(&["update", "--memory", "4096", &c.id])?;
    ensure_eq(
        read(&c.dir, limit_file)?,
        limit.to_string(),
        &format!("{limit_file} after the update"),
    )?;
    run.require_error(&format!("4096 bytes is below the usage of {usage} bytes"))
        .map(drop)
}

/// Like [`container_cgroup`] with `resources` under ociVersion 1.1.0.
fn cgroup_1_1(lab: &mut Lab, controller: &str, value: Value) -> Result<Cgrouped, Failure> {
    container_cgroup(lab, controller, |c| {
        c["ociVersion"] = json!("1.1.0");
        resources(c, value);
    })
}

fn cpu_shares(lab: &mut Lab) -> Outcome {
    let c = container_cgroup(lab, "cpu", |c| {
        resources(c, json!({"cpu": {"shares": 512}}))
    })?;
    if is_v2(&c.dir) {
        // The conversion runc and crun share: 1 + ((shares - 2) * 9999) / 262142.
        return ensure_eq(
            read(&c.dir, "cpu.weight")?,
            (1 + (510 * 9999) / 262_142).to_string(),
            "cpu.weight",
        );
    }
    ensure_eq(read(&c.dir, "cpu.shares")?.as_str(), "512", "cpu.shares")
}

fn cpu_burst(lab: &mut Lab) -> Outcome {
    let c = cgroup_1_1(
        lab,
        "cpu",
        json!({"cpu": {"quota": 50000, "period": 100000, "burst": 20000}}),
    )?;
    let file = if is_v2(&c.dir) {
        "cpu.max.burst"
    } else {
        "cpu.cfs_burst_us"
    };
    if !c.dir.join(file).exists() {
        return Err(skip(format!(
            "this kernel has no {file} (CFS burst came with Linux 5.14)"
        )));
    }
    ensure_eq(read(&c.dir, file)?.as_str(), "20000", file)
}

/// Gives the suite's own parent cgroup `/gorae-conformance` of the cpu
/// hierarchy `runtime` µs of real-time budget (a cgroup's children share
/// its budget, and a new cgroup has none), making it when needed; the lab
/// removes it when empty.
fn rt_budget(runtime: u64) -> Outcome {
    let Some(mount) =
        parse_mountinfo(&fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
            .into_iter()
            .find(|m| m.fs_type == "cgroup" && m.super_options.iter().any(|o| o == "cpu"))
    else {
        return Err(skip(
            "no cpu controller on a cgroup v1 hierarchy: real-time group bandwidth is cgroup v1 only",
        ));
    };
    let parent = Path::new(&mount.mount_point).join("gorae-conformance");
    if !parent.join("cpu.rt_runtime_us").exists() {
        fs::create_dir_all(&parent)
            .map_err(|e| fail(format!("mkdir {}: {e}", parent.display())))?;
    }
    let file = parent.join("cpu.rt_runtime_us");
    if !file.exists() {
        return Err(skip(
            "no cpu.rt_runtime_us here: a kernel without RT group scheduling",
        ));
    }
    let now: u64 = fs::read_to_string(&file)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    if now < runtime {
        fs::write(&file, runtime.to_string()).map_err(|e| {
            skip(format!(
                "cannot give {} a real-time budget of {runtime} us: {e}",
                parent.display()
            ))
        })?;
    }
    Ok(())
}

fn cpu_realtime(lab: &mut Lab) -> Outcome {
    // Registered first: the lab removes the parent rt_budget may make.
    let _ = lab.cgroups_path();
    rt_budget(10000)?;
    let c = container_cgroup(lab, "cpu", |c| {
        resources(
            c,
            json!({"cpu": {"realtimeRuntime": 10000, "realtimePeriod": 1000000}}),
        );
    })?;
    if !c.dir.join("cpu.rt_runtime_us").exists() {
        return Err(skip(
            "no cpu.rt_runtime_us here: a kernel without RT group scheduling, or cgroup v2",
        ));
    }
    ensure_eq(
        read(&c.dir, "cpu.rt_period_us")?.as_str(),
        "1000000",
        "cpu.rt_period_us",
    )?;
    ensure_eq(
        read(&c.dir, "cpu.rt_runtime_us")?.as_str(),
        "10000",
        "cpu.rt_runtime_us",
    )
}

/// The first online memory node, from sysfs.
fn first_node() -> Option<String> {
    let online = fs::read_to_string("/sys/devices/system/node/online").ok()?;
    let first = online.trim().split([',', '-']).next()?;
    first.parse::<u32>().ok().map(|n| n.to_string())
}

fn cpu_mems(lab: &mut Lab) -> Outcome {
    let node = first_node()
        .ok_or_else(|| skip("no /sys/devices/system/node/online: a kernel without NUMA"))?;
    let c = container_cgroup(lab, "cpuset", |c| {
        resources(c, json!({"cpu": {"mems": node}}))
    })?;
    ensure_eq(read(&c.dir, "cpuset.mems")?, node, "cpuset.mems")
}

fn cpu_idle(lab: &mut Lab) -> Outcome {
    let c = cgroup_1_1(lab, "cpu", json!({"cpu": {"idle": 1}}))?;
    if !c.dir.join("cpu.idle").exists() {
        return Err(skip(
            "this kernel has no cpu.idle (it came with Linux 5.15)",
        ));
    }
    ensure_eq(read(&c.dir, "cpu.idle")?.as_str(), "1", "cpu.idle")
}

fn pids_zero(lab: &mut Lab) -> Outcome {
    let c = container_cgroup(lab, "pids", |c| resources(c, json!({"pids": {"limit": 0}})))?;
    ensure_eq(read(&c.dir, "pids.max")?.as_str(), "0", "pids.max")
}

/// A block device of this host, `(major, minor)`: a disk rather than a
/// loop or RAM device when there is one.
fn block_device() -> Option<(u64, u64)> {
    block_device_where(|_| true)
}

/// Like [`block_device`], among the devices whose name passes `keep`.
fn block_device_where(keep: impl Fn(&str) -> bool) -> Option<(u64, u64)> {
    let mut names: Vec<String> = fs::read_dir("/sys/block")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort_by_key(|n| {
        (
            ["loop", "ram", "zram"].iter().any(|p| n.starts_with(p)),
            n.clone(),
        )
    });
    names.iter().filter(|n| keep(n)).find_map(|name| {
        let dev = fs::read_to_string(format!("/sys/block/{name}/dev")).ok()?;
        let (major, minor) = dev.trim().split_once(':')?;
        Some((major.parse().ok()?, minor.parse().ok()?))
    })
}

/// The weight files of a blkio (v1) or io (v2) cgroup directory that
/// exist: `(weight, weight_device)`.
fn weight_files(dir: &Path) -> Option<(&'static str, &'static str)> {
    [
        ("blkio.weight", "blkio.weight_device"),
        ("blkio.bfq.weight", "blkio.bfq.weight_device"),
        ("io.weight", "io.weight"),
        ("io.bfq.weight", "io.bfq.weight"),
    ]
    .into_iter()
    .find(|(w, _)| dir.join(w).exists())
}

/// Where the blkio controller's cgroup of a fresh, resource-less cgroup
/// has no weight file: the reason, for the weight checks to skip on.
fn no_weight_reason() -> String {
    "no blkio.weight, blkio.bfq.weight, io.weight or io.bfq.weight here (no proportional I/O scheduler with cgroup support); linux.resources.block-io.weight.unavailable checks the error".to_owned()
}

/// The I/O controller's name: `blkio` where a v1 hierarchy has it, else
/// cgroup v2's `io`.
fn io_controller() -> &'static str {
    if v1_mounted("blkio") { "blkio" } else { "io" }
}

/// The blkio (or io) root directory, to see which files cgroups have.
fn blkio_root() -> Option<PathBuf> {
    parse_mountinfo(&fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
        .into_iter()
        .find(|m| {
            (m.fs_type == "cgroup" && m.super_options.iter().any(|o| o == "blkio"))
                || (m.fs_type == "cgroup2"
                    && v2_controllers(&m.mount_point).iter().any(|c| c == "io"))
        })
        .map(|m| PathBuf::from(m.mount_point))
}

/// Whether cgroups below the blkio root get weight files: the root itself
/// has none in v1 either, so a cgroup the check makes tells.
fn weight_supported(lab: &Lab) -> bool {
    let Some(root) = blkio_root() else {
        return false;
    };
    if is_v2(&root) {
        return weight_files(&root).is_some() || root.join("io.bfq.weight").exists();
    }
    let dir = root.join("gorae-conformance").join(lab.id("weight-test"));
    if fs::create_dir_all(&dir).is_err() {
        return false;
    }
    let found = weight_files(&dir).is_some();
    let _ = fs::remove_dir(&dir);
    if let Some(parent) = dir.parent() {
        let _ = fs::remove_dir(parent);
    }
    found
}

fn blkio_weight(lab: &mut Lab) -> Outcome {
    if !weight_supported(lab) {
        return Err(skip(no_weight_reason()));
    }
    let c = container_cgroup(lab, io_controller(), |c| {
        resources(c, json!({"blockIO": {"weight": 500}}))
    })?;
    let (weight, _) =
        weight_files(&c.dir).ok_or_else(|| fail("the container's cgroup has no weight file"))?;
    let got = read(&c.dir, weight)?;
    ensure(
        got.lines()
            .any(|l| l.trim() == "500" || l.trim() == "default 500"),
        format!("{weight} is {got:?}, not 500"),
    )
}

fn blkio_weight_device(lab: &mut Lab) -> Outcome {
    if !weight_supported(lab) {
        return Err(skip(no_weight_reason()));
    }
    // BFQ's per-device weights apply only to devices BFQ schedules.
    let bfq = blkio_root().is_some_and(|root| {
        !root.join("blkio.weight").exists() && !root.join("io.weight").exists()
    });
    let (major, minor) = block_device_where(|name| {
        !bfq || fs::read_to_string(format!("/sys/block/{name}/queue/scheduler"))
            .is_ok_and(|s| s.contains("[bfq]"))
    })
    .ok_or_else(|| {
        skip(if bfq {
            "no block device runs the bfq I/O scheduler, the only one whose per-device weights (blkio.bfq.weight_device) this kernel's cgroups set"
        } else {
            "no block device in /sys/block"
        })
    })?;
    let edit = |c: &mut Value| {
        resources(
            c,
            json!({"blockIO": {"weightDevice": [{"major": major, "minor": minor, "weight": 700}]}}),
        );
    };
    let c = container_cgroup(lab, io_controller(), edit)?;
    let (_, device) =
        weight_files(&c.dir).ok_or_else(|| fail("the container's cgroup has no weight file"))?;
    let got = read(&c.dir, device)?;
    ensure(
        got.lines()
            .any(|l| l.trim() == format!("{major}:{minor} 700")),
        format!("{device} is {got:?}, no line {major}:{minor} 700"),
    )
}

fn blkio_weight_unavailable(lab: &mut Lab) -> Outcome {
    if blkio_root().is_none() {
        return Err(skip("no blkio or io controller here at all"));
    }
    if weight_supported(lab) {
        return Err(skip(
            "the I/O controller has weight files here: linux.resources.block-io.weight checks them",
        ));
    }
    let path = lab.cgroups_path();
    with_and_without(
        lab,
        "this host's I/O controller has no weight file to write blockIO.weight to",
        &path,
        json!({"blockIO": {"weight": 500}}),
    )
}

fn blkio_throttle(lab: &mut Lab) -> Outcome {
    let (major, minor) = block_device().ok_or_else(|| skip("no block device in /sys/block"))?;
    let entry = |rate: u64| json!([{"major": major, "minor": minor, "rate": rate}]);
    let value = json!({"blockIO": {
        "throttleReadBpsDevice": entry(1048576),
        "throttleWriteBpsDevice": entry(2097152),
        "throttleReadIOPSDevice": entry(300),
        "throttleWriteIOPSDevice": entry(400)
    }});
    let c = container_cgroup(lab, io_controller(), |c| resources(c, value))?;
    let dev = format!("{major}:{minor}");
    if is_v2(&c.dir) {
        let max = read(&c.dir, "io.max")?;
        let line = max
            .lines()
            .find(|l| l.starts_with(&format!("{dev} ")))
            .unwrap_or("");
        for want in ["rbps=1048576", "wbps=2097152", "riops=300", "wiops=400"] {
            ensure(
                line.split_whitespace().any(|f| f == want),
                format!("io.max line for {dev} is {line:?}, no {want}"),
            )?;
        }
        return Ok(());
    }
    for (file, rate) in [
        ("blkio.throttle.read_bps_device", 1048576),
        ("blkio.throttle.write_bps_device", 2097152),
        ("blkio.throttle.read_iops_device", 300),
        ("blkio.throttle.write_iops_device", 400),
    ] {
        let got = read(&c.dir, file)?;
        ensure(
            got.lines().any(|l| l.trim() == format!("{dev} {rate}")),
            format!("{file} is {got:?}, no line {dev} {rate}"),
        )?;
    }
    Ok(())
}

/// A huge page size of this host as the spec writes it (`2MB`), from
/// `/sys/kernel/mm/hugepages/hugepages-<n>kB`; the smallest one.
fn hugepage_size() -> Option<(String, u64)> {
    let mut sizes: Vec<u64> = fs::read_dir("/sys/kernel/mm/hugepages")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()
        })
        .collect();
    sizes.sort_unstable();
    let kb = *sizes.first()?;
    let name = match kb {
        k if k >= 1 << 20 && k % (1 << 20) == 0 => format!("{}GB", k >> 20),
        k if k >= 1 << 10 && k % (1 << 10) == 0 => format!("{}MB", k >> 10),
        k => format!("{k}KB"),
    };
    Some((name, kb * 1024))
}

fn hugepage_limits(lab: &mut Lab) -> Outcome {
    let (size, bytes) =
        hugepage_size().ok_or_else(|| skip("no huge page sizes in /sys/kernel/mm/hugepages"))?;
    let limit = bytes * 4;
    let c = container_cgroup(lab, "hugetlb", |c| {
        resources(
            c,
            json!({"hugepageLimits": [{"pageSize": size, "limit": limit}]}),
        );
    })?;
    let (rsvd, usage) = if is_v2(&c.dir) {
        (
            format!("hugetlb.{size}.rsvd.max"),
            format!("hugetlb.{size}.max"),
        )
    } else {
        (
            format!("hugetlb.{size}.rsvd.limit_in_bytes"),
            format!("hugetlb.{size}.limit_in_bytes"),
        )
    };
    // Reservation accounting when the kernel has it, else usage.
    let file = if c.dir.join(&rsvd).exists() {
        rsvd
    } else {
        usage
    };
    ensure_eq(read(&c.dir, &file)?, limit.to_string(), &file)
}

fn network(lab: &mut Lab) -> Outcome {
    if !(v1_mounted("net_cls") && v1_mounted("net_prio")) {
        return Err(skip(
            "net_cls and net_prio are not both mounted here; linux.resources.network.unavailable checks the error",
        ));
    }
    let c = container_cgroup(lab, "net_cls", |c| {
        resources(
            c,
            json!({"network": {"classID": 1048577, "priorities": [{"name": "lo", "priority": 5}]}}),
        );
    })?;
    ensure_eq(
        read(&c.dir, "net_cls.classid")?.as_str(),
        "1048577",
        "net_cls.classid",
    )?;
    let prio = controller_dir(c.pid, "net_prio")?
        .map(|(mount, cg)| Path::new(&mount).join(cg.trim_start_matches('/')))
        .ok_or_else(|| fail("the container is in no net_prio cgroup"))?;
    let map = read(&prio, "net_prio.ifpriomap")?;
    ensure(
        map.lines().any(|l| l.trim() == "lo 5"),
        format!("net_prio.ifpriomap is {map:?}, no line lo 5"),
    )
}

fn network_unavailable(lab: &mut Lab) -> Outcome {
    if v1_mounted("net_cls") && v1_mounted("net_prio") {
        return Err(skip(
            "net_cls and net_prio are mounted here: linux.resources.network checks them",
        ));
    }
    let path = lab.cgroups_path();
    with_and_without(
        lab,
        "net_cls and net_prio are not mounted, classID and priorities cannot be set",
        &path,
        json!({"network": {"classID": 1048577, "priorities": [{"name": "lo", "priority": 5}]}}),
    )
}

/// An RDMA device of this host, from `/sys/class/infiniband`.
fn rdma_device() -> Option<String> {
    let mut names: Vec<String> = fs::read_dir("/sys/class/infiniband")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.into_iter().next()
}

fn rdma(lab: &mut Lab) -> Outcome {
    if !controller_available("rdma") {
        return Err(skip(
            "no rdma controller here; linux.resources.rdma.unavailable checks the error",
        ));
    }
    let device =
        rdma_device().ok_or_else(|| skip("no RDMA device in /sys/class/infiniband to limit"))?;
    let c = container_cgroup(lab, "rdma", |c| {
        resources(
            c,
            json!({"rdma": {device.clone(): {"hcaHandles": 3, "hcaObjects": 1000}}}),
        );
    })?;
    let max = read(&c.dir, "rdma.max")?;
    let line = max
        .lines()
        .find(|l| l.starts_with(&format!("{device} ")))
        .unwrap_or("");
    for want in ["hca_handle=3", "hca_object=1000"] {
        ensure(
            line.split_whitespace().any(|f| f == want),
            format!("rdma.max line for {device} is {line:?}, no {want}"),
        )?;
    }
    Ok(())
}

fn rdma_unavailable(lab: &mut Lab) -> Outcome {
    if controller_available("rdma") {
        return Err(skip(
            "the rdma controller is here: linux.resources.rdma checks it",
        ));
    }
    let path = lab.cgroups_path();
    with_and_without(
        lab,
        "there is no rdma controller to set the limits in",
        &path,
        json!({"rdma": {"mlx5_0": {"hcaHandles": 3}}}),
    )
}

fn unified(lab: &mut Lab) -> Outcome {
    let Some(root) = v2_mount().filter(|m| m == "/sys/fs/cgroup") else {
        return Err(skip(
            "cgroup v2 is not the only hierarchy here (a v1 or hybrid host): unified is checked for what such a host must do by linux.resources.unified.absent-controller",
        ));
    };
    if !v2_controllers(&root).iter().any(|c| c == "pids") {
        return Err(skip(
            "the cgroup v2 root offers no pids controller to enable",
        ));
    }
    let c = cgroup_1_1(
        lab,
        "pids",
        json!({"unified": {"pids.max": "42", "cgroup.max.descendants": "7"}}),
    )?;
    ensure_eq(read(&c.dir, "pids.max")?.as_str(), "42", "pids.max")?;
    ensure_eq(
        read(&c.dir, "cgroup.max.descendants")?.as_str(),
        "7",
        "cgroup.max.descendants",
    )
}

fn unified_absent_controller(lab: &mut Lab) -> Outcome {
    let offered = v2_mount().map(|m| v2_controllers(&m)).unwrap_or_default();
    let (controller, file, value) = [
        ("pids", "pids.max", "42"),
        ("memory", "memory.max", "67108864"),
        ("cpu", "cpu.weight", "50"),
        ("io", "io.weight", "default 50"),
        ("rdma", "rdma.max", "mlx5_0 hca_handle=3"),
    ]
    .into_iter()
    .find(|(c, _, _)| !offered.iter().any(|o| o == c))
    .ok_or_else(|| skip("the cgroup v2 root offers pids, memory, cpu, io and rdma"))?;
    let path = lab.cgroups_path();
    let unified = |c: &mut Value, map: Value| {
        c["ociVersion"] = json!("1.1.0");
        c["linux"]["cgroupsPath"] = json!(path);
        resources(c, json!({"unified": map}));
    };
    create_fails_unlike(
        lab,
        &format!("the cgroup v2 hierarchy has no {controller} controller here"),
        |c| unified(c, json!({})),
        |c| unified(c, json!({file: value})),
    )
    .map(drop)
}

/// A config in which a runtime that delegates cgroups would change their
/// owner: a user namespace (root is host uid 100000), a cgroup namespace,
/// and `/sys/fs/cgroup` mounted read-write.
fn delegating(c: &mut Value, path: &str) {
    c["linux"]["cgroupsPath"] = json!(path);
    if let Some(list) = c["linux"]["namespaces"].as_array_mut() {
        list.push(json!({"type": "user"}));
        list.push(json!({"type": "cgroup"}));
    }
    let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    c["linux"]["uidMappings"] = map.clone();
    c["linux"]["gidMappings"] = map;
    if let Some(mounts) = c["mounts"].as_array_mut() {
        mounts.push(
            json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "relatime", "rw"]}),
        );
    }
}

/// The host directories of every cgroup the process is in.
fn cgroup_dirs_of(pid: i64) -> Vec<PathBuf> {
    let cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let mounts = parse_mountinfo(&fs::read_to_string("/proc/self/mountinfo").unwrap_or_default());
    cgroup
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, cg) = (parts.next()?, parts.next()?, parts.next()?);
            let mount = mounts.iter().find(|m| {
                if controllers.is_empty() {
                    m.fs_type == "cgroup2"
                } else {
                    m.fs_type == "cgroup"
                        && controllers
                            .split(',')
                            .all(|c| m.super_options.iter().any(|o| o == c))
                }
            })?;
            Some(Path::new(&mount.mount_point).join(cg.trim_start_matches('/')))
        })
        .filter(|d| d.is_dir())
        .collect()
}

fn ownership_v1(lab: &mut Lab) -> Outcome {
    let v1_in_use =
        parse_mountinfo(&fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
            .iter()
            .any(|m| {
                m.fs_type == "cgroup" && !m.super_options.iter().any(|o| o.starts_with("name="))
            });
    if !v1_in_use {
        return Err(skip("cgroups v1 is not in use on this host"));
    }
    let path = lab.cgroups_path();
    let bundle = lab.bundle("bundle")?;
    let mut config = base_config(&["--wait-signal", "60"]);
    delegating(&mut config, &path);
    let (_, pid) = create_with(lab, &bundle, &config, "own")?;
    let dirs = cgroup_dirs_of(pid);
    ensure(
        !dirs.is_empty(),
        "the container is in no cgroup the suite can find",
    )?;
    for dir in dirs {
        let owner = fs::metadata(&dir).map(|m| m.uid()).unwrap_or(0);
        ensure_eq(owner, 0, &format!("owner of {}", dir.display()))?;
    }
    Ok(())
}

fn ownership_delegate(lab: &mut Lab) -> Outcome {
    if v2_mount().as_deref() != Some("/sys/fs/cgroup") {
        return Err(skip(
            "cgroup v2 is not the only hierarchy here: a runtime changes cgroup ownership only on cgroup v2 (see linux.cgroups.ownership.v1)",
        ));
    }
    let path = lab.cgroups_path();
    let bundle = lab.bundle("bundle")?;
    let mut config = base_config(&["--wait-signal", "60"]);
    delegating(&mut config, &path);
    let (_, pid) = create_with(lab, &bundle, &config, "own")?;
    let dir = Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
    let owner = fs::metadata(&dir)
        .map(|m| m.uid())
        .map_err(|e| fail(format!("stat {}: {e}", dir.display())))?;
    if owner != 100000 {
        return Err(skip(format!(
            "the runtime left the cgroup owned by {owner} (changing it is a MAY); nothing to check (container pid {pid})"
        )));
    }
    let listed = fs::read_to_string("/sys/kernel/cgroup/delegate")
        .map(|t| t.lines().map(str::to_owned).collect::<Vec<_>>())
        .unwrap_or_else(|_| {
            ["cgroup.procs", "cgroup.subtree_control", "cgroup.threads"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect()
        });
    for file in listed {
        let file_path = dir.join(&file);
        if let Ok(meta) = fs::metadata(&file_path) {
            ensure_eq(
                meta.uid(),
                100000,
                &format!("owner of {}", file_path.display()),
            )?;
        }
    }
    Ok(())
}

//! The machine the numbers come from, and the one host change the bench may
//! make: crun 1.8.1's hybrid-cgroup workaround.
#![forbid(unsafe_code)]

use std::fs;
use std::path::Path;

use nix::mount::{MsFlags, mount};
use serde::Serialize;

use crate::error::{Error, Result};

/// Where the hugetlb v1 hierarchy goes.
const HUGETLB_V1: &str = "/sys/fs/cgroup/hugetlb";
/// The cgroup v2 hierarchy of a hybrid host.
const UNIFIED: &str = "/sys/fs/cgroup/unified";

/// Facts about the host.
#[derive(Debug, Clone, Serialize)]
pub struct Host {
    /// `uname -srm`.
    pub kernel: String,
    /// CPU model name.
    pub cpu: String,
    /// Online CPUs.
    pub cores: usize,
    /// Memory in GiB.
    pub memory_gib: f64,
    /// `unified`, `hybrid` or `legacy`, with the v2 controllers of a hybrid host.
    pub cgroups: String,
}

/// Reads the host's facts.
pub fn describe() -> Host {
    let kernel = nix::sys::utsname::uname()
        .map(|u| {
            format!(
                "{} {} {}",
                u.sysname().to_string_lossy(),
                u.release().to_string_lossy(),
                u.machine().to_string_lossy()
            )
        })
        .unwrap_or_default();
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0);
    Host {
        kernel,
        cpu,
        cores,
        memory_gib: (mem_kib / (1024.0 * 1024.0) * 10.0).round() / 10.0,
        cgroups: cgroup_layout(),
    }
}

/// `unified`, `legacy`, or `hybrid (v2 controllers: ...)`.
fn cgroup_layout() -> String {
    if is_mount_of("/sys/fs/cgroup", "cgroup2") {
        return "unified (cgroup v2)".to_owned();
    }
    if is_mount_of(UNIFIED, "cgroup2") {
        let controllers = v2_controllers();
        let shown = if controllers.is_empty() {
            "none".to_owned()
        } else {
            controllers.join(" ")
        };
        return format!("hybrid (v1 controllers, v2 at {UNIFIED} with controllers: {shown})");
    }
    "legacy (cgroup v1)".to_owned()
}

/// The controllers the hybrid host's v2 hierarchy holds.
fn v2_controllers() -> Vec<String> {
    fs::read_to_string(Path::new(UNIFIED).join("cgroup.controllers"))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Whether `target` is a mount point of filesystem type `fstype`
/// (`/proc/self/mountinfo`: field 5 is the mount point, the type follows
/// the ` - ` separator).
fn is_mount_of(target: &str, fstype: &str) -> bool {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|line| {
            let mount_point = line.split_whitespace().nth(4);
            let kind = line
                .split_once(" - ")
                .and_then(|(_, rest)| rest.split_whitespace().next());
            mount_point == Some(target) && kind == Some(fstype)
        })
}

/// crun 1.8.1 refuses a hybrid host whose v2 hierarchy holds any controller
/// ("cgroups in hybrid mode not supported, drop all controllers from
/// cgroupv2"); here that is `hugetlb`. Mounting a *new* v1 hierarchy for
/// hugetlb moves the controller off v2. Done only when asked, only on such
/// a host and only when no hugetlb hierarchy is mounted; never undone (no
/// cgroup hierarchy is ever unmounted). Returns what was done, for the report.
pub fn hugetlb_workaround(apply: bool) -> Result<String> {
    let hybrid = is_mount_of(UNIFIED, "cgroup2");
    let held = v2_controllers();
    if is_mount_of(HUGETLB_V1, "cgroup") {
        return Ok(format!(
            "hugetlb v1 hierarchy already mounted at {HUGETLB_V1} (crun hybrid-host workaround in place)"
        ));
    }
    if !hybrid || !held.iter().any(|c| c == "hugetlb") {
        return Ok("not needed (no hybrid host with hugetlb on cgroup v2)".to_owned());
    }
    if !apply {
        return Ok(format!(
            "not applied: cgroup v2 holds hugetlb, so crun 1.8.1 refuses this host \
             (gorae-bench --mount-hugetlb-v1 mounts a hugetlb v1 hierarchy at {HUGETLB_V1})"
        ));
    }
    fs::create_dir_all(HUGETLB_V1).map_err(|e| Error::io("create", HUGETLB_V1, e))?;
    mount(
        Some("cgroup"),
        HUGETLB_V1,
        Some("cgroup"),
        MsFlags::empty(),
        Some("hugetlb"),
    )
    .map_err(|e| Error::sys("mount -t cgroup -o hugetlb cgroup", HUGETLB_V1, e))?;
    Ok(format!(
        "mounted a hugetlb v1 hierarchy at {HUGETLB_V1} so that cgroup v2 holds no controller \
         (crun 1.8.1 refuses hybrid hosts otherwise); left mounted"
    ))
}

/// The first three fields of `/proc/loadavg` (1, 5 and 15 minutes).
pub fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A note with the load before and after the run, saying the timings are
/// noisy when the 1-minute load was at least half the cores at either end
/// (other work competed for the CPUs).
pub fn load_note(before: &str, after: &str) -> Vec<String> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    let one_minute = |load: &str| -> f64 {
        load.split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    let busy = one_minute(before).max(one_minute(after)) >= cores / 2.0;
    let mut notes = vec![format!(
        "load average (1, 5, 15 min) before the run: {before}; after: {after}"
    )];
    if busy {
        notes.push(
            "the machine was busy with other work during the run: absolute times are noisy; \
             interleaving spreads the disturbance over all contenders alike, so ratios hold \
             better than absolute times"
                .to_owned(),
        );
    }
    notes
}

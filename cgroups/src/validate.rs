//! Checks on `linux.resources` that run before anything is created: value
//! ranges and syntax, and whether the host offers the controllers the
//! resources need.

use std::collections::BTreeSet;
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceType, LinuxResources};

use crate::error::{Error, Result};
use crate::fsutil;
use crate::hierarchy::Hierarchy;
use crate::path::CgroupPath;
use crate::stats;

/// Validates `resources` and `path` for this host, reading (never writing)
/// `/proc`, `/sys/kernel/mm/hugepages` and cgroupfs. The core calls this
/// while validating the bundle, before anything is created.
pub fn validate(resources: Option<&LinuxResources>, path: &CgroupPath) -> Result<()> {
    path.check_supported()?;
    let Some(resources) = resources else {
        return Ok(());
    };
    let hierarchy = Hierarchy::detect()?;
    validate_on(&hierarchy, resources, path)
}

/// [`validate`] against a known hierarchy.
pub fn validate_on(
    hierarchy: &Hierarchy,
    resources: &LinuxResources,
    path: &CgroupPath,
) -> Result<()> {
    path.check_supported()?;
    check_values(resources)?;
    check_huge_page_sizes(resources, &stats::huge_page_sizes())?;
    let available = Available::probe(hierarchy, path)?;
    check_controllers(hierarchy.is_v2(), &available, resources)?;
    if hierarchy.is_v2()
        && let Some(m) = resources.memory()
    {
        crate::v2::memory_swap_to_v2(m.swap().unwrap_or(0), m.limit().unwrap_or(0))?;
    }
    Ok(())
}

/// Page sizes the kernel does not have (`supported` lists those it has;
/// when it is empty the kernel has no huge pages and the hugetlb controller
/// check reports the problem).
pub(crate) fn check_huge_page_sizes(r: &LinuxResources, supported: &[String]) -> Result<()> {
    for h in r.hugepage_limits().iter().flatten() {
        if !supported.is_empty() && !supported.iter().any(|s| s == h.page_size()) {
            return Err(invalid(
                "hugepageLimits.pageSize",
                h.page_size(),
                "this kernel has no huge pages of that size",
            ));
        }
    }
    Ok(())
}

/// The controllers a new cgroup at a given path could have.
#[derive(Debug, Clone, Default)]
pub(crate) struct Available {
    controllers: BTreeSet<String>,
}

impl Available {
    /// v1: the mounted controllers; v2: `cgroup.controllers` of the nearest
    /// existing ancestor of the container's directory (we enable those
    /// down to the new cgroup).
    pub(crate) fn probe(hierarchy: &Hierarchy, path: &CgroupPath) -> Result<Self> {
        let controllers = match hierarchy {
            Hierarchy::V2 { root } => {
                let dir = path.unified_dir(root)?;
                let mut cur = dir.as_path();
                while !cur.join("cgroup.controllers").exists() && cur != root.mount_point {
                    cur = cur.parent().unwrap_or(&root.mount_point);
                }
                let text = fsutil::read_opt(cur, "cgroup.controllers")?.unwrap_or_default();
                text.split_whitespace().map(str::to_string).collect()
            }
            _ => hierarchy
                .v1_mounts()
                .iter()
                .flat_map(|m| m.controllers.iter().cloned())
                .collect(),
        };
        Ok(Available { controllers })
    }

    /// From a fixed list (tests, or a v2 leaf's `cgroup.controllers`).
    pub(crate) fn from_list<'a>(list: impl IntoIterator<Item = &'a str>) -> Self {
        Available {
            controllers: list.into_iter().map(str::to_string).collect(),
        }
    }

    pub(crate) fn has(&self, controller: &str) -> bool {
        self.controllers.contains(controller)
    }
}

/// Syntax and range checks that need no system access.
pub fn check_values(r: &LinuxResources) -> Result<()> {
    check_memory(r)?;
    check_cpu(r)?;
    check_block_io(r)?;
    check_hugepages(r)?;
    check_network(r)?;
    check_rdma(r)?;
    check_devices(r)?;
    check_unified_keys(r)
}

fn invalid(field: &'static str, value: impl ToString, reason: &'static str) -> Error {
    Error::InvalidValue {
        field,
        value: value.to_string(),
        reason,
    }
}

fn at_least_minus_one(field: &'static str, v: Option<i64>) -> Result<()> {
    match v {
        Some(x) if x < -1 => Err(invalid(
            field,
            x,
            "must be -1 (unlimited) or a non-negative number",
        )),
        _ => Ok(()),
    }
}

fn check_memory(r: &LinuxResources) -> Result<()> {
    let Some(m) = r.memory() else { return Ok(()) };
    at_least_minus_one("memory.limit", m.limit())?;
    at_least_minus_one("memory.reservation", m.reservation())?;
    at_least_minus_one("memory.swap", m.swap())?;
    at_least_minus_one("memory.kernel", m.kernel())?;
    at_least_minus_one("memory.kernelTCP", m.kernel_tcp())?;
    if let Some(s) = m.swappiness()
        && s != u64::MAX
        && s > 100
    {
        return Err(invalid("memory.swappiness", s, "valid range is 0-100"));
    }
    let limit = m.limit().unwrap_or(0);
    let swap = m.swap().unwrap_or(0);
    if swap > 0 && limit == 0 {
        return Err(invalid(
            "memory.swap",
            swap,
            "a swap limit needs a memory limit",
        ));
    }
    if swap > 0 && limit > 0 && swap < limit {
        return Err(invalid(
            "memory.swap",
            swap,
            "memory+swap limit must be greater than or equal to the memory limit",
        ));
    }
    Ok(())
}

fn check_cpu(r: &LinuxResources) -> Result<()> {
    let Some(c) = r.cpu() else { return Ok(()) };
    at_least_minus_one("cpu.quota", c.quota())?;
    at_least_minus_one("cpu.realtimeRuntime", c.realtime_runtime())?;
    if let Some(idle) = c.idle()
        && idle != 0
        && idle != 1
    {
        return Err(invalid("cpu.idle", idle, "must be 0 or 1"));
    }
    if let Some(cpus) = c.cpus() {
        check_cpuset_list("cpu.cpus", cpus)?;
    }
    if let Some(mems) = c.mems() {
        check_cpuset_list("cpu.mems", mems)?;
    }
    Ok(())
}

/// The kernel's list format: `0-3,5,7-11` (with an optional `:used/group` stride).
/// An empty string means "not set".
pub(crate) fn check_cpuset_list(field: &'static str, list: &str) -> Result<()> {
    let list = list.trim();
    if list.is_empty() {
        return Ok(());
    }
    let num = |s: &str| {
        s.parse::<u32>()
            .ok()
            .filter(|_| s.bytes().all(|b| b.is_ascii_digit()))
    };
    for item in list.split(',') {
        let (range, stride) = match item.split_once(':') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        let ok_range = match range.split_once('-') {
            Some((a, b)) => matches!((num(a), num(b)), (Some(a), Some(b)) if a <= b),
            None => num(range).is_some() && stride.is_none(),
        };
        let ok_stride = stride.is_none_or(|s| {
            s.split_once('/').is_some_and(
                |(u, g)| matches!((num(u), num(g)), (Some(u), Some(g)) if u > 0 && u <= g),
            )
        });
        if !ok_range || !ok_stride {
            return Err(invalid(field, list, "not a CPU/node list like 0-3,5"));
        }
    }
    Ok(())
}

fn check_weight(field: &'static str, w: Option<u16>) -> Result<()> {
    match w {
        Some(w) if w != 0 && !(10..=1000).contains(&w) => {
            Err(invalid(field, w, "valid range is 10-1000 (0 means unset)"))
        }
        _ => Ok(()),
    }
}

fn check_major_minor(field: &'static str, major: i64, minor: i64) -> Result<()> {
    if major < 0 || minor < 0 {
        return Err(invalid(
            field,
            format!("{major}:{minor}"),
            "major and minor must be non-negative",
        ));
    }
    Ok(())
}

fn check_block_io(r: &LinuxResources) -> Result<()> {
    let Some(b) = r.block_io() else { return Ok(()) };
    check_weight("blockIO.weight", b.weight())?;
    check_weight("blockIO.leafWeight", b.leaf_weight())?;
    for d in b.weight_device().iter().flatten() {
        check_major_minor("blockIO.weightDevice", d.major(), d.minor())?;
        check_weight("blockIO.weightDevice.weight", d.weight())?;
        check_weight("blockIO.weightDevice.leafWeight", d.leaf_weight())?;
    }
    let throttles = [
        (
            "blockIO.throttleReadBpsDevice",
            b.throttle_read_bps_device(),
        ),
        (
            "blockIO.throttleWriteBpsDevice",
            b.throttle_write_bps_device(),
        ),
        (
            "blockIO.throttleReadIOPSDevice",
            b.throttle_read_iops_device(),
        ),
        (
            "blockIO.throttleWriteIOPSDevice",
            b.throttle_write_iops_device(),
        ),
    ];
    for (field, list) in throttles {
        for d in list.iter().flatten() {
            check_major_minor(field, d.major(), d.minor())?;
        }
    }
    Ok(())
}

/// `2MB`, `1GB`, `64KB`: the names the kernel uses in `hugetlb.<size>.*`.
fn check_hugepages(r: &LinuxResources) -> Result<()> {
    for h in r.hugepage_limits().iter().flatten() {
        let size = h.page_size();
        let digits = size.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        let unit = &size[digits.len()..];
        let ok = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && matches!(unit, "KB" | "MB" | "GB");
        if !ok {
            return Err(invalid(
                "hugepageLimits.pageSize",
                size,
                "must look like 2MB, 1GB or 64KB",
            ));
        }
        if h.limit() < 0 {
            return Err(invalid(
                "hugepageLimits.limit",
                h.limit(),
                "must be non-negative",
            ));
        }
    }
    Ok(())
}

fn check_name(field: &'static str, name: &str) -> Result<()> {
    if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == '/') {
        return Err(invalid(
            field,
            name,
            "must be a non-empty name without spaces or '/'",
        ));
    }
    Ok(())
}

fn check_network(r: &LinuxResources) -> Result<()> {
    let Some(n) = r.network() else { return Ok(()) };
    for p in n.priorities().iter().flatten() {
        check_name("network.priorities.name", p.name())?;
    }
    Ok(())
}

fn check_rdma(r: &LinuxResources) -> Result<()> {
    for name in r.rdma().iter().flat_map(|m| m.keys()) {
        check_name("rdma", name)?;
    }
    Ok(())
}

fn check_devices(r: &LinuxResources) -> Result<()> {
    for d in r.devices().iter().flatten() {
        match d.typ() {
            None | Some(LinuxDeviceType::A | LinuxDeviceType::B | LinuxDeviceType::C) => {}
            Some(t) => {
                return Err(invalid(
                    "devices.type",
                    t.as_str(),
                    "a device cgroup rule type must be a, b or c",
                ));
            }
        }
        check_access(d.access().as_deref().unwrap_or(""))?;
        for (field, v) in [("devices.major", d.major()), ("devices.minor", d.minor())] {
            if let Some(v) = v
                && v < -1
            {
                return Err(invalid(
                    field,
                    v,
                    "must be -1 (any) or a non-negative number",
                ));
            }
        }
    }
    Ok(())
}

/// A device access string: a non-empty combination of `r`, `w`, `m`, each at most once.
pub(crate) fn check_access(access: &str) -> Result<()> {
    let mut seen = [false; 3];
    let ok = !access.is_empty()
        && access.chars().all(|c| {
            let i = match c {
                'r' => 0,
                'w' => 1,
                'm' => 2,
                _ => return false,
            };
            !std::mem::replace(&mut seen[i], true)
        });
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "devices.access",
            access,
            "must be a combination of r, w and m",
        ))
    }
}

fn check_unified_keys(r: &LinuxResources) -> Result<()> {
    for key in r.unified().iter().flat_map(|m| m.keys()) {
        unified_controller(key)?;
    }
    Ok(())
}

/// The controller part of a `unified` key (`memory` for `memory.high`).
pub(crate) fn unified_controller(key: &str) -> Result<&str> {
    let bad = |reason| Error::UnifiedKey {
        key: key.to_string(),
        reason,
    };
    if key.contains('/') || key.contains('\0') || Path::new(key).file_name().is_none() {
        return Err(bad("must be a file name, without '/'"));
    }
    match key.split_once('.') {
        Some((c, p)) if !c.is_empty() && !p.is_empty() => Ok(c),
        _ => Err(bad("must have the form CONTROLLER.PARAMETER")),
    }
}

/// Which controller each set resource needs, as (field, controller).
pub(crate) fn needed_controllers(
    v2: bool,
    r: &LinuxResources,
) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    if let Some(m) = r.memory() {
        let set = |v: Option<i64>| v.is_some_and(|x| x != 0);
        if set(m.limit()) || set(m.reservation()) || set(m.swap()) {
            out.push(("memory", "memory"));
        }
        if !v2
            && (m.swappiness().is_some_and(|s| s != u64::MAX)
                || m.disable_oom_killer() == Some(true))
        {
            out.push(("memory", "memory"));
        }
    }
    if let Some(c) = r.cpu() {
        let cpu_set = c.shares().is_some_and(|x| x != 0)
            || c.quota().is_some_and(|x| x != 0)
            || c.period().is_some_and(|x| x != 0)
            || c.burst().is_some()
            || c.idle().is_some()
            || (!v2
                && (c.realtime_runtime().is_some_and(|x| x != 0)
                    || c.realtime_period().is_some_and(|x| x != 0)));
        if cpu_set {
            out.push(("cpu", "cpu"));
        }
        let nonempty = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.trim().is_empty());
        if nonempty(c.cpus()) || nonempty(c.mems()) {
            out.push(("cpu.cpus", "cpuset"));
        }
    }
    if r.pids().is_some() {
        out.push(("pids", "pids"));
    }
    if let Some(b) = r.block_io()
        && block_io_set(b)
    {
        out.push(("blockIO", if v2 { "io" } else { "blkio" }));
    }
    if r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty()) {
        out.push(("hugepageLimits", "hugetlb"));
    }
    if r.rdma().as_ref().is_some_and(|m| !m.is_empty()) {
        out.push(("rdma", "rdma"));
    }
    if !v2 {
        if let Some(n) = r.network() {
            if n.class_id().is_some_and(|c| c != 0) {
                out.push(("network.classID", "net_cls"));
            }
            if n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
                out.push(("network.priorities", "net_prio"));
            }
        }
        if r.devices().as_ref().is_some_and(|d| !d.is_empty()) {
            out.push(("devices", "devices"));
        }
    }
    out
}

pub(crate) fn block_io_set(b: &oci_spec::runtime::LinuxBlockIo) -> bool {
    let any = |v: &Option<Vec<_>>| v.as_ref().is_some_and(|v: &Vec<_>| !v.is_empty());
    b.weight().is_some_and(|w| w != 0)
        || b.leaf_weight().is_some_and(|w| w != 0)
        || b.weight_device().as_ref().is_some_and(|v| !v.is_empty())
        || any(b.throttle_read_bps_device())
        || any(b.throttle_write_bps_device())
        || any(b.throttle_read_iops_device())
        || any(b.throttle_write_iops_device())
}

/// Refuses resources whose controller is missing (runc refuses them too,
/// but only after creating the cgroup), and `unified` keys on v1 or for a
/// controller that is not available.
pub(crate) fn check_controllers(v2: bool, available: &Available, r: &LinuxResources) -> Result<()> {
    for (field, controller) in needed_controllers(v2, r) {
        if !available.has(controller) {
            return Err(Error::ControllerUnavailable { field, controller });
        }
    }
    let Some(unified) = r.unified() else {
        return Ok(());
    };
    if unified.is_empty() {
        return Ok(());
    }
    if !v2 {
        return Err(Error::UnifiedOnV1);
    }
    for key in unified.keys() {
        let controller = unified_controller(key)?;
        if controller != "cgroup" && !available.has(controller) {
            return Err(Error::UnifiedControllerUnavailable {
                key: key.clone(),
                controller: controller.to_string(),
            });
        }
    }
    Ok(())
}

//! `linux.resources` on cgroup v1: one directory per controller, values in
//! the v1 files and units, written in runc's order and with runc's
//! ordering rules where the kernel validates one value against another.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory, LinuxNetwork, LinuxRdma,
    LinuxResources,
};

use crate::devices;
use crate::error::{Error, Result, Warning};
use crate::fsutil::{self, try_write, write, write_error};
use crate::validate::{self, Available};

/// The container's directory in each v1 hierarchy, keyed by controller
/// (co-mounted controllers map to the same directory).
pub type V1Dirs = BTreeMap<String, PathBuf>;

const MEMORY_LIMIT: &str = "memory.limit_in_bytes";
const MEMSW_LIMIT: &str = "memory.memsw.limit_in_bytes";

/// Applies `r` to the v1 directories. Refuses, before writing anything,
/// resources whose controller has no directory, and `unified`.
pub(crate) fn apply(dirs: &V1Dirs, r: &LinuxResources) -> Result<Vec<Warning>> {
    validate::check_values(r)?;
    let available = Available::from_list(dirs.keys().map(String::as_str));
    validate::check_controllers(false, &available, r)?;
    let mut warnings = Vec::new();
    let dir = |c: &str| dirs.get(c).map(PathBuf::as_path);

    if let (Some(c), Some(d)) = (r.cpu(), dir("cpuset")) {
        set_cpuset(d, c)?;
    }
    if let (Some(rules), Some(d)) = (r.devices(), dir("devices"))
        && !rules.is_empty()
    {
        devices::apply_v1(d, rules)?;
    }
    if let Some(m) = r.memory() {
        match dir("memory") {
            Some(d) => {
                warnings.extend(memory_warnings(m).into_iter().filter(|w| {
                    // Where the v1 files exist they are written below.
                    let file = match w.field {
                        "memory.kernelTCP" => KMEM_TCP_LIMIT,
                        "memory.useHierarchy" => USE_HIERARCHY,
                        _ => return true,
                    };
                    !d.join(file).exists()
                }));
                set_memory(d, m)?;
            }
            None => warnings.extend(memory_warnings(m)),
        }
    }
    if let (Some(c), Some(d)) = (r.cpu(), dir("cpu")) {
        set_cpu(d, c)?;
    }
    if let (Some(p), Some(d)) = (r.pids(), dir("pids")) {
        write(d, "pids.max", &pids_max(p.limit()))?;
    }
    if let (Some(b), Some(d)) = (r.block_io(), dir("blkio")) {
        set_blkio(d, b)?;
    }
    if let (Some(h), Some(d)) = (r.hugepage_limits(), dir("hugetlb")) {
        set_hugetlb(d, h, ".limit_in_bytes")?;
    }
    if let Some(n) = r.network() {
        set_network(dir("net_cls"), dir("net_prio"), n)?;
    }
    if let (Some(rdma), Some(d)) = (r.rdma(), dir("rdma")) {
        set_rdma(d, rdma)?;
    }
    Ok(warnings)
}

/// Warnings for memory fields no current kernel honours (runc warns too).
pub(crate) fn memory_warnings(m: &LinuxMemory) -> Vec<Warning> {
    let mut out = Vec::new();
    if m.kernel().is_some() {
        out.push(Warning {
            field: "memory.kernel",
            reason: "kernel memory limits are deprecated and not supported by current kernels",
        });
    }
    if m.kernel_tcp().is_some() {
        out.push(Warning {
            field: "memory.kernelTCP",
            reason: "kernel memory limits are deprecated and not supported by current kernels",
        });
    }
    if m.use_hierarchy() == Some(false) {
        out.push(Warning {
            field: "memory.useHierarchy",
            reason: "memory accounting is always hierarchical on current kernels",
        });
    }
    out
}

/// `pids.max`: runc writes `max` for a negative limit and `1` for 0.
pub(crate) fn pids_max(limit: i64) -> String {
    match limit {
        l if l > 0 => l.to_string(),
        0 => "1".to_string(),
        _ => "max".to_string(),
    }
}

/// `cpuset.cpus` and `cpuset.mems` (the same files on v1 and v2).
pub(crate) fn set_cpuset(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.trim().is_empty()) {
        write(dir, "cpuset.cpus", cpus)?;
    }
    if let Some(mems) = c.mems().as_deref().filter(|s| !s.trim().is_empty()) {
        write(dir, "cpuset.mems", mems)?;
    }
    Ok(())
}

/// Fills an empty `cpuset.cpus`/`cpuset.mems` of a new cgroup from its
/// parent: a v1 cpuset cgroup with empty sets cannot take processes.
pub(crate) fn cpuset_copy_from_parent(dir: &Path) -> Result<()> {
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    for file in ["cpuset.cpus", "cpuset.mems"] {
        if fsutil::read(dir, file)?.trim().is_empty() {
            let mut value = fsutil::read(parent, file)?;
            if value.trim().is_empty() {
                // A concurrent create made the parent and has not filled it
                // yet: fill it first (the same values, so both may write).
                cpuset_copy_from_parent(parent)?;
                value = fsutil::read(parent, file)?;
            }
            write(dir, file, value.trim())?;
        }
    }
    Ok(())
}

fn set_memory_limit(dir: &Path, limit: i64) -> Result<()> {
    if limit == 0 {
        return Ok(());
    }
    let value = limit.to_string();
    match try_write(dir, MEMORY_LIMIT, &value) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Err(Error::MemoryLimitBelowUsage {
            path: dir.to_path_buf(),
            limit,
            usage: fsutil::read_u64(dir, "memory.usage_in_bytes")?,
            peak: fsutil::read_u64(dir, "memory.max_usage_in_bytes")?,
        }),
        Err(e) => Err(write_error(dir, MEMORY_LIMIT, &value, e)),
    }
}

fn set_swap_limit(dir: &Path, swap: i64) -> Result<()> {
    if swap == 0 {
        return Ok(());
    }
    write(dir, MEMSW_LIMIT, &swap.to_string())
}

fn set_memory(dir: &Path, m: &LinuxMemory) -> Result<()> {
    let limit = m.limit().unwrap_or(0);
    let mut swap = m.swap().unwrap_or(0);
    if limit == -1 && swap == 0 && dir.join(MEMSW_LIMIT).exists() {
        swap = -1;
    }
    // The kernel wants limit <= memsw at every step: raise memsw first when
    // it grows, lower the limit first when memsw shrinks.
    let swap_first = limit != 0 && swap != 0 && {
        let current = fsutil::read_u64(dir, MEMORY_LIMIT)?;
        swap == -1 || u64::try_from(swap).is_ok_and(|s| current < s)
    };
    if swap_first {
        set_swap_limit(dir, swap)?;
        set_memory_limit(dir, limit)?;
    } else {
        set_memory_limit(dir, limit)?;
        set_swap_limit(dir, swap)?;
    }
    if let Some(res) = m.reservation().filter(|&v| v != 0) {
        write(dir, "memory.soft_limit_in_bytes", &res.to_string())?;
    }
    if m.disable_oom_killer() == Some(true) {
        write(dir, "memory.oom_control", "1")?;
    }
    if let Some(s) = m.swappiness().filter(|&s| s != u64::MAX) {
        write(dir, "memory.swappiness", &s.to_string())?;
    }
    if let Some(tcp) = m.kernel_tcp().filter(|&v| v != 0) {
        if dir.join(KMEM_TCP_LIMIT).exists() {
            write(dir, KMEM_TCP_LIMIT, &tcp.to_string())?;
        }
    }
    // The kernel refuses 0 where accounting is always hierarchical: then
    // create fails, naming the file, rather than run unlike the config.
    if m.use_hierarchy() == Some(false) && dir.join(USE_HIERARCHY).exists() {
        write(dir, USE_HIERARCHY, "0")?;
    }
    Ok(())
}

const KMEM_TCP_LIMIT: &str = "memory.kmem.tcp.limit_in_bytes";
const USE_HIERARCHY: &str = "memory.use_hierarchy";

fn is_einval(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EINVAL)
}

fn set_cpu(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(shares) = c.shares().filter(|&s| s != 0) {
        write(dir, "cpu.shares", &shares.to_string())?;
        let actual = fsutil::read_u64(dir, "cpu.shares")?;
        if actual != shares {
            return Err(Error::CpuSharesOutOfRange {
                path: dir.join("cpu.shares"),
                requested: shares,
                actual,
            });
        }
    }
    let quota = c.quota().unwrap_or(0);
    // A new period may be refused (EINVAL) until the quota fits it: retry after the quota.
    let mut period_later = None;
    if let Some(period) = c.period().filter(|&p| p != 0) {
        let value = period.to_string();
        if let Err(e) = try_write(dir, "cpu.cfs_period_us", &value) {
            if !is_einval(&e) || quota == 0 {
                return Err(write_error(dir, "cpu.cfs_period_us", &value, e));
            }
            period_later = Some(value);
        }
    }
    let mut burst_later = None;
    if let Some(burst) = c.burst() {
        let value = burst.to_string();
        if let Err(e) = try_write(dir, "cpu.cfs_burst_us", &value) {
            if !is_einval(&e) || quota == 0 {
                return Err(write_error(dir, "cpu.cfs_burst_us", &value, e));
            }
            burst_later = Some(value);
        }
    }
    if quota != 0 {
        write(dir, "cpu.cfs_quota_us", &quota.to_string())?;
        if let Some(p) = period_later {
            write(dir, "cpu.cfs_period_us", &p)?;
        }
        if let Some(b) = burst_later {
            write(dir, "cpu.cfs_burst_us", &b)?;
        }
    }
    if let Some(idle) = c.idle() {
        write(dir, "cpu.idle", &idle.to_string())?;
    }
    set_rt(dir, c)
}

fn set_rt(dir: &Path, c: &LinuxCpu) -> Result<()> {
    let runtime = c.realtime_runtime().unwrap_or(0);
    let mut period_later = None;
    if let Some(period) = c.realtime_period().filter(|&p| p != 0) {
        let value = period.to_string();
        if let Err(e) = try_write(dir, "cpu.rt_period_us", &value) {
            if !is_einval(&e) || runtime == 0 {
                return Err(write_error(dir, "cpu.rt_period_us", &value, e));
            }
            period_later = Some(value);
        }
    }
    if runtime != 0 {
        write(dir, "cpu.rt_runtime_us", &runtime.to_string())?;
        if let Some(p) = period_later {
            write(dir, "cpu.rt_period_us", &p)?;
        }
    }
    Ok(())
}

fn device(major: i64, minor: i64) -> String {
    format!("{major}:{minor}")
}

fn set_blkio(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    let (weight_file, weight_device_file) = if dir.join("blkio.weight").exists() {
        ("blkio.weight", "blkio.weight_device")
    } else {
        ("blkio.bfq.weight", "blkio.bfq.weight_device")
    };
    if let Some(w) = b.weight().filter(|&w| w != 0) {
        write(dir, weight_file, &w.to_string())?;
    }
    if let Some(w) = b.leaf_weight().filter(|&w| w != 0) {
        write(dir, "blkio.leaf_weight", &w.to_string())?;
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight().filter(|&w| w != 0) {
            write(
                dir,
                weight_device_file,
                &format!("{} {w}", device(d.major(), d.minor())),
            )?;
        }
        if let Some(w) = d.leaf_weight().filter(|&w| w != 0) {
            write(
                dir,
                "blkio.leaf_weight_device",
                &format!("{} {w}", device(d.major(), d.minor())),
            )?;
        }
    }
    let throttles = [
        (
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
        ),
        (
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ),
        (
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ),
        (
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ),
    ];
    for (file, list) in throttles {
        for d in list.iter().flatten() {
            write(
                dir,
                file,
                &format!("{} {}", device(d.major(), d.minor()), d.rate()),
            )?;
        }
    }
    Ok(())
}

/// Writes `hugetlb.<size><suffix>` and, where the kernel has it, the
/// `.rsvd` variant (shared with v2, whose suffix is `.max`).
pub(crate) fn set_hugetlb(dir: &Path, limits: &[LinuxHugepageLimit], suffix: &str) -> Result<()> {
    let mut rsvd = true;
    for h in limits {
        let value = h.limit().to_string();
        let prefix = format!("hugetlb.{}", h.page_size());
        write(dir, &format!("{prefix}{suffix}"), &value)?;
        if !rsvd {
            continue;
        }
        let file = format!("{prefix}.rsvd{suffix}");
        match try_write(dir, &file, &value) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => rsvd = false,
            Err(e) => return Err(write_error(dir, &file, &value, e)),
        }
    }
    Ok(())
}

fn set_network(net_cls: Option<&Path>, net_prio: Option<&Path>, n: &LinuxNetwork) -> Result<()> {
    if let (Some(id), Some(d)) = (n.class_id().filter(|&c| c != 0), net_cls) {
        write(d, "net_cls.classid", &id.to_string())?;
    }
    if let Some(d) = net_prio {
        for p in n.priorities().iter().flatten() {
            write(
                d,
                "net_prio.ifpriomap",
                &format!("{} {}", p.name(), p.priority()),
            )?;
        }
    }
    Ok(())
}

/// One `rdma.max` line per device (same format on v1 and v2).
pub(crate) fn set_rdma(
    dir: &Path,
    rdma: &std::collections::HashMap<String, LinuxRdma>,
) -> Result<()> {
    let mut names: Vec<&String> = rdma.keys().collect();
    names.sort();
    for name in names {
        let Some(l) = rdma.get(name) else { continue };
        let num = |v: Option<u32>| v.map_or_else(|| "max".to_string(), |v| v.to_string());
        let line = format!(
            "{name} hca_handle={} hca_object={}",
            num(l.hca_handles()),
            num(l.hca_objects())
        );
        write(dir, "rdma.max", &line)?;
    }
    Ok(())
}

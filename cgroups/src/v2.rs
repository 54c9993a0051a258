//! `linux.resources` on cgroup v2: one directory, v1-style OCI values
//! converted the way runc converts them.

use std::io;
use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use crate::devices;
use crate::error::{Error, Result, Warning};
use crate::fsutil::{self, try_write, write, write_error};
use crate::v1;
use crate::validate::{self, Available};

/// cgroup v1 `cpu.shares` (2..=262144, default 1024) to v2 `cpu.weight`
/// (1..=10000, default 100). 0 means unset and stays 0. Like current runc,
/// a quadratic curve in log2(shares) that maps 2→1, 1024→100, 262144→10000.
pub fn cpu_shares_to_weight(shares: u64) -> u64 {
    match shares {
        0 => 0,
        1..=2 => 1,
        s if s >= 262_144 => 10_000,
        s => {
            let l = (s as f64).log2();
            let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
            10f64.powf(exponent).ceil() as u64
        }
    }
}

/// cgroup v1 `blkio.weight` (10..=1000) to v2 `io.weight` (1..=10000),
/// linearly. 0 means unset and stays 0.
pub fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    if weight == 0 {
        return 0;
    }
    1 + (u64::from(weight).saturating_sub(10)) * 9999 / 990
}

/// OCI `memory.swap` is memory+swap; v2 `memory.swap.max` is swap alone.
/// Returns the v2 value (`-1` = max, `0` = leave alone), or an error naming
/// the field when the pair makes no sense.
pub fn memory_swap_to_v2(swap: i64, memory: i64) -> Result<i64> {
    let bad = |value: i64, reason| Error::InvalidValue {
        field: "memory.swap",
        value: value.to_string(),
        reason,
    };
    match (swap, memory) {
        (0, -1) => Ok(-1),
        (-1 | 0, _) => Ok(swap),
        (_, -1) => Ok(swap),
        (_, 0) => Err(bad(swap, "a swap limit needs a memory limit")),
        (_, m) if m < 0 => Err(Error::InvalidValue {
            field: "memory.limit",
            value: m.to_string(),
            reason: "must be -1 (unlimited) or a non-negative number",
        }),
        (s, m) if s < m => Err(bad(
            s,
            "memory+swap limit must be greater than or equal to the memory limit",
        )),
        (s, m) => Ok(s - m),
    }
}

/// v2 limit files: 0 = unset (nothing written), -1 = `max`.
fn limit_str(v: i64) -> Option<String> {
    match v {
        0 => None,
        -1 => Some("max".to_string()),
        v => Some(v.to_string()),
    }
}

/// Applies `r` to the v2 directory `dir`, whose enabled controllers are
/// `available`. Refuses, before writing anything, resources whose
/// controller is not available.
pub(crate) fn apply(dir: &Path, available: &Available, r: &LinuxResources) -> Result<Vec<Warning>> {
    validate::check_values(r)?;
    validate::check_controllers(true, available, r)?;
    if let Some(m) = r.memory() {
        memory_swap_to_v2(m.swap().unwrap_or(0), m.limit().unwrap_or(0))?;
    }
    let mut warnings = skipped_on_v2(r);
    if let Some(p) = r.pids() {
        write(dir, "pids.max", &v1::pids_max(p.limit()))?;
    }
    if let Some(m) = r.memory() {
        set_memory(dir, m)?;
    }
    if let Some(b) = r.block_io() {
        warnings.extend(set_io(dir, b)?);
    }
    if let Some(c) = r.cpu() {
        set_cpu(dir, c)?;
        v1::set_cpuset(dir, c)?;
    }
    if let Some(h) = r.hugepage_limits() {
        v1::set_hugetlb(dir, h, ".max")?;
    }
    if let Some(rdma) = r.rdma() {
        v1::set_rdma(dir, rdma)?;
    }
    if let Some(rules) = r.devices() {
        devices::apply_v2(dir, rules)?;
    }
    if let Some(u) = r.unified() {
        set_unified(dir, available, u)?;
    }
    Ok(warnings)
}

/// Fields cgroup v2 has no file for; runc drops them, we say so.
fn skipped_on_v2(r: &LinuxResources) -> Vec<Warning> {
    let mut out = Vec::new();
    let mut skip = |field, reason| out.push(Warning { field, reason });
    if let Some(m) = r.memory() {
        if m.swappiness().is_some_and(|s| s != u64::MAX) {
            skip(
                "memory.swappiness",
                "cgroup v2 has no per-cgroup swappiness",
            );
        }
        if m.disable_oom_killer() == Some(true) {
            skip(
                "memory.disableOOMKiller",
                "cgroup v2 cannot disable the OOM killer",
            );
        }
    }
    if let Some(m) = r.memory() {
        out.extend(v1::memory_warnings(m));
    }
    let mut skip = |field, reason| out.push(Warning { field, reason });
    if let Some(c) = r.cpu()
        && (c.realtime_runtime().is_some_and(|v| v != 0)
            || c.realtime_period().is_some_and(|v| v != 0))
    {
        skip(
            "cpu.realtimeRuntime",
            "cgroup v2 has no real-time group scheduling files",
        );
    }
    if let Some(n) = r.network() {
        if n.class_id().is_some() {
            skip("network.classID", "cgroup v2 has no net_cls controller");
        }
        if n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            skip("network.priorities", "cgroup v2 has no net_prio controller");
        }
    }
    if let Some(b) = r.block_io()
        && b.leaf_weight().is_some_and(|w| w != 0)
    {
        skip("blockIO.leafWeight", "cgroup v2 has no leaf weight");
    }
    if r.devices().as_ref().is_some_and(|d| !d.is_empty()) {
        skip(
            "devices",
            "the cgroup v2 eBPF device filter is not implemented in gorae yet",
        );
    }
    out
}

fn set_memory(dir: &Path, m: &LinuxMemory) -> Result<()> {
    let limit = m.limit().unwrap_or(0);
    let swap_oci = m.swap().unwrap_or(0);
    let reservation = m.reservation().unwrap_or(0);
    if limit == 0 && swap_oci == 0 && reservation == 0 {
        return Ok(());
    }
    if m.check_before_update() == Some(true) {
        check_before_update(dir, limit, swap_oci)?;
    }
    let swap = memory_swap_to_v2(swap_oci, limit)?;
    let swap_str = match limit_str(swap) {
        None if swap_oci > 0 => Some("0".to_string()),
        s => s,
    };
    if let Some(s) = swap_str {
        match try_write(dir, "memory.swap.max", &s) {
            Ok(()) => {}
            // No swap accounting: "unlimited" and "none" are what we have anyway.
            Err(e) if e.kind() == io::ErrorKind::NotFound && (s == "max" || s == "0") => {}
            Err(e) => return Err(write_error(dir, "memory.swap.max", &s, e)),
        }
    }
    if let Some(v) = limit_str(limit) {
        write(dir, "memory.max", &v)?;
    }
    if let Some(v) = limit_str(reservation) {
        write(dir, "memory.low", &v)?;
    }
    Ok(())
}

fn check_before_update(dir: &Path, limit: i64, swap: i64) -> Result<()> {
    let Some(usage) = fsutil::read_u64_opt(dir, "memory.current")? else {
        return Ok(());
    };
    let checks = [("memory.swap", swap), ("memory.limit", limit)];
    for (field, value) in checks {
        if value > 0 && u64::try_from(value).is_ok_and(|v| v <= usage) {
            return Err(Error::MemoryCheckBeforeUpdate {
                field,
                path: dir.to_path_buf(),
                limit: value,
                usage,
            });
        }
    }
    Ok(())
}

/// `io.bfq.weight` holds a bare number on kernels whose BFQ has no
/// per-device weights, `default N` (plus device lines) on those that do.
fn bfq_has_device_weights(content: &str) -> bool {
    content.trim().parse::<u64>().is_err()
}

fn set_io(dir: &Path, b: &LinuxBlockIo) -> Result<Vec<Warning>> {
    let mut warnings = Vec::new();
    let wants_weight = b.weight().is_some_and(|w| w != 0)
        || b.weight_device().as_ref().is_some_and(|v| !v.is_empty());
    let bfq = if wants_weight {
        fsutil::read_opt(dir, "io.bfq.weight")?
    } else {
        None
    };
    if let Some(w) = b.weight().filter(|&w| w != 0) {
        match bfq {
            Some(_) => write(dir, "io.bfq.weight", &w.to_string())?,
            None => write(dir, "io.weight", &blkio_weight_to_io_weight(w).to_string())?,
        }
    }
    let devices = b.weight_device().iter().flatten();
    if bfq.as_deref().is_some_and(bfq_has_device_weights) {
        for d in devices {
            if let Some(w) = d.weight().filter(|&w| w != 0) {
                write(
                    dir,
                    "io.bfq.weight",
                    &format!("{}:{} {w}", d.major(), d.minor()),
                )?;
            }
        }
    } else if devices.count() > 0 {
        warnings.push(Warning {
            field: "blockIO.weightDevice",
            reason: "per-device weights need the BFQ I/O scheduler with per-device weight support",
        });
    }
    let throttles = [
        ("rbps", b.throttle_read_bps_device()),
        ("wbps", b.throttle_write_bps_device()),
        ("riops", b.throttle_read_iops_device()),
        ("wiops", b.throttle_write_iops_device()),
    ];
    for (key, list) in throttles {
        for d in list.iter().flatten() {
            write(
                dir,
                "io.max",
                &format!("{}:{} {key}={}", d.major(), d.minor(), d.rate()),
            )?;
        }
    }
    Ok(warnings)
}

fn set_cpu(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(idle) = c.idle() {
        write(dir, "cpu.idle", &idle.to_string())?;
    }
    let weight = cpu_shares_to_weight(c.shares().unwrap_or(0));
    if weight != 0 {
        write(dir, "cpu.weight", &weight.to_string())?;
    }
    let quota = c.quota().unwrap_or(0);
    let period = c.period().unwrap_or(0);
    // A burst above the current quota is refused (EINVAL): retry after cpu.max.
    let mut burst_later = None;
    if let Some(burst) = c.burst() {
        let value = burst.to_string();
        if let Err(e) = try_write(dir, "cpu.max.burst", &value) {
            if e.raw_os_error() != Some(libc::EINVAL) || quota == 0 {
                return Err(write_error(dir, "cpu.max.burst", &value, e));
            }
            burst_later = Some(value);
        }
    }
    if quota != 0 || period != 0 {
        let q = if quota > 0 {
            quota.to_string()
        } else {
            "max".to_string()
        };
        let p = if period == 0 { 100_000 } else { period };
        write(dir, "cpu.max", &format!("{q} {p}"))?;
        if let Some(b) = burst_later {
            write(dir, "cpu.max.burst", &b)?;
        }
    }
    Ok(())
}

/// `unified` key/values, written last so they override converted values.
/// Multi-line values are written one line per `write(2)`.
fn set_unified(
    dir: &Path,
    available: &Available,
    u: &std::collections::HashMap<String, String>,
) -> Result<()> {
    let mut keys: Vec<&String> = u.keys().collect();
    keys.sort();
    for key in keys {
        let controller = validate::unified_controller(key)?;
        let value = u.get(key).map(String::as_str).unwrap_or_default();
        for line in value.lines().filter(|l| !l.is_empty()) {
            if let Err(e) = try_write(dir, key, line) {
                let missing = matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
                );
                if missing && controller != "cgroup" && !available.has(controller) {
                    return Err(Error::UnifiedControllerUnavailable {
                        key: key.clone(),
                        controller: controller.to_string(),
                    });
                }
                return Err(write_error(dir, key, line, e));
            }
        }
    }
    Ok(())
}

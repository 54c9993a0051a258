//! Resource usage, serialised in the shape of the `data` of runc's
//! `events --stats` (`{"cpu":…,"memory":…,"pids":…,"blkio":…,"hugetlb":…}`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::fsutil::{self, keyed_values, parse_error};

/// Usage of one container's cgroup.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// CPU time and throttling.
    pub cpu: Cpu,
    /// The cpuset in force.
    pub cpuset: CpuSet,
    /// Memory usage and limits.
    pub memory: Memory,
    /// Task counts.
    pub pids: Pids,
    /// Block I/O counters.
    pub blkio: Blkio,
    /// Huge page usage per page size (`2MB`, ...).
    pub hugetlb: BTreeMap<String, Hugetlb>,
}

/// Huge page usage for one page size.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Hugetlb {
    /// Bytes in use.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak bytes (v1 only).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max: u64,
    /// Allocations that hit the limit.
    pub failcnt: u64,
}

/// One block I/O counter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlkioEntry {
    /// Device major number.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub major: u64,
    /// Device minor number.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub minor: u64,
    /// `Read`, `Write`, `Sync`, `Async`, `Total`, ...
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub op: String,
    /// The counter.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub value: u64,
}

/// Block I/O counters (recursive over the container's sub-cgroups).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blkio {
    /// Bytes transferred.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    /// I/O operations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
    /// Queued operations (v1 CFQ/BFQ only).
    #[serde(
        rename = "ioQueueRecursive",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_queued_recursive: Vec<BlkioEntry>,
    /// Service time (v1 CFQ/BFQ only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_service_time_recursive: Vec<BlkioEntry>,
    /// Wait time (v1 CFQ/BFQ only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_wait_time_recursive: Vec<BlkioEntry>,
    /// Merged operations (v1 CFQ/BFQ only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_merged_recursive: Vec<BlkioEntry>,
    /// Disk time (v1 CFQ/BFQ only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_time_recursive: Vec<BlkioEntry>,
    /// Sectors (v1 CFQ/BFQ only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sectors_recursive: Vec<BlkioEntry>,
}

/// Task counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pids {
    /// Tasks in the cgroup.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub current: u64,
    /// `pids.max`; 0 when unlimited.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: u64,
}

/// CFS bandwidth throttling.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Throttling {
    /// Elapsed enforcement periods.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub periods: u64,
    /// Periods in which the cgroup was throttled.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    /// Total throttled time, nanoseconds.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

/// CPU time, nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuUsage {
    /// Total CPU time.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub total: u64,
    /// Per CPU (v1 only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    /// Per CPU in kernel mode (v1 only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    /// Per CPU in user mode (v1 only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    /// Time in kernel mode.
    pub kernel: u64,
    /// Time in user mode.
    pub user: u64,
}

/// CPU statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cpu {
    /// Usage.
    pub usage: CpuUsage,
    /// Throttling.
    pub throttling: Throttling,
}

/// The cpuset in force.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuSet {
    /// Allowed CPUs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u16>,
    /// Allowed memory nodes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mems: Vec<u16>,
}

/// Usage, peak, limit and failure count of one memory counter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryEntry {
    /// The limit (`u64::MAX` when unlimited).
    pub limit: u64,
    /// Current usage.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak usage.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max: u64,
    /// Times the limit was hit.
    pub failcnt: u64,
}

/// Memory statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    /// Page cache.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache: u64,
    /// Memory.
    pub usage: MemoryEntry,
    /// Memory+swap on v1, swap alone on v2 (as runc reports).
    pub swap: MemoryEntry,
    /// Kernel memory (v1).
    pub kernel: MemoryEntry,
    /// Kernel TCP buffers (v1).
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// Every counter of `memory.stat`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Expands a cpuset list (`0-2,5`) into its members.
pub(crate) fn parse_cpuset_list(path: &Path, text: &str) -> Result<Vec<u16>> {
    let mut out = Vec::new();
    for item in text.trim().split(',').filter(|s| !s.is_empty()) {
        let num = |s: &str| s.parse::<u16>().map_err(|_| parse_error(path, text));
        match item.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(parse_error(path, text));
                }
                out.extend(a..=b);
            }
            None => out.push(num(item)?),
        }
    }
    Ok(out)
}

/// v1 `blkio.*` lines: `maj:min Op value` or `maj:min value`; `Total v` skipped.
pub(crate) fn parse_blkio_v1(path: &Path, text: &str) -> Result<Vec<BlkioEntry>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split([' ', ':']).filter(|s| !s.is_empty()).collect();
        let num = |s: &str| s.parse::<u64>().map_err(|_| parse_error(path, line));
        match fields.as_slice() {
            [] | ["Total", _] => {}
            [maj, min, value] => out.push(BlkioEntry {
                major: num(maj)?,
                minor: num(min)?,
                op: String::new(),
                value: num(value)?,
            }),
            [maj, min, op, value] => out.push(BlkioEntry {
                major: num(maj)?,
                minor: num(min)?,
                op: (*op).to_string(),
                value: num(value)?,
            }),
            _ => return Err(parse_error(path, line)),
        }
    }
    Ok(out)
}

/// v2 `io.stat`: `maj:min rbytes=… wbytes=… rios=… wios=… …`.
pub(crate) fn parse_io_stat(path: &Path, text: &str) -> Result<Blkio> {
    let mut blkio = Blkio::default();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let Some((maj, min)) = it.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let num = |s: &str| s.parse::<u64>().map_err(|_| parse_error(path, line));
        let (major, minor) = (num(maj)?, num(min)?);
        for kv in it {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let (op, table) = match k {
                "rbytes" => ("Read", &mut blkio.io_service_bytes_recursive),
                "wbytes" => ("Write", &mut blkio.io_service_bytes_recursive),
                "rios" => ("Read", &mut blkio.io_serviced_recursive),
                "wios" => ("Write", &mut blkio.io_serviced_recursive),
                _ => continue,
            };
            table.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value: num(v)?,
            });
        }
    }
    Ok(blkio)
}

/// Nanoseconds per USER_HZ tick, for `cpuacct.stat`.
fn nanos_per_tick() -> u64 {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        Ok(Some(hz)) if hz > 0 => 1_000_000_000 / u64::try_from(hz).unwrap_or(100),
        _ => 10_000_000,
    }
}

fn memory_entry_v1(dir: &Path, prefix: &str) -> Result<Option<MemoryEntry>> {
    let Some(usage) = fsutil::read_u64_opt(dir, &format!("{prefix}.usage_in_bytes"))? else {
        return Ok(None);
    };
    Ok(Some(MemoryEntry {
        usage,
        max: fsutil::read_u64_opt(dir, &format!("{prefix}.max_usage_in_bytes"))?.unwrap_or(0),
        failcnt: fsutil::read_u64_opt(dir, &format!("{prefix}.failcnt"))?.unwrap_or(0),
        limit: fsutil::read_u64_opt(dir, &format!("{prefix}.limit_in_bytes"))?.unwrap_or(0),
    }))
}

/// v1 memory controller statistics.
pub(crate) fn memory_v1(dir: &Path, out: &mut Memory) -> Result<()> {
    if let Some(text) = fsutil::read_opt(dir, "memory.stat")? {
        out.raw = keyed_values(&text)
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        out.cache = out.raw.get("cache").copied().unwrap_or(0);
    }
    out.usage = memory_entry_v1(dir, "memory")?.unwrap_or_default();
    out.swap = memory_entry_v1(dir, "memory.memsw")?.unwrap_or_default();
    out.kernel = memory_entry_v1(dir, "memory.kmem")?.unwrap_or_default();
    out.kernel_tcp = memory_entry_v1(dir, "memory.kmem.tcp")?.unwrap_or_default();
    Ok(())
}

/// v1 `cpuacct` statistics.
pub(crate) fn cpuacct_v1(dir: &Path, out: &mut CpuUsage) -> Result<()> {
    out.total = fsutil::read_u64_opt(dir, "cpuacct.usage")?.unwrap_or(0);
    let per_cpu = |file: &str| -> Result<Vec<u64>> {
        let path = dir.join(file);
        let Some(text) = fsutil::read_opt(dir, file)? else {
            return Ok(Vec::new());
        };
        text.split_whitespace()
            .map(|v| v.parse::<u64>().map_err(|_| parse_error(&path, v)))
            .collect()
    };
    out.percpu = per_cpu("cpuacct.usage_percpu")?;
    out.percpu_kernel = per_cpu("cpuacct.usage_percpu_sys")?;
    out.percpu_user = per_cpu("cpuacct.usage_percpu_user")?;
    if let Some(text) = fsutil::read_opt(dir, "cpuacct.stat")? {
        let tick = nanos_per_tick();
        for (k, v) in keyed_values(&text) {
            match k {
                "user" => out.user = v * tick,
                "system" => out.kernel = v * tick,
                _ => {}
            }
        }
    }
    Ok(())
}

/// `cpu.stat` throttling counters; v1 reports nanoseconds, v2 microseconds.
pub(crate) fn cpu_stat(dir: &Path, cpu: &mut Cpu, v2: bool) -> Result<()> {
    let Some(text) = fsutil::read_opt(dir, "cpu.stat")? else {
        return Ok(());
    };
    for (k, v) in keyed_values(&text) {
        match (k, v2) {
            ("nr_periods", _) => cpu.throttling.periods = v,
            ("nr_throttled", _) => cpu.throttling.throttled_periods = v,
            ("throttled_time", false) => cpu.throttling.throttled_time = v,
            ("throttled_usec", true) => cpu.throttling.throttled_time = v * 1000,
            ("usage_usec", true) => cpu.usage.total = v * 1000,
            ("user_usec", true) => cpu.usage.user = v * 1000,
            ("system_usec", true) => cpu.usage.kernel = v * 1000,
            _ => {}
        }
    }
    Ok(())
}

/// `pids.current` and `pids.max` (max → 0, as runc reports "unlimited").
pub(crate) fn pids(dir: &Path, out: &mut Pids) -> Result<()> {
    if let Some(current) = fsutil::read_u64_opt(dir, "pids.current")? {
        out.current = current;
        let max = fsutil::read_u64(dir, "pids.max")?;
        out.limit = if max == u64::MAX { 0 } else { max };
    } else if dir.join("cgroup.procs").exists() {
        out.current = fsutil::read_procs(dir)?.len() as u64;
    }
    Ok(())
}

/// v1 blkio counters: the first family whose files exist (BFQ, CFQ, throttle).
pub(crate) fn blkio_v1(dir: &Path, out: &mut Blkio) -> Result<()> {
    let families: [[&str; 2]; 4] = [
        [
            "blkio.bfq.io_service_bytes_recursive",
            "blkio.bfq.io_serviced_recursive",
        ],
        [
            "blkio.io_service_bytes_recursive",
            "blkio.io_serviced_recursive",
        ],
        [
            "blkio.throttle.io_service_bytes_recursive",
            "blkio.throttle.io_serviced_recursive",
        ],
        [
            "blkio.throttle.io_service_bytes",
            "blkio.throttle.io_serviced",
        ],
    ];
    for [bytes, ios] in families {
        let Some(b) = fsutil::read_opt(dir, bytes)? else {
            continue;
        };
        let parsed = parse_blkio_v1(&dir.join(bytes), &b)?;
        if parsed.is_empty() && bytes != families[3][0] {
            continue;
        }
        out.io_service_bytes_recursive = parsed;
        if let Some(i) = fsutil::read_opt(dir, ios)? {
            out.io_serviced_recursive = parse_blkio_v1(&dir.join(ios), &i)?;
        }
        return Ok(());
    }
    Ok(())
}

/// The page sizes the kernel supports, named as in `hugetlb.<size>.*` files.
pub(crate) fn huge_page_sizes() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/sys/kernel/mm/hugepages") else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let kb: u64 = name
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            Some(match kb {
                k if k >= 1 << 20 => format!("{}GB", k >> 20),
                k if k >= 1 << 10 => format!("{}MB", k >> 10),
                k => format!("{k}KB"),
            })
        })
        .collect();
    out.sort();
    out
}

/// hugetlb usage for every page size whose files exist in `dir`.
pub(crate) fn hugetlb(dir: &Path, v2: bool, out: &mut BTreeMap<String, Hugetlb>) -> Result<()> {
    for size in huge_page_sizes() {
        let p = format!("hugetlb.{size}");
        let entry = if v2 {
            let Some(usage) = fsutil::read_u64_opt(dir, &format!("{p}.current"))? else {
                continue;
            };
            let events = fsutil::read_opt(dir, &format!("{p}.events"))?.unwrap_or_default();
            let failcnt =
                fsutil::keyed_value(&dir.join(format!("{p}.events")), &events, "max")?.unwrap_or(0);
            Hugetlb {
                usage,
                max: 0,
                failcnt,
            }
        } else {
            let Some(usage) = fsutil::read_u64_opt(dir, &format!("{p}.usage_in_bytes"))? else {
                continue;
            };
            Hugetlb {
                usage,
                max: fsutil::read_u64_opt(dir, &format!("{p}.max_usage_in_bytes"))?.unwrap_or(0),
                failcnt: fsutil::read_u64_opt(dir, &format!("{p}.failcnt"))?.unwrap_or(0),
            }
        };
        out.insert(size, entry);
    }
    Ok(())
}

/// v2 memory statistics: `memory.stat`, `memory.current`/`max`/`peak`, swap.
pub(crate) fn memory_v2(dir: &Path, out: &mut Memory) -> Result<()> {
    if let Some(text) = fsutil::read_opt(dir, "memory.stat")? {
        out.raw = keyed_values(&text)
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        out.cache = out.raw.get("file").copied().unwrap_or(0);
    }
    let events = |file: &str| -> Result<u64> {
        let text = fsutil::read_opt(dir, file)?.unwrap_or_default();
        Ok(fsutil::keyed_value(&dir.join(file), &text, "max")?.unwrap_or(0))
    };
    if let Some(usage) = fsutil::read_u64_opt(dir, "memory.current")? {
        out.usage = MemoryEntry {
            usage,
            max: fsutil::read_u64_opt(dir, "memory.peak")?.unwrap_or(0),
            limit: fsutil::read_u64_opt(dir, "memory.max")?.unwrap_or(u64::MAX),
            failcnt: events("memory.events")?,
        };
    }
    if let Some(usage) = fsutil::read_u64_opt(dir, "memory.swap.current")? {
        out.swap = MemoryEntry {
            usage,
            max: fsutil::read_u64_opt(dir, "memory.swap.peak")?.unwrap_or(0),
            limit: fsutil::read_u64_opt(dir, "memory.swap.max")?.unwrap_or(u64::MAX),
            failcnt: events("memory.swap.events")?,
        };
    }
    Ok(())
}

/// cpuset lists from `cpuset.cpus`/`cpuset.mems` (v2: the effective ones).
pub(crate) fn cpuset(dir: &Path, v2: bool, out: &mut CpuSet) -> Result<()> {
    let (cpus, mems) = if v2 {
        ("cpuset.cpus.effective", "cpuset.mems.effective")
    } else {
        ("cpuset.cpus", "cpuset.mems")
    };
    if let Some(t) = fsutil::read_opt(dir, cpus)? {
        out.cpus = parse_cpuset_list(&dir.join(cpus), &t)?;
    }
    if let Some(t) = fsutil::read_opt(dir, mems)? {
        out.mems = parse_cpuset_list(&dir.join(mems), &t)?;
    }
    Ok(())
}

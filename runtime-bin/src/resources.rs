//! `update`, `ps` and `events` output, shaped as runc's.

use std::io::Read;
use std::time::Duration;

use gorae_core::oci_spec;
use gorae_core::{OomEvent, Runtime};
use serde_json::{Map, Value, json};

/// runc's `update` flags.
#[derive(clap::Args, Debug, Default)]
pub struct UpdateFlags {
    /// JSON file with the new resources (`-` for stdin).
    #[arg(short = 'r', long)]
    pub resources: Option<String>,
    /// Block I/O weight (10-1000).
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    /// CPU CFS period in microseconds.
    #[arg(long)]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota in microseconds.
    #[arg(long)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight).
    #[arg(long)]
    pub cpu_share: Option<u64>,
    /// CPU realtime period in microseconds.
    #[arg(long)]
    pub cpu_rt_period: Option<u64>,
    /// CPU realtime runtime in microseconds.
    #[arg(long)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs the container may use (e.g. 0-3,7).
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the container may use.
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Memory limit (bytes, or with a k/m/g suffix).
    #[arg(long)]
    pub memory: Option<String>,
    /// Memory soft limit.
    #[arg(long)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit (-1 for unlimited).
    #[arg(long)]
    pub memory_swap: Option<String>,
    /// Kernel memory limit (ignored by recent kernels, as in runc).
    #[arg(long)]
    pub kernel_memory: Option<String>,
    /// Maximum number of pids (-1 for unlimited).
    #[arg(long)]
    pub pids_limit: Option<i64>,
}

/// Parses `1024`, `512k`, `64m`, `1g` (and `-1`) into bytes.
fn bytes(raw: &str, flag: &str) -> Result<i64, String> {
    let lower = raw.trim().to_ascii_lowercase();
    let (num, unit) = match lower.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => lower.split_at(i),
        None => (lower.as_str(), ""),
    };
    let mult: i64 = match unit.trim_end_matches('b') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return Err(format!("invalid value for --{flag}: {raw:?}")),
    };
    num.parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("invalid value for --{flag}: {raw:?}"))
}

/// The `LinuxResources` an `update` asks for: the `-r` JSON, then the flags
/// on top of it.
pub fn update_resources(flags: &UpdateFlags) -> Result<oci_spec::runtime::LinuxResources, String> {
    let mut r = match flags.resources.as_deref() {
        None => Value::Object(Map::new()),
        Some(path) => {
            // Stdin or a file, pipes included (`-r <(...)`), as on runc;
            // read up to the limit of a config.json, never without end.
            let limit = gorae_core::bundle::CONFIG_LIMIT;
            let (name, source): (&str, Box<dyn Read>) = match path {
                "-" => ("stdin", Box::new(std::io::stdin())),
                _ => {
                    let file =
                        std::fs::File::open(path).map_err(|e| format!("open {path}: {e}"))?;
                    (path, Box::new(file))
                }
            };
            let mut text = String::new();
            source
                .take(limit + 1)
                .read_to_string(&mut text)
                .map_err(|e| format!("read {name}: {e}"))?;
            if text.len() as u64 > limit {
                return Err(format!(
                    "{name} is larger than {limit} bytes ({} MiB), the limit for resources",
                    limit >> 20
                ));
            }
            serde_json::from_str(&text).map_err(|e| format!("parse resources: {e}"))?
        }
    };
    let mut set = |section: &str, key: &str, value: Value| {
        if let Some(obj) = r.as_object_mut() {
            let entry = obj.entry(section).or_insert_with(|| json!({}));
            if let Some(s) = entry.as_object_mut() {
                s.insert(key.to_owned(), value);
            }
        }
    };
    if let Some(v) = flags.blkio_weight {
        set("blockIO", "weight", json!(v));
    }
    let cpu = [
        ("period", flags.cpu_period.map(|v| json!(v))),
        ("quota", flags.cpu_quota.map(|v| json!(v))),
        ("shares", flags.cpu_share.map(|v| json!(v))),
        ("realtimePeriod", flags.cpu_rt_period.map(|v| json!(v))),
        ("realtimeRuntime", flags.cpu_rt_runtime.map(|v| json!(v))),
        ("cpus", flags.cpuset_cpus.clone().map(Value::String)),
        ("mems", flags.cpuset_mems.clone().map(Value::String)),
    ];
    for (key, value) in cpu {
        if let Some(v) = value {
            set("cpu", key, v);
        }
    }
    let memory = [
        ("limit", &flags.memory, "memory"),
        (
            "reservation",
            &flags.memory_reservation,
            "memory-reservation",
        ),
        ("swap", &flags.memory_swap, "memory-swap"),
        ("kernel", &flags.kernel_memory, "kernel-memory"),
    ];
    for (key, value, flag) in memory {
        if let Some(raw) = value {
            set("memory", key, json!(bytes(raw, flag)?));
        }
    }
    if let Some(v) = flags.pids_limit {
        set("pids", "limit", json!(v));
    }
    serde_json::from_value(r).map_err(|e| format!("invalid resources: {e}"))
}

/// `ps`: the pids as a JSON array, or `ps -ef` (or the given ps options)
/// filtered to the container's processes, as runc prints it.
pub fn ps(runtime: &Runtime, id: &str, format: &str, ps_args: &[String]) -> Result<(), String> {
    let pids = runtime.pids(id).map_err(|e| e.to_string())?;
    match format {
        "json" => {
            println!(
                "{}",
                serde_json::to_string(&pids).map_err(|e| e.to_string())?
            );
            Ok(())
        }
        "table" => {
            let args: Vec<String> = if ps_args.is_empty() {
                vec!["-ef".into()]
            } else {
                ps_args.to_vec()
            };
            let out = std::process::Command::new("ps")
                .args(&args)
                .output()
                .map_err(|e| format!("run ps: {e}"))?;
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            let column = header
                .split_whitespace()
                .position(|h| h == "PID")
                .ok_or_else(|| "ps output has no PID column".to_owned())?;
            println!("{header}");
            for line in lines {
                let pid = line
                    .split_whitespace()
                    .nth(column)
                    .and_then(|p| p.parse::<i32>().ok());
                if pid.is_some_and(|p| pids.contains(&p)) {
                    println!("{line}");
                }
            }
            Ok(())
        }
        other => Err(format!(
            "invalid format option {other:?}: use table or json"
        )),
    }
}

/// Parses runc's `--interval` (`5s`, `500ms`, `1m`, or seconds).
pub fn interval(raw: &str) -> Result<Duration, String> {
    let bad = || format!("invalid interval {raw:?}");
    let (num, unit) = raw
        .find(|c: char| c.is_ascii_alphabetic())
        .map_or((raw, "s"), |i| raw.split_at(i));
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(bad()),
    };
    if !(secs > 0.0 && secs.is_finite()) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `events`: one stats event with `--stats`; otherwise a stats event every
/// interval and an `oom` event for each OOM kill, until the container stops.
pub fn events(
    runtime: &Runtime,
    id: &str,
    stats_only: bool,
    every: Duration,
) -> Result<(), String> {
    let print_stats = || -> Result<(), String> {
        let data = runtime.stats(id).map_err(|e| e.to_string())?;
        println!("{}", json!({"type": "stats", "id": id, "data": data}));
        Ok(())
    };
    if stats_only {
        return print_stats();
    }
    let mut watcher = runtime.oom_events(id).map_err(|e| e.to_string())?;
    loop {
        match watcher.wait(Some(every)).map_err(|e| e.to_string())? {
            OomEvent::Oom => println!("{}", json!({"type": "oom", "id": id})),
            OomEvent::Gone => return Ok(()),
            OomEvent::Timeout => {
                if print_stats().is_err() {
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_and_intervals_parse_like_runc() {
        assert_eq!(bytes("1024", "m"), Ok(1024));
        assert_eq!(bytes("64m", "m"), Ok(64 << 20));
        assert_eq!(bytes("1G", "m"), Ok(1 << 30));
        assert_eq!(bytes("-1", "m"), Ok(-1));
        assert!(bytes("12x", "m").is_err());
        assert_eq!(interval("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(interval("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(interval("2"), Ok(Duration::from_secs(2)));
        assert!(interval("0s").is_err());
    }
}

//! The end of a run: every container any runtime still knows is deleted,
//! every process still inside the bench's bundles is killed, and the work
//! dir is removed. Then a check that nothing of ours is left: processes,
//! mounts, cgroups named with our id prefix (reported, never touched: the
//! runtimes own them).
#![forbid(unsafe_code)]

use std::fs;
use std::path::Path;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::Serialize;

use crate::invoke;
use crate::measure::{force_delete, reap_orphans};
use crate::runtime::Runtime;

/// What the cleanup did and found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cleanup {
    /// Containers still known to a runtime at the end, deleted by force.
    pub deleted: Vec<String>,
    /// What is left despite the cleanup (empty when clean).
    pub leftovers: Vec<String>,
}

/// Cleans up after the runtimes in `work` (their roots, bundles, scratch).
pub fn run(work: &Path, scratch: &Path, prefix: &str, runtimes: &[Runtime]) -> Cleanup {
    let mut report = Cleanup::default();
    for rt in runtimes.iter().filter(|rt| rt.is_oci()) {
        let listed = invoke::invoke(&rt.list_quiet(), scratch, "cleanup-list");
        for id in listed.map(|l| l.stdout).unwrap_or_default().lines() {
            let id = id.trim();
            if !id.is_empty() {
                force_delete(rt, id, scratch);
                report.deleted.push(format!("{} {id}", rt.name));
            }
        }
    }
    for pid in processes_rooted_in(work) {
        // A process whose root is inside our bundle is one of our containers.
        let _ = kill(pid, Signal::SIGKILL);
        report.leftovers.push(format!("process {pid} (killed)"));
    }
    reap_orphans();
    let mounts = mounts_under(work);
    report
        .leftovers
        .extend(mounts.iter().map(|m| format!("mount {m}")));
    report.leftovers.extend(
        cgroups_named(prefix)
            .into_iter()
            .map(|c| format!("cgroup {c}")),
    );
    if mounts.is_empty() {
        if let Err(e) = fs::remove_dir_all(work) {
            report
                .leftovers
                .push(format!("work dir {}: {e}", work.display()));
        }
    } else {
        report
            .leftovers
            .push(format!("work dir {} (kept: mounts inside)", work.display()));
    }
    report
}

/// Processes whose root directory lies under `dir`.
fn processes_rooted_in(dir: &Path) -> Vec<Pid> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            fs::read_link(format!("/proc/{pid}/root")).is_ok_and(|root| root.starts_with(dir))
        })
        .map(Pid::from_raw)
        .collect()
}

/// Mount points in our mount namespace under `dir`.
fn mounts_under(dir: &Path) -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split_whitespace().nth(4))
        .filter(|mount_point| Path::new(mount_point).starts_with(dir))
        .map(str::to_owned)
        .collect()
}

/// Cgroup directories whose name starts with `prefix`, in every hierarchy
/// (four levels deep at most).
fn cgroups_named(prefix: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![(Path::new("/sys/fs/cgroup").to_path_buf(), 0)];
    while let Some((dir, depth)) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if !is_dir {
                continue;
            }
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with(prefix) {
                found.push(path.display().to_string());
            } else if depth < 4 {
                pending.push((path, depth + 1));
            }
        }
    }
    found
}

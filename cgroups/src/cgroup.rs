//! A container's cgroup across every hierarchy it uses: create, place,
//! limit, freeze, kill, observe, destroy.

use std::collections::BTreeSet;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, Warning};
use crate::fsutil::{self, write};
use crate::hierarchy::Hierarchy;
use crate::path::CgroupPath;
use crate::stats::{self, Stats};
use crate::v1::{self, V1Dirs};
use crate::v2;
use crate::validate::{self, Available};

/// Which freezer `freeze`/`thaw` drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FreezerKind {
    /// The v1 `freezer` controller (`freezer.state`).
    V1,
    /// cgroup v2 `cgroup.freeze`, also usable on hybrid hosts.
    V2,
}

/// How long `freeze` and `thaw` wait for the kernel.
const WAIT_LIMIT: Duration = Duration::from_secs(5);

/// How long `destroy` retries `rmdir` while the kernel says busy (exiting
/// processes still being reaped).
const RMDIR_LIMIT: Duration = Duration::from_secs(2);

/// A container's cgroup: its directory in each v1 hierarchy and/or in the
/// unified hierarchy, and which of those directories gorae created (only
/// those are removed by [`Cgroup::destroy`]).
///
/// It is `Serialize`/`Deserialize` so the runtime can keep it in its state
/// and rebuild it in later commands with exact ownership information;
/// [`Cgroup::open`] rebuilds it from the path alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cgroup {
    v1: V1Dirs,
    unified: Option<PathBuf>,
    v2_resources: bool,
    created: Vec<PathBuf>,
    freezer: Option<FreezerKind>,
}

impl Cgroup {
    /// Creates the container's cgroup in every hierarchy and applies
    /// `resources`. Everything that can be refused is refused before the
    /// first `mkdir`; if applying fails, the directories created here are
    /// removed again. Returns the warnings of [`Cgroup::apply`].
    pub fn create(
        hierarchy: &Hierarchy,
        path: &CgroupPath,
        resources: Option<&LinuxResources>,
    ) -> Result<(Self, Vec<Warning>)> {
        path.check_supported()?;
        if let Some(r) = resources {
            validate::validate_on(hierarchy, r, path)?;
        }
        let mut cgroup = Self::layout(hierarchy, path)?;
        if let Err(e) = cgroup.make_dirs(hierarchy, path) {
            cgroup.remove_created();
            return Err(e);
        }
        cgroup.freezer = cgroup.default_freezer();
        let warnings = match resources.map(|r| cgroup.apply(r)).transpose() {
            Ok(w) => w.unwrap_or_default(),
            Err(e) => {
                cgroup.remove_created();
                return Err(e);
            }
        };
        Ok((cgroup, warnings))
    }

    /// Opens an existing container cgroup (for `state`, `kill`, `pause`,
    /// `delete`, ...). The container's own directories count as created by
    /// gorae, their parents do not.
    pub fn open(hierarchy: &Hierarchy, path: &CgroupPath) -> Result<Self> {
        let mut cgroup = Self::layout(hierarchy, path)?;
        let first = cgroup.dirs().into_iter().next();
        cgroup.v1.retain(|_, d| d.is_dir());
        if cgroup.unified.as_ref().is_some_and(|u| !u.is_dir()) {
            cgroup.unified = None;
        }
        let dirs = cgroup.dirs();
        if dirs.is_empty() {
            return Err(Error::NotFound {
                path: first.unwrap_or_default(),
            });
        }
        cgroup.created = dirs;
        cgroup.freezer = cgroup.default_freezer();
        Ok(cgroup)
    }

    /// Uses `kind` for `freeze`/`thaw`/`is_frozen` (by default the v1
    /// freezer where it exists, as runc does, else `cgroup.freeze`).
    pub fn with_freezer(mut self, kind: FreezerKind) -> Result<Self> {
        let ok = match kind {
            FreezerKind::V1 => self.v1.contains_key("freezer"),
            FreezerKind::V2 => self
                .unified
                .as_ref()
                .is_some_and(|u| u.join("cgroup.freeze").exists()),
        };
        if !ok {
            return Err(Error::FreezerUnavailable { kind });
        }
        self.freezer = Some(kind);
        Ok(self)
    }

    /// The freezer in use, if any.
    pub fn freezer(&self) -> Option<FreezerKind> {
        self.freezer
    }

    /// The container's directory in each v1 hierarchy, keyed by controller.
    pub fn v1_dirs(&self) -> &V1Dirs {
        &self.v1
    }

    /// The container's directory in the unified hierarchy.
    pub fn unified_dir(&self) -> Option<&Path> {
        self.unified.as_deref()
    }

    /// Every directory of the container, each once (v1 first, then unified).
    pub fn dirs(&self) -> Vec<PathBuf> {
        let mut seen = BTreeSet::new();
        let v1 = self
            .v1
            .values()
            .filter(|d| seen.insert((*d).clone()))
            .cloned();
        v1.chain(self.unified.iter().cloned()).collect()
    }

    /// An fd of the v2 directory for `clone3(CLONE_INTO_CGROUP)`, on pure v2
    /// hosts only (on hybrid hosts the v1 controllers still need
    /// [`Cgroup::add_pid`]).
    pub fn v2_dir_fd(&self) -> Result<Option<OwnedFd>> {
        let Some(dir) = self.unified.as_ref().filter(|_| self.v2_resources) else {
            return Ok(None);
        };
        let file = File::open(dir).map_err(|source| Error::Read {
            path: dir.clone(),
            source,
        })?;
        Ok(Some(OwnedFd::from(file)))
    }

    /// Moves process `pid` into the cgroup in every hierarchy.
    pub fn add_pid(&self, pid: i32) -> Result<()> {
        for dir in self.dirs() {
            write(&dir, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    /// Applies `resources` (also for `update`). Returns what was skipped.
    pub fn apply(&self, resources: &LinuxResources) -> Result<Vec<Warning>> {
        match (&self.unified, self.v2_resources) {
            (Some(dir), true) => {
                let text = fsutil::read(dir, "cgroup.controllers")?;
                let available = Available::from_list(text.split_whitespace());
                v2::apply(dir, &available, resources)
            }
            _ => {
                let has_unified = resources.unified().as_ref().is_some_and(|u| !u.is_empty());
                if has_unified {
                    return Err(Error::UnifiedOnV1);
                }
                v1::apply(&self.v1, resources)
            }
        }
    }

    /// Freezes every process of the cgroup and waits until the kernel says
    /// it is frozen.
    pub fn freeze(&self) -> Result<()> {
        match self.freezer_or_err()? {
            (FreezerKind::V1, dir) => freeze_v1(dir),
            (FreezerKind::V2, dir) => set_v2_frozen(dir, true),
        }
    }

    /// Thaws the cgroup.
    pub fn thaw(&self) -> Result<()> {
        match self.freezer_or_err()? {
            (FreezerKind::V1, dir) => write(dir, "freezer.state", "THAWED"),
            (FreezerKind::V2, dir) => set_v2_frozen(dir, false),
        }
    }

    /// Whether the cgroup is completely frozen.
    pub fn is_frozen(&self) -> Result<bool> {
        match self.freezer_or_err()? {
            (FreezerKind::V1, dir) => Ok(fsutil::read(dir, "freezer.state")?.trim() == "FROZEN"),
            (FreezerKind::V2, dir) => v2_events_frozen(dir),
        }
    }

    /// Every process in the cgroup and its sub-cgroups.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let Some(dir) = self.main_dir() else {
            return Ok(Vec::new());
        };
        let mut pids = fsutil::read_procs(dir)?;
        for child in fsutil::child_cgroups_post_order(dir)? {
            match fsutil::read_procs(&child) {
                Ok(p) => pids.extend(p),
                Err(Error::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(pids)
    }

    /// Sends `signal` to every process. `SIGKILL` uses `cgroup.kill` where
    /// the unified hierarchy has it; otherwise the cgroup is frozen, each
    /// process signalled, and thawed again. A paused cgroup stays frozen,
    /// except for `SIGKILL`, which needs the processes thawed to die.
    pub fn kill_all(&self, signal: i32) -> Result<()> {
        let sig = Signal::try_from(signal).map_err(|_| Error::InvalidSignal { signal })?;
        if sig == Signal::SIGKILL
            && let Some(dir) = self
                .unified
                .as_ref()
                .filter(|d| d.join("cgroup.kill").exists())
        {
            write(dir, "cgroup.kill", "1")?;
            // A task stopped by the v1 freezer acts on SIGKILL only once thawed
            // (v2 frozen tasks die at once).
            if self.freezer == Some(FreezerKind::V1) {
                self.thaw()?;
            }
            return Ok(());
        }
        let was_frozen = self.freezer.is_some() && self.is_frozen()?;
        if self.freezer.is_some() && !was_frozen {
            self.freeze()?;
        }
        let result = self.signal_each(sig);
        if self.freezer.is_some() && (!was_frozen || sig == Signal::SIGKILL) {
            self.thaw()?;
        }
        result
    }

    fn signal_each(&self, sig: Signal) -> Result<()> {
        for pid in self.pids()? {
            match kill(Pid::from_raw(pid), sig) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                Err(source) => {
                    return Err(Error::Signal {
                        pid,
                        signal: sig as i32,
                        source,
                    });
                }
            }
        }
        Ok(())
    }

    /// Resource usage, in the shape of runc's `events --stats`.
    pub fn stats(&self) -> Result<Stats> {
        let mut s = Stats::default();
        if let (Some(dir), true) = (&self.unified, self.v2_resources) {
            stats::pids(dir, &mut s.pids)?;
            stats::memory_v2(dir, &mut s.memory)?;
            stats::cpu_stat(dir, &mut s.cpu, true)?;
            if let Some(text) = fsutil::read_opt(dir, "io.stat")? {
                s.blkio = stats::parse_io_stat(&dir.join("io.stat"), &text)?;
            }
            stats::hugetlb(dir, true, &mut s.hugetlb)?;
            stats::cpuset(dir, true, &mut s.cpuset)?;
            return Ok(s);
        }
        let dir = |c: &str| self.v1.get(c);
        if let Some(d) = dir("pids") {
            stats::pids(d, &mut s.pids)?;
        }
        if let Some(d) = dir("memory") {
            stats::memory_v1(d, &mut s.memory)?;
        }
        if let Some(d) = dir("cpuacct") {
            stats::cpuacct_v1(d, &mut s.cpu.usage)?;
        }
        if let Some(d) = dir("cpu") {
            stats::cpu_stat(d, &mut s.cpu, false)?;
        }
        if let Some(d) = dir("blkio") {
            stats::blkio_v1(d, &mut s.blkio)?;
        }
        if let Some(d) = dir("hugetlb") {
            stats::hugetlb(d, false, &mut s.hugetlb)?;
        }
        if let Some(d) = dir("cpuset") {
            stats::cpuset(d, false, &mut s.cpuset)?;
        }
        Ok(s)
    }

    /// Removes the cgroup: each container directory gorae created (with the
    /// sub-cgroups the container made in it), retrying while the kernel
    /// reports it busy, then the parents gorae created if they are empty.
    /// Directories gorae did not create are left alone. Call it once the
    /// processes are gone (`kill_all(SIGKILL)` and reaping); a cgroup that
    /// still holds processes stays busy and the error says so.
    pub fn destroy(&self) -> Result<()> {
        let leaves: Vec<PathBuf> = self
            .dirs()
            .into_iter()
            .filter(|d| self.created.contains(d))
            .collect();
        for leaf in &leaves {
            // Usually the container made no sub-cgroups and its processes
            // are gone: one rmdir. A busy leaf is looked into.
            match std::fs::remove_dir(leaf) {
                Ok(()) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(_) => {}
            }
            for child in fsutil::child_cgroups_post_order(leaf)? {
                rmdir_retrying(&child)?;
            }
            rmdir_retrying(leaf)?;
        }
        for dir in self.created.iter().rev().filter(|d| !leaves.contains(d)) {
            // Shared parents (`/gorae`) may hold other containers: leave them then.
            let _ = std::fs::remove_dir(dir);
        }
        Ok(())
    }

    /// The directory used to list processes: the unified one if any (it is
    /// joined on hybrid hosts too), else a v1 one.
    pub(crate) fn main_dir(&self) -> Option<&Path> {
        if let Some(u) = &self.unified {
            return Some(u);
        }
        ["freezer", "pids", "devices", "memory", "cpu"]
            .iter()
            .find_map(|c| self.v1.get(*c))
            .or_else(|| self.v1.values().next())
            .map(PathBuf::as_path)
    }

    fn layout(hierarchy: &Hierarchy, path: &CgroupPath) -> Result<Self> {
        let mut v1 = V1Dirs::new();
        for mount in hierarchy.v1_mounts() {
            let dir = path.v1_dir(mount)?;
            for c in &mount.controllers {
                v1.insert(c.clone(), dir.clone());
            }
        }
        let unified = hierarchy
            .unified()
            .map(|u| path.unified_dir(u))
            .transpose()?;
        Ok(Cgroup {
            v1,
            unified,
            v2_resources: hierarchy.is_v2(),
            created: Vec::new(),
            freezer: None,
        })
    }

    fn make_dirs(&mut self, hierarchy: &Hierarchy, path: &CgroupPath) -> Result<()> {
        for mount in hierarchy.v1_mounts() {
            let dir = path.v1_dir(mount)?;
            let cpuset = mount.has("cpuset");
            let after = |new: &Path| match cpuset {
                true => v1::cpuset_copy_from_parent(new),
                false => Ok(()),
            };
            mkdir_walk(
                &mount.mount_point,
                &dir,
                &mut self.created,
                None::<fn(&Path) -> Result<()>>,
                after,
            )?;
        }
        if let Some(u) = hierarchy.unified() {
            let dir = path.unified_dir(u)?;
            // On cgroup v2 every ancestor must delegate its controllers.
            let before = hierarchy.is_v2().then_some(enable_controllers);
            mkdir_walk(&u.mount_point, &dir, &mut self.created, before, |_| Ok(()))?;
        }
        Ok(())
    }

    fn remove_created(&self) {
        for dir in self.created.iter().rev() {
            let _ = rmdir_retrying(dir);
        }
    }

    fn default_freezer(&self) -> Option<FreezerKind> {
        if self.v1.contains_key("freezer") {
            Some(FreezerKind::V1)
        } else if self
            .unified
            .as_ref()
            .is_some_and(|u| u.join("cgroup.freeze").exists())
        {
            Some(FreezerKind::V2)
        } else {
            None
        }
    }

    fn freezer_or_err(&self) -> Result<(FreezerKind, &Path)> {
        let dir = match self.freezer {
            Some(FreezerKind::V1) => self.v1.get("freezer"),
            Some(FreezerKind::V2) => self.unified.as_ref(),
            None => None,
        };
        match (self.freezer, dir) {
            (Some(kind), Some(dir)) => Ok((kind, dir)),
            _ => Err(Error::NoFreezer {
                path: self.dirs().into_iter().next().unwrap_or_default(),
            }),
        }
    }
}

/// Creates `dir` and any missing parents below `base`, recording those it
/// created. `before(parent)`, if given, runs on each ancestor on the way
/// down (v2 enables controllers there), `after(new)` on each directory
/// created. Without `before`, `dir` is created with one `mkdir` when its
/// parent exists (the usual case: other containers share it), else by the
/// walk. A parent removed under our feet (another container's `destroy`
/// taking a shared, now empty parent) makes the walk start again, a few
/// times.
fn mkdir_walk(
    base: &Path,
    dir: &Path,
    created: &mut Vec<PathBuf>,
    mut before: Option<impl FnMut(&Path) -> Result<()>>,
    mut after: impl FnMut(&Path) -> Result<()>,
) -> Result<()> {
    if before.is_none() {
        match std::fs::create_dir(dir) {
            Ok(()) => {
                created.push(dir.to_path_buf());
                return after(dir);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(Error::Mkdir {
                    path: dir.to_path_buf(),
                    source,
                });
            }
        }
    }
    let rel = dir.strip_prefix(base).unwrap_or(dir);
    let mut attempts = 0;
    'walk: loop {
        let mut cur = base.to_path_buf();
        for comp in rel.components() {
            if let Some(before) = before.as_mut() {
                before(&cur)?;
            }
            cur.push(comp);
            if cur.is_dir() {
                continue;
            }
            match std::fs::create_dir(&cur) {
                Ok(()) => {
                    created.push(cur.clone());
                    after(&cur)?;
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound && attempts < 3 => {
                    attempts += 1;
                    continue 'walk;
                }
                Err(source) => return Err(Error::Mkdir { path: cur, source }),
            }
        }
        return Ok(());
    }
}

/// Enables in `dir/cgroup.subtree_control` every controller of
/// `dir/cgroup.controllers` not yet enabled; writes nothing if all are.
fn enable_controllers(dir: &Path) -> Result<()> {
    let available = fsutil::read_opt(dir, "cgroup.controllers")?.unwrap_or_default();
    let enabled = fsutil::read_opt(dir, "cgroup.subtree_control")?.unwrap_or_default();
    let enabled: BTreeSet<&str> = enabled.split_whitespace().collect();
    let missing: Vec<String> = available
        .split_whitespace()
        .filter(|c| !enabled.contains(c))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if write(dir, "cgroup.subtree_control", &missing.join(" ")).is_err() {
        // Some controllers cannot be enabled (e.g. cpu with RT tasks): take what we can.
        for c in &missing {
            let _ = write(dir, "cgroup.subtree_control", c);
        }
    }
    Ok(())
}

/// `rmdir`, retrying on `EBUSY` (processes still exiting) for a bounded
/// time; a missing directory is fine.
fn rmdir_retrying(dir: &Path) -> Result<()> {
    let start = Instant::now();
    let mut delay = Duration::from_millis(1);
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && start.elapsed() < RMDIR_LIMIT => {
                sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(100));
            }
            Err(source) => {
                return Err(Error::Rmdir {
                    path: dir.to_path_buf(),
                    source,
                });
            }
        }
    }
}

/// v1: write `FROZEN` and wait until `freezer.state` reads `FROZEN`
/// (it reads `FREEZING` while tasks are still being stopped). The request is
/// renewed now and then, as a task forked mid-freeze can hold it up.
fn freeze_v1(dir: &Path) -> Result<()> {
    let start = Instant::now();
    let mut rounds = 0u32;
    loop {
        if rounds % 50 == 0 {
            write(dir, "freezer.state", "FROZEN")?;
        }
        if fsutil::read(dir, "freezer.state")?.trim() == "FROZEN" {
            return Ok(());
        }
        if start.elapsed() > WAIT_LIMIT {
            let _ = write(dir, "freezer.state", "THAWED");
            return Err(Error::FreezeTimeout {
                path: dir.join("freezer.state"),
                millis: WAIT_LIMIT.as_millis() as u64,
            });
        }
        rounds += 1;
        sleep(Duration::from_millis(if rounds < 10 { 1 } else { 10 }));
    }
}

fn v2_events_frozen(dir: &Path) -> Result<bool> {
    let path = dir.join("cgroup.events");
    let text = fsutil::read_path(&path)?;
    Ok(fsutil::keyed_value(&path, &text, "frozen")? == Some(1))
}

/// v2: write `cgroup.freeze` and wait until `cgroup.events` agrees.
fn set_v2_frozen(dir: &Path, frozen: bool) -> Result<()> {
    write(dir, "cgroup.freeze", if frozen { "1" } else { "0" })?;
    let start = Instant::now();
    while v2_events_frozen(dir)? != frozen {
        if start.elapsed() > WAIT_LIMIT {
            if frozen {
                let _ = write(dir, "cgroup.freeze", "0");
            }
            return Err(Error::FreezeTimeout {
                path: dir.join("cgroup.freeze"),
                millis: WAIT_LIMIT.as_millis() as u64,
            });
        }
        sleep(Duration::from_millis(1));
    }
    Ok(())
}

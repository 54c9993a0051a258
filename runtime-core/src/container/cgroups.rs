//! The container's cgroup as the lifecycle uses it: its default path and
//! its removal.

use std::path::Path;
use std::time::{Duration, Instant};

use gorae_cgroups::{Cgroup, CgroupPath};

use crate::error::Result;

/// How long `remove` keeps killing what is left in the cgroup.
const DRAIN: Duration = Duration::from_secs(5);

/// The cgroup path of a container whose config gives none:
/// `/gorae/<tag>/<id>`, the tag naming the state root, so that two state
/// roots holding the same id (two engines, parallel tests) never share a
/// cgroup. runc uses `/<id>` and would.
pub(crate) fn default_path(root: &Path, id: &str) -> Result<CgroupPath> {
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_owned());
    // FNV-1a: a stable, dependency-free 32-bit tag.
    let tag = root
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0x811c_9dc5u32, |h, b| {
            (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
        });
    Ok(CgroupPath::parse(&format!("/gorae/{tag:08x}/{id}"))?)
}

/// Removes the cgroup at the default path of container `id` if there is
/// one: what a `create` killed before it recorded its cgroup leaves. Only a
/// `create` of this id in this state root makes a cgroup there, and none
/// can run while the caller holds the container's state directory.
pub(crate) fn remove_unrecorded(root: &Path, id: &str) -> Result<()> {
    let hierarchy = gorae_cgroups::Hierarchy::detect()?;
    match Cgroup::open(&hierarchy, &default_path(root, id)?) {
        Ok(cgroup) => remove(&cgroup, true),
        Err(gorae_cgroups::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Kills what is left in the cgroup (processes of a container without its
/// own pid namespace can outlive the init), removes it, and, for a default
/// path, removes its `gorae/<tag>` and `gorae` parents once they are empty
/// (another gorae may have created them; `rmdir` never removes a cgroup
/// that still has children).
///
/// A parent that is busy in one hierarchy holds another container, which
/// has a directory in every hierarchy: the parents are left to the last
/// container's delete, instead of failing an `rmdir` in each hierarchy
/// (each takes the kernel's global cgroup lock, which 50 containers
/// deleted at once queue on).
pub(crate) fn remove(cgroup: &Cgroup, default_path: bool) -> Result<()> {
    let deadline = Instant::now() + DRAIN;
    while !cgroup.pids().unwrap_or_default().is_empty() && Instant::now() < deadline {
        cgroup.kill_all(libc::SIGKILL)?;
        std::thread::sleep(Duration::from_millis(5));
    }
    match cgroup.destroy() {
        Ok(()) | Err(gorae_cgroups::Error::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    if default_path {
        let dirs = cgroup.dirs();
        // `gorae/<tag>`, then `gorae`.
        'levels: for level in 1..=2 {
            for parent in dirs.iter().filter_map(|d| d.ancestors().nth(level)) {
                match std::fs::remove_dir(parent) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(_) => break 'levels,
                }
            }
        }
    }
    Ok(())
}

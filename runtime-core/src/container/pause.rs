//! `pause` and `resume`: freeze and thaw every process of the container
//! through its cgroup's freezer.

use super::Runtime;
use crate::error::{Error, Result};
use crate::state::{Saved, StateDir, Status};

impl Runtime {
    /// Freezes container `id`, which must be running.
    pub fn pause(&self, id: &str) -> Result<()> {
        let (cgroup, _) = self.cgroup_in(id, "pause", Status::Running)?;
        Ok(cgroup.freeze()?)
    }

    /// Thaws container `id`, which must be paused.
    pub fn resume(&self, id: &str) -> Result<()> {
        let (cgroup, _) = self.cgroup_in(id, "resume", Status::Paused)?;
        Ok(cgroup.thaw()?)
    }

    /// The pids of every process in container `id`'s cgroup.
    pub fn pids(&self, id: &str) -> Result<Vec<i32>> {
        Ok(self.live_cgroup(id, "list the processes of")?.pids()?)
    }

    /// Applies new resource limits to running container `id`; returns the
    /// warnings for values the host cannot apply.
    pub fn update(
        &self,
        id: &str,
        resources: &oci_spec::runtime::LinuxResources,
    ) -> Result<Vec<String>> {
        gorae_cgroups::check_values(resources)?;
        let dir = StateDir::open(&self.root, id)?;
        let saved = dir.load()?;
        let status = dir.status(saved.as_ref());
        let Some(cgroup) = saved
            .and_then(|s| s.cgroup)
            .filter(|_| status != Status::Stopped)
        else {
            return Err(Error::WrongState {
                id: id.to_owned(),
                op: "update",
                status,
            });
        };
        Ok(cgroup
            .apply(resources)?
            .iter()
            .map(|w| w.to_string())
            .collect())
    }

    /// Resource usage of container `id`, in the shape of runc's
    /// `events --stats` data.
    pub fn stats(&self, id: &str) -> Result<gorae_cgroups::Stats> {
        let (cgroup, _) = self
            .cgroup_in(id, "read the stats of", Status::Running)
            .or_else(|_| self.cgroup_in(id, "read the stats of", Status::Paused))?;
        Ok(cgroup.stats()?)
    }

    /// A watcher for OOM kills in container `id`'s cgroup.
    pub fn oom_events(&self, id: &str) -> Result<gorae_cgroups::OomWatcher> {
        Ok(self.live_cgroup(id, "watch")?.oom_events()?)
    }

    /// The cgroup of container `id` unless it is stopped, read without
    /// waiting for another gorae acting on the container.
    fn live_cgroup(&self, id: &str, op: &'static str) -> Result<gorae_cgroups::Cgroup> {
        let dir = StateDir::open_shared(&self.root, id)?;
        let saved = dir.load()?;
        let status = dir.status(saved.as_ref());
        match saved.and_then(|s| s.cgroup) {
            Some(cgroup) if status != Status::Stopped => Ok(cgroup),
            _ => Err(Error::WrongState {
                id: id.to_owned(),
                op,
                status,
            }),
        }
    }

    /// The cgroup of container `id` when it is in `want`.
    fn cgroup_in(
        &self,
        id: &str,
        op: &'static str,
        want: Status,
    ) -> Result<(gorae_cgroups::Cgroup, Saved)> {
        let dir = StateDir::open(&self.root, id)?;
        let saved = dir.load()?;
        let status = dir.status(saved.as_ref());
        match saved {
            Some(saved) if status == want => match saved.cgroup.clone() {
                Some(cgroup) => Ok((cgroup, saved)),
                None => Err(Error::WrongState {
                    id: id.to_owned(),
                    op,
                    status,
                }),
            },
            _ => Err(Error::WrongState {
                id: id.to_owned(),
                op,
                status,
            }),
        }
    }
}

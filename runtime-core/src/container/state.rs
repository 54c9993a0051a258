//! `state` and `list`: the OCI state of containers, derived live.

use super::Runtime;
use crate::error::{Error, Result};
use crate::state::{OCI_VERSION, State, StateDir, Status};

impl Runtime {
    /// The OCI state of container `id`. Reads without waiting for another
    /// gorae acting on the container.
    pub fn state(&self, id: &str) -> Result<State> {
        let dir = StateDir::open_shared(&self.root, id)?;
        let saved = dir.load()?;
        let status = dir.status(saved.as_ref());
        let Some(saved) = saved else {
            return Ok(State {
                oci_version: OCI_VERSION.to_owned(),
                id: id.to_owned(),
                pid: 0,
                status,
                bundle: Default::default(),
                rootfs: Default::default(),
                created: String::new(),
                annotations: Default::default(),
                owner: String::new(),
            });
        };
        let pid = match (status, saved.init) {
            (Status::Stopped, _) | (_, None) => 0,
            (_, Some(init)) => init.pid,
        };
        Ok(State {
            oci_version: OCI_VERSION.to_owned(),
            id: saved.id,
            pid,
            status,
            bundle: saved.bundle,
            rootfs: saved.rootfs,
            created: saved.created,
            annotations: saved.annotations,
            owner: saved.owner,
        })
    }

    /// The state of every container in the state root, sorted by id.
    pub fn list(&self) -> Result<Vec<State>> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("read", &self.root, e)),
        };
        let mut states: Vec<State> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|id| match self.state(&id) {
                Ok(state) => Some(state),
                // Deleted since the directory was read.
                Err(Error::NotFound { .. }) => None,
                // Listed without it, as runc does, but not silently.
                Err(e) => {
                    self.warn(&format!("load container {id}: {e}"));
                    None
                }
            })
            .collect();
        states.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(states)
    }
}

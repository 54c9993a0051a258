//! The lifecycle verbs, one file each, on a [`Runtime`]: a state root that
//! holds one directory per container.

mod cgroups;
mod create;
mod delete;
mod exec;
mod kill;
mod pause;
mod run;
mod spawn;
mod start;
mod state;

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::unistd::Pid;

pub use create::CreateOptions;
pub use exec::{ExecOptions, Execed};

/// The default state root of a rootful gorae, as runc's is `/run/runc`.
pub const DEFAULT_ROOT: &str = "/run/gorae";

/// A state root: the directory where gorae keeps its containers' state.
/// Every operation on a container goes through it.
#[derive(Debug, Clone)]
pub struct Runtime {
    root: PathBuf,
}

impl Runtime {
    /// A runtime keeping its state under `root` (created on first use).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Runtime { root: root.into() }
    }

    /// The state root.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// A container just created by this process: its init is a child of the
/// caller, which can wait for it.
#[derive(Debug)]
pub struct Created {
    /// The init's pid.
    pub pid: Pid,
    /// A pidfd for the init.
    pub pidfd: OwnedFd,
    /// Things gorae ignored from the config, each worth a warning (for
    /// example capabilities the running kernel does not know).
    pub warnings: Vec<String>,
}

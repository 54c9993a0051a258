//! The lifecycle verbs, one file each, on a [`Runtime`]: a state root that
//! holds one directory per container.

mod cgroups;
mod create;
mod delete;
mod exec;
mod handle;
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
pub(crate) use create::prepare;
pub use exec::{ExecOptions, Execed};
pub use handle::Container;

/// The default state root of a rootful gorae, as runc's is `/run/runc`.
pub const DEFAULT_ROOT: &str = "/run/gorae";

/// Whether gorae runs without root on the host: not uid 0, or inside a user
/// namespace (as runc decides).
pub fn rootless() -> bool {
    if !nix::unistd::geteuid().is_root() {
        return true;
    }
    let map = std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
    let mut fields = map.split_whitespace();
    !(fields.next() == Some("0")
        && fields.next() == Some("0")
        && fields.next() == Some("4294967295"))
}

/// The state root when none is given: `/run/gorae`, or, rootless,
/// `$XDG_RUNTIME_DIR/gorae` (`/run/user/<uid>/gorae` without it), as runc.
pub fn default_root() -> PathBuf {
    if !rootless() {
        return PathBuf::from(DEFAULT_ROOT);
    }
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("gorae"),
        None => PathBuf::from(format!("/run/user/{}/gorae", nix::unistd::geteuid())),
    }
}

/// Receives the warnings of an operation that goes on despite them.
pub type WarningSink = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

/// Receives how long each phase of an operation took (`create.cgroup`,
/// `create.init`, ...).
pub type TraceSink = std::sync::Arc<dyn Fn(&str, std::time::Duration) + Send + Sync>;

/// A state root: the directory where gorae keeps its containers' state.
/// Every operation on a container goes through it.
#[derive(Clone)]
pub struct Runtime {
    root: PathBuf,
    warn: Option<WarningSink>,
    trace: Option<TraceSink>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// A runtime keeping its state under `root` (created on first use).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Runtime {
            root: root.into(),
            warn: None,
            trace: None,
        }
    }

    /// Sends warnings (a failed `poststart`/`poststop` hook, a value the
    /// host cannot apply, ...) to `sink` instead of dropping them.
    pub fn on_warning(mut self, sink: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.warn = Some(std::sync::Arc::new(sink));
        self
    }

    /// Reports the duration of each phase of `create`, `start`, `exec`
    /// and `delete` to `sink` (`gorae --trace`), as each phase ends.
    pub fn on_trace(
        mut self,
        sink: impl Fn(&str, std::time::Duration) + Send + Sync + 'static,
    ) -> Self {
        self.trace = Some(std::sync::Arc::new(sink));
        self
    }

    /// A stopwatch for the phases of one operation; reports only when a
    /// trace sink is set.
    pub(crate) fn phases(&self, op: &'static str) -> Phases {
        Phases {
            op,
            sink: self.trace.clone(),
            last: std::time::Instant::now(),
        }
    }

    /// Passes a warning to the sink, if any.
    pub(crate) fn warn(&self, message: &str) {
        if let Some(sink) = &self.warn {
            sink(message);
        }
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

/// Times consecutive phases of one operation for the trace sink.
pub(crate) struct Phases {
    op: &'static str,
    sink: Option<TraceSink>,
    last: std::time::Instant,
}

impl Phases {
    /// Ends the phase called `name` (begun at the previous mark).
    pub(crate) fn mark(&mut self, name: &str) {
        if let Some(sink) = &self.sink {
            let now = std::time::Instant::now();
            sink(&format!("{}.{name}", self.op), now - self.last);
            self.last = now;
        }
    }
}

//! The suite's own errors: what went wrong around a check (a file, a
//! process, a parse), as opposed to what a runtime got wrong.
#![forbid(unsafe_code)]

use std::path::PathBuf;

/// Errors of the suite's own machinery.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file system operation on `path` failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done (`write`, `mkdir`, ...).
        op: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A program could not be started or waited for.
    #[error("run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A program ran longer than the suite waits.
    #[error("{program} {args} did not finish within {secs} s (killed)")]
    Timeout {
        /// The program.
        program: String,
        /// Its arguments, joined.
        args: String,
        /// The limit.
        secs: u64,
    },
    /// JSON that should parse did not.
    #[error("parse {what}: {source}")]
    Json {
        /// What was parsed.
        what: String,
        /// The cause.
        source: serde_json::Error,
    },
    /// A file the suite needs is missing.
    #[error("{what} not found at {}", path.display())]
    Missing {
        /// What it is (`gorae-probe`, `runtime`).
        what: &'static str,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The probe is dynamically linked: it would not run in a bare rootfs.
    #[error("{} is dynamically linked; build it with `make conformance` (crt-static)", .0.display())]
    ProbeNotStatic(PathBuf),
}

impl Error {
    /// An [`Error::Io`] for `op` on `path`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// The suite's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

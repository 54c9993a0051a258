//! The errors of gorae-bench. A runtime that fails a measurement is not an
//! error of the bench (it is reported in the table); these are the failures
//! that stop the bench itself or one invocation, each naming the path,
//! program or system call.

use std::path::PathBuf;

use nix::errno::Errno;

/// Result alias for gorae-bench.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in gorae-bench.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read, written or created.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("read", "write", "create", ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A program could not be started.
    #[error("spawn {program}: {source}")]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A system call failed.
    #[error("{syscall} {subject}: {errno}")]
    Sys {
        /// The system call.
        syscall: &'static str,
        /// What it was applied to (a path, a pid, ...).
        subject: String,
        /// The cause.
        errno: Errno,
    },
    /// A runtime invocation exited unsuccessfully.
    #[error("{command}: {status}: {stderr}")]
    Failed {
        /// The command line, without the `--root` noise.
        command: String,
        /// How it ended ("exit status 1", "killed by signal 9").
        status: String,
        /// What it printed on stderr, trimmed to its last lines.
        stderr: String,
    },
    /// A runtime's output could not be understood.
    #[error("{command}: unexpected output: {problem}")]
    Output {
        /// The command line.
        command: String,
        /// What is wrong with the output.
        problem: String,
    },
    /// Waiting for something took longer than allowed.
    #[error("timed out after {seconds} s waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        seconds: u64,
    },
    /// JSON could not be parsed (a bundle's config) or written (the report).
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A bundle's `config.json` lacks what the floor needs.
    #[error("{path}: {problem}")]
    Bundle {
        /// The config file.
        path: PathBuf,
        /// What is missing or wrong.
        problem: &'static str,
    },
    /// The setup is unusable (missing program, not root, ...).
    #[error("{0}")]
    Setup(String),
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// An [`Error::Sys`] for `subject`.
    pub fn sys(syscall: &'static str, subject: impl std::fmt::Display, errno: Errno) -> Self {
        Error::Sys {
            syscall,
            subject: subject.to_string(),
            errno,
        }
    }
}

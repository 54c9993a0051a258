//! The errors of gorae-core. Each variant names what went wrong: the field,
//! path, id or system call, so that the one-line message is enough to act on.

use std::path::PathBuf;

use nix::errno::Errno;

use crate::state::Status;

/// Result alias for gorae-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in gorae-core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file of the bundle or state could not be read or written.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("read", "write", "create", ...).
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file gorae reads (`config.json`, `state.json`) is a directory, a
    /// FIFO, a device or a socket: refused before it is opened for reading.
    #[error("{path} is not a regular file ({kind})")]
    NotRegularFile {
        /// The file, as named (symlinks are followed).
        path: PathBuf,
        /// What it is instead, e.g. "a FIFO".
        kind: &'static str,
    },
    /// A file gorae reads is larger than the limit for it
    /// ([`crate::bundle::CONFIG_LIMIT`],
    /// [`crate::state::STATE_LIMIT`]).
    #[error("{path} is larger than {limit} bytes ({} MiB), the limit for this file", .limit >> 20)]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit in bytes.
        limit: u64,
    },
    /// `config.json` is not valid JSON or does not have the spec's shape.
    #[error("parse {path}: {source}")]
    ConfigParse {
        /// The config file.
        path: PathBuf,
        /// Where and why parsing failed.
        source: serde_json::Error,
    },
    /// A field of `config.json` does not have the spec's type.
    #[error("parse {path}: {field}: {source}")]
    ConfigField {
        /// The config file.
        path: PathBuf,
        /// The JSON path of the field, e.g. `process.args`.
        field: String,
        /// What the field should have been.
        source: serde_json::Error,
    },
    /// A field of `config.json` has a value gorae cannot run.
    #[error("invalid config: {field}: {problem}")]
    Invalid {
        /// The JSON path of the field, e.g. `linux.namespaces[2].type`.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A container id is not acceptable.
    #[error("invalid container id {id:?}: {problem}")]
    InvalidId {
        /// The id as given.
        id: String,
        /// Why it is refused.
        problem: &'static str,
    },
    /// A container with this id already exists in the state root.
    #[error("container with id exists: {id}")]
    Exists {
        /// The id.
        id: String,
    },
    /// No container with this id exists in the state root.
    #[error("container {id:?} does not exist")]
    NotFound {
        /// The id.
        id: String,
    },
    /// The container is in a state that does not allow the operation.
    #[error("cannot {op} container {id:?}: container is {status}")]
    WrongState {
        /// The id.
        id: String,
        /// The refused operation.
        op: &'static str,
        /// The container's status.
        status: Status,
    },
    /// The container has no process left to signal. The message carries
    /// runc's words, which containerd's shim matches to treat the process
    /// as already finished.
    #[error("cannot kill container {id:?}: container not running")]
    NotRunning {
        /// The id.
        id: String,
    },
    /// A system call made by the runtime failed.
    #[error("{syscall} {path}: {errno}", path = path.display())]
    Sys {
        /// The system call.
        syscall: &'static str,
        /// The path or object it acted on.
        path: PathBuf,
        /// The error number.
        errno: Errno,
    },
    /// A step of the container's init process failed.
    #[error("container init: {step} {subject}: {errno}")]
    Init {
        /// The step that failed.
        step: &'static str,
        /// What the step acted on (a path, a name or a value).
        subject: String,
        /// The error number.
        errno: Errno,
    },
    /// A host network device of `linux.netDevices` could not be moved
    /// into the container or set up there.
    #[error("linux.netDevices.{device}: {op}: {errno}")]
    NetDevice {
        /// The device's name on the host.
        device: String,
        /// What was being done.
        op: String,
        /// The error number.
        errno: Errno,
    },
    /// The container's program cannot be run, in runc's words (which
    /// Docker matches to choose exit status 127 or 126).
    #[error("exec: {program:?}: {reason}")]
    Exec {
        /// `process.args[0]`.
        program: String,
        /// `executable file not found in $PATH`, `stat <path>: no such
        /// file or directory`, or `permission denied`.
        reason: String,
    },
    /// The container's init process died before it reported.
    #[error("container init exited before it was ready ({reason})")]
    InitDied {
        /// What is known of its end.
        reason: String,
    },
    /// A hook failed (or ran past its timeout).
    #[error("{field} {path}: {reason}", path = path.display())]
    Hook {
        /// The hook's config field, e.g. `hooks.createRuntime[0]`.
        field: String,
        /// Its program.
        path: PathBuf,
        /// How it failed.
        reason: String,
    },
    /// Creating, using or removing the container's cgroup failed.
    #[error("cgroup: {0}")]
    Cgroup(#[from] gorae_cgroups::Error),
    /// The seccomp profile could not be compiled, installed or handed over.
    #[error("linux.seccomp: {0}")]
    Seccomp(#[from] gorae_seccomp::Error),
    /// `state.json` of a container could not be understood.
    #[error("corrupt state {path}: {source}")]
    State {
        /// The state file.
        path: PathBuf,
        /// Why it could not be parsed.
        source: serde_json::Error,
    },
}

impl Error {
    /// A failed system call on a path or object.
    pub(crate) fn sys(syscall: &'static str, path: impl Into<PathBuf>, errno: Errno) -> Self {
        Error::Sys {
            syscall,
            path: path.into(),
            errno,
        }
    }

    /// A failed file operation.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// An invalid config field.
    pub(crate) fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

//! The crate's error type: every variant names the profile field, syscall or
//! path it is about.

use std::path::PathBuf;

use nix::errno::Errno;
use oci_spec::runtime::{Arch, LinuxSeccompAction};

/// Everything that can go wrong while compiling, installing or handing over a
/// seccomp filter.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The profile JSON could not be parsed (unknown action, operator, flag or
    /// architecture names are rejected here).
    #[error("seccomp profile: invalid JSON")]
    ProfileJson(#[source] serde_json::Error),

    /// `syscalls[rule].args[arg].index` is not a syscall argument (0..=5).
    #[error("seccomp syscalls[{rule}].args[{arg}].index: {index} is not in 0..=5")]
    ArgIndex {
        /// Position of the rule in `syscalls`.
        rule: usize,
        /// Position of the argument in `args`.
        arg: usize,
        /// The offending index.
        index: usize,
    },

    /// `syscalls[rule].errnoRet` is set on an action that returns no value.
    #[error("seccomp syscalls[{rule}].errnoRet: not allowed with action {action}")]
    RuleErrnoRet {
        /// Position of the rule in `syscalls`.
        rule: usize,
        /// The rule's action.
        action: LinuxSeccompAction,
    },

    /// `defaultErrnoRet` is set on a default action that returns no value.
    #[error("seccomp defaultErrnoRet: not allowed with defaultAction {action}")]
    DefaultErrnoRet {
        /// The default action.
        action: LinuxSeccompAction,
    },

    /// An `errnoRet`/`defaultErrnoRet` does not fit the 16 data bits of a
    /// seccomp return value.
    #[error("seccomp {field}: {value} does not fit in 16 bits")]
    ErrnoRetRange {
        /// `defaultErrnoRet` or `syscalls[N].errnoRet`.
        field: ErrnoField,
        /// The offending value.
        value: u32,
    },

    /// `SCMP_ACT_NOTIFY` cannot be the default action: the container's init
    /// would block on its own first syscall.
    #[error("seccomp defaultAction: SCMP_ACT_NOTIFY cannot be the default action")]
    NotifyDefaultAction,

    /// A rule uses `SCMP_ACT_NOTIFY` but `listenerPath` is not set.
    #[error("seccomp syscalls[{rule}].action: SCMP_ACT_NOTIFY requires listenerPath")]
    NotifyWithoutListenerPath {
        /// Position of the rule in `syscalls`.
        rule: usize,
    },

    /// `listenerMetadata` is set without `listenerPath`.
    #[error("seccomp listenerMetadata: set without listenerPath")]
    MetadataWithoutListenerPath,

    /// A `syscalls` entry names no syscall.
    #[error("seccomp syscalls[{rule}].names: must name at least one syscall")]
    EmptyNames {
        /// Index of the entry in `syscalls`.
        rule: usize,
    },

    /// An entry of `architectures` can never run on this host.
    #[error("seccomp architectures: {arch} is not an ABI of this host")]
    ForeignArchitecture {
        /// The architecture named by the profile.
        arch: Arch,
    },

    /// gorae compiles filters for x86_64 and aarch64 hosts only.
    #[error("seccomp: this host architecture is not supported")]
    UnsupportedHost,

    /// The compiled program exceeds the kernel's limit of 4096 instructions.
    #[error(
        "seccomp: compiled program has {instructions} instructions, the kernel takes at most 4096"
    )]
    ProgramTooLarge {
        /// Length of the program.
        instructions: usize,
    },

    /// `seccomp(SECCOMP_SET_MODE_FILTER)` failed with EACCES: the caller has
    /// neither set `no_new_privs` nor holds `CAP_SYS_ADMIN`.
    #[error(
        "seccomp(SECCOMP_SET_MODE_FILTER): permission denied: set no_new_privs or hold CAP_SYS_ADMIN"
    )]
    NoNewPrivs,

    /// `SECCOMP_FILTER_FLAG_TSYNC` could not synchronize thread `tid`.
    #[error("seccomp(SECCOMP_SET_MODE_FILTER): thread {tid} cannot be synchronized (TSYNC)")]
    Tsync {
        /// The thread that could not be synchronized.
        tid: i32,
    },

    /// `seccomp(SECCOMP_SET_MODE_FILTER)` failed.
    #[error("seccomp(SECCOMP_SET_MODE_FILTER)")]
    Install(#[source] Errno),

    /// Connecting to the seccomp agent at `listenerPath` failed.
    #[error("seccomp listenerPath {path:?}: connect")]
    ListenerConnect {
        /// The agent's socket.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// Sending the listener fd and state to the agent failed.
    #[error("seccomp listenerPath {path:?}: sendmsg")]
    ListenerSend {
        /// The agent's socket.
        path: PathBuf,
        /// Why.
        #[source]
        source: Errno,
    },

    /// The container process state could not be serialized.
    #[error("seccomp: serialize container process state")]
    StateJson(#[source] serde_json::Error),

    /// The engine-format profile (podman/Docker `seccomp.json`) is invalid.
    #[error("seccomp engine profile: invalid JSON")]
    EngineProfileJson(#[source] serde_json::Error),

    /// `syscalls[rule].includes.minKernel` or `excludes.minKernel` is not a
    /// `major.minor` version.
    #[error("seccomp engine profile syscalls[{rule}]: minKernel {value:?} is not major.minor")]
    MinKernel {
        /// Position of the rule in `syscalls`.
        rule: usize,
        /// The offending value.
        value: String,
    },

    /// The running kernel's release could not be read or parsed.
    #[error("uname: kernel release {release:?} is not major.minor[.patch]")]
    KernelRelease {
        /// The release string.
        release: String,
    },
}

/// Which errno field an [`Error::ErrnoRetRange`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrnoField {
    /// `defaultErrnoRet`.
    Default,
    /// `syscalls[N].errnoRet`.
    Rule(usize),
}

impl std::fmt::Display for ErrnoField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Default => f.write_str("defaultErrnoRet"),
            Self::Rule(rule) => write!(f, "syscalls[{rule}].errnoRet"),
        }
    }
}

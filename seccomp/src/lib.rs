//! Compiles the OCI `linux.seccomp` object into a classic-BPF seccomp
//! program in pure Rust (no libseccomp), and installs it.
//!
//! ```
//! use gorae_seccomp::{Error, Filter};
//!
//! # fn main() -> Result<(), Error> {
//! let profile = gorae_seccomp::parse_profile(r#"{
//!     "defaultAction": "SCMP_ACT_ALLOW",
//!     "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
//!     "syscalls": [{"names": ["unshare"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
//! }"#)?;
//! // In the parent, before clone: everything that can fail on input fails here.
//! let filter = gorae_seccomp::compile(&profile)?;
//! assert!(!filter.needs_listener());
//! assert!(filter.instruction_count() > 0);
//! # Ok(())
//! # }
//!
//! /// In the container's init, as the last step before `execve`, after
//! /// `no_new_privs` (or with CAP_SYS_ADMIN).
//! fn in_init(filter: &Filter) -> Result<(), Error> {
//!     if let Some(_listener) = filter.install()? {
//!         // hand it to the agent: gorae_seccomp::send_listener(...)
//!     }
//!     Ok(())
//! }
//! ```
//!
//! # Semantics
//!
//! * **Architectures.** The native ABI is always filtered. A listed compat
//!   ABI of the host (`SCMP_ARCH_X86` and `SCMP_ARCH_X32` on x86_64,
//!   `SCMP_ARCH_ARM` on aarch64) gets the same rules, the names translated
//!   with its own syscall table, as libseccomp does. A syscall from an ABI
//!   that is not listed kills the process (`SECCOMP_RET_KILL_PROCESS`),
//!   including x32 calls (`__X32_SYSCALL_BIT`) on x86_64: they can never be
//!   matched against x86_64 numbers. Listing an architecture that cannot run
//!   on the host (e.g. `SCMP_ARCH_S390X` on x86_64) is an error.
//! * **Rules.** Names missing from an ABI's table are skipped (profiles list
//!   syscalls newer than the headers the tables came from); the native ones
//!   are reported by [`Filter::unknown_syscalls`]. For one syscall, an
//!   unconditional rule wins (the first, if several), as in libseccomp;
//!   otherwise its conditional rules are tried in profile order and the
//!   first whose comparisons all hold decides; if none holds, the default
//!   action applies. As runc does, when the default action denies (anything
//!   but allow, log, trace), syscall numbers above the highest one the
//!   profile names get `ENOSYS`, so that libc falls back from syscalls newer
//!   than the profile (`clone3` -> `clone`).
//! * **Arguments.** The comparisons of one rule are ANDed, except, as in
//!   runc, when two of them test the same argument index: then each
//!   comparison becomes a rule of its own (ORed). Values are compared as
//!   unsigned 64-bit numbers on both 32-bit halves (x32 included, as the
//!   kernel passes its registers); on i386 and arm only the low halves.
//!   `SCMP_CMP_MASKED_EQ` tests `(arg & value) == valueTwo`.
//! * **Actions.** `SCMP_ACT_KILL` is `KILL_THREAD`. `errnoRet` is allowed on
//!   `SCMP_ACT_ERRNO` and `SCMP_ACT_TRACE` only and defaults to `EPERM`
//!   (runc); `defaultErrnoRet` applies to the default action.
//! * **Notify.** A `SCMP_ACT_NOTIFY` rule requires `listenerPath` (and the
//!   other way round); the filter is then installed with
//!   `SECCOMP_FILTER_FLAG_NEW_LISTENER` and [`Filter::install`] returns the
//!   listener, which [`send_listener`] hands to the agent. The notify action
//!   cannot be the default action. `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`
//!   is dropped when there is no listener (the kernel rejects it then).
//! * **Engine profiles.** [`engine_profile::to_oci`] turns podman's and
//!   Docker's `seccomp.json` (`archMap`, `includes`/`excludes`) into the
//!   `LinuxSeccomp` of one container.
//!
//! Syscall tables come from the kernel's uapi headers through
//! `seccomp/tools/gen_syscalls.py`; the generated files are committed. They
//! were generated from Linux 6.12 headers (Debian 13's `linux-libc-dev`):
//! syscalls added since are unknown until the tables are regenerated.

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod arch;
mod bpf;
mod cmp;
mod compile;
pub mod engine_profile;
mod error;
#[cfg(test)]
mod interp;
mod notify;
#[allow(unsafe_code)]
mod sys;
mod syscalls;

use std::os::fd::OwnedFd;

use nix::errno::Errno;
use oci_spec::runtime::LinuxSeccomp;
use seccompiler::sock_filter;

use crate::arch::Host;
use crate::compile::SECCOMP_FILTER_FLAG_TSYNC;
pub use crate::error::{ErrnoField, Error};
pub use crate::notify::{container_process_state, send_listener};

/// A compiled seccomp filter: the BPF program, the `seccomp(2)` flags and
/// whether it creates a notification listener.
#[derive(Debug, Clone)]
pub struct Filter {
    program: Vec<sock_filter>,
    flags: u32,
    needs_listener: bool,
    unknown_syscalls: Vec<String>,
}

/// Parses a `linux.seccomp` object from JSON. Unknown actions, operators,
/// flags and architectures are rejected here by `oci-spec`.
pub fn parse_profile(json: &str) -> Result<LinuxSeccomp, Error> {
    serde_json::from_str(json).map_err(Error::ProfileJson)
}

/// Compiles `profile` for the host's architecture. Called once in the
/// parent, before clone.
pub fn compile(profile: &LinuxSeccomp) -> Result<Filter, Error> {
    let compiled = compile::compile_for(profile, &Host::current()?)?;
    Ok(Filter {
        program: compiled.program,
        flags: compiled.flags,
        needs_listener: compiled.needs_listener,
        unknown_syscalls: compiled.unknown_syscalls,
    })
}

impl Filter {
    /// Installs the filter on the calling thread (all threads with
    /// `SECCOMP_FILTER_FLAG_TSYNC`). Returns the listener fd (close-on-exec,
    /// as the kernel creates it) when the profile uses `SCMP_ACT_NOTIFY`.
    ///
    /// Called in the container's init as the last step before `execve`: it
    /// allocates nothing and takes no lock, only the `seccomp(2)` syscall on
    /// the prepared program. The caller must have set `no_new_privs` or hold
    /// `CAP_SYS_ADMIN`, otherwise the kernel refuses with EACCES
    /// ([`Error::NoNewPrivs`]).
    pub fn install(&self) -> Result<Option<OwnedFd>, Error> {
        let ret = sys::set_mode_filter(&self.program, self.flags).map_err(|errno| match errno {
            Errno::EACCES => Error::NoNewPrivs,
            errno => Error::Install(errno),
        })?;
        if self.needs_listener {
            return sys::listener_fd(ret).map(Some).map_err(Error::Install);
        }
        if ret > 0 && self.flags & SECCOMP_FILTER_FLAG_TSYNC != 0 {
            let tid = i32::try_from(ret).unwrap_or(i32::MAX);
            return Err(Error::Tsync { tid });
        }
        Ok(None)
    }

    /// Number of BPF instructions in the program.
    pub fn instruction_count(&self) -> usize {
        self.program.len()
    }

    /// True when the profile uses `SCMP_ACT_NOTIFY`: [`Filter::install`]
    /// then returns the listener fd.
    pub fn needs_listener(&self) -> bool {
        self.needs_listener
    }

    /// Syscall names of the profile that the host's table does not know;
    /// their rules were skipped. Worth a debug log line.
    pub fn unknown_syscalls(&self) -> &[String] {
        &self.unknown_syscalls
    }

    /// The BPF program, e.g. for `seccompiler::apply_filter` or a dump.
    pub fn program(&self) -> &[sock_filter] {
        &self.program
    }

    /// The flags passed to `seccomp(SECCOMP_SET_MODE_FILTER)`.
    pub fn flags(&self) -> u32 {
        self.flags
    }
}

#[cfg(test)]
mod tests;

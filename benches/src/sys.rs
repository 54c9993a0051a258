//! System calls that nix does not wrap or marks unsafe. Every `unsafe`
//! block of the crate lives here, each with the reason it is sound.

use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use nix::sys::wait::WaitStatus;
use nix::unistd::{ForkResult, Pid};

/// What `wait4` returned for one child.
#[derive(Debug, Clone, Copy)]
pub struct Reaped {
    /// How the child ended.
    pub status: WaitStatus,
    /// Its peak resident set size in KiB (`ru_maxrss`), the largest of the
    /// child itself and the descendants it waited for.
    pub max_rss_kib: u64,
    /// User plus system CPU time of the child and the descendants it
    /// waited for.
    pub cpu: std::time::Duration,
}

/// Waits for the child `pid` to end and returns its status and peak RSS.
pub fn wait4(pid: Pid) -> Result<Reaped, Errno> {
    let mut raw_status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers are to live, writable locals of the right
        // types; wait4 writes nothing else.
        let ret = unsafe { libc::wait4(pid.as_raw(), &mut raw_status, 0, &mut usage) };
        if ret != -1 {
            break;
        }
        let errno = Errno::last();
        if errno != Errno::EINTR {
            return Err(errno);
        }
    }
    let status = WaitStatus::from_raw(pid, raw_status)?;
    let max_rss_kib = u64::try_from(usage.ru_maxrss).unwrap_or(0);
    let cpu = duration(usage.ru_utime) + duration(usage.ru_stime);
    Ok(Reaped {
        status,
        max_rss_kib,
        cpu,
    })
}

fn duration(tv: libc::timeval) -> std::time::Duration {
    let secs = u64::try_from(tv.tv_sec).unwrap_or(0);
    let micros = u32::try_from(tv.tv_usec).unwrap_or(0);
    std::time::Duration::from_secs(secs) + std::time::Duration::from_micros(u64::from(micros))
}

/// `pidfd_open(pid, 0)`: a descriptor that polls readable once `pid` ends.
pub fn pidfd_open(pid: Pid) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open takes two integers and returns a new descriptor or -1.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if ret < 0 {
        return Err(Errno::last());
    }
    let fd = i32::try_from(ret).map_err(|_| Errno::EBADF)?;
    // SAFETY: the kernel just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `fork()`, for the floor measurement.
///
/// The floor runs in its own process (`gorae-bench floor`), which never
/// starts a thread, so the child may allocate and do anything a normal
/// process does.
pub fn fork_single_threaded() -> Result<ForkResult, Errno> {
    // SAFETY: `gorae-bench floor` is single-threaded (see above), so no lock
    // can be held by a thread that does not exist in the child.
    unsafe { nix::unistd::fork() }
}

/// Set by SIGINT or SIGTERM.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Turns SIGINT and SIGTERM into a flag ([`interrupted`]) so that the bench
/// stops between measurements and still cleans up.
pub fn catch_interrupts() -> Result<(), Errno> {
    let action = SigAction::new(
        SigHandler::Handler(on_interrupt),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe; the old action is not needed.
        unsafe { sigaction(signal, &action) }?;
    }
    Ok(())
}

/// Whether SIGINT or SIGTERM arrived.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

//! The raw system calls nix does not wrap and the interrupt handler: the
//! only `unsafe` of the crate.

/// `IOPRIO_WHO_PROCESS` from `linux/ioprio.h`.
const IOPRIO_WHO_PROCESS: libc::c_long = 1;

/// The I/O priority of the calling process (`ioprio_get(2)`): the class in
/// the top 3 bits of 16, the level in the low 13.
pub fn ioprio_get() -> Result<u32, nix::errno::Errno> {
    // SAFETY: ioprio_get takes two integers (who, which) and touches no
    // memory of ours; the result is an int or -1 with errno set.
    let ret = unsafe { libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0 as libc::c_long) };
    if ret < 0 {
        return Err(nix::errno::Errno::last());
    }
    u32::try_from(ret).map_err(|_| nix::errno::Errno::ERANGE)
}

/// Set by the handler of SIGINT, SIGTERM and SIGHUP.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn note_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Makes SIGINT, SIGTERM and SIGHUP only set a flag ([`interrupted`]), so
/// the suite stops between checks and still cleans up. Programs the suite
/// starts get the default dispositions back at `execve`.
pub fn catch_interrupts() -> Result<(), nix::errno::Errno> {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let action = SigAction::new(
        SigHandler::Handler(note_interrupt),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe; no other handler is replaced by surprise.
        unsafe { sigaction(signal, &action) }?;
    }
    Ok(())
}

/// Whether an interrupting signal arrived since [`catch_interrupts`].
pub fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
}

/// Takes ownership of a descriptor received with `SCM_RIGHTS`.
pub fn own_received_fd(fd: std::os::fd::RawFd) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: the kernel installed `fd` in our table for this message
    // just now; it is open and nothing else refers to it.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }
}

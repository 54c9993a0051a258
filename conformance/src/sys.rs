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

/// The calling thread's NUMA memory policy (`get_mempolicy(2)` with no
/// flags): the mode with its mode flags, and the node mask as node numbers.
pub fn get_mempolicy() -> Result<(i32, Vec<usize>), nix::errno::Errno> {
    const WORDS: usize = 16;
    let mut mode: libc::c_int = 0;
    let mut mask = [0 as libc::c_ulong; WORDS];
    let bits = WORDS * libc::c_ulong::BITS as usize;
    // SAFETY: mode points to one int and mask to WORDS longs, which hold
    // `bits` bits, the maxnode passed; addr is null as flags 0 wants.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_get_mempolicy,
            &mut mode as *mut libc::c_int,
            mask.as_mut_ptr(),
            bits as libc::c_ulong,
            std::ptr::null_mut::<libc::c_void>(),
            0 as libc::c_ulong,
        )
    };
    if ret < 0 {
        return Err(nix::errno::Errno::last());
    }
    let word_bits = libc::c_ulong::BITS as usize;
    let nodes = (0..bits)
        .filter(|n| mask[n / word_bits] & (1 << (n % word_bits)) != 0)
        .collect();
    Ok((mode, nodes))
}

/// The calling thread's scheduling attributes (`sched_getattr(2)`).
pub fn sched_getattr() -> Result<libc::sched_attr, nix::errno::Errno> {
    // SAFETY: sched_attr is plain integers; all zeroes is a valid value.
    let mut attr: libc::sched_attr = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::sched_attr>() as libc::c_uint;
    // SAFETY: attr is writable and `size` bytes long, as passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_sched_getattr,
            0 as libc::pid_t,
            &mut attr as *mut libc::sched_attr,
            size,
            0 as libc::c_uint,
        )
    };
    if ret < 0 {
        return Err(nix::errno::Errno::last());
    }
    Ok(attr)
}

/// The window size of the terminal on `fd` (`TIOCGWINSZ`): rows, columns.
pub fn window_size(fd: std::os::fd::BorrowedFd<'_>) -> Result<(u16, u16), nix::errno::Errno> {
    use std::os::fd::AsRawFd;
    // SAFETY: winsize is plain integers; all zeroes is a valid value.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize to the pointer, which is ours.
    let ret = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TIOCGWINSZ,
            &mut size as *mut libc::winsize,
        )
    };
    if ret < 0 {
        return Err(nix::errno::Errno::last());
    }
    Ok((size.ws_row, size.ws_col))
}

/// Waits for one seccomp user notification on the listener `fd` and
/// answers it with `-errno`; returns the number of the system call that
/// was stopped. The caller polls `fd` first: this blocks until a
/// notification comes.
pub fn seccomp_answer(
    fd: std::os::fd::BorrowedFd<'_>,
    errno: i32,
) -> Result<i32, nix::errno::Errno> {
    use std::os::fd::AsRawFd;
    // SAFETY: seccomp_notif is plain integers; the kernel wants it zeroed.
    let mut notif: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: NOTIF_RECV writes one seccomp_notif to the pointer, ours.
    let ret = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_RECV,
            &mut notif as *mut libc::seccomp_notif,
        )
    };
    if ret < 0 {
        return Err(nix::errno::Errno::last());
    }
    let mut resp = libc::seccomp_notif_resp {
        id: notif.id,
        val: 0,
        error: -errno,
        flags: 0,
    };
    // SAFETY: NOTIF_SEND reads one seccomp_notif_resp from the pointer.
    let ret = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SEND,
            &mut resp as *mut libc::seccomp_notif_resp,
        )
    };
    if ret < 0 {
        return Err(nix::errno::Errno::last());
    }
    Ok(notif.data.nr)
}

//! The crate's only `unsafe` code: the raw `seccomp(2)` call.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use seccompiler::sock_filter;

const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog)`. Allocates nothing and
/// takes no lock: safe to call between `fork` and `execve`.
pub(crate) fn set_mode_filter(program: &[sock_filter], flags: u32) -> Result<libc::c_long, Errno> {
    let len = u16::try_from(program.len()).map_err(|_| Errno::EINVAL)?;
    let prog = libc::sock_fprog {
        len,
        // The kernel only reads the program; `libc::sock_filter` and
        // seccompiler's `sock_filter` are both `struct sock_filter`.
        filter: program.as_ptr().cast::<libc::sock_filter>().cast_mut(),
    };
    // SAFETY: `prog` points at `len` initialized `struct sock_filter`s that
    // outlive the call; the kernel copies them and does not keep the pointer.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            libc::c_ulong::from(flags),
            &raw const prog,
        )
    };
    Errno::result(ret)
}

/// Takes ownership of the listener fd returned by [`set_mode_filter`].
pub(crate) fn listener_fd(ret: libc::c_long) -> Result<OwnedFd, Errno> {
    let fd = RawFd::try_from(ret).map_err(|_| Errno::EBADF)?;
    if fd < 0 {
        return Err(Errno::EBADF);
    }
    // SAFETY: with SECCOMP_FILTER_FLAG_NEW_LISTENER a successful seccomp()
    // returns a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

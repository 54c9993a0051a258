//! The raw system calls nix does not wrap; the only `unsafe` of the crate.

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

//! `process.terminal`: the init opens a pty in the container's own devpts,
//! makes its peer the process's controlling terminal and stdio, and sends
//! the master over the console socket with SCM_RIGHTS, as runc does (the
//! message names the master `/dev/ptmx`).

use std::os::fd::{AsFd, BorrowedFd};

use nix::errno::Errno;
use nix::unistd::setsid;

use crate::sys;

/// The console of a container process, prepared before the clone.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Console {
    /// `process.consoleSize` as (rows, cols).
    pub size: Option<(u16, u16)>,
}

/// In the init, inside the container (root `root`): creates the pty, sends
/// its master over `socket` and makes the peer stdio and controlling tty.
pub(crate) fn setup(
    root: BorrowedFd<'_>,
    socket: BorrowedFd<'_>,
    console: &Console,
) -> Result<(), Errno> {
    setsid()?;
    let master = sys::openat2_in_root(root, c"dev/ptmx", libc::O_RDWR | libc::O_NOCTTY, 0)?;
    let peer = sys::pty_peer(master.as_fd())?;
    if let Some((rows, cols)) = console.size {
        sys::set_winsize(peer.as_fd(), rows, cols)?;
    }
    sys::send_with_fd(socket, b"/dev/ptmx", Some(master.as_fd()))?;
    // The stdio copies are not close-on-exec; `peer` and `master` are and
    // close here, so the container holds the master nowhere.
    for stdio in 0..3 {
        sys::dup2_raw(peer.as_fd(), stdio)?;
    }
    sys::set_controlling_tty(peer.as_fd())
}

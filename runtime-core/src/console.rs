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
    /// Bind the pty onto `/dev/console` (the container's own process; an
    /// exec'd process does not take over the container's console).
    pub bind_dev_console: bool,
}

/// `/dev/console` becomes the pty, as the spec's default devices say: the
/// file is made inside the root (never through a symlink out of it) and
/// the peer is bound from its fd, not from a `/dev/pts` path a container
/// could race (CVE-2025-52565).
fn bind_dev_console(root: BorrowedFd<'_>, peer: BorrowedFd<'_>) -> Result<(), Errno> {
    let target = sys::openat2_in_root(
        root,
        c"dev/console",
        libc::O_CREAT | libc::O_RDONLY | libc::O_NOFOLLOW,
        libc::RESOLVE_NO_SYMLINKS,
    )?;
    let none: Option<&std::ffi::CStr> = None;
    nix::mount::mount(
        Some(crate::mounts::FdPath::new(peer).as_cstr()),
        crate::mounts::FdPath::new(target.as_fd()).as_cstr(),
        none,
        nix::mount::MsFlags::MS_BIND,
        none,
    )
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
    if console.bind_dev_console {
        bind_dev_console(root, peer.as_fd())?;
    }
    sys::send_with_fd(socket, b"/dev/ptmx", Some(master.as_fd()))?;
    // The stdio copies are not close-on-exec; `peer` and `master` are and
    // close here, so the container holds the master nowhere.
    for stdio in 0..3 {
        sys::dup2_raw(peer.as_fd(), stdio)?;
    }
    sys::set_controlling_tty(peer.as_fd())
}

/// The host side of a foreground container's terminal: the caller's
/// stdin/stdout proxied to the pty master, the caller's terminal in raw
/// mode meanwhile, window size changes passed on.
pub(crate) mod host {
    use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

    use nix::errno::Errno;
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use nix::sys::signalfd::SignalFd;
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
    use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};
    use nix::unistd::{read, write};

    use crate::error::{Error, Result};
    use crate::sys;

    /// A socket pair: our end receives the master, the other is the
    /// container's console socket.
    pub(crate) fn pair() -> Result<(OwnedFd, OwnedFd)> {
        socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|errno| Error::sys("socketpair", "console", errno))
    }

    /// Receives the pty master the container's process sent.
    pub(crate) fn receive_master(sock: &OwnedFd) -> Result<OwnedFd> {
        let mut name = [0u8; 64];
        let (_, master) = sys::recv_with_fd(sock.as_fd(), &mut name)
            .map_err(|errno| Error::sys("recvmsg", "console", errno))?;
        master.ok_or_else(|| Error::sys("receive the pty master", "console", Errno::EBADMSG))
    }

    /// The caller's terminal, put back as it was when dropped.
    struct Raw {
        saved: Option<Termios>,
    }

    impl Raw {
        fn enter() -> Self {
            let stdin = std::io::stdin();
            let saved = tcgetattr(stdin.as_fd()).ok();
            if let Some(t) = &saved {
                let mut raw = t.clone();
                cfmakeraw(&mut raw);
                let _ = tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw);
            }
            Raw { saved }
        }
    }

    impl Drop for Raw {
        fn drop(&mut self) {
            if let Some(t) = &self.saved {
                let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, t);
            }
        }
    }

    fn copy_winsize(master: BorrowedFd<'_>) {
        if let Ok((rows, cols)) = sys::get_winsize(std::io::stdin().as_fd()) {
            let _ = sys::set_winsize(master, rows, cols);
        }
    }

    fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> bool {
        while !data.is_empty() {
            match write(fd, data) {
                Ok(n) => data = &data[n..],
                Err(Errno::EINTR) => {}
                Err(_) => return false,
            }
        }
        true
    }

    /// Proxies until the process behind `pidfd` exits; signals that arrive
    /// on `signals` are forwarded to it (SIGWINCH resizes the pty instead).
    pub(crate) fn proxy(master: &OwnedFd, pidfd: &OwnedFd, signals: &SignalFd) -> Result<()> {
        let _raw = Raw::enter();
        copy_winsize(master.as_fd());
        let stdin = std::io::stdin();
        let stdout = std::io::stdout();
        let mut stdin_open = true;
        let mut master_open = true;
        let mut buf = [0u8; 8192];
        loop {
            let mut fds = vec![
                PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
                PollFd::new(signals.as_fd(), PollFlags::POLLIN),
            ];
            if master_open {
                fds.push(PollFd::new(master.as_fd(), PollFlags::POLLIN));
            }
            if stdin_open {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(errno) => return Err(Error::sys("poll", "console", errno)),
            }
            let ready =
                |f: Option<&PollFd<'_>>| f.and_then(|f| f.revents()).is_some_and(|r| !r.is_empty());
            let exited = ready(fds.first());
            let signalled = ready(fds.get(1));
            let output = master_open && ready(fds.get(2));
            let input = stdin_open && ready(fds.get(if master_open { 3 } else { 2 }));
            if output {
                match read(master.as_fd(), &mut buf) {
                    Ok(n) if n > 0 => {
                        write_all(stdout.as_fd(), &buf[..n]);
                    }
                    // 0 or EIO: every holder of the peer closed it.
                    _ => master_open = false,
                }
            }
            if input {
                match read(stdin.as_fd(), &mut buf) {
                    Ok(n) if n > 0 => {
                        write_all(master.as_fd(), &buf[..n]);
                    }
                    _ => stdin_open = false,
                }
            }
            if signalled {
                if let Ok(Some(info)) = signals.read_signal() {
                    if info.ssi_signo as i32 == libc::SIGWINCH {
                        copy_winsize(master.as_fd());
                    } else {
                        let _ = sys::pidfd_send_signal(pidfd.as_fd(), info.ssi_signo as i32);
                    }
                }
            }
            // Once the process has exited, leave after the output it left.
            if exited && !output {
                return Ok(());
            }
        }
    }
}

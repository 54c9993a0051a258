//! Raw system calls that nix does not wrap. Every `unsafe` block of the crate
//! lives here, each with the reason it is sound.
//!
//! Functions used by the container's init after the clone take only borrowed,
//! already-built data (`&CStr`, raw pointers prepared by the parent) and never
//! allocate.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::unistd::Pid;

/// `CLONE_INTO_CGROUP` (Linux 5.7); libc's constant has the wrong width.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// What `clone3` returned in the process that called it.
pub enum Cloned {
    /// We are the new process.
    Child,
    /// We are the caller; the child has this pid (in our pid namespace) and pidfd.
    Parent { pid: Pid, pidfd: OwnedFd },
}

/// `clone3` without `CLONE_VM`: a fork into new namespaces, returning a pidfd.
///
/// # Safety
/// Like `fork`: the child runs a copy of the caller with a single thread. If
/// the caller has other threads, the child may only do async-signal-safe work
/// (no allocation, no locks) until it calls `execve` or `_exit`.
pub unsafe fn clone3(flags: u64, cgroup_fd: Option<RawFd>) -> Result<Cloned, Errno> {
    let mut pidfd: RawFd = -1;
    // SAFETY: clone_args is plain old data; all-zero is its documented default.
    let mut args: libc::clone_args = unsafe { std::mem::zeroed() };
    args.flags = flags | libc::CLONE_PIDFD as u64;
    args.pidfd = std::ptr::addr_of_mut!(pidfd) as u64;
    // With CLONE_PARENT the child gets its parent's exit signal; clone3
    // refuses any other.
    if flags & libc::CLONE_PARENT as u64 == 0 {
        args.exit_signal = libc::SIGCHLD as u64;
    }
    if let Some(fd) = cgroup_fd {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    // SAFETY: args is a valid clone_args of the size we pass; without CLONE_VM
    // the child gets its own copy of the address space and continues here.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            std::ptr::addr_of_mut!(args),
            std::mem::size_of::<libc::clone_args>(),
        )
    };
    match ret {
        -1 => Err(Errno::last()),
        0 => Ok(Cloned::Child),
        pid => Ok(Cloned::Parent {
            pid: Pid::from_raw(pid as i32),
            // SAFETY: with CLONE_PIDFD the kernel stored a new, owned fd here.
            pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) },
        }),
    }
}

/// `openat2(dirfd, path, flags, RESOLVE_IN_ROOT | extra)`: resolve `path` as
/// if `dirfd` were `/`, so that no `..` or symlink ever leaves it.
pub fn openat2_in_root(
    dirfd: BorrowedFd<'_>,
    path: &CStr,
    flags: i32,
    extra_resolve: u64,
) -> Result<OwnedFd, Errno> {
    // SAFETY: open_how is plain old data; zero is the default for every field.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS | extra_resolve;
    // With RESOLVE_IN_ROOT the kernel answers EAGAIN when a mount or rename
    // raced the lookup of a ".." (a symlink such as /sbin -> ../bin): the
    // lookup is safe to repeat, and libpathrs retries the same way.
    let mut attempts = 0;
    let ret = loop {
        // SAFETY: path is NUL-terminated, how is a valid open_how of the
        // given size.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd.as_raw_fd(),
                path.as_ptr(),
                std::ptr::addr_of!(how),
                std::mem::size_of::<libc::open_how>(),
            )
        };
        match (ret, Errno::last()) {
            (r, Errno::EAGAIN | Errno::EINTR) if r < 0 && attempts < 128 => attempts += 1,
            (r, errno) if r < 0 => return Err(errno),
            (r, _) => break r,
        }
    };
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// `pidfd_open(pid, 0)`.
pub fn pidfd_open(pid: Pid) -> Result<OwnedFd, Errno> {
    // SAFETY: plain syscall with integer arguments.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// `pidfd_send_signal(pidfd, sig, NULL, 0)`: signals exactly the process the
/// pidfd refers to, never a process that reused its pid.
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: i32) -> Result<(), Errno> {
    // SAFETY: a null siginfo is allowed; other arguments are integers.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    Errno::result(ret).map(drop)
}

/// Marks every fd from `first` upwards close-on-exec.
pub fn cloexec_from(first: u32) -> Result<(), Errno> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only changes fd flags.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    Errno::result(ret).map(drop)
}

/// Sets the permitted, effective and inheritable capability sets (bit masks
/// of capability numbers) of the calling thread.
pub fn capset(permitted: u64, effective: u64, inheritable: u64) -> Result<(), Errno> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let half = |mask: u64, high: bool| {
        if high {
            (mask >> 32) as u32
        } else {
            mask as u32
        }
    };
    let data = [false, true].map(|high| Data {
        effective: half(effective, high),
        permitted: half(permitted, high),
        inheritable: half(inheritable, high),
    });
    // SAFETY: header and the two-element data array have the kernel's v3 layout.
    let ret = unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) };
    Errno::result(ret).map(drop)
}

/// Longest program path the init resolves.
pub const PATH_MAX: usize = 4096;

/// A program's argv and environment as the NULL-terminated pointer arrays
/// `execve` takes, built before the clone so that the init does not
/// allocate. Moving this value never moves the strings, so the pointers stay
/// valid for its whole life.
#[derive(Debug)]
pub struct ExecArgs {
    path: Box<[u8; PATH_MAX]>,
    args: Vec<CString>,
    /// Owns the strings `envp` points to.
    _env: Vec<CString>,
    /// `[path, args..., NULL]`: the exec stub's argv.
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
}

impl ExecArgs {
    /// Prepares the arrays for `args` and `env`.
    pub fn new(args: Vec<CString>, env: Vec<CString>) -> Self {
        let path = Box::new([0u8; PATH_MAX]);
        let argv = std::iter::once(path.as_ptr().cast())
            .chain(args.iter().map(|a| a.as_ptr()))
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        let envp = env
            .iter()
            .map(|e| e.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        ExecArgs {
            path,
            args,
            _env: env,
            argv,
            envp,
        }
    }

    /// The program's argv.
    pub fn args(&self) -> &[CString] {
        &self.args
    }

    /// Sets the program path to `path` (truncated to fit).
    pub fn set_path(&mut self, path: &[u8]) {
        let len = path.len().min(PATH_MAX - 1);
        self.path[..len].copy_from_slice(&path[..len]);
        self.path[len] = 0;
    }

    /// `execve`s the program path itself (no stub): for hooks, which are
    /// the host's programs. Returns only on failure.
    pub fn execve_path(&mut self) -> Errno {
        self.path[PATH_MAX - 1] = 0;
        // SAFETY: as for exec_stub; argv[0] of the program is argv[1] of
        // the stub's array, envp is NULL-terminated.
        unsafe {
            libc::execve(
                self.path.as_ptr().cast(),
                self.argv.as_ptr().add(1),
                self.envp.as_ptr(),
            )
        };
        Errno::last()
    }

    /// The buffer that receives the resolved program path (NUL-terminated).
    pub fn path_mut(&mut self) -> &mut [u8; PATH_MAX] {
        &mut self.path
    }

    /// Runs the exec stub behind `stub` (see `sealed`), which executes the
    /// resolved path with these args and environment. Returns only on failure.
    pub fn exec_stub(&mut self, stub: BorrowedFd<'_>) -> Errno {
        self.path[PATH_MAX - 1] = 0;
        // SAFETY: argv and envp are NULL-terminated arrays of pointers to
        // NUL-terminated strings (path ends in 0 as just ensured) owned by
        // self, which outlives the call.
        unsafe {
            libc::syscall(
                libc::SYS_execveat,
                stub.as_raw_fd(),
                c"".as_ptr(),
                self.argv.as_ptr(),
                self.envp.as_ptr(),
                libc::AT_EMPTY_PATH,
            )
        };
        Errno::last()
    }
}

/// Takes ownership of an fd a nix call returned raw.
pub fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: callers pass an fd the kernel just returned to them and that
    // nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// `setdomainname(name)`.
pub fn setdomainname(name: &[u8]) -> Result<(), Errno> {
    // SAFETY: name is valid for name.len() bytes.
    let ret = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    Errno::result(ret).map(drop)
}

/// `memfd_create(name, flags)`.
pub fn memfd_create(name: &CStr, flags: u32) -> Result<OwnedFd, Errno> {
    // SAFETY: name is NUL-terminated; flags are integers.
    let ret = unsafe { libc::memfd_create(name.as_ptr(), flags) };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(ret) })
}

/// Ends the calling process at once, without running destructors or atexit
/// handlers (which belong to the parent's copy of this memory).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(code) }
}

/// Fills `buf` with the calling process's working directory, returning the
/// length of the path, without allocating.
pub fn getcwd_into(buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: buf is valid for writes of buf.len() bytes.
    let ret = unsafe { libc::getcwd(buf.as_mut_ptr().cast(), buf.len()) };
    if ret.is_null() {
        return Err(Errno::last());
    }
    Ok(buf.iter().position(|&b| b == 0).unwrap_or(buf.len()))
}

/// Resets every signal disposition to the default and unblocks every signal,
/// so that the container's process starts with a clean signal state.
pub fn reset_signals() {
    for sig in 1..libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: SIG_DFL is always a valid disposition; failures (for
        // signals the kernel reserves) are harmless and ignored.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    // SAFETY: an empty set is a valid mask; sigemptyset initialises it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// The `CLONE_NEW*` type of the namespace behind `fd` (`NS_GET_NSTYPE`).
pub fn namespace_type(fd: BorrowedFd<'_>) -> Result<i32, Errno> {
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
    // SAFETY: NS_GET_NSTYPE takes no argument and returns an integer.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE) };
    Errno::result(ret)
}

/// `prctl` with integer arguments only.
pub fn prctl(option: i32, arg2: u64, arg3: u64) -> Result<i32, Errno> {
    // SAFETY: the options gorae uses take integers, never pointers.
    let ret = unsafe { libc::prctl(option, arg2, arg3, 0u64, 0u64) };
    Errno::result(ret)
}

/// `struct sched_attr` of `sched_setattr(2)`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchedAttr {
    /// Size of this structure.
    pub size: u32,
    /// `SCHED_*` policy.
    pub policy: u32,
    /// `SCHED_FLAG_*` flags.
    pub flags: u64,
    /// Nice value (SCHED_OTHER, SCHED_BATCH).
    pub nice: i32,
    /// Static priority (SCHED_FIFO, SCHED_RR).
    pub priority: u32,
    /// SCHED_DEADLINE runtime, ns.
    pub runtime: u64,
    /// SCHED_DEADLINE deadline, ns.
    pub deadline: u64,
    /// SCHED_DEADLINE period, ns.
    pub period: u64,
}

/// `sched_setattr(0, attr, 0)` for the calling thread.
pub fn sched_setattr(attr: &SchedAttr) -> Result<(), Errno> {
    let mut attr = *attr;
    attr.size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: attr is a valid sched_attr (VER0 layout) of the size it states.
    let ret = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr, 0) };
    Errno::result(ret).map(drop)
}

/// `ioprio_set(IOPRIO_WHO_PROCESS, 0, prio)` for the calling process.
pub fn ioprio_set(prio: i32) -> Result<(), Errno> {
    const IOPRIO_WHO_PROCESS: i32 = 1;
    // SAFETY: integer arguments only.
    let ret = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, prio) };
    Errno::result(ret).map(drop)
}

/// `set_mempolicy(mode, nodes, maxnode)` for the calling thread: its NUMA
/// memory policy, which its children inherit and `execve` keeps. `mode`
/// carries the `MPOL_F_*` flags; `nodes` is the nodemask.
pub fn set_mempolicy(mode: i32, nodes: &[libc::c_ulong]) -> Result<(), Errno> {
    // The kernel reads maxnode - 1 bits.
    let maxnode = nodes.len() * libc::c_ulong::BITS as usize + 1;
    // SAFETY: nodes is valid for reads of maxnode - 1 bits, all the
    // kernel reads; the other arguments are integers.
    let ret = unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, nodes.as_ptr(), maxnode) };
    Errno::result(ret).map(drop)
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], {set, clear})`:
/// changes the flags of the mount behind `fd` (and of all below it).
pub fn mount_setattr(
    fd: BorrowedFd<'_>,
    recursive: bool,
    set: u64,
    clear: u64,
) -> Result<(), Errno> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: 0,
    };
    set_mount_attr(fd, recursive, &attr)
}

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

fn set_mount_attr(fd: BorrowedFd<'_>, recursive: bool, attr: &MountAttr) -> Result<(), Errno> {
    let flags = libc::AT_EMPTY_PATH | if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: the path is an empty C string and attr a valid mount_attr of
    // the size passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            attr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(ret).map(drop)
}

/// A child that waits in a new user namespace until it is killed, for its
/// namespace (idmapped mounts): returns its pid and pidfd.
pub fn user_namespace_holder() -> Result<(Pid, OwnedFd), Errno> {
    // SAFETY: the child only calls pause() until it is killed: no
    // allocation, no lock, no return into the caller.
    match unsafe { clone3(libc::CLONE_NEWUSER as u64, None) }? {
        Cloned::Child => loop {
            // SAFETY: pause has no preconditions.
            unsafe { libc::pause() };
        },
        Cloned::Parent { pid, pidfd } => Ok((pid, pidfd)),
    }
}

/// `open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC
/// [| AT_RECURSIVE])`: a detached copy of the mount tree at `path`.
pub fn open_tree_clone(path: &CStr, recursive: bool) -> Result<OwnedFd, Errno> {
    const OPEN_TREE_CLONE: u32 = 1;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as u32;
    if recursive {
        flags |= libc::AT_RECURSIVE as u32;
    }
    // SAFETY: path is NUL-terminated; the call only reads it.
    let ret = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) };
    // SAFETY: on success the kernel returned a new fd nothing else owns.
    Errno::result(ret).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `mount_setattr` with `MOUNT_ATTR_IDMAP`: ids on the (detached) mount
/// behind `fd` are mapped through the user namespace `userns`.
pub fn mount_setattr_idmap(
    fd: BorrowedFd<'_>,
    recursive: bool,
    userns: BorrowedFd<'_>,
) -> Result<(), Errno> {
    const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    set_mount_attr(fd, recursive, &attr)
}

/// `move_mount(from, "", to, "", MOVE_MOUNT_F_EMPTY_PATH |
/// MOVE_MOUNT_T_EMPTY_PATH)`: attaches the detached mount `from` onto the
/// directory or file `to` (an `O_PATH` handle).
pub fn move_mount(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Result<(), Errno> {
    const F_EMPTY_PATH: u32 = 0x4;
    const T_EMPTY_PATH: u32 = 0x40;
    // SAFETY: both paths are empty C strings; the fds are borrowed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            c"".as_ptr(),
            to.as_raw_fd(),
            c"".as_ptr(),
            F_EMPTY_PATH | T_EMPTY_PATH,
        )
    };
    Errno::result(ret).map(drop)
}

/// Sends `data` on a connected unix socket, with `fd` attached as
/// SCM_RIGHTS when given. Uses only stack memory.
pub fn send_with_fd(
    sock: BorrowedFd<'_>,
    data: &[u8],
    fd: Option<BorrowedFd<'_>>,
) -> Result<(), Errno> {
    #[repr(C, align(8))]
    struct Control([u8; 64]);
    let mut iov = libc::iovec {
        iov_base: data.as_ptr().cast_mut().cast(),
        iov_len: data.len(),
    };
    let mut control = Control([0; 64]);
    // SAFETY: msghdr is plain old data; zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if let Some(fd) = fd {
        let raw = fd.as_raw_fd();
        // SAFETY: CMSG_SPACE/CMSG_LEN are pure arithmetic.
        let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
        msg.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_controllen = space;
        // SAFETY: the control buffer is aligned and larger than `space`, so
        // CMSG_FIRSTHDR returns a valid header inside it, and CMSG_DATA
        // points at room for one int.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), raw);
        }
    }
    // SAFETY: msg points at iov, data and control, all alive for the call;
    // sendmsg only reads the data.
    let ret = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
    Errno::result(ret).map(drop)
}

/// Receives one message into `buf` and the fd that came with it, if any
/// (close-on-exec); any further fds are closed. The parent's side of
/// [`send_with_fd`].
pub fn recv_with_fd(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
) -> Result<(usize, Option<OwnedFd>), Errno> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    let mut iov = [std::io::IoSliceMut::new(buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut fd = None;
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            for raw in fds {
                // Owned either way: the first is returned, others closed.
                let owned = owned(raw);
                fd.get_or_insert(owned);
            }
        }
    }
    Ok((msg.bytes, fd))
}

/// Unlocks the pty behind `master` (`TIOCSPTLCK` 0) and opens its peer
/// (`TIOCGPTPEER`), without a path lookup in `/dev/pts`.
pub fn pty_peer(master: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int from the pointer.
    let ret = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) };
    Errno::result(ret)?;
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes the open flags as its integer argument.
    let fd = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) };
    Errno::result(fd)?;
    Ok(owned(fd))
}

/// Sets a terminal's window size (`TIOCSWINSZ`).
pub fn set_winsize(tty: BorrowedFd<'_>, rows: u16, cols: u16) -> Result<(), Errno> {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the pointer.
    let ret = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSWINSZ, &size) };
    Errno::result(ret).map(drop)
}

/// Reads a terminal's window size (`TIOCGWINSZ`) as (rows, cols).
pub fn get_winsize(tty: BorrowedFd<'_>) -> Result<(u16, u16), Errno> {
    // SAFETY: winsize is plain old data; TIOCGWINSZ fills it.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize to the pointer.
    let ret = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCGWINSZ, &mut size) };
    Errno::result(ret).map(|_| (size.ws_row, size.ws_col))
}

/// Makes `tty` the controlling terminal of the calling session leader.
pub fn set_controlling_tty(tty: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: TIOCSCTTY takes an integer argument (0: do not steal).
    let ret = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSCTTY, 0) };
    Errno::result(ret).map(drop)
}

/// `dup2(old, new)` onto a raw descriptor number such as 0, 1 or 2.
pub fn dup2_raw(old: BorrowedFd<'_>, new: RawFd) -> Result<(), Errno> {
    // SAFETY: dup2 only manipulates the fd table.
    let ret = unsafe { libc::dup2(old.as_raw_fd(), new) };
    Errno::result(ret).map(drop)
}

/// Whether `fd` is an open descriptor of this process.
pub fn fd_is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Clears close-on-exec on `fd`, so the program inherits it.
pub fn keep_across_exec(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: F_SETFD with 0 only changes the descriptor's flags.
    Errno::result(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }).map(drop)
}

/// Joins a new session keyring named `name` (`KEYCTL_JOIN_SESSION_KEYRING`).
pub fn join_session_keyring(name: &CStr) -> Result<(), Errno> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: name is NUL-terminated; other arguments are integers.
    let ret =
        unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    Errno::result(ret).map(drop)
}

/// `setresuid` as a raw system call, for the calling thread only.
///
/// glibc's wrapper is process-wide: it signals every thread in glibc's
/// thread list and waits for each. In a child cloned from a multi-threaded
/// process that list names threads the child does not have, and the
/// wrapper waits forever. The child is single-threaded, so the raw call is
/// exactly right there.
pub fn setresuid_thread(uid: u32) -> Result<(), Errno> {
    // SAFETY: integer arguments only.
    Errno::result(unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) }).map(drop)
}

/// `setresgid` as a raw system call (see [`setresuid_thread`]).
pub fn setresgid_thread(gid: u32) -> Result<(), Errno> {
    // SAFETY: integer arguments only.
    Errno::result(unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) }).map(drop)
}

/// `setgroups` as a raw system call (see [`setresuid_thread`]).
pub fn setgroups_thread(groups: &[u32]) -> Result<(), Errno> {
    // SAFETY: groups is valid for groups.len() gid_t values.
    Errno::result(unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) })
        .map(drop)
}

/// `fork` as a raw `clone` system call, without glibc's fork handlers
/// (which take the allocator's locks: in a child of a multi-threaded
/// process another thread may have held them at the clone). Returns 0 in
/// the child and the child's pid in the parent.
///
/// # Safety
/// As for `clone3`: the child may only do async-signal-safe work.
pub unsafe fn fork_raw() -> Result<i32, Errno> {
    // SAFETY: clone with only SIGCHLD and no stack behaves like fork: the
    // child continues on a copy of the caller's stack.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            libc::SIGCHLD as u64,
            0u64,
            0u64,
            0u64,
            0u64,
        )
    };
    Errno::result(ret).map(|pid| pid as i32)
}

/// `getdents64(fd, buf)`: fills `buf` with directory records of `fd`
/// (opened `O_RDONLY | O_DIRECTORY`); returns the bytes filled, 0 at the end.
pub fn getdents64(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: buf is valid for writes of buf.len() bytes.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_getdents64,
            fd.as_raw_fd(),
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    Errno::result(ret).map(|n| n as usize)
}

/// Copies up to `len` bytes from `from` to `to` in the kernel
/// (`sendfile`); returns how many, 0 at the end of `from`.
pub fn sendfile(to: BorrowedFd<'_>, from: BorrowedFd<'_>, len: usize) -> Result<usize, Errno> {
    // SAFETY: a null offset makes sendfile use and advance from's offset.
    let ret =
        unsafe { libc::sendfile(to.as_raw_fd(), from.as_raw_fd(), std::ptr::null_mut(), len) };
    Errno::result(ret).map(|n| n as usize)
}

/// `readlinkat(dir, name)` into `buf`, NUL-terminated; returns the length.
pub fn readlinkat_into(dir: BorrowedFd<'_>, name: &CStr, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: buf is valid for buf.len() - 1 bytes, leaving room for the NUL.
    let ret = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len().saturating_sub(1),
        )
    };
    let len = Errno::result(ret)? as usize;
    if len + 1 >= buf.len() {
        return Err(Errno::ENAMETOOLONG);
    }
    buf[len] = 0;
    Ok(len)
}

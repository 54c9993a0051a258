//! The container's init: the cloned child that builds the container from
//! the prepared [`Plan`] and, once `start` releases it, becomes the user's
//! process.
//!
//! Everything here runs after `clone3` in a copy of the parent: it only
//! reads the plan, writes into buffers the plan already owns and makes
//! system calls; it never allocates. A failure is reported to the parent as
//! a fixed-size [`Report`] naming the step, the item and the errno; the
//! parent turns it into the user's error message.

use std::convert::Infallible;
use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns};
use nix::sys::socket::{SockFlag, accept4};
use nix::sys::stat::{Mode, umask};
use nix::unistd::{chdir, fchdir, pivot_root, read, sethostname, write};

use crate::{
    console, devices, hooks, masks, memory_policy, mounts,
    namespaces::{self, Namespaces},
    process, rlimits, scheduling, sys, sysctl,
};

/// Everything the init needs, prepared by the parent before the clone.
pub(crate) struct Plan {
    pub namespaces: Namespaces,
    pub rootfs: std::ffi::CString,
    pub rootfs_propagation: Option<MsFlags>,
    pub readonly_root: bool,
    pub mounts: Vec<mounts::Prepared>,
    /// Populate `/dev` with the default devices (the config mounts a tmpfs there).
    pub populate_dev: bool,
    pub process: process::Prepared,
    pub last_cap: u8,
    pub masks: masks::Masks,
    pub sysctl: Vec<sysctl::Setting>,
    pub rlimits: Vec<rlimits::Limit>,
    pub scheduling: scheduling::Scheduling,
    /// `linux.memoryPolicy`, set before the privileges are dropped.
    pub memory_policy: Option<memory_policy::MemoryPolicy>,
    /// Written by the parent before it releases the init.
    pub oom_score_adj: Option<i32>,
    /// `linux.netDevices`, moved into the init's network namespace by the
    /// parent before it releases the init.
    pub net_devices: Vec<crate::netdevices::NetDevice>,
    /// Enter a new cgroup namespace once the parent has placed the init in
    /// the container's cgroup (so that cgroup is the namespace's root).
    pub unshare_cgroupns: bool,
    /// The compiled `linux.seccomp`, installed last before `execve` (or,
    /// without `noNewPrivileges`, while the init still has CAP_SYS_ADMIN).
    pub seccomp: Option<gorae_seccomp::Filter>,
    /// Build the container's rootfs (mounts, devices, pivot_root, names);
    /// false for a process joining a running container.
    pub build_rootfs: bool,
    /// The pty settings, used when the parent passes a console socket.
    pub console: console::Console,
    /// `hooks.createContainer`, run by the init before `pivot_root`.
    pub create_container_hooks: Vec<hooks::Prepared>,
    /// `hooks.startContainer`, run by the init after `start`.
    pub start_container_hooks: Vec<hooks::Prepared>,
    /// Receives the state JSON those hooks get on stdin.
    pub hook_state: Box<[u8; HOOK_STATE_MAX]>,
    /// The session keyring to join (`None`: keep the caller's, runc's
    /// `--no-new-keyring`).
    pub session_keyring: Option<std::ffi::CString>,
    /// Fds 3 .. 3+N the program inherits (`--preserve-fds`, `LISTEN_FDS`).
    pub preserve_fds: u32,
    /// Enter the rootfs with `MS_MOVE` + `chroot` instead of `pivot_root`
    /// (`--no-pivot`, for a rootfs on ramfs).
    pub no_pivot: bool,
    /// `<dir>/tasks` of the container's cgroup in each v1 hierarchy: the
    /// init moves itself there first thing (see `container::spawn`).
    pub cgroup_tasks: Vec<std::ffi::CString>,
    /// `linux.devices[]`.
    pub devices: Vec<devices::Configured>,
    /// Add `/dev/core -> /proc/kcore` (the host has a kcore, as runc checks).
    pub dev_core: bool,
    /// Bind host devices instead of `mknod`: the container has a user
    /// namespace, or gorae itself runs in one (rootless podman).
    pub bind_devices: bool,
}

/// The largest state JSON the init accepts for its hooks.
pub(crate) const HOOK_STATE_MAX: usize = 64 * 1024;

/// The steps of the init, in order. Their numbers travel in [`Report`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Step {
    WaitParent = 1,
    BecomeRoot,
    Join,
    RootPropagation,
    BindRootfs,
    OpenRootfs,
    MountDestination,
    Mount,
    MountPropagation,
    Device,
    PivotRoot,
    ReadonlyRoot,
    Hostname,
    Domainname,
    Chdir,
    CwdOutsideRoot,
    BoundingSet,
    Groups,
    SetGid,
    SetUid,
    Capabilities,
    NoNewPrivileges,
    LookPath,
    WaitStart,
    Exec,
    Sysctl,
    DevNull,
    MaskedPath,
    ReadonlyPath,
    Rlimit,
    Scheduler,
    IoPriority,
    Affinity,
    Personality,
    CgroupNamespace,
    Seccomp,
    Console,
    CreateContainerHook,
    StartContainerHook,
    Keyring,
    ConfiguredDevice,
    CgroupJoin,
    Unshare,
    Clone,
    MemoryPolicy,
}

impl Step {
    /// What the step does, for a report that reaches `start`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Step::StartContainerHook => "run hooks.startContainer",
            Step::Affinity => "sched_setaffinity process.execCPUAffinity",
            Step::Personality => "personality linux.personality",
            Step::Seccomp => "install linux.seccomp",
            Step::WaitStart => "acknowledge start",
            Step::Exec => "exec",
            _ => "set up the container",
        }
    }
}

const STEPS: [Step; 45] = [
    Step::WaitParent,
    Step::BecomeRoot,
    Step::Join,
    Step::RootPropagation,
    Step::BindRootfs,
    Step::OpenRootfs,
    Step::MountDestination,
    Step::Mount,
    Step::MountPropagation,
    Step::Device,
    Step::PivotRoot,
    Step::ReadonlyRoot,
    Step::Hostname,
    Step::Domainname,
    Step::Chdir,
    Step::CwdOutsideRoot,
    Step::BoundingSet,
    Step::Groups,
    Step::SetGid,
    Step::SetUid,
    Step::Capabilities,
    Step::NoNewPrivileges,
    Step::LookPath,
    Step::WaitStart,
    Step::Exec,
    Step::Sysctl,
    Step::DevNull,
    Step::MaskedPath,
    Step::ReadonlyPath,
    Step::Rlimit,
    Step::Scheduler,
    Step::IoPriority,
    Step::Affinity,
    Step::Personality,
    Step::CgroupNamespace,
    Step::Seccomp,
    Step::Console,
    Step::CreateContainerHook,
    Step::StartContainerHook,
    Step::Keyring,
    Step::ConfiguredDevice,
    Step::CgroupJoin,
    Step::Unshare,
    Step::Clone,
    Step::MemoryPolicy,
];

/// A failed step: which, on which item (mount index, namespace index, ...),
/// and the errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failure {
    pub step: Step,
    pub index: u32,
    pub errno: Errno,
}

fn fail(step: Step, index: usize) -> impl FnOnce(Errno) -> Failure {
    move |errno| Failure {
        step,
        index: index as u32,
        errno,
    }
}

/// What the init tells the parent: ready, or how it failed; in two stages
/// the first child tells the pid of the init it cloned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Report {
    Ready,
    Failed(Failure),
    Forked(i32),
}

impl Report {
    pub(crate) const SIZE: usize = 16;

    pub(crate) fn encode(self) -> [u8; Self::SIZE] {
        let (kind, step, index, errno) = match self {
            Report::Ready => (1u32, 0u32, 0u32, 0i32),
            Report::Failed(f) => (2, f.step as u32, f.index, f.errno as i32),
            Report::Forked(pid) => (3, 0, pid as u32, 0),
        };
        let mut b = [0u8; Self::SIZE];
        b[0..4].copy_from_slice(&kind.to_le_bytes());
        b[4..8].copy_from_slice(&step.to_le_bytes());
        b[8..12].copy_from_slice(&index.to_le_bytes());
        b[12..16].copy_from_slice(&errno.to_le_bytes());
        b
    }

    pub(crate) fn decode(b: &[u8]) -> Option<Self> {
        let word = |i: usize| -> Option<[u8; 4]> { b.get(i..i + 4)?.try_into().ok() };
        let kind = u32::from_le_bytes(word(0)?);
        let step = u32::from_le_bytes(word(4)?);
        let index = u32::from_le_bytes(word(8)?);
        let errno = i32::from_le_bytes(word(12)?);
        match kind {
            1 => Some(Report::Ready),
            2 => Some(Report::Failed(Failure {
                step: *STEPS.get((step as usize).checked_sub(1)?)?,
                index,
                errno: Errno::from_raw(errno),
            })),
            3 => Some(Report::Forked(index as i32)),
            _ => None,
        }
    }
}

/// The fds the init uses besides the plan's.
pub(crate) struct Fds<'a> {
    /// Its end of the socketpair with the parent.
    pub channel: BorrowedFd<'a>,
    /// The listening socket `start` connects to; `None` for a process
    /// `exec`'d into a running container, which runs as soon as it is ready.
    pub start: Option<BorrowedFd<'a>>,
    /// The sealed exec stub.
    pub stub: BorrowedFd<'a>,
    /// The console socket, when `process.terminal` asks for a pty.
    pub console: Option<BorrowedFd<'a>>,
}

/// Runs the init to the end: never returns.
pub(crate) fn run(plan: &mut Plan, fds: &Fds<'_>) -> ! {
    let failure = match setup(plan, fds) {
        Ok(never) => match never {},
        Err(f) => f,
    };
    let _ = write(fds.channel, &Report::Failed(failure).encode());
    sys::exit_now(1)
}

fn setup(plan: &mut Plan, fds: &Fds<'_>) -> Result<Infallible, Failure> {
    // If `create` dies, the init dies with it.
    let _ = sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as u64, 0);
    join_cgroups(&plan.cgroup_tasks)?;
    if plan.namespaces.two_stage() {
        split(plan, fds.channel)?;
    }
    // Tell the parent we sit in our cgroups before it sends anything: a
    // failure so far reaches it as a report, never as a reset socket.
    write(fds.channel, &Report::Ready.encode()).map_err(fail(Step::CgroupJoin, 0))?;
    scheduling::apply_initial(&plan.scheduling).map_err(scheduling_failure)?;
    enter_namespaces(plan, fds)?;
    if let Some(name) = &plan.session_keyring {
        match sys::join_session_keyring(name) {
            Ok(()) | Err(Errno::ENOSYS) => {}
            Err(e) => return Err(fail(Step::Keyring, 0)(e)),
        }
    }
    umask(Mode::empty());
    if plan.build_rootfs {
        build_rootfs(plan, fds.channel)?;
        set_names(plan)?;
    }
    if let Some(socket) = fds.console {
        let root = nix::fcntl::open(
            c"/",
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(fail(Step::Console, 0))?;
        console::setup(root.as_fd(), socket, &plan.console).map_err(fail(Step::Console, 1))?;
    }
    enter_cwd(&plan.process)?;
    rlimits::apply(&plan.rlimits).map_err(|(i, e)| fail(Step::Rlimit, i)(e))?;
    scheduling::apply_priorities(&plan.scheduling).map_err(scheduling_failure)?;
    if let Some(policy) = &plan.memory_policy {
        memory_policy::apply(policy).map_err(fail(Step::MemoryPolicy, 0))?;
    }
    // Every fd >= 3 close-on-exec but the preserved ones, before any
    // filter exists: a profile need not allow close_range or fcntl (fds the
    // init opens from here on are close-on-exec themselves).
    sys::cloexec_from(3).map_err(fail(Step::Exec, 0))?;
    for fd in 3..3 + plan.preserve_fds as i32 {
        sys::keep_across_exec(fd).map_err(fail(Step::Exec, 2))?;
    }
    let notify = plan.seccomp.as_ref().is_some_and(|f| f.needs_listener());
    let mut listener: Option<OwnedFd> = None;
    // Without no_new_privs, installing a filter needs CAP_SYS_ADMIN: do it
    // before the capabilities are dropped, as runc does.
    if !plan.process.no_new_privileges {
        listener = install_seccomp(plan)?;
    }
    become_user(plan)?;
    umask(plan.process.umask);
    plan.process.look_path().map_err(fail(Step::LookPath, 0))?;
    // Ready: from here the process outlives its gorae parent.
    let _ = sys::prctl(libc::PR_SET_PDEATHSIG, 0, 0);
    // A notify filter's listener goes to the agent before `create` (or
    // `exec`) returns, as on runc: with no_new_privs too the filter is in
    // place by the ready report, which carries its listener to the parent.
    if plan.process.no_new_privileges && notify {
        listener = install_seccomp(plan)?;
    }
    // A plain write when there is no fd to pass: a profile installed
    // early need not allow sendmsg.
    let ready = Report::Ready.encode();
    let sent = match &listener {
        Some(l) => sys::send_with_fd(fds.channel, &ready, Some(l.as_fd())),
        None => write(fds.channel, &ready).map(drop),
    };
    sent.map_err(fail(Step::WaitParent, 0))?;
    let handed_listener = listener.take().is_some();
    let conn = match fds.start {
        Some(start) => {
            // `create` records us in the state, then says so; if it dies
            // first, the channel closes and we exit instead of waiting
            // for a `start` that cannot know of us.
            wait_parent(fds.channel)?;
            Some(wait_for_start(start).map_err(fail(Step::WaitStart, 0))?)
        }
        // `exec` says when the agent has the listener: a failed hand-off
        // kills this process before it runs the program.
        None if handed_listener => {
            wait_parent(fds.channel)?;
            None
        }
        None => None,
    };
    // Between start and the acknowledgement a failure goes back to `start`
    // as a report on its connection (the create channel is closed by now).
    let prepared = after_start(plan, conn.as_ref());
    if let (Err(f), Some(conn)) = (&prepared, &conn) {
        let _ = write(conn.as_fd(), &Report::Failed(*f).encode());
    }
    prepared?;
    if let Some(conn) = conn {
        write(conn.as_fd(), &[1]).map_err(fail(Step::WaitStart, 1))?;
    }
    // Any other filter is installed last, so that the init makes as few
    // syscalls under it as it can: execveat of the stub, the stub's execve.
    if plan.process.no_new_privileges && !notify {
        install_seccomp(plan)?;
    }
    exec(plan, fds.stub)
}

/// What happens between `start` and its acknowledgement: the
/// startContainer hooks, the final CPU affinity and personality, and the
/// signal reset.
fn after_start(plan: &mut Plan, conn: Option<&OwnedFd>) -> Result<(), Failure> {
    if let Some(conn) = conn {
        if !plan.start_container_hooks.is_empty() {
            run_hooks(plan, conn.as_fd(), Step::StartContainerHook)?;
        }
    }
    scheduling::apply_final(&plan.scheduling).map_err(scheduling_failure)?;
    sys::reset_signals();
    Ok(())
}

fn install_seccomp(plan: &Plan) -> Result<Option<OwnedFd>, Failure> {
    let Some(filter) = &plan.seccomp else {
        return Ok(None);
    };
    filter.install().map_err(|e| {
        let errno = match e {
            gorae_seccomp::Error::NoNewPrivs => Errno::EACCES,
            gorae_seccomp::Error::Install(errno) => errno,
            _ => Errno::EINVAL,
        };
        fail(Step::Seccomp, 0)(errno)
    })
}

fn scheduling_failure((part, errno): (scheduling::Failed, Errno)) -> Failure {
    let step = match part {
        scheduling::Failed::Affinity => Step::Affinity,
        scheduling::Failed::Scheduler => Step::Scheduler,
        scheduling::Failed::IoPriority => Step::IoPriority,
        scheduling::Failed::Personality => Step::Personality,
    };
    fail(step, 0)(errno)
}

fn enter_namespaces(plan: &Plan, fds: &Fds<'_>) -> Result<(), Failure> {
    // The parent writes our id mappings and oom score, then releases us.
    // A rootless parent can write /proc/<pid>/uid_map only while we are
    // dumpable; nothing of the container runs before the release.
    wait_parent(fds.channel)?;
    // From here nothing in the container may ptrace or read the init
    // before execve (CVE-2016-9962).
    let _ = sys::prctl(libc::PR_SET_DUMPABLE, 0, 0);
    if plan.unshare_cgroupns {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
            .map_err(fail(Step::CgroupNamespace, 0))?;
    }
    if plan.namespaces.new_user() {
        become_root()?;
    }
    if !plan.namespaces.two_stage() {
        join(&plan.namespaces.joins, 0)?;
    }
    Ok(())
}

/// Waits for the parent's one-byte go-ahead on the channel; its end of
/// file (the parent died) or any error is a failure.
fn wait_parent(channel: BorrowedFd<'_>) -> Result<(), Failure> {
    let mut go = [0u8; 1];
    match read(channel, &mut go) {
        Ok(1) => Ok(()),
        Ok(_) => Err(fail(Step::WaitParent, 0)(Errno::EPIPE)),
        Err(e) => Err(fail(Step::WaitParent, 0)(e)),
    }
}

fn become_root() -> Result<(), Failure> {
    sys::setresgid_thread(0).map_err(fail(Step::BecomeRoot, 0))?;
    sys::setresuid_thread(0).map_err(fail(Step::BecomeRoot, 0))
}

/// `setns` into each of `joins`, numbered from `first` in reports.
fn join(joins: &[namespaces::Join], first: usize) -> Result<(), Failure> {
    for (i, j) in joins.iter().enumerate() {
        setns(j.fd.as_fd(), j.kind).map_err(fail(Step::Join, first + i))?;
        if j.kind == CloneFlags::CLONE_NEWUSER {
            // Act as the namespace's root, as runc does: files the init
            // creates must belong to a mapped id.
            become_root()?;
        }
    }
    Ok(())
}

/// The first of two stages (see `Namespaces::two_stage`): join the user
/// namespace and every other one to join (pid and time for children),
/// create the new ones from inside it, then clone the init
/// proper as our parent's child (`CLONE_PARENT`), tell the parent its pid
/// and exit. Returns only in the init.
fn split(plan: &Plan, channel: BorrowedFd<'_>) -> Result<(), Failure> {
    let ns = &plan.namespaces;
    join(&ns.joins, 0)?;
    // Joined pid/time namespaces before a new user namespace, which would
    // leave no capability over them.
    join(&ns.joins_for_children, ns.joins.len())?;
    nix::sched::unshare(ns.new).map_err(fail(Step::Unshare, 0))?;
    if let Some(offsets) = &ns.time_offsets {
        let file = nix::fcntl::open(
            c"/proc/self/timens_offsets",
            OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(fail(Step::Unshare, 1))?;
        write(file.as_fd(), offsets.as_bytes()).map_err(fail(Step::Unshare, 1))?;
    }
    // SAFETY: both processes go on in this allocation-free init: the
    // child returns into it, this one writes its report and exits.
    match unsafe { sys::clone3(libc::CLONE_PARENT as u64, None) } {
        Err(e) => Err(fail(Step::Clone, 0)(e)),
        Ok(sys::Cloned::Child) => {
            let _ = sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as u64, 0);
            Ok(())
        }
        Ok(sys::Cloned::Parent { pid, .. }) => {
            let _ = write(channel, &Report::Forked(pid.as_raw()).encode());
            sys::exit_now(0)
        }
    }
}

/// Moves the init (one thread) into its v1 cgroups by writing "0" to each
/// `tasks` file: the kernel then skips the global threadgroup lock a
/// migration by pid takes, which waits for an RCU grace period (~15 ms
/// here). The unified hierarchy was joined at the clone
/// (`CLONE_INTO_CGROUP`).
fn join_cgroups(tasks: &[std::ffi::CString]) -> Result<(), Failure> {
    for (i, path) in tasks.iter().enumerate() {
        let fd = nix::fcntl::open(
            path.as_c_str(),
            OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(fail(Step::CgroupJoin, i))?;
        write(fd.as_fd(), b"0").map_err(fail(Step::CgroupJoin, i))?;
    }
    Ok(())
}

/// Reads the state JSON the parent sent on `from` and runs the hooks of
/// `step` with it.
fn run_hooks(plan: &mut Plan, from: BorrowedFd<'_>, step: Step) -> Result<(), Failure> {
    let len = read(from, &mut plan.hook_state[..]).map_err(fail(step, 0))?;
    let hooks = match step {
        Step::CreateContainerHook => &mut plan.create_container_hooks,
        _ => &mut plan.start_container_hooks,
    };
    hooks::run_in_init(hooks, &plan.hook_state[..len]).map_err(|(i, e)| fail(step, i)(e))
}

fn build_rootfs(plan: &mut Plan, channel: BorrowedFd<'_>) -> Result<(), Failure> {
    let none: Option<&CStr> = None;
    let rootfs = plan.rootfs.as_c_str();
    let own_namespace = plan.namespaces.new_mount();
    if own_namespace {
        // Nothing we mount may propagate back to the host.
        let propagation = MsFlags::MS_REC | MsFlags::MS_SLAVE;
        mount(none, c"/", none, propagation, none).map_err(fail(Step::RootPropagation, 0))?;
        mount(
            Some(rootfs),
            rootfs,
            none,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            none,
        )
        .map_err(fail(Step::BindRootfs, 0))?;
    }
    let root = nix::fcntl::open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(fail(Step::OpenRootfs, 0))?;
    for (i, m) in plan.mounts.iter().enumerate() {
        mounts::apply(root.as_fd(), m).map_err(|(part, errno)| {
            let step = match part {
                mounts::Failed::Destination => Step::MountDestination,
                mounts::Failed::Mount => Step::Mount,
                mounts::Failed::Propagation => Step::MountPropagation,
            };
            fail(step, i)(errno)
        })?;
    }
    if plan.populate_dev {
        devices::create_defaults(root.as_fd(), plan.bind_devices).map_err(|(name, errno)| {
            let index = devices::DEFAULT
                .iter()
                .position(|d| d.name == name)
                .unwrap_or(devices::DEFAULT.len());
            fail(Step::Device, index)(errno)
        })?;
    }
    devices::create_configured(root.as_fd(), &plan.devices, plan.bind_devices)
        .map_err(|(i, e)| fail(Step::ConfiguredDevice, i)(e))?;
    if plan.populate_dev {
        devices::create_symlinks(root.as_fd(), plan.dev_core)
            .map_err(|(_, errno)| fail(Step::Device, devices::DEFAULT.len())(errno))?;
    }
    if !plan.create_container_hooks.is_empty() {
        run_hooks(plan, channel, Step::CreateContainerHook)?;
    }
    if !own_namespace {
        enter_root_by_chroot(root)?;
    } else if plan.no_pivot {
        enter_root_by_move(root)?;
    } else {
        enter_root(root)?;
    }
    if let Some(flags) = plan.rootfs_propagation {
        mount(none, c"/", none, flags, none).map_err(fail(Step::RootPropagation, 1))?;
    }
    let root = nix::fcntl::open(
        c"/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(fail(Step::OpenRootfs, 1))?;
    sysctl::apply(root.as_fd(), &plan.sysctl).map_err(|(i, e)| fail(Step::Sysctl, i)(e))?;
    masks::apply(root.as_fd(), &plan.masks).map_err(|(part, errno)| match part {
        masks::Failed::DevNull => fail(Step::DevNull, 0)(errno),
        masks::Failed::Masked(i) => fail(Step::MaskedPath, i)(errno),
        masks::Failed::Readonly(i) => fail(Step::ReadonlyPath, i)(errno),
    })?;
    if plan.readonly_root {
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        mount(none, c"/", none, flags, none).map_err(fail(Step::ReadonlyRoot, 0))?;
    }
    Ok(())
}

/// `pivot_root` with the old root stacked under the new one, then detached:
/// no directory of the host stays reachable.
fn enter_root(root: OwnedFd) -> Result<(), Failure> {
    fchdir(root.as_fd()).map_err(fail(Step::PivotRoot, 0))?;
    pivot_root(c".", c".").map_err(fail(Step::PivotRoot, 1))?;
    umount2(c".", MntFlags::MNT_DETACH).map_err(fail(Step::PivotRoot, 2))?;
    chdir(c"/").map_err(fail(Step::PivotRoot, 3))?;
    drop(root);
    Ok(())
}

/// `--no-pivot`: move the rootfs onto `/` and chroot into it, for a rootfs
/// `pivot_root` refuses (ramfs, initramfs).
fn enter_root_by_move(root: OwnedFd) -> Result<(), Failure> {
    let none: Option<&CStr> = None;
    fchdir(root.as_fd()).map_err(fail(Step::PivotRoot, 0))?;
    mount(Some(c"."), c"/", none, MsFlags::MS_MOVE, none).map_err(fail(Step::PivotRoot, 1))?;
    nix::unistd::chroot(c".").map_err(fail(Step::PivotRoot, 2))?;
    chdir(c"/").map_err(fail(Step::PivotRoot, 3))?;
    Ok(())
}

/// Without a mount namespace of its own (the config lists none, or joins
/// one by path), as runc: `chroot` into the rootfs, whose mounts stay in
/// the shared namespace (`delete` undoes them in gorae's own).
fn enter_root_by_chroot(root: OwnedFd) -> Result<(), Failure> {
    fchdir(root.as_fd()).map_err(fail(Step::PivotRoot, 0))?;
    nix::unistd::chroot(c".").map_err(fail(Step::PivotRoot, 2))?;
    chdir(c"/").map_err(fail(Step::PivotRoot, 3))
}

fn set_names(plan: &Plan) -> Result<(), Failure> {
    if let Some(name) = &plan.process.hostname {
        sethostname(std::ffi::OsStr::from_bytes(name.as_bytes()))
            .map_err(fail(Step::Hostname, 0))?;
    }
    if let Some(name) = &plan.process.domainname {
        sys::setdomainname(name.as_bytes()).map_err(fail(Step::Domainname, 0))?;
    }
    Ok(())
}

/// Enters `process.cwd`, creating it when missing as runc does, and checks
/// that it lies inside the container's root (CVE-2024-21626: a cwd reached
/// through a leaked fd would not).
fn enter_cwd(p: &process::Prepared) -> Result<(), Failure> {
    if chdir(p.cwd.as_c_str()) == Err(Errno::ENOENT) {
        for dir in &p.cwd_ancestors {
            match nix::unistd::mkdir(dir.as_c_str(), Mode::from_bits_truncate(0o755)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(fail(Step::Chdir, 0)(e)),
            }
        }
    }
    chdir(p.cwd.as_c_str()).map_err(fail(Step::Chdir, 0))?;
    let mut buf = [0u8; 4096];
    let len = sys::getcwd_into(&mut buf).map_err(fail(Step::CwdOutsideRoot, 0))?;
    if buf.first() != Some(&b'/') || len == 0 {
        return Err(fail(Step::CwdOutsideRoot, 0)(Errno::EXDEV));
    }
    Ok(())
}

fn become_user(plan: &Plan) -> Result<(), Failure> {
    let p = &plan.process;
    p.caps
        .apply_bounding(plan.last_cap)
        .map_err(fail(Step::BoundingSet, 0))?;
    // Keep the permitted set across the uid change; set the final sets after.
    sys::prctl(libc::PR_SET_KEEPCAPS, 1, 0).map_err(fail(Step::Capabilities, 0))?;
    // Raw, per-thread credential calls: see sys::setresuid_thread. Try
    // first, and excuse only the kernel's refusal in a user namespace
    // whose setgroups is denied: a fake `/proc/self/setgroups` saying
    // "deny" in the image must not keep the caller's groups (the
    // CVE-2023-27561 class: a procfs the container controls).
    match sys::setgroups_thread(&p.additional_gids) {
        Err(Errno::EPERM) if in_user_namespace_without_setgroups() => {}
        other => other.map_err(fail(Step::Groups, 0))?,
    }
    sys::setresgid_thread(p.gid.as_raw()).map_err(fail(Step::SetGid, 0))?;
    sys::setresuid_thread(p.uid.as_raw()).map_err(fail(Step::SetUid, 0))?;
    sys::prctl(libc::PR_SET_KEEPCAPS, 0, 0).map_err(fail(Step::Capabilities, 0))?;
    p.caps
        .apply(plan.last_cap)
        .map_err(fail(Step::Capabilities, 1))?;
    if p.no_new_privileges {
        sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0).map_err(fail(Step::NoNewPrivileges, 0))?;
    }
    Ok(())
}

/// True in a user namespace whose `setgroups` file says `deny`.
fn in_user_namespace_without_setgroups() -> bool {
    let mut buf = [0u8; 8];
    let Ok(fd) = nix::fcntl::open(
        c"/proc/self/setgroups",
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) else {
        return false;
    };
    matches!(read(fd.as_fd(), &mut buf), Ok(n) if buf[..n].starts_with(b"deny"))
}

/// Blocks until `start` connects and says go; returns the connection,
/// on which the init acknowledges.
fn wait_for_start(listener: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    loop {
        let conn = sys::owned(accept4(listener.as_raw_fd(), SockFlag::SOCK_CLOEXEC)?);
        let mut go = [0u8; 1];
        if read(conn.as_fd(), &mut go) == Ok(1) {
            return Ok(conn);
        }
    }
}

fn exec(plan: &mut Plan, stub: BorrowedFd<'_>) -> Result<Infallible, Failure> {
    let errno = plan.process.exec.exec_stub(stub);
    Err(fail(Step::Exec, 1)(errno))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_survive_encoding() {
        for step in STEPS {
            let r = Report::Failed(Failure {
                step,
                index: 7,
                errno: Errno::ENOENT,
            });
            assert_eq!(Report::decode(&r.encode()), Some(r));
        }
        assert_eq!(Report::decode(&Report::Ready.encode()), Some(Report::Ready));
        assert_eq!(Report::decode(&[0u8; 3]), None);
    }
}

//! Cloning a process into a container and waiting until it is ready: the
//! one path shared by `create` (the init) and `exec`.

use std::fs;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use nix::sys::wait::waitpid;
use nix::unistd::{Pid, read, write};

use super::Phases;
use crate::error::{Error, Result};
use crate::init::{self, Fds, Plan, Report, Step};
use crate::namespaces::{self, Namespaces};
use crate::state::{Saved, Status};
use crate::{netdevices, sealed, sys};

/// The fds the new process uses besides its channel and the exec stub.
pub(crate) struct Handles<'a> {
    /// The start socket (create) or none (exec: run when ready).
    pub start: Option<&'a OwnedFd>,
    /// The connected console socket, for `process.terminal`.
    pub console: Option<&'a OwnedFd>,
    /// The cgroup to place the process in before it runs anything.
    pub cgroup: Option<&'a gorae_cgroups::Cgroup>,
    /// Fds of the caller the child must close at once (locks it must not
    /// hold).
    pub close_in_child: &'a [RawFd],
}

/// How the child gets into the container's cgroup.
struct Placement {
    /// The unified directory, for `clone3(CLONE_INTO_CGROUP)`.
    unified: Option<OwnedFd>,
    /// v1 directories the parent moves the child into by pid (when the
    /// child, in a new user namespace, may not write host cgroup files).
    by_pid: Vec<std::path::PathBuf>,
}

/// Decides the placement and prepares the init's own v1 joins
/// (`plan.cgroup_tasks`): writing "0" to `tasks` from the task itself
/// skips the global lock that a migration by pid takes.
fn place(plan: &mut Plan, cgroup: Option<&gorae_cgroups::Cgroup>) -> Result<Placement> {
    plan.cgroup_tasks.clear();
    let Some(cgroup) = cgroup else {
        return Ok(Placement {
            unified: None,
            by_pid: Vec::new(),
        });
    };
    let unified = cgroup
        .unified_dir()
        .map(|dir| {
            std::fs::File::open(dir)
                .map(OwnedFd::from)
                .map_err(|e| Error::io("open", dir, e))
        })
        .transpose()?;
    let v1: Vec<std::path::PathBuf> = cgroup.v1_dirs().values().cloned().collect();
    if plan.namespaces.new_user() {
        return Ok(Placement {
            unified,
            by_pid: v1,
        });
    }
    for dir in v1 {
        let tasks = dir.join("tasks");
        let path = std::ffi::CString::new(tasks.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::invalid("linux.cgroupsPath", "contains a NUL byte"))?;
        plan.cgroup_tasks.push(path);
    }
    Ok(Placement {
        unified,
        by_pid: Vec::new(),
    })
}

/// Runs in the parent once the child is placed and mapped, before it is
/// released: the runtime-namespace hooks. Returns the state JSON to send
/// the child for its own hooks, if it has any.
pub(crate) type BeforeRelease<'a> = &'a mut dyn FnMut(Pid) -> Result<Option<Vec<u8>>>;

/// A cloned process that is killed and reaped when this is dropped, unless
/// [`Spawned::keep`] was called: the undo of the clone on every error path.
pub(crate) struct Spawned {
    pub pid: Pid,
    pub pidfd: OwnedFd,
    /// The parent's end of the channel, kept once the process is ready
    /// and closed with this value.
    channel: Option<OwnedFd>,
    /// The listener of a seccomp notify filter, which came with the ready
    /// report: the caller hands it to the agent, then commits.
    pub listener: Option<OwnedFd>,
    armed: bool,
}

impl Spawned {
    /// Tells a container's init that it is recorded in the state: only
    /// then does it wait for `start`. An init whose `create` dies before
    /// this sees the channel close and exits, instead of waiting unknown.
    /// An exec'd process that sent a listener waits for this too.
    pub(crate) fn commit(&self) -> Result<()> {
        let channel = self
            .channel
            .as_ref()
            .ok_or_else(|| Error::sys("write", "init channel", nix::errno::Errno::EBADF))?;
        write(channel, &[1])
            .map(drop)
            .map_err(|errno| Error::sys("write", "init channel", errno))
    }

    /// Keeps the process; returns its own pidfd for the caller.
    pub(crate) fn keep(mut self) -> Result<OwnedFd> {
        let fd = self
            .pidfd
            .try_clone()
            .map_err(|e| Error::io("duplicate", "pidfd", e))?;
        self.armed = false;
        Ok(fd)
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if self.armed {
            let _ = sys::pidfd_send_signal(self.pidfd.as_fd(), libc::SIGKILL);
            let _ = waitpid(self.pid, None);
        }
    }
}

/// Clones the process of `plan`, places it, releases it and waits until it
/// reports ready (or how it failed). Marks the phases `clone`, `release`
/// (the child runs its setup) and `init` (it reported ready).
pub(crate) fn spawn(
    plan: &mut Plan,
    handles: &Handles<'_>,
    before_release: BeforeRelease<'_>,
    phases: &mut Phases,
) -> Result<Spawned> {
    let stub =
        sealed::stub_memfd().map_err(|errno| Error::sys("memfd_create", "gorae-exec", errno))?;
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|errno| Error::sys("socketpair", "init channel", errno))?;
    let flags = plan.namespaces.clone_flags();
    let placement = place(plan, handles.cgroup)?;
    let for_children = namespaces::enter_for_children(&plan.namespaces)?;
    let into = placement.unified.as_ref().map(|fd| fd.as_raw_fd());
    // SAFETY: the child only runs init::run, which does not allocate, and
    // ends in execve or _exit: it never returns into this function.
    let cloned = unsafe { sys::clone3(flags, into) };
    let (pid, pidfd) = match cloned {
        Err(errno) => {
            for_children.restore()?;
            return Err(Error::sys("clone3", "container process", errno));
        }
        Ok(sys::Cloned::Child) => {
            for fd in handles.close_in_child.iter().chain([&ours.as_raw_fd()]) {
                let _ = nix::unistd::close(*fd);
            }
            let fds = Fds {
                channel: theirs.as_fd(),
                start: handles.start.map(|s| s.as_fd()),
                stub: stub.as_fd(),
                console: handles.console.map(|s| s.as_fd()),
            };
            init::run(plan, &fds)
        }
        Ok(sys::Cloned::Parent { pid, pidfd }) => (pid, pidfd),
    };
    let restored = for_children.restore();
    drop((theirs, stub));
    let mut spawned = Spawned {
        pid,
        pidfd,
        channel: None,
        listener: None,
        armed: true,
    };
    restored?;
    phases.mark("clone");
    let mut ready = false;
    if plan.namespaces.two_stage() {
        (spawned, ready) = second_stage(&ours, plan, spawned)?;
    }
    let pid = spawned.pid;
    // The init first reports that it joined its cgroups (or how it failed).
    if !ready {
        wait_ready(&ours, plan, pid)?;
    }
    for dir in &placement.by_pid {
        let procs = dir.join("cgroup.procs");
        fs::write(&procs, pid.to_string()).map_err(|e| Error::io("write", procs, e))?;
    }
    if plan.namespaces.new_user() {
        write_id_maps(pid, &plan.namespaces)?;
    }
    if let Some(score) = plan.oom_score_adj {
        let path = format!("/proc/{pid}/oom_score_adj");
        fs::write(&path, score.to_string())
            .map_err(|e| Error::io("write process.oomScoreAdj to", path, e))?;
    }
    let joined_net = plan
        .namespaces
        .joins
        .iter()
        .find(|j| j.kind == nix::sched::CloneFlags::CLONE_NEWNET)
        .map(|j| j.fd.as_fd());
    netdevices::move_into(&plan.net_devices, pid, joined_net)?;
    let for_hooks = before_release(pid)?;
    write(&ours, &[1]).map_err(|errno| Error::sys("write", "init channel", errno))?;
    if let Some(state) = for_hooks {
        write(&ours, &state).map_err(|errno| Error::sys("write", "init channel", errno))?;
    }
    phases.mark("release");
    spawned.listener = wait_ready(&ours, plan, pid)?;
    phases.mark("init");
    spawned.channel = Some(ours);
    Ok(spawned)
}

/// Waits for the first of two stages to report the init it cloned, reaps
/// it, and returns the init (a child of ours: `CLONE_PARENT`) and whether
/// the init's first ready report, which may come before, came already.
fn second_stage(channel: &OwnedFd, plan: &Plan, first: Spawned) -> Result<(Spawned, bool)> {
    let mut ready = false;
    let pid = loop {
        let mut buf = [0u8; Report::SIZE];
        let n = read(channel.as_fd(), &mut buf)
            .map_err(|errno| Error::sys("read", "init channel", errno))?;
        match Report::decode(&buf[..n]) {
            Some(Report::Forked(pid)) => break Pid::from_raw(pid),
            Some(Report::Ready) if !ready => ready = true,
            Some(Report::Failed(f)) => return Err(describe(plan, f)),
            _ => return Err(died(first.pid)),
        }
    };
    // The init is our child, so its pid cannot be reused before we reap it:
    // without a pidfd it is killed and reaped by pid.
    let pidfd = sys::pidfd_open(pid).map_err(|errno| {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = waitpid(pid, None);
        Error::sys("pidfd_open", "init", errno)
    });
    let init = pidfd.map(|pidfd| Spawned {
        pid,
        pidfd,
        channel: None,
        listener: None,
        armed: true,
    });
    let status = waitpid(first.pid, None);
    let mut first = first;
    first.armed = false;
    let init = init?;
    match status {
        Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => Ok((init, ready)),
        other => Err(Error::InitDied {
            reason: format!("first stage: {other:?}"),
        }),
    }
}

/// Hands a seccomp notify `listener` to the agent at `saved`'s
/// `listenerPath`: one connection, the container process state with the
/// fd. `pid` is the process under the filter, `init` and `status` the
/// container's, as its state names them.
pub(crate) fn hand_to_agent(
    saved: &Saved,
    (init, status): (i32, Status),
    pid: i32,
    listener: OwnedFd,
) -> Result<()> {
    let Some(path) = &saved.listener_path else {
        return Ok(());
    };
    // oci-spec's state has no "paused": an exec into a paused container
    // (`--ignore-paused`) reports it running, its processes frozen.
    let status = match status {
        Status::Paused => Status::Running,
        other => other,
    };
    let state =
        serde_json::from_slice(&saved.hook_state(status, init)).map_err(|source| Error::State {
            path: path.clone(),
            source,
        })?;
    let process_state =
        gorae_seccomp::container_process_state(pid, saved.listener_metadata.clone(), state);
    gorae_seccomp::send_listener(path, listener.as_fd(), &process_state)?;
    Ok(())
}

fn died(pid: Pid) -> Error {
    let status = waitpid(pid, None)
        .map(|s| format!("{s:?}"))
        .unwrap_or_default();
    Error::InitDied { reason: status }
}

/// Writes the id mappings of a new user namespace. As root, directly.
/// Rootless, a single mapping of the caller's own id is written directly
/// (with `setgroups` denied first, as the kernel requires); anything else
/// (ranges from /etc/subuid and /etc/subgid) goes through the setuid
/// helpers `newuidmap` and `newgidmap`, as runc does.
fn write_id_maps(pid: Pid, ns: &Namespaces) -> Result<()> {
    let rootless = super::rootless();
    let own = |map: &str, id: u32| {
        let mut lines = map.lines();
        let only = lines
            .next()
            .map(|l| l.split_whitespace().collect::<Vec<_>>());
        lines.next().is_none()
            && only.is_some_and(|f| f.len() == 3 && f[1] == id.to_string() && f[2] == "1")
    };
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    let direct = !rootless || (own(&ns.uid_map, uid) && own(&ns.gid_map, gid));
    if !direct {
        return [("newuidmap", &ns.uid_map), ("newgidmap", &ns.gid_map)]
            .into_iter()
            .try_for_each(|(helper, map)| map_with_helper(helper, pid, map));
    }
    if rootless {
        let path = format!("/proc/{pid}/setgroups");
        fs::write(&path, "deny").map_err(|e| Error::io("write", path, e))?;
    }
    for (file, map) in [("uid_map", &ns.uid_map), ("gid_map", &ns.gid_map)] {
        let path = format!("/proc/{pid}/{file}");
        fs::write(&path, map).map_err(|e| Error::io("write", path, e))?;
    }
    Ok(())
}

/// `newuidmap PID  inside outside count ...` (likewise `newgidmap`).
fn map_with_helper(helper: &str, pid: Pid, map: &str) -> Result<()> {
    let out = std::process::Command::new(helper)
        .arg(pid.to_string())
        .args(map.split_whitespace())
        .output()
        .map_err(|e| Error::io("run (install Debian's uidmap)", helper, e))?;
    if out.status.success() {
        return Ok(());
    }
    Err(Error::invalid(
        "linux.uidMappings",
        format!("{helper}: {}", String::from_utf8_lossy(&out.stderr).trim()),
    ))
}

/// Waits for the process's ready report; returns the fd that came with
/// it (a seccomp listener), if any.
fn wait_ready(channel: &OwnedFd, plan: &Plan, pid: Pid) -> Result<Option<OwnedFd>> {
    let mut buf = [0u8; Report::SIZE];
    let (n, fd) = sys::recv_with_fd(channel.as_fd(), &mut buf)
        .map_err(|errno| Error::sys("recvmsg", "init channel", errno))?;
    match Report::decode(&buf[..n]) {
        Some(Report::Ready) => Ok(fd),
        Some(Report::Failed(f)) => Err(describe(plan, f)),
        _ => Err(died(pid)),
    }
}

/// Turns the init's report into an error naming what failed.
pub(crate) fn describe(plan: &Plan, f: init::Failure) -> Error {
    let i = f.index as usize;
    let mount = |i: usize| {
        plan.mounts.get(i).map_or_else(String::new, |m| {
            format!(
                "mounts[{}] {:?} onto {:?}",
                m.index, m.source, m.destination
            )
        })
    };
    let (step, subject) = match f.step {
        Step::WaitParent => ("wait for the parent", String::new()),
        Step::BecomeRoot => ("become root in the user namespace", String::new()),
        Step::Join => (
            "setns",
            plan.namespaces
                .joined(i)
                .map(|j| j.path.display().to_string())
                .unwrap_or_default(),
        ),
        Step::Unshare if i == 1 => ("write", "/proc/self/timens_offsets".into()),
        Step::Unshare => ("unshare the new namespaces", String::new()),
        Step::Clone => ("clone the init", String::new()),
        Step::RootPropagation => ("set mount propagation of", "/".into()),
        Step::BindRootfs => ("bind mount root.path", format!("{:?}", plan.rootfs)),
        Step::OpenRootfs => ("open root.path", format!("{:?}", plan.rootfs)),
        Step::MountDestination => ("create mount destination", mount(i)),
        Step::Mount => ("mount", mount(i)),
        Step::MountPropagation => ("set propagation of", mount(i)),
        Step::Device => (
            "create device",
            crate::devices::DEFAULT
                .get(i)
                .map_or("/dev symlink".into(), |d| format!("{:?}", d.host)),
        ),
        Step::PivotRoot => ("pivot_root into", format!("{:?}", plan.rootfs)),
        Step::ReadonlyRoot => ("remount read-only (root.readonly)", "/".into()),
        Step::Hostname => ("sethostname", format!("{:?}", plan.process.hostname)),
        Step::Domainname => ("setdomainname", format!("{:?}", plan.process.domainname)),
        Step::Chdir => ("chdir to process.cwd", format!("{:?}", plan.process.cwd)),
        Step::CwdOutsideRoot => (
            "process.cwd lies outside the container",
            format!("{:?}", plan.process.cwd),
        ),
        Step::BoundingSet => ("drop bounding capabilities", String::new()),
        Step::Groups => (
            "setgroups process.user.additionalGids",
            format!("{:?}", plan.process.additional_gids),
        ),
        Step::SetGid => ("setgid process.user.gid", plan.process.gid.to_string()),
        Step::SetUid => ("setuid process.user.uid", plan.process.uid.to_string()),
        Step::Capabilities => ("set process.capabilities", String::new()),
        Step::NoNewPrivileges => ("set process.noNewPrivileges", String::new()),
        Step::LookPath => {
            let program = plan.process.program().to_string_lossy().into_owned();
            let reason = match (f.errno, plan.process.search.is_empty()) {
                (nix::errno::Errno::ENOENT, false) => {
                    "executable file not found in $PATH".to_owned()
                }
                (nix::errno::Errno::ENOENT, true) => {
                    format!("stat {program}: no such file or directory")
                }
                (nix::errno::Errno::EACCES, _) => "permission denied".to_owned(),
                (errno, _) => errno.desc().to_lowercase(),
            };
            return Error::Exec { program, reason };
        }
        Step::WaitStart => ("wait for start", String::new()),
        Step::Exec => ("exec", format!("{:?}", plan.process.program())),
        Step::Sysctl => (
            "write linux.sysctl",
            plan.sysctl
                .get(i)
                .map(|s| s.key.clone())
                .unwrap_or_default(),
        ),
        Step::DevNull => (
            "check /dev/null is the 1:3 character device, for",
            "linux.maskedPaths".into(),
        ),
        Step::MaskedPath => (
            "mask linux.maskedPaths",
            format!("{:?}", plan.masks.masked.get(i)),
        ),
        Step::ReadonlyPath => (
            "make read-only linux.readonlyPaths",
            format!("{:?}", plan.masks.readonly.get(i)),
        ),
        Step::Rlimit => (
            "setrlimit process.rlimits",
            plan.rlimits
                .get(i)
                .map(|l| crate::rlimits::name(l.resource))
                .unwrap_or_default(),
        ),
        Step::Scheduler => ("sched_setattr process.scheduler", String::new()),
        Step::IoPriority => ("ioprio_set process.ioPriority", String::new()),
        Step::Affinity => ("sched_setaffinity process.execCPUAffinity", String::new()),
        Step::Personality => ("personality linux.personality", String::new()),
        Step::MemoryPolicy => (
            "set_mempolicy linux.memoryPolicy",
            plan.memory_policy
                .as_ref()
                .map(|p| p.described.clone())
                .unwrap_or_default(),
        ),
        Step::CgroupNamespace => ("unshare the cgroup namespace", String::new()),
        Step::Seccomp => ("install linux.seccomp", String::new()),
        Step::Console => ("set up the pty for process.terminal", "/dev/ptmx".into()),
        Step::Keyring => ("join a new session keyring", String::new()),
        Step::CgroupJoin => (
            "join the cgroup",
            plan.cgroup_tasks
                .get(i)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ),
        Step::ConfiguredDevice => (
            "create linux.devices",
            plan.devices
                .get(i)
                .map(|d| d.host.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ),
        Step::CreateContainerHook | Step::StartContainerHook => {
            let (field, list) = match f.step {
                Step::CreateContainerHook => {
                    ("hooks.createContainer", &plan.create_container_hooks)
                }
                _ => ("hooks.startContainer", &plan.start_container_hooks),
            };
            let path = list
                .get(i)
                .map(|h| h.path.to_string_lossy().into_owned())
                .unwrap_or_default();
            let reason = match f.errno {
                nix::errno::Errno::ECHILD => "exited with a failure status".to_owned(),
                nix::errno::Errno::ETIMEDOUT => "killed after its timeout".to_owned(),
                errno => errno.to_string(),
            };
            return Error::Hook {
                field: format!("{field}[{i}]"),
                path: path.into(),
                reason,
            };
        }
    };
    Error::Init {
        step,
        subject,
        errno: f.errno,
    }
}

/// Writes the pid file atomically, as runc does (no trailing newline).
pub(crate) fn write_pid_file(file: &Path, pid: Pid) -> Result<()> {
    let tmp = file.with_extension("gorae-tmp");
    fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(pid.to_string().as_bytes()))
        .map_err(|e| Error::io("write", &tmp, e))?;
    fs::rename(&tmp, file).map_err(|e| Error::io("write", file, e))
}

/// Fds passed to a container process (`--preserve-fds`, `LISTEN_FDS`) must
/// be the caller's own open fds 3 .. 3+N: checked before gorae opens any fd
/// of its own, which would otherwise take a free number in that range.
pub(crate) fn check_inherited_fds(n: u32) -> Result<()> {
    match (3..3 + n as i32).find(|fd| !sys::fd_is_open(*fd)) {
        Some(fd) => Err(Error::invalid(
            "--preserve-fds",
            format!("fd {fd} is not open in the caller"),
        )),
        None => Ok(()),
    }
}

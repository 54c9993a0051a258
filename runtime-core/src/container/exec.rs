//! `exec`: run another process in a running container. It joins every
//! namespace and the cgroup of the container's init and gets the
//! container's capabilities, rlimits, user, `no_new_privs` and seccomp
//! profile (or those of `--process`), through the same init steps and
//! sealed exec stub as the container's own process.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use nix::sched::CloneFlags;
use nix::unistd::Pid;
use oci_spec::runtime::{Capability, Process, Spec};

use super::Runtime;
use super::spawn::{Handles, check_inherited_fds, hand_to_agent, spawn, write_pid_file};
use crate::error::{Error, Result};
use crate::init::Plan;
use crate::namespaces::Namespaces;
use crate::state::{StateDir, Status};
use crate::{capabilities, console, masks, memory_policy, process, rlimits, scheduling};

/// What to run, as runc's `exec` flags describe it. Unset fields keep the
/// container's own process settings.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// A complete process (`--process FILE`), used instead of the
    /// container's process and of the fields below.
    pub process: Option<Process>,
    /// The program and its arguments.
    pub args: Vec<String>,
    /// `NAME=value` entries added to (or replacing in) the environment.
    pub env: Vec<String>,
    /// The working directory.
    pub cwd: Option<PathBuf>,
    /// `uid` and optional `gid`.
    pub user: Option<(u32, Option<u32>)>,
    /// Supplementary groups.
    pub additional_gids: Vec<u32>,
    /// Capabilities added to the bounding, effective and permitted sets.
    pub caps: Vec<String>,
    /// Set `no_new_privs`.
    pub no_new_privs: bool,
    /// Allocate a pty (sent over `console_socket`).
    pub tty: bool,
    /// Where to send the pty master.
    pub console_socket: Option<PathBuf>,
    /// Where to write the process's pid.
    pub pid_file: Option<PathBuf>,
    /// Run even when the container is paused.
    pub ignore_paused: bool,
    /// Pass the caller's fds 3 .. 3+N to the process.
    pub preserve_fds: u32,
}

/// A process started by [`Runtime::exec`]; a child of the caller.
#[derive(Debug)]
pub struct Execed {
    /// Its pid.
    pub pid: Pid,
    /// A pidfd for it.
    pub pidfd: OwnedFd,
}

/// Namespaces `exec` joins, user first and mount last (joining the mount
/// namespace moves the process to the container's root).
const JOINED: [(&str, CloneFlags); 6] = [
    ("user", CloneFlags::CLONE_NEWUSER),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

impl Runtime {
    /// Starts a process in running container `id`. When this returns, the
    /// process runs the program; the caller may wait for it.
    pub fn exec(&self, id: &str, opts: &ExecOptions) -> Result<Execed> {
        let mut phases = self.phases("exec");
        check_inherited_fds(opts.preserve_fds)?;
        let dir = StateDir::open_shared(&self.root, id)?;
        let saved = dir.load()?;
        let status = dir.status(saved.as_ref());
        let runnable =
            status == Status::Running || (opts.ignore_paused && status == Status::Paused);
        let (Some(saved), true) = (saved, runnable) else {
            return Err(Error::WrongState {
                id: id.to_owned(),
                op: "exec into",
                status,
            });
        };
        let init = saved
            .init
            .ok_or_else(|| Error::NotFound { id: id.to_owned() })?;
        // Pin the init before reading its namespaces: a pidfd checked
        // against the recorded start time.
        let _pinned = init.pidfd().ok_or_else(|| Error::WrongState {
            id: id.to_owned(),
            op: "exec into",
            status: Status::Stopped,
        })?;
        let spec = dir.load_config()?;
        let process = exec_process(&spec, opts)?;
        let mut plan = prepare(&spec, process, init.pid)?;
        if !init.is_alive() {
            return Err(Error::WrongState {
                id: id.to_owned(),
                op: "exec into",
                status: Status::Stopped,
            });
        }
        let console = match (plan.process_terminal, &opts.console_socket) {
            (true, None) => {
                return Err(Error::invalid(
                    "process.terminal",
                    "a terminal needs --console-socket to send its pty to",
                ));
            }
            (true, Some(path)) => Some(super::create::connect_console(path)?),
            (false, _) => None,
        };
        let handles = Handles {
            start: None,
            console: console.as_ref(),
            cgroup: saved.cgroup.as_ref(),
            close_in_child: &[],
        };
        plan.plan.preserve_fds = opts.preserve_fds;
        phases.mark("prepare");
        let mut spawned = spawn(&mut plan.plan, &handles, &mut |_| Ok(None), &mut phases)?;
        // With a notify profile the process sent its listener and waits
        // until the agent has it; a failed hand-off kills it unrun.
        if let Some(fd) = spawned.listener.take() {
            hand_to_agent(&saved, (init.pid, status), spawned.pid.as_raw(), fd)?;
            spawned.commit()?;
        }
        if let Some(file) = &opts.pid_file {
            write_pid_file(file, spawned.pid)?;
        }
        let pid = spawned.pid;
        Ok(Execed {
            pid,
            pidfd: spawned.keep()?,
        })
    }
}

/// The process to run: `--process`, or the container's with the flags on top.
fn exec_process(spec: &Spec, opts: &ExecOptions) -> Result<Process> {
    if let Some(p) = &opts.process {
        return Ok(p.clone());
    }
    if opts.args.is_empty() {
        return Err(Error::invalid(
            "exec",
            "no command given (args or --process)",
        ));
    }
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(opts.args.clone()));
    p.set_env(Some(merge_env(
        p.env().as_deref().unwrap_or_default(),
        &opts.env,
    )));
    if let Some(cwd) = &opts.cwd {
        p.set_cwd(cwd.clone());
    }
    let mut user = p.user().clone();
    if let Some((uid, gid)) = opts.user {
        user.set_uid(uid);
        if let Some(gid) = gid {
            user.set_gid(gid);
        }
    }
    if !opts.additional_gids.is_empty() {
        user.set_additional_gids(Some(opts.additional_gids.clone()));
    }
    p.set_user(user);
    if opts.tty {
        p.set_terminal(Some(true));
    }
    if opts.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if !opts.caps.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &opts.caps {
            let cap: Capability = serde_json::from_value(serde_json::Value::String(name.clone()))
                .map_err(|_| {
                Error::invalid("exec --cap", format!("unknown capability {name:?}"))
            })?;
            let add = |set: &Option<oci_spec::runtime::Capabilities>| {
                let mut set = set.clone().unwrap_or_default();
                set.insert(cap);
                Some(set)
            };
            caps.set_bounding(add(caps.bounding()));
            caps.set_effective(add(caps.effective()));
            caps.set_permitted(add(caps.permitted()));
        }
        p.set_capabilities(Some(caps));
    }
    Ok(p)
}

/// The container's environment with `added` entries replacing same-named
/// ones, in first-seen order.
fn merge_env(base: &[String], added: &[String]) -> Vec<String> {
    let mut order: Vec<&str> = Vec::new();
    let mut values: BTreeMap<&str, &str> = BTreeMap::new();
    for entry in base.iter().chain(added) {
        let name = entry.split_once('=').map_or(entry.as_str(), |(n, _)| n);
        if values.insert(name, entry).is_none() {
            order.push(name);
        }
    }
    order
        .iter()
        .filter_map(|n| values.get(n).map(|e| (*e).to_owned()))
        .collect()
}

/// A plan for a process joining the container of `init_pid`.
struct ExecPlan {
    plan: Plan,
    process_terminal: bool,
}

fn prepare(spec: &Spec, process: Process, init_pid: i32) -> Result<ExecPlan> {
    crate::bundle::check_process(&process)?;
    let mut spec = spec.clone();
    spec.set_process(Some(process.clone()));
    let (prepared, _) = process::Prepared::from_spec(&spec, &process)?;
    let seccomp = spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .map(gorae_seccomp::compile)
        .transpose()?;
    let plan = Plan {
        namespaces: joined_namespaces(init_pid)?,
        rootfs: Default::default(),
        rootfs_propagation: None,
        readonly_root: false,
        mounts: Vec::new(),
        populate_dev: false,
        process: prepared,
        last_cap: capabilities::last_cap(),
        masks: masks::Masks::default(),
        sysctl: Vec::new(),
        rlimits: rlimits::prepare(&process)?,
        scheduling: scheduling::Scheduling::from_spec(&spec)?,
        memory_policy: memory_policy::prepare(&spec)?,
        oom_score_adj: None,
        net_devices: Vec::new(),
        unshare_cgroupns: false,
        seccomp,
        build_rootfs: false,
        console: console::Console {
            size: process
                .console_size()
                .as_ref()
                .map(|b| (b.height() as u16, b.width() as u16)),
            bind_dev_console: false,
        },
        create_container_hooks: Vec::new(),
        start_container_hooks: Vec::new(),
        hook_state: Box::new([0u8; crate::init::HOOK_STATE_MAX]),
        session_keyring: None,
        preserve_fds: 0,
        no_pivot: false,
        cgroup_tasks: Vec::new(),
        devices: Vec::new(),
        dev_core: false,
        bind_devices: false,
    };
    Ok(ExecPlan {
        plan,
        process_terminal: process.terminal().unwrap_or(false),
    })
}

/// The init's namespaces that differ from ours: the pid and time ones are
/// entered by the parent for its child, the rest joined by the child.
fn joined_namespaces(init_pid: i32) -> Result<Namespaces> {
    let mut ns = Namespaces::empty();
    let differs = |name: &str| {
        let theirs = std::fs::read_link(format!("/proc/{init_pid}/ns/{name}"));
        let ours = std::fs::read_link(format!("/proc/self/ns/{name}"));
        matches!((theirs, ours), (Ok(t), Ok(o)) if t != o)
    };
    for (name, kind) in JOINED {
        if differs(name) {
            ns.joins.push(crate::namespaces::open(
                PathBuf::from(format!("/proc/{init_pid}/ns/{name}")),
                kind,
            )?);
        }
    }
    for (name, kind) in [
        ("pid", CloneFlags::CLONE_NEWPID),
        ("time", CloneFlags::from_bits_retain(libc::CLONE_NEWTIME)),
    ] {
        if differs(name) {
            ns.joins_for_children.push(crate::namespaces::open(
                PathBuf::from(format!("/proc/{init_pid}/ns/{name}")),
                kind,
            )?);
        }
    }
    Ok(ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_env_replaces_same_named_entries_in_order() {
        let base = ["PATH=/bin".to_owned(), "A=1".to_owned()];
        let added = ["A=2".to_owned(), "B=3".to_owned()];
        assert_eq!(merge_env(&base, &added), ["PATH=/bin", "A=2", "B=3"]);
    }
}

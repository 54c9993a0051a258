//! `create`: validate the bundle, reserve the state directory, clone the init
//! into its namespaces, wait for it to report ready, record the state.

use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use nix::unistd::Pid;
use oci_spec::runtime::LinuxNamespaceType;

use super::spawn::{Handles, check_inherited_fds, hand_to_agent, spawn, write_pid_file};
use super::{Created, Phases, Runtime};
use crate::bundle::Bundle;
use crate::error::{Error, Result};
use crate::init::Plan;
use crate::mounts;
use crate::namespaces::{self, Namespaces};
use crate::process;
use crate::state::{ProcessId, START_SOCKET, Saved, StateDir, Status, rfc3339_now};
use crate::{
    capabilities, console, hooks, intel_rdt, masks, memory_policy, netdevices, rlimits, scheduling,
    shared_mounts, sysctl,
};

/// Options of `create` beyond the id.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// The bundle directory (holding `config.json`).
    pub bundle: PathBuf,
    /// Where to write the init's pid, if anywhere.
    pub pid_file: Option<PathBuf>,
    /// A unix socket to send the pty master to when `process.terminal` is
    /// true (runc's `--console-socket`).
    pub console_socket: Option<PathBuf>,
    /// Pass the caller's fds 3 .. 3+N to the container's process.
    pub preserve_fds: u32,
    /// Socket-activation fds (the caller's `LISTEN_FDS`): passed on like
    /// preserved fds, with `LISTEN_FDS` and `LISTEN_PID=1` in the
    /// process's environment.
    pub listen_fds: u32,
    /// Enter the rootfs by `MS_MOVE` + `chroot`, not `pivot_root`.
    pub no_pivot: bool,
    /// Keep the caller's session keyring instead of a new one.
    pub no_new_keyring: bool,
    /// runc's `--systemd-cgroup`: use systemd for the cgroup.
    pub systemd_cgroup: bool,
}

impl CreateOptions {
    /// Options for the bundle at `bundle`, everything else as runc's defaults.
    pub fn new(bundle: impl Into<PathBuf>) -> Self {
        CreateOptions {
            bundle: bundle.into(),
            ..Default::default()
        }
    }

    /// Writes the init's pid to `file`.
    pub fn pid_file(mut self, file: impl Into<PathBuf>) -> Self {
        self.pid_file = Some(file.into());
        self
    }

    /// Sends the pty master to the unix socket at `path`.
    pub fn console_socket(mut self, path: impl Into<PathBuf>) -> Self {
        self.console_socket = Some(path.into());
        self
    }

    /// Passes the caller's fds 3 .. 3+`n` to the container's process.
    pub fn preserve_fds(mut self, n: u32) -> Self {
        self.preserve_fds = n;
        self
    }

    /// Leaves the caller's session keyring to the container.
    pub fn no_new_keyring(mut self) -> Self {
        self.no_new_keyring = true;
        self
    }

    /// Uses `MS_MOVE` + `chroot` instead of `pivot_root`.
    pub fn no_pivot(mut self) -> Self {
        self.no_pivot = true;
        self
    }

    /// Asks for systemd-managed cgroups (refused without systemd).
    pub fn systemd_cgroup(mut self) -> Self {
        self.systemd_cgroup = true;
        self
    }
}

impl Runtime {
    /// Creates container `id` from the bundle: when this returns, the init
    /// waits in the container for [`Runtime::start`]. On failure nothing is
    /// left behind: no state directory, mount or process.
    pub fn create(&self, id: &str, opts: &CreateOptions) -> Result<Created> {
        self.create_with_console(id, opts, None)
    }

    /// `create`, with `console` as the console socket when the caller made
    /// one itself (a foreground `run` that proxies the terminal).
    pub(crate) fn create_with_console(
        &self,
        id: &str,
        opts: &CreateOptions,
        console: Option<OwnedFd>,
    ) -> Result<Created> {
        let mut phases = self.phases("create");
        crate::state::validate_id(id)?;
        check_inherited_fds(opts.preserve_fds + opts.listen_fds)?;
        if opts.systemd_cgroup && !std::path::Path::new("/run/systemd/system").exists() {
            return Err(Error::invalid(
                "--systemd-cgroup",
                "systemd is not running on this host; use cgroupfs paths",
            ));
        }
        let mut bundle = Bundle::load(&opts.bundle)?;
        if opts.listen_fds > 0 {
            add_listen_env(&mut bundle, opts.listen_fds);
        }
        let (mut plan, mut warnings) = prepare(&bundle)?;
        // Not in `prepare`, which `Bundle::check` shares: this makes
        // kernel objects (a user namespace, detached mounts).
        mounts::open_idmapped(&mut plan.mounts)?;
        let mounts_before = match plan.namespaces.shares_mounts() {
            true => Some(shared_mounts::below(&bundle.rootfs)?),
            false => None,
        };
        phases.mark("validate");
        plan.preserve_fds = opts.preserve_fds + opts.listen_fds;
        plan.no_pivot = opts.no_pivot;
        if !opts.no_new_keyring {
            plan.session_keyring = std::ffi::CString::new(format!("_ses.{id}")).ok();
        }
        let terminal = bundle
            .spec
            .process()
            .as_ref()
            .and_then(|p| p.terminal())
            .unwrap_or(false);
        let console_socket = match (terminal, &opts.console_socket) {
            (true, None) if console.is_some() => console,
            (true, None) => {
                return Err(Error::invalid(
                    "process.terminal",
                    "a terminal needs --console-socket to send its pty to",
                ));
            }
            (true, Some(path)) => Some(connect_console(path)?),
            (false, _) => None,
        };
        let linux = bundle.spec.linux().as_ref();
        let resources = linux.and_then(|l| l.resources().as_ref());
        let configured = linux.and_then(|l| l.cgroups_path().as_deref());
        let cgroup_path = match configured {
            Some(path) => gorae_cgroups::CgroupPath::from_spec(Some(path), id)?,
            None => super::cgroups::default_path(&self.root, id)?,
        };
        let hierarchy = gorae_cgroups::Hierarchy::detect()?;
        gorae_cgroups::validate_on(
            &hierarchy,
            &resources.cloned().unwrap_or_default(),
            &cgroup_path,
        )?;
        let seccomp = linux.and_then(|l| l.seccomp().as_ref());
        phases.mark("cgroup-validate");
        let mut saved = Saved {
            id: id.to_owned(),
            bundle: bundle.dir.clone(),
            rootfs: bundle.rootfs.clone(),
            created: rfc3339_now(),
            owner: String::new(),
            annotations: bundle
                .spec
                .annotations()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            init: None,
            creator: Some(ProcessId::current()?),
            own_pid_namespace: plan.namespaces.has_pid_namespace(),
            cgroup: None,
            cgroup_is_default: configured.is_none(),
            listener_path: seccomp.and_then(|s| s.listener_path().clone()),
            listener_metadata: seccomp.and_then(|s| s.listener_metadata().clone()),
            mounts_before: mounts_before.clone(),
        };
        // From here every failure undoes what was made. The state names
        // this process from the first write on, so that a create killed at
        // any point reads as stopped and `delete` finds what it made.
        let mut made = Made {
            runtime: self,
            dir: StateDir::reserve(&self.root, id)?,
            cgroup: None,
            default_path: configured.is_none(),
            rootfs: &bundle.rootfs,
            mounts_before: mounts_before.as_deref(),
            kept: false,
        };
        made.dir.save(&saved)?;
        phases.mark("reserve");
        let (cgroup, cgroup_warnings) = create_cgroup(&hierarchy, &cgroup_path, resources)?;
        made.cgroup = cgroup.clone();
        phases.mark("cgroup");
        saved.cgroup = cgroup.clone();
        // A cgroup at the default path needs no record: `delete` removes
        // an unrecorded one there (see `cgroups::remove_unrecorded`).
        if saved.cgroup.is_some() && !saved.cgroup_is_default {
            made.dir.save(&saved)?;
        }
        warnings.extend(cgroup_warnings.iter().map(|w| w.to_string()));
        warnings.iter().for_each(|w| self.warn(w));
        match &cgroup {
            Some(cgroup) => mounts::bind_own_cgroups(&mut plan.mounts, cgroup),
            None => mounts::bind_caller_cgroups(&mut plan.mounts),
        }
        // The cgroup namespace is entered once the init sits in its cgroup.
        if plan
            .namespaces
            .new
            .contains(nix::sched::CloneFlags::CLONE_NEWCGROUP)
        {
            plan.namespaces
                .new
                .remove(nix::sched::CloneFlags::CLONE_NEWCGROUP);
            plan.unshare_cgroupns = true;
        }
        made.dir.save_config(&bundle.spec)?;
        let launch = Launch {
            cgroup: cgroup.as_ref(),
            console_socket: console_socket.as_ref(),
            pid_file: opts.pid_file.as_deref(),
            hooks: bundle.spec.hooks().as_ref(),
        };
        let (pid, pidfd) = launch.run(&made.dir, &mut plan, saved, &mut phases)?;
        phases.mark("state");
        made.keep();
        Ok(Created {
            pid,
            pidfd,
            warnings,
        })
    }
}

/// What a `create` in progress has made: its state directory (locked),
/// its cgroup and, in gorae's own mount namespace, the init's mounts below
/// the rootfs. Dropped before [`Made::keep`], on any failure, it undoes
/// them all.
struct Made<'a> {
    runtime: &'a Runtime,
    dir: StateDir,
    cgroup: Option<gorae_cgroups::Cgroup>,
    default_path: bool,
    rootfs: &'a Path,
    /// The mounts below the rootfs before the init, when it shares our
    /// mount namespace.
    mounts_before: Option<&'a [shared_mounts::SharedMount]>,
    kept: bool,
}

impl Made<'_> {
    /// Keeps everything: the container is created.
    fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Made<'_> {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        if let Some(before) = self.mounts_before {
            undo_shared_mounts(self.runtime, self.rootfs, before);
        }
        if let Some(cgroup) = &self.cgroup {
            let _ = super::cgroups::remove(cgroup, self.default_path);
        }
        let _ = self.dir.remove();
    }
}

/// Translates the bundle into the init's plan, checking every field on the
/// way; also the warnings to give.
pub(crate) fn prepare(bundle: &Bundle) -> Result<(Plan, Vec<String>)> {
    let spec = &bundle.spec;
    let namespaces = Namespaces::from_spec(spec)?;
    let bind_devices = namespaces.any_user() || namespaces.caller_in_user_namespace;
    hooks::validate(spec.hooks().as_ref())?;
    intel_rdt::check(spec)?;
    let process_spec = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::invalid("process", "missing"))?;
    let (process, unknown_caps) = process::Prepared::from_spec(spec, process_spec)?;
    let linux = spec.linux().as_ref();
    let rootfs_propagation = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .map(|p| mounts::propagation(p, "linux.rootfsPropagation"))
        .transpose()?;
    let cgroups = if spec
        .mounts()
        .iter()
        .flatten()
        .any(|m| matches!(m.typ().as_deref(), Some("cgroup" | "cgroup2")))
    {
        mounts::host_cgroups()
    } else {
        Vec::new()
    };
    let prepared = mounts::prepare(spec, &bundle.dir, &cgroups)?;
    let seccomp = linux
        .and_then(|l| l.seccomp().as_ref())
        .map(gorae_seccomp::compile)
        .transpose()?;
    let populate_dev = spec
        .mounts()
        .iter()
        .flatten()
        .any(|m| m.destination() == Path::new("/dev") && m.typ().as_deref() == Some("tmpfs"));
    if !namespaces.new_mount() {
        let needs = [
            (
                "linux.maskedPaths",
                linux
                    .and_then(|l| l.masked_paths().as_ref())
                    .is_some_and(|p| !p.is_empty()),
            ),
            (
                "linux.readonlyPaths",
                linux
                    .and_then(|l| l.readonly_paths().as_ref())
                    .is_some_and(|p| !p.is_empty()),
            ),
            ("linux.rootfsPropagation", rootfs_propagation.is_some()),
            (
                "root.readonly",
                spec.root()
                    .as_ref()
                    .and_then(|r| r.readonly())
                    .unwrap_or(false),
            ),
        ];
        if let Some((field, _)) = needs.iter().find(|(_, set)| *set) {
            namespaces::require_new(spec, LinuxNamespaceType::Mount, field)?;
        }
    }
    let rootfs = CString::new(bundle.rootfs.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::invalid("root.path", "contains a NUL byte"))?;
    let plan = Plan {
        rootfs,
        rootfs_propagation,
        readonly_root: spec
            .root()
            .as_ref()
            .and_then(|r| r.readonly())
            .unwrap_or(false),
        mounts: prepared,
        populate_dev,
        masks: masks::Masks::from_spec(spec)?,
        sysctl: sysctl::prepare(spec, &namespaces)?,
        rlimits: rlimits::prepare(process_spec)?,
        scheduling: scheduling::Scheduling::from_spec(spec)?.for_init(),
        memory_policy: memory_policy::prepare(spec)?,
        namespaces,
        process,
        last_cap: capabilities::last_cap(),
        oom_score_adj: process_spec.oom_score_adj(),
        net_devices: netdevices::prepare(spec)?,
        unshare_cgroupns: false,
        seccomp,
        build_rootfs: true,
        create_container_hooks: hooks::prepare(
            hooks::Kind::CreateContainer,
            spec.hooks().as_ref(),
        )?,
        start_container_hooks: hooks::prepare(hooks::Kind::StartContainer, spec.hooks().as_ref())?,
        hook_state: Box::new([0u8; crate::init::HOOK_STATE_MAX]),
        session_keyring: None,
        preserve_fds: 0,
        no_pivot: false,
        cgroup_tasks: Vec::new(),
        devices: crate::devices::prepare(spec)?,
        dev_core: std::path::Path::new("/proc/kcore").exists(),
        bind_devices,
        console: console::Console {
            size: process_spec
                .console_size()
                .as_ref()
                .map(|b| (b.height() as u16, b.width() as u16)),
            bind_dev_console: true,
        },
    };
    if let Some(m) = plan.mounts.iter().find(|m| m.idmap.is_some()) {
        if plan.namespaces.caller_in_user_namespace {
            return Err(Error::invalid(
                format!("mounts[{}].options", m.index),
                "idmapped mounts need root on the host (as runc)",
            ));
        }
    }
    let warnings = unknown_caps
        .into_iter()
        .chain(bundle.dropped_caps.iter().cloned())
        .map(|c| format!("ignoring capability {c}: unknown to this kernel"))
        .collect();
    Ok((plan, warnings))
}

/// The handles the init is launched with.
struct Launch<'a> {
    cgroup: Option<&'a gorae_cgroups::Cgroup>,
    console_socket: Option<&'a OwnedFd>,
    pid_file: Option<&'a Path>,
    hooks: Option<&'a oci_spec::runtime::Hooks>,
}

impl Launch<'_> {
    /// Clones the init, waits until it is ready, records it in the state
    /// and only then lets it wait for `start`.
    fn run(
        &self,
        dir: &StateDir,
        plan: &mut Plan,
        mut saved: Saved,
        phases: &mut Phases,
    ) -> Result<(Pid, OwnedFd)> {
        let start_path = dir.short_path(START_SOCKET);
        let listener = UnixListener::bind(&start_path)
            .map_err(|e| Error::io("bind", dir.path().join(START_SOCKET), e))?;
        let listener = OwnedFd::from(listener);
        let handles = Handles {
            start: Some(&listener),
            console: self.console_socket,
            cgroup: self.cgroup,
            // The state directory's lock belongs to `create`, not the init.
            close_in_child: &[dir.lock_fd()],
        };
        let hooks = self.hooks.cloned();
        let creating = saved.clone();
        let container_hooks = !plan.create_container_hooks.is_empty();
        let mut before_release = |pid: Pid| -> Result<Option<Vec<u8>>> {
            let state = creating.hook_state(Status::Creating, pid.as_raw());
            hooks::run(hooks::Kind::Prestart, hooks.as_ref(), &state)?;
            hooks::run(hooks::Kind::CreateRuntime, hooks.as_ref(), &state)?;
            Ok(container_hooks.then_some(state))
        };
        let mut spawned = spawn(plan, &handles, &mut before_release, phases)?;
        drop(listener);
        // A notify filter's listener reaches the agent during `create`; if
        // it cannot, `create` fails (config-linux.md, listenerPath).
        if let Some(fd) = spawned.listener.take() {
            let pid = spawned.pid.as_raw();
            hand_to_agent(&creating, (pid, Status::Creating), pid, fd)?;
        }
        saved.init = ProcessId::of(spawned.pid);
        if saved.init.is_none() {
            return Err(Error::InitDied {
                reason: "gone right after it reported ready".into(),
            });
        }
        saved.creator = None;
        dir.save(&saved)?;
        if let Some(file) = self.pid_file {
            write_pid_file(file, spawned.pid)?;
        }
        spawned.commit()?;
        let pid = spawned.pid;
        Ok((pid, spawned.keep()?))
    }
}

/// After a failed create in gorae's own mount namespace: detaches what
/// the init mounted below the rootfs (everything there not in `before`).
fn undo_shared_mounts(rt: &Runtime, rootfs: &Path, before: &[shared_mounts::SharedMount]) {
    let made = shared_mounts::made_since(rootfs, before).unwrap_or_default();
    for warning in shared_mounts::undo(rootfs, &made) {
        rt.warn(&warning);
    }
}

/// Connects to the console socket the caller listens on.
pub(crate) fn connect_console(path: &Path) -> Result<OwnedFd> {
    std::os::unix::net::UnixStream::connect(path)
        .map(OwnedFd::from)
        .map_err(|e| Error::io("connect to console socket", path, e))
}

/// Socket activation: the program learns of its fds as systemd tells them.
fn add_listen_env(bundle: &mut Bundle, n: u32) {
    if let Some(process) = bundle.spec.process_mut() {
        let mut env = process.env().clone().unwrap_or_default();
        env.retain(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="));
        env.push(format!("LISTEN_FDS={n}"));
        env.push("LISTEN_PID=1".to_owned());
        process.set_env(Some(env));
    }
}

/// The container's cgroup. Rootless, as runc without a delegated cgroup: a
/// container that asks for no resources runs without one when the
/// hierarchy is not writable, and one that asks for limits fails saying why.
fn create_cgroup(
    hierarchy: &gorae_cgroups::Hierarchy,
    path: &gorae_cgroups::CgroupPath,
    resources: Option<&oci_spec::runtime::LinuxResources>,
) -> Result<(Option<gorae_cgroups::Cgroup>, Vec<gorae_cgroups::Warning>)> {
    match gorae_cgroups::Cgroup::create(hierarchy, path, resources) {
        Ok((cgroup, warnings)) => Ok((Some(cgroup), warnings)),
        Err(e) if super::rootless() => {
            let wants_limits =
                resources.is_some_and(|r| r != &oci_spec::runtime::LinuxResources::default());
            if wants_limits {
                Err(Error::invalid(
                    "linux.resources",
                    format!(
                        "rootless and no cgroup is delegated to this user ({e}): limits cannot be applied"
                    ),
                ))
            } else {
                Ok((None, Vec::new()))
            }
        }
        Err(e) => Err(e.into()),
    }
}

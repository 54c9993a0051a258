//! `create`: validate the bundle, reserve the state directory, clone the init
//! into its namespaces, wait for it to report ready, record the state.

use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use nix::sys::wait::waitpid;
use nix::unistd::{Pid, read, write};
use oci_spec::runtime::LinuxNamespaceType;

use super::{Created, Runtime};
use crate::bundle::Bundle;
use crate::error::{Error, Result};
use crate::init::{self, Fds, Plan, Report, Step};
use crate::mounts;
use crate::namespaces::{self, Namespaces};
use crate::process;
use crate::state::{ProcessId, START_SOCKET, Saved, StateDir, rfc3339_now};
use crate::{capabilities, masks, rlimits, scheduling, sealed, sys, sysctl};

/// Options of `create` beyond the id.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// The bundle directory (holding `config.json`).
    pub bundle: PathBuf,
    /// Where to write the init's pid, if anywhere.
    pub pid_file: Option<PathBuf>,
}

impl Runtime {
    /// Creates container `id` from the bundle: when this returns, the init
    /// waits in the container for [`Runtime::start`]. On failure nothing is
    /// left behind: no state directory, mount or process.
    pub fn create(&self, id: &str, opts: &CreateOptions) -> Result<Created> {
        crate::state::validate_id(id)?;
        let bundle = Bundle::load(&opts.bundle)?;
        let (mut plan, mut warnings) = prepare(&bundle)?;
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
        let dir = StateDir::reserve(&self.root, id)?;
        let (cgroup, cgroup_warnings) =
            match gorae_cgroups::Cgroup::create(&hierarchy, &cgroup_path, resources) {
                Ok(created) => created,
                Err(e) => {
                    let _ = dir.remove();
                    return Err(e.into());
                }
            };
        warnings.extend(cgroup_warnings.iter().map(|w| w.to_string()));
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
        let saved = Saved {
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
            cgroup: Some(cgroup.clone()),
            cgroup_is_default: configured.is_none(),
            listener_path: seccomp.and_then(|s| s.listener_path().clone()),
            listener_metadata: seccomp.and_then(|s| s.listener_metadata().clone()),
        };
        match launch(&dir, &mut plan, saved, &cgroup, opts.pid_file.as_deref()) {
            Ok((pid, pidfd)) => Ok(Created {
                pid,
                pidfd,
                warnings,
            }),
            Err(e) => {
                let _ = super::cgroups::remove(&cgroup, configured.is_none());
                let _ = dir.remove();
                Err(e)
            }
        }
    }
}

/// Translates the bundle into the init's plan.
fn prepare(bundle: &Bundle) -> Result<(Plan, Vec<String>)> {
    let spec = &bundle.spec;
    let namespaces = Namespaces::from_spec(spec)?;
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
    if spec.hostname().is_some() {
        namespaces::require_new(spec, LinuxNamespaceType::Uts, "hostname")?;
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
        scheduling: scheduling::Scheduling::from_spec(spec)?,
        namespaces,
        process,
        last_cap: capabilities::last_cap(),
        oom_score_adj: process_spec.oom_score_adj(),
        unshare_cgroupns: false,
        seccomp,
    };
    let warnings = unknown_caps
        .into_iter()
        .map(|c| format!("ignoring capability {c}: unknown to this kernel"))
        .collect();
    Ok((plan, warnings))
}

/// Kills and reaps the init unless disarmed: the undo of the clone.
struct InitGuard<'a> {
    pid: Pid,
    pidfd: &'a OwnedFd,
    armed: bool,
}

impl Drop for InitGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = sys::pidfd_send_signal(self.pidfd.as_fd(), libc::SIGKILL);
            let _ = waitpid(self.pid, None);
        }
    }
}

fn launch(
    dir: &StateDir,
    plan: &mut Plan,
    mut saved: Saved,
    cgroup: &gorae_cgroups::Cgroup,
    pid_file: Option<&Path>,
) -> Result<(Pid, OwnedFd)> {
    dir.save(&saved)?;
    let start_path = dir.short_path(START_SOCKET);
    let listener = UnixListener::bind(&start_path)
        .map_err(|e| Error::io("bind", dir.path().join(START_SOCKET), e))?;
    let listener = OwnedFd::from(listener);
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
    let for_children = namespaces::enter_for_children(&plan.namespaces)?;
    // SAFETY: the child only runs init::run, which does not allocate, and
    // ends in execve or _exit: it never returns into this function.
    let cloned = unsafe { sys::clone3(flags, None) };
    let (pid, pidfd) = match cloned {
        Err(errno) => {
            for_children.restore()?;
            return Err(Error::sys("clone3", "container init", errno));
        }
        Ok(sys::Cloned::Child) => {
            // The state directory's lock and our end of the channel belong
            // to `create`: the init must not hold them.
            let _ = nix::unistd::close(dir.lock_fd());
            let _ = nix::unistd::close(ours.as_raw_fd());
            let fds = Fds {
                channel: theirs.as_fd(),
                start: listener.as_fd(),
                stub: stub.as_fd(),
            };
            init::run(plan, &fds)
        }
        Ok(sys::Cloned::Parent { pid, pidfd }) => (pid, pidfd),
    };
    let restored = for_children.restore();
    drop((theirs, listener, stub));
    let mut guard = InitGuard {
        pid,
        pidfd: &pidfd,
        armed: true,
    };
    restored?;
    cgroup.add_pid(pid.as_raw())?;
    if plan.namespaces.new_user() {
        write_id_maps(pid, &plan.namespaces)?;
    }
    if let Some(score) = plan.oom_score_adj {
        let path = format!("/proc/{pid}/oom_score_adj");
        fs::write(&path, score.to_string())
            .map_err(|e| Error::io("write process.oomScoreAdj to", path, e))?;
    }
    write(&ours, &[1]).map_err(|errno| Error::sys("write", "init channel", errno))?;
    wait_ready(&ours, plan, pid)?;
    saved.init = ProcessId::of(pid);
    if saved.init.is_none() {
        return Err(Error::InitDied {
            reason: "gone right after it reported ready".into(),
        });
    }
    saved.creator = None;
    dir.save(&saved)?;
    if let Some(file) = pid_file {
        write_pid_file(file, pid)?;
    }
    guard.armed = false;
    drop(guard);
    Ok((pid, pidfd))
}

fn write_id_maps(pid: Pid, ns: &Namespaces) -> Result<()> {
    for (file, map) in [("uid_map", &ns.uid_map), ("gid_map", &ns.gid_map)] {
        let path = format!("/proc/{pid}/{file}");
        fs::write(&path, map).map_err(|e| Error::io("write", path, e))?;
    }
    Ok(())
}

fn wait_ready(channel: &OwnedFd, plan: &Plan, pid: Pid) -> Result<()> {
    let mut buf = [0u8; Report::SIZE];
    let n = read(channel.as_fd(), &mut buf)
        .map_err(|errno| Error::sys("read", "init channel", errno))?;
    match Report::decode(&buf[..n]) {
        Some(Report::Ready) => Ok(()),
        Some(Report::Failed(f)) => Err(describe(plan, f)),
        None => {
            let status = waitpid(pid, None)
                .map(|s| format!("{s:?}"))
                .unwrap_or_default();
            Err(Error::InitDied { reason: status })
        }
    }
}

/// Turns the init's report into an error naming what failed.
fn describe(plan: &Plan, f: init::Failure) -> Error {
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
                .joins
                .get(i)
                .map(|j| j.path.display().to_string())
                .unwrap_or_default(),
        ),
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
        Step::LookPath => (
            "find executable process.args[0]",
            format!("{:?} in $PATH", plan.process.program()),
        ),
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
        Step::CgroupNamespace => ("unshare the cgroup namespace", String::new()),
        Step::Seccomp => ("install linux.seccomp", String::new()),
    };
    Error::Init {
        step,
        subject,
        errno: f.errno,
    }
}

/// Writes the pid file atomically, as runc does (no trailing newline).
fn write_pid_file(file: &Path, pid: Pid) -> Result<()> {
    let tmp = file.with_extension("gorae-tmp");
    fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(pid.to_string().as_bytes()))
        .map_err(|e| Error::io("write", &tmp, e))?;
    fs::rename(&tmp, file).map_err(|e| Error::io("write", file, e))
}

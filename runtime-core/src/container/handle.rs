//! [`Container`]: one container of a [`Runtime`], with its whole lifecycle
//! as methods, and waiting for a container's end without polling.

use std::os::fd::AsFd;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::wait::{WaitStatus, waitpid};
use oci_spec::runtime::LinuxResources;

use super::{CreateOptions, Created, ExecOptions, Execed, Runtime};
use crate::error::{Error, Result};
use crate::state::{State, StateDir};

/// A container of a [`Runtime`], named by its id.
///
/// ```no_run
/// # fn main() -> Result<(), gorae_core::Error> {
/// use gorae_core::{CreateOptions, Runtime};
///
/// let runtime = Runtime::new("/run/gorae");
/// let web = runtime.container("web");
/// web.create(&CreateOptions::new("/srv/bundles/web").pid_file("/run/web.pid"))?;
/// web.start()?;
/// assert_eq!(web.state()?.status, gorae_core::Status::Running);
/// web.kill(libc::SIGTERM, false)?;
/// web.wait_stopped(None)?;
/// web.delete(false)?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Container<'a> {
    runtime: &'a Runtime,
    id: String,
}

impl Runtime {
    /// The container named `id` (it need not exist yet).
    pub fn container(&self, id: impl Into<String>) -> Container<'_> {
        Container {
            runtime: self,
            id: id.into(),
        }
    }
}

impl Container<'_> {
    /// The container's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// See [`Runtime::create`].
    pub fn create(&self, opts: &CreateOptions) -> Result<Created> {
        self.runtime.create(&self.id, opts)
    }

    /// See [`Runtime::start`].
    pub fn start(&self) -> Result<()> {
        self.runtime.start(&self.id)
    }

    /// See [`Runtime::state`].
    pub fn state(&self) -> Result<State> {
        self.runtime.state(&self.id)
    }

    /// See [`Runtime::kill`].
    pub fn kill(&self, signal: i32, all: bool) -> Result<()> {
        self.runtime.kill(&self.id, signal, all)
    }

    /// See [`Runtime::pause`].
    pub fn pause(&self) -> Result<()> {
        self.runtime.pause(&self.id)
    }

    /// See [`Runtime::resume`].
    pub fn resume(&self) -> Result<()> {
        self.runtime.resume(&self.id)
    }

    /// See [`Runtime::update`].
    pub fn update(&self, resources: &LinuxResources) -> Result<Vec<String>> {
        self.runtime.update(&self.id, resources)
    }

    /// See [`Runtime::exec`].
    pub fn exec(&self, opts: &ExecOptions) -> Result<Execed> {
        self.runtime.exec(&self.id, opts)
    }

    /// See [`Runtime::pids`].
    pub fn pids(&self) -> Result<Vec<i32>> {
        self.runtime.pids(&self.id)
    }

    /// See [`Runtime::delete`].
    pub fn delete(&self, force: bool) -> Result<()> {
        self.runtime.delete(&self.id, force)
    }

    /// Waits until the container's init has exited, at most `timeout`
    /// (`None`: forever), sleeping on its pidfd rather than polling the
    /// state. Works for any caller; only the init's parent learns its exit
    /// status (see [`Created::wait`]).
    pub fn wait_stopped(&self, timeout: Option<Duration>) -> Result<()> {
        let dir = StateDir::open_shared(&self.runtime.root, &self.id)?;
        let Some(pidfd) = dir.load()?.and_then(|s| s.init).and_then(|i| i.pidfd()) else {
            return Ok(());
        };
        let timeout = match timeout {
            None => PollTimeout::NONE,
            Some(t) => PollTimeout::try_from(t).unwrap_or(PollTimeout::MAX),
        };
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) => Err(Error::sys(
                "wait for",
                format!("container {}", self.id),
                nix::errno::Errno::ETIMEDOUT,
            )),
            Ok(_) => Ok(()),
            Err(errno) => Err(Error::sys("poll", format!("container {}", self.id), errno)),
        }
    }
}

impl Created {
    /// Waits for the init (a child of the caller) to exit and reaps it;
    /// returns its exit status, 128+N when signal N ended it.
    pub fn wait(&self) -> Result<i32> {
        match waitpid(self.pid, None)
            .map_err(|errno| Error::sys("waitpid", "container init", errno))?
        {
            WaitStatus::Exited(_, code) => Ok(code),
            WaitStatus::Signaled(_, sig, _) => Ok(128 + sig as i32),
            _ => Ok(1),
        }
    }
}

impl Execed {
    /// Waits for the process (a child of the caller) and reaps it; returns
    /// its exit status, 128+N when signal N ended it.
    pub fn wait(&self) -> Result<i32> {
        match waitpid(self.pid, None)
            .map_err(|errno| Error::sys("waitpid", "exec'd process", errno))?
        {
            WaitStatus::Exited(_, code) => Ok(code),
            WaitStatus::Signaled(_, sig, _) => Ok(128 + sig as i32),
            _ => Ok(1),
        }
    }
}

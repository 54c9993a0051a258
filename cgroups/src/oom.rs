//! Learning of OOM kills for `events`: the v1 `memory.oom_control` eventfd
//! notification, or v2 `memory.events` change notifications.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::eventfd::{EfdFlags, EventFd};

use crate::cgroup::Cgroup;
use crate::error::{Error, Result};
use crate::fsutil;

/// What [`OomWatcher::wait`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OomEvent {
    /// The kernel hit the memory limit of the cgroup (v1) or OOM-killed a
    /// process in it (v2).
    Oom,
    /// The cgroup was removed; no more events will come.
    Gone,
    /// The timeout passed without an event.
    Timeout,
}

enum Source {
    V1 {
        eventfd: EventFd,
        _oom_control: File,
        dir: PathBuf,
    },
    V2 {
        events: File,
        dir: PathBuf,
        last: u64,
    },
}

/// A subscription to a cgroup's OOM events. Its fd ([`AsFd`]) becomes
/// readable (v1, `POLLIN`) or signals `POLLPRI` (v2) on an event, so it can
/// join the caller's poll loop; [`OomWatcher::wait`] does the polling itself.
pub struct OomWatcher {
    source: Source,
}

impl Cgroup {
    /// Processes OOM-killed in this cgroup so far (`oom_kill` of
    /// `memory.oom_control` on v1, `memory.events` on v2).
    pub fn oom_kill_count(&self) -> Result<u64> {
        let (dir, file) = self.memory_events_file()?;
        let path = dir.join(file);
        let text = fsutil::read_path(&path)?;
        Ok(fsutil::keyed_value(&path, &text, "oom_kill")?.unwrap_or(0))
    }

    /// Subscribes to OOM events of this cgroup.
    pub fn oom_events(&self) -> Result<OomWatcher> {
        let (dir, file) = self.memory_events_file()?;
        let path = dir.join(file);
        let open = |p: &Path| {
            File::open(p).map_err(|source| Error::Read {
                path: p.to_path_buf(),
                source,
            })
        };
        let oom_file = open(&path)?;
        let source = if file == "memory.oom_control" {
            let eventfd =
                EventFd::from_flags(EfdFlags::EFD_CLOEXEC).map_err(|source| Error::Sys {
                    syscall: "eventfd",
                    path: path.clone(),
                    source,
                })?;
            let line = format!("{} {}", eventfd.as_raw_fd(), oom_file.as_raw_fd());
            fsutil::write(&dir, "cgroup.event_control", &line)?;
            Source::V1 {
                eventfd,
                _oom_control: oom_file,
                dir,
            }
        } else {
            let last = read_oom_kill(&oom_file, &path)?;
            Source::V2 {
                events: oom_file,
                dir,
                last,
            }
        };
        Ok(OomWatcher { source })
    }

    fn memory_events_file(&self) -> Result<(PathBuf, &'static str)> {
        if let Some(d) = self.v1_dirs().get("memory") {
            return Ok((d.clone(), "memory.oom_control"));
        }
        match self.unified_dir() {
            Some(d) if d.join("memory.events").exists() => Ok((d.to_path_buf(), "memory.events")),
            _ => Err(Error::NoMemoryController),
        }
    }
}

fn read_oom_kill(file: &File, path: &Path) -> Result<u64> {
    let mut buf = vec![0u8; 4096];
    let n = file.read_at(&mut buf, 0).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8_lossy(&buf[..n]);
    Ok(fsutil::keyed_value(path, &text, "oom_kill")?.unwrap_or(0))
}

impl OomWatcher {
    /// Waits for the next event, at most `timeout` (`None`: forever).
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<OomEvent> {
        let poll_timeout = match timeout {
            None => PollTimeout::NONE,
            Some(t) => PollTimeout::try_from(t).unwrap_or(PollTimeout::MAX),
        };
        match &mut self.source {
            Source::V1 { eventfd, dir, .. } => {
                if !poll_one(eventfd.as_fd(), PollFlags::POLLIN, poll_timeout, dir)? {
                    return Ok(OomEvent::Timeout);
                }
                eventfd.read().map_err(|source| Error::Sys {
                    syscall: "read eventfd",
                    path: dir.clone(),
                    source,
                })?;
                // The eventfd also fires when the cgroup is removed.
                Ok(if dir.exists() {
                    OomEvent::Oom
                } else {
                    OomEvent::Gone
                })
            }
            Source::V2 { events, dir, last } => loop {
                let path = dir.join("memory.events");
                if !poll_one(events.as_fd(), PollFlags::POLLPRI, poll_timeout, dir)? {
                    return Ok(OomEvent::Timeout);
                }
                if !dir.exists() {
                    return Ok(OomEvent::Gone);
                }
                let now = read_oom_kill(events, &path)?;
                if now > *last {
                    *last = now;
                    return Ok(OomEvent::Oom);
                }
            },
        }
    }
}

fn poll_one(
    fd: BorrowedFd<'_>,
    flags: PollFlags,
    timeout: PollTimeout,
    dir: &Path,
) -> Result<bool> {
    let mut fds = [PollFd::new(fd, flags)];
    loop {
        match poll(&mut fds, timeout) {
            Ok(n) => return Ok(n > 0),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(source) => {
                return Err(Error::Sys {
                    syscall: "poll",
                    path: dir.to_path_buf(),
                    source,
                });
            }
        }
    }
}

impl AsFd for OomWatcher {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.source {
            Source::V1 { eventfd, .. } => eventfd.as_fd(),
            Source::V2 { events, .. } => events.as_fd(),
        }
    }
}

//! `start`: release the init waiting in a `created` container; it then
//! executes the user's program. (A seccomp notify listener reached its
//! agent during `create`.)

use std::io::Write;
use std::os::unix::net::UnixStream;

use super::Runtime;
use crate::error::{Error, Result};
use crate::hooks;
use crate::init::Report;
use crate::state::{START_SOCKET, StateDir, Status};

impl Runtime {
    /// Starts container `id`, which must be `created`.
    pub fn start(&self, id: &str) -> Result<()> {
        let mut phases = self.phases("start");
        let dir = StateDir::open(&self.root, id)?;
        let saved = dir.load()?;
        let status = dir.status(saved.as_ref());
        let (Some(saved), Status::Created) = (saved, status) else {
            return Err(Error::WrongState {
                id: id.to_owned(),
                op: "start",
                status,
            });
        };
        let died = |e: std::io::Error| Error::InitDied {
            reason: format!("start socket: {e}"),
        };
        let pid = saved.init.map_or(0, |i| i.pid);
        let hooks = dir.load_config()?.hooks().clone();
        let mut conn = UnixStream::connect(dir.short_path(START_SOCKET)).map_err(died)?;
        // "Go", then, when there are any, the state JSON the startContainer
        // hooks get: they run in the container's namespaces, so the pid is
        // the one seen there.
        let mut message = vec![1u8];
        if !hooks::Kind::StartContainer.of(hooks.as_ref()).is_empty() {
            message.extend(saved.hook_state(Status::Created, pid_inside(pid)));
        }
        conn.write_all(&message).map_err(died)?;
        let acked = receive_ack(&conn);
        phases.mark("release");
        let socket = dir.path().join(START_SOCKET);
        if let Err(e) = std::fs::remove_file(&socket) {
            // Released, the init runs all the same; no one listens on the
            // socket any more, which is how `state` still sees it running.
            self.warn(&format!("remove {}: {e}", socket.display()));
        }
        let acked = acked.map_err(|e| match e {
            Error::Hook { field, reason, .. } => {
                let index: usize = field
                    .trim_start_matches("hooks.startContainer[")
                    .trim_end_matches(']')
                    .parse()
                    .unwrap_or(0);
                let path = hooks::Kind::StartContainer
                    .of(hooks.as_ref())
                    .get(index)
                    .map(|h| h.path().clone())
                    .unwrap_or_default();
                Error::Hook {
                    field,
                    path,
                    reason,
                }
            }
            other => other,
        });
        match acked {
            Ok(()) => {}
            // runtime.md: a failing startContainer hook fails start and the
            // container is destroyed (the program never ran).
            Err(e @ Error::Hook { .. }) => return self.destroy(id, dir, e),
            Err(e) => return Err(e),
        }
        phases.mark("socket");
        let state = saved.hook_state(Status::Running, pid);
        // runtime.md: a failing poststart hook is a warning; the remaining
        // hooks and the lifecycle go on.
        for warning in hooks::run_all(hooks::Kind::Poststart, hooks.as_ref(), &state) {
            self.warn(&warning);
        }
        phases.mark("poststart");
        Ok(())
    }

    /// Stops and deletes container `id` after a startContainer hook failed
    /// with `why`, which it returns (a failure to delete is a warning).
    fn destroy(&self, id: &str, dir: StateDir, why: Error) -> Result<()> {
        drop(dir);
        if let Err(e) = self.delete(id, true) {
            self.warn(&format!("delete {id} after a failed start: {e}"));
        }
        Err(why)
    }
}

/// `pid` as its own (innermost) pid namespace numbers it: the last field
/// of `NSpid` in `/proc/<pid>/status` (the host's pid when unreadable).
fn pid_inside(pid: i32) -> i32 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("NSpid:"))?;
            line.split_whitespace().last()?.parse().ok()
        })
        .unwrap_or(pid)
}

/// Reads the init's acknowledgement (one byte) or its report of a failed
/// startContainer hook.
fn receive_ack(conn: &UnixStream) -> Result<()> {
    let mut buf = [0u8; Report::SIZE];
    let received = nix::unistd::read(conn, &mut buf)
        .map_err(|errno| Error::sys("read", "start socket", errno))?;
    if received == 1 {
        return Ok(());
    }
    Err(match Report::decode(&buf[..received]) {
        Some(Report::Failed(f)) => hook_failure(f),
        _ => Error::InitDied {
            reason: "it closed the start socket without acknowledging".into(),
        },
    })
}

/// The init's report of a failure after `start` released it.
fn hook_failure(f: crate::init::Failure) -> Error {
    let reason = match f.errno {
        nix::errno::Errno::ECHILD => "exited with a failure status".to_owned(),
        nix::errno::Errno::ETIMEDOUT => "killed after its timeout".to_owned(),
        errno => errno.to_string(),
    };
    if f.step != crate::init::Step::StartContainerHook {
        return Error::Init {
            step: f.step.name(),
            subject: String::new(),
            errno: f.errno,
        };
    }
    Error::Hook {
        field: format!("hooks.startContainer[{}]", f.index),
        path: Default::default(),
        reason,
    }
}

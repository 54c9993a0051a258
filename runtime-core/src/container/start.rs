//! `start`: release the init waiting in a `created` container; it then
//! executes the user's program. When the container's seccomp profile
//! notifies an agent, the init's acknowledgement carries the listener fd,
//! and `start` hands it to the agent at `listenerPath`.

use std::io::{IoSliceMut, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};

use super::Runtime;
use crate::error::{Error, Result};
use crate::state::{START_SOCKET, Saved, StateDir, Status};
use crate::sys;

impl Runtime {
    /// Starts container `id`, which must be `created`.
    pub fn start(&self, id: &str) -> Result<()> {
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
        let mut conn = UnixStream::connect(dir.short_path(START_SOCKET)).map_err(died)?;
        conn.write_all(&[1]).map_err(died)?;
        let listener = receive_ack(&conn)?;
        let socket = dir.path().join(START_SOCKET);
        std::fs::remove_file(&socket).map_err(|e| Error::io("remove", socket, e))?;
        match (listener, &saved.listener_path) {
            (Some(fd), Some(path)) => hand_to_agent(self, &saved, path, fd),
            _ => Ok(()),
        }
    }
}

/// Reads the init's one-byte acknowledgement and the fd it may carry.
fn receive_ack(conn: &UnixStream) -> Result<Option<OwnedFd>> {
    let mut byte = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|errno| Error::sys("recvmsg", "start socket", errno))?;
    if msg.bytes != 1 {
        return Err(Error::InitDied {
            reason: "it closed the start socket without acknowledging".into(),
        });
    }
    let mut fd = None;
    for cmsg in msg
        .cmsgs()
        .map_err(|errno| Error::sys("recvmsg", "start socket", errno))?
    {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            fd = fds.first().map(|raw| sys::owned(*raw));
        }
    }
    Ok(fd)
}

fn hand_to_agent(
    runtime: &Runtime,
    saved: &Saved,
    path: &std::path::Path,
    fd: OwnedFd,
) -> Result<()> {
    let state = runtime.state(&saved.id)?;
    let json = serde_json::to_value(&state).map_err(|source| Error::State {
        path: path.to_owned(),
        source,
    })?;
    let oci_state = serde_json::from_value(json).map_err(|source| Error::State {
        path: path.to_owned(),
        source,
    })?;
    let process_state = gorae_seccomp::container_process_state(
        state.pid,
        saved.listener_metadata.clone(),
        oci_state,
    );
    gorae_seccomp::send_listener(path, fd.as_fd(), &process_state)?;
    Ok(())
}

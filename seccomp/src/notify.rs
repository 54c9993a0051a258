//! Handing the notification listener to the seccomp agent at `listenerPath`,
//! as the runtime spec's "containerProcessState" describes: one message on a
//! connected `SOCK_STREAM` unix socket whose data is the JSON state and whose
//! `SCM_RIGHTS` control message carries the fds named in `fds`.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
use oci_spec::runtime::{ContainerProcessState, SECCOMP_FD_NAME, State};

use crate::Error;

/// The state sent with one listener fd: `fds` is `["seccompFd"]`,
/// `ociVersion` is the state's, `metadata` is the profile's
/// `listenerMetadata`.
pub fn container_process_state(
    pid: i32,
    metadata: Option<String>,
    state: State,
) -> ContainerProcessState {
    let mut process_state = ContainerProcessState::default();
    process_state.set_version(state.version().clone());
    process_state.set_fds(vec![SECCOMP_FD_NAME.to_owned()]);
    process_state.set_pid(pid);
    process_state.set_metadata(metadata);
    process_state.set_state(state);
    process_state
}

/// Connects to the agent's socket at `path` and sends `process_state` as
/// JSON with `listener` attached (`SCM_RIGHTS`).
pub fn send_listener(
    path: &Path,
    listener: BorrowedFd<'_>,
    process_state: &ContainerProcessState,
) -> Result<(), Error> {
    let json = serde_json::to_vec(process_state).map_err(Error::StateJson)?;
    let stream = UnixStream::connect(path).map_err(|source| Error::ListenerConnect {
        path: path.to_owned(),
        source,
    })?;
    let fds = [listener.as_raw_fd()];
    let cmsgs = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(&json)];
    let sent = sendmsg::<()>(
        stream.as_raw_fd(),
        &iov,
        &cmsgs,
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map_err(|source| Error::ListenerSend {
        path: path.to_owned(),
        source,
    })?;
    if sent < json.len() {
        return Err(Error::ListenerSend {
            path: path.to_owned(),
            source: nix::errno::Errno::EMSGSIZE,
        });
    }
    Ok(())
}

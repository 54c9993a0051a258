//! SCMP_ACT_NOTIFY end to end: a forked child installs a notify filter and
//! sends the listener to an agent (this test) at `listenerPath`; the agent
//! answers the child's syscalls and the child observes the answers.
#![allow(clippy::unwrap_used, clippy::expect_used, unsafe_code)]

mod common;

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;

use common::{filter, raw_syscall, spawn_child};
use gorae_seccomp::{container_process_state, send_listener};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg, setsockopt, sockopt};
use nix::sys::time::TimeVal;
use nix::sys::wait::{WaitStatus, waitpid};
use oci_spec::runtime::{ContainerProcessState, State};

const GETPID_ANSWER: i64 = 4242;

/// Receives the state JSON and the listener fd the runtime sent.
fn receive(listener: &UnixListener) -> (ContainerProcessState, OwnedFd) {
    let (stream, _) = listener.accept().expect("the child never connected");
    let mut buf = vec![0u8; 64 * 1024];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .unwrap();
    let fd = msg
        .cmsgs()
        .unwrap()
        .find_map(|c| match c {
            ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
            _ => None,
        })
        .expect("no SCM_RIGHTS fd");
    let len = msg.bytes;
    // SAFETY: SCM_RIGHTS installed a new fd in this process that we now own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    (serde_json::from_slice(&buf[..len]).unwrap(), fd)
}

/// Waits for one notification and answers it with `val` or `-error`.
fn answer(listener: &OwnedFd, expect_nr: i64, val: i64, error: i32) {
    let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
    let ready = poll(&mut fds, PollTimeout::from(10_000u16)).unwrap();
    assert_eq!(ready, 1, "no notification within 10 s");
    // SAFETY: the ioctls read/write exactly the structs they are declared
    // with; both are plain data, zero is a valid initial value.
    unsafe {
        let mut notif: libc::seccomp_notif = std::mem::zeroed();
        assert_eq!(
            libc::ioctl(
                listener.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_RECV,
                &mut notif
            ),
            0
        );
        assert_eq!(i64::from(notif.data.nr), expect_nr);
        let mut resp: libc::seccomp_notif_resp = std::mem::zeroed();
        resp.id = notif.id;
        resp.val = val;
        resp.error = error;
        assert_eq!(
            libc::ioctl(
                listener.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SEND,
                &mut resp
            ),
            0
        );
    }
}

#[test]
fn notify_listener_reaches_the_agent_which_answers_the_child() {
    let dir = std::env::temp_dir().join(format!("gorae-seccomp-notify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("agent.sock");
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    setsockopt(&listener, sockopt::ReceiveTimeout, &TimeVal::new(10, 0)).unwrap();

    let f = filter(&format!(
        r#"{{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "{}", "listenerMetadata": "meta-1",
            "syscalls": [{{"names": ["getpid", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}}]}}"#,
        path.display()
    ));
    assert!(f.needs_listener());
    let mut state = State::default();
    state.set_version("1.2.0".to_owned());
    state.set_id("notify-test".to_owned());
    let process_state = container_process_state(7, Some("meta-1".to_owned()), state);

    let child = spawn_child(|| {
        let Ok(Some(fd)) = f.install() else {
            return common::INSTALL_FAILED;
        };
        if send_listener(&path, fd.as_fd(), &process_state).is_err() {
            return 2;
        }
        drop(fd);
        if raw_syscall(libc::SYS_getpid, [0; 6]) != GETPID_ANSWER {
            return 3;
        }
        let dir = c"/gorae-notify-test".as_ptr() as u64;
        let mkdir = raw_syscall(
            libc::SYS_mkdirat,
            [libc::AT_FDCWD as u64, dir, 0o755, 0, 0, 0],
        );
        if mkdir != -i64::from(libc::EROFS) {
            return 4;
        }
        0
    });

    let (received, fd) = receive(&listener);
    assert_eq!(received.fds(), &["seccompFd".to_owned()]);
    assert_eq!(received.pid(), &7);
    assert_eq!(received.metadata().as_deref(), Some("meta-1"));
    assert_eq!(received.state().id(), "notify-test");
    assert_eq!(received.version(), "1.2.0");
    answer(&fd, libc::SYS_getpid, GETPID_ANSWER, 0);
    answer(&fd, libc::SYS_mkdirat, 0, -libc::EROFS);
    let status = waitpid(child, None).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        matches!(status, WaitStatus::Exited(_, 0)),
        "child ended with {status:?}"
    );
}

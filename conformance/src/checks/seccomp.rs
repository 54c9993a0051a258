//! `config-linux.md`, seccomp: the notify socket (`listenerPath`,
//! `listenerMetadata`) and the container process state sent over it,
//! argument filters, `defaultErrnoRet`, empty `names`, and `flags`; the
//! `linux` module has the errno checks.
//!
//! The notify check is the seccomp agent: it listens on `listenerPath`,
//! reads the state and the listener fd the runtime sends, and answers the
//! probe's stopped `sched_getaffinity` with `ENOTSUP`.
#![forbid(unsafe_code)]

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
use serde_json::{Value, json};

use super::linux::seccomp_config;
use super::{MUST, check, create_fails_unlike, create_with, probe_with};
use crate::lab::{Lab, accept_within, base_config};
use crate::report::Fallible;
use crate::suite::{Check, Failure, Outcome, ensure, ensure_eq, fail, skip};

pub(super) fn checks() -> Vec<Check> {
    vec![
        check(
            MUST,
            "linux.seccomp.notify",
            "config-linux.md#seccomp",
            "with SCMP_ACT_NOTIFY the runtime sends one container process state and the listener fd to listenerPath",
            "listenerPath (string, OPTIONAL) - specifies the path of UNIX domain socket over which the runtime will send the container process state data structure when the SCMP_ACT_NOTIFY action is used. ... The runtime MUST send exactly one container process state per connection. The connection MUST NOT be reused and it MUST be closed after sending a seccomp state.",
            notify,
        ),
        check(
            MUST,
            "linux.seccomp.notify-state",
            "config-linux.md#the-container-process-state",
            "the container process state names seccompFd, the pid, the metadata and the container's state",
            "The container runtime MUST send the container process state over the UNIX socket as regular payload serialized in JSON and file descriptors MUST be sent using SCM_RIGHTS. ... fds ... pid (int, REQUIRED) is the container process ID, as seen by the runtime. metadata (string, OPTIONAL) opaque metadata. state (state, REQUIRED) is the state of the container.",
            notify_state,
        ),
        check(
            MUST,
            "linux.seccomp.notify-send-fails",
            "config-linux.md#seccomp",
            "create fails when nothing listens on listenerPath",
            "If sending to this socket fails, the runtime MUST generate an error.",
            notify_send_fails,
        ),
        check(
            MUST,
            "linux.seccomp.listener-ignored",
            "config-linux.md#seccomp",
            "without SCMP_ACT_NOTIFY a listenerPath nobody listens on is ignored",
            "If the SCMP_ACT_NOTIFY action is not used this value is ignored.",
            listener_ignored,
        ),
        check(
            MUST,
            "linux.seccomp.metadata-without-path",
            "config-linux.md#seccomp",
            "create with listenerMetadata but no listenerPath fails",
            "listenerMetadata (string, OPTIONAL) ... This field MUST NOT be set if listenerPath is not set. ... Runtimes MUST generate an error when invalid or unsupported values are encountered.",
            metadata_without_path,
        ),
        check(
            MUST,
            "linux.seccomp.default-errno-unsupported",
            "config-linux.md#seccomp",
            "create fails for defaultErrnoRet with a defaultAction without errno",
            "defaultErrnoRet (uint, OPTIONAL) - the errno return code to use. ... When the action doesn't support an errno, the runtime MUST print and error and fail.",
            default_errno_unsupported,
        ),
        check(
            MUST,
            "linux.seccomp.args",
            "config-linux.md#seccomp",
            "a rule with args matches only calls whose arguments compare as given",
            "args (array of objects, OPTIONAL) - the specific syscall in seccomp. Each entry has the following structure: index (uint, REQUIRED) ... value (uint64, REQUIRED) ... op (string, REQUIRED) - the operator for syscall arguments in seccomp.",
            args,
        ),
        check(
            MUST,
            "linux.seccomp.names-empty",
            "config-linux.md#seccomp",
            "create with a syscalls entry whose names is empty fails",
            "names (array of strings, REQUIRED) - the names of the syscalls. names MUST contain at least one entry. ... Runtimes MUST generate an error when invalid or unsupported values are encountered.",
            names_empty,
        ),
        check(
            MUST,
            "linux.seccomp.actions",
            "config-linux.md#seccomp",
            "KILL_PROCESS and TRAP stop the probe at the call, LOG lets it through, TRACE without a tracer fails it with ENOSYS",
            "action (string, REQUIRED) - the action for seccomp rules. ... SCMP_ACT_KILL_PROCESS ... SCMP_ACT_TRAP ... SCMP_ACT_TRACE ... SCMP_ACT_LOG",
            actions,
        ),
        check(
            MUST,
            "linux.seccomp.flags",
            "config-linux.md#seccomp",
            "flags SECCOMP_FILTER_FLAG_SPEC_ALLOW keeps the filter from forcing the SSB mitigation",
            "flags (array of strings, OPTIONAL) - list of flags to use with seccomp(2).",
            flags,
        ),
    ]
}

/// What the agent got on one connection: the bytes and the fds.
struct Received {
    payload: Vec<u8>,
    fds: Vec<OwnedFd>,
}

/// Accepts one connection on `listener` (30 s at most) and reads it to
/// its end, keeping every fd sent with `SCM_RIGHTS`.
fn receive(listener: &UnixListener) -> Result<Received, String> {
    let stream = accept_within(listener, Duration::from_secs(30), "listenerPath")?;
    stream
        .set_nonblocking(false)
        .map_err(|e| format!("socket: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| format!("socket: {e}"))?;
    let mut received = Received {
        payload: Vec::new(),
        fds: Vec::new(),
    };
    loop {
        let mut buf = [0u8; 8192];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([RawFd; 4]);
        let msg = recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| {
            format!("recvmsg on listenerPath (the runtime did not close the connection?): {e}")
        })?;
        let bytes = msg.bytes;
        for cmsg in msg.cmsgs().map_err(|e| format!("control message: {e}"))? {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                received
                    .fds
                    .extend(fds.into_iter().map(crate::sys::own_received_fd));
            }
        }
        if bytes == 0 {
            return Ok(received);
        }
        received.payload.extend_from_slice(&buf[..bytes]);
    }
}

/// Answers every notification on the listener `fd` with `-errno` until
/// the filter's processes are gone or `limit` passes; returns how many.
fn answer(fd: &OwnedFd, errno: i32, limit: Duration) -> usize {
    let started = Instant::now();
    let mut answered = 0;
    while started.elapsed() < limit {
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(200u16)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(_) => break,
        }
        let revents = fds[0].revents().unwrap_or(PollFlags::empty());
        if revents.contains(PollFlags::POLLIN) {
            if crate::sys::seccomp_answer(fd.as_fd(), errno).is_ok() {
                answered += 1;
            }
        } else if revents.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
            break;
        }
    }
    answered
}

/// A notify run: the container's id and pid, what arrived on the socket,
/// and the probe's report once the agent answered.
struct NotifyRun {
    id: String,
    pid: i64,
    state: Value,
    fds: usize,
    fd_kind: String,
    report: Result<crate::report::Report, Failure>,
}

/// Creates a container whose seccomp stops `sched_getaffinity` for the
/// agent at `listenerPath`, acts as the agent, and runs the probe.
fn notify_run(lab: &mut Lab) -> Result<NotifyRun, Failure> {
    let bundle = lab.bundle("bundle")?;
    let socket = lab.dir.join("agent.sock");
    let listener =
        UnixListener::bind(&socket).map_err(|e| fail(format!("bind {}: {e}", socket.display())))?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(receive(&listener));
    });
    let mut config = base_config(&[]);
    config["ociVersion"] = json!("1.1.0");
    seccomp_config(
        &mut config,
        json!({"names": ["sched_getaffinity"], "action": "SCMP_ACT_NOTIFY"}),
    );
    config["linux"]["seccomp"]["listenerPath"] = json!(socket.display().to_string());
    config["linux"]["seccomp"]["listenerMetadata"] = json!("conformance-metadata");
    let (id, pid) = create_with(lab, &bundle, &config, "n")?;
    let received = rx
        .recv_timeout(Duration::from_secs(35))
        .map_err(|_| fail("the agent got nothing"))?
        .map_err(fail)?;
    let state: Value = serde_json::from_slice(&received.payload).map_err(|e| {
        fail(format!("the payload is not exactly one JSON document: {e}"))
            .with("payload", String::from_utf8_lossy(&received.payload))
    })?;
    let fd_kind = received
        .fds
        .first()
        .and_then(|fd| std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok())
        .map(|t| t.display().to_string())
        .unwrap_or_default();
    let fds = received.fds.len();
    let listener_fd = received.fds.into_iter().next();
    let agent = std::thread::spawn(move || {
        listener_fd.map_or(0, |fd| answer(&fd, libc::ENOTSUP, Duration::from_secs(15)))
    });
    lab.runtime(&["start", &id])?.require()?;
    lab.wait_status(&id, "stopped")?;
    let report = lab.report(&id);
    let _ = agent.join();
    Ok(NotifyRun {
        id,
        pid,
        state,
        fds,
        fd_kind,
        report,
    })
}

fn notify(lab: &mut Lab) -> Outcome {
    let run = notify_run(lab)?;
    ensure_eq(run.fds, 1, "file descriptors sent")?;
    ensure(
        run.fd_kind.contains("seccomp"),
        format!("the fd sent is {:?}, not a seccomp listener", run.fd_kind),
    )?;
    ensure_eq(
        run.report?.cpu_affinity,
        Fallible::Errno(libc::ENOTSUP),
        "sched_getaffinity, answered ENOTSUP by the agent through the fd",
    )
}

fn notify_state(lab: &mut Lab) -> Outcome {
    let run = notify_run(lab)?;
    let s = &run.state;
    ensure(
        s["ociVersion"].is_string(),
        format!("ociVersion is not a string: {s}"),
    )?;
    ensure_eq(&s["fds"], &json!(["seccompFd"]), "fds")?;
    ensure_eq(
        s["pid"].as_i64(),
        Some(run.pid),
        "pid (the state's, as the runtime sees it)",
    )?;
    ensure_eq(
        s["metadata"].as_str(),
        Some("conformance-metadata"),
        "metadata",
    )?;
    ensure_eq(s["state"]["id"].as_str(), Some(run.id.as_str()), "state.id")?;
    ensure(
        s["state"]["status"].is_string(),
        format!("state.status is not a string: {s}"),
    )?;
    ensure(
        s["state"]["bundle"]
            .as_str()
            .is_some_and(|b| b.starts_with('/')),
        format!("state.bundle is not an absolute path: {s}"),
    )
}

/// The control of the error checks: version 1.1.0, a plain errno rule.
fn errno_rule(c: &mut Value) {
    c["ociVersion"] = json!("1.1.0");
    seccomp_config(
        c,
        json!({"names": ["sched_getaffinity"], "action": "SCMP_ACT_ERRNO"}),
    );
}

fn notify_send_fails(lab: &mut Lab) -> Outcome {
    let socket = lab.dir.join("nobody.sock").display().to_string();
    create_fails_unlike(lab, "nothing listens on listenerPath", errno_rule, |c| {
        c["ociVersion"] = json!("1.1.0");
        seccomp_config(
            c,
            json!({"names": ["sched_getaffinity"], "action": "SCMP_ACT_NOTIFY"}),
        );
        c["linux"]["seccomp"]["listenerPath"] = json!(socket);
    })
    .map(drop)
}

fn listener_ignored(lab: &mut Lab) -> Outcome {
    let socket = lab.dir.join("nobody.sock").display().to_string();
    let report = probe_with(lab, &[], |c, _| {
        errno_rule(c);
        c["linux"]["seccomp"]["listenerPath"] = json!(socket);
    })?;
    ensure_eq(
        report.cpu_affinity,
        Fallible::Errno(libc::EPERM),
        "sched_getaffinity",
    )
}

fn metadata_without_path(lab: &mut Lab) -> Outcome {
    create_fails_unlike(
        lab,
        "listenerMetadata is set without listenerPath",
        errno_rule,
        |c| {
            errno_rule(c);
            c["linux"]["seccomp"]["listenerMetadata"] = json!("conformance-metadata");
        },
    )
    .map(drop)
}

fn default_errno_unsupported(lab: &mut Lab) -> Outcome {
    create_fails_unlike(
        lab,
        "defaultAction SCMP_ACT_ALLOW takes no defaultErrnoRet",
        errno_rule,
        |c| {
            errno_rule(c);
            c["linux"]["seccomp"]["defaultErrnoRet"] = json!(1);
        },
    )
    .map(drop)
}

/// The probe's `sched_getaffinity` under a rule that fails it with
/// `ENOTSUP` when its first argument (the pid, 0) equals `value`.
fn affinity_with_arg(lab: &mut Lab, value: u64) -> Result<Fallible<Vec<usize>>, Failure> {
    let report = probe_with(lab, &[], |c, _| {
        seccomp_config(
            c,
            json!({
                "names": ["sched_getaffinity"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOTSUP,
                "args": [{"index": 0, "value": value, "op": "SCMP_CMP_EQ"}]
            }),
        );
    })?;
    Ok(report.cpu_affinity)
}

fn args(lab: &mut Lab) -> Outcome {
    ensure_eq(
        affinity_with_arg(lab, 0)?,
        Fallible::Errno(libc::ENOTSUP),
        "sched_getaffinity(0, ...) under a rule for arg0 == 0",
    )?;
    let other = affinity_with_arg(lab, 4242)?;
    ensure(
        matches!(other, Fallible::Ok(ref cpus) if !cpus.is_empty()),
        format!("sched_getaffinity(0, ...) under a rule for arg0 == 4242 gave {other:?}"),
    )
}

fn names_empty(lab: &mut Lab) -> Outcome {
    create_fails_unlike(lab, "a syscalls entry has no names", errno_rule, |c| {
        seccomp_config(c, json!({"names": [], "action": "SCMP_ACT_ERRNO"}));
    })
    .map(drop)
}

fn flags(lab: &mut Lab) -> Outcome {
    let rule = json!({"names": ["sched_getaffinity"], "action": "SCMP_ACT_ERRNO"});
    let plain = probe_with(lab, &[], |c, _| seccomp_config(c, rule.clone()))?;
    if plain.speculation_store_bypass != "thread force mitigated" {
        return Err(skip(format!(
            "a seccomp filter does not force the SSB mitigation here (Speculation_Store_Bypass: {:?}), so SECCOMP_FILTER_FLAG_SPEC_ALLOW has nothing to show",
            plain.speculation_store_bypass
        )));
    }
    let allowed = probe_with(lab, &[], |c, _| {
        seccomp_config(c, rule.clone());
        c["linux"]["seccomp"]["flags"] = json!(["SECCOMP_FILTER_FLAG_SPEC_ALLOW"]);
    })?;
    ensure(
        allowed.speculation_store_bypass != "thread force mitigated",
        "Speculation_Store_Bypass is still \"thread force mitigated\" with SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    )
}

/// Runs the probe (touching `/ran` first) under a rule with `action` on
/// `sched_getaffinity`; returns whether it ran and its report, if any.
fn under_action(
    lab: &mut Lab,
    action: &str,
) -> Result<(bool, Option<crate::report::Report>), Failure> {
    let bundle = lab.bundle("bundle")?;
    let mut config = base_config(&["--touch", "/ran"]);
    // Only the probe's own call (pid 0): glibc's startup asks for the
    // affinity of the thread by its id.
    seccomp_config(
        &mut config,
        json!({"names": ["sched_getaffinity"], "action": action,
               "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]}),
    );
    let (id, _) = create_with(lab, &bundle, &config, &action.to_ascii_lowercase())?;
    lab.runtime(&["start", &id])?.require()?;
    lab.wait_status(&id, "stopped")?;
    let _ = lab.runtime(&["delete", &id]);
    Ok((bundle.host_path("/ran").exists(), lab.report(&id).ok()))
}

fn actions(lab: &mut Lab) -> Outcome {
    for action in ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP"] {
        let (ran, report) = under_action(lab, action)?;
        ensure(ran, format!("under {action} the program did not start"))?;
        ensure(
            report.is_none(),
            format!("under {action} the probe got past sched_getaffinity and reported"),
        )?;
    }
    let (_, log) = under_action(lab, "SCMP_ACT_LOG")?;
    let affinity = log.map(|r| r.cpu_affinity);
    ensure(
        matches!(affinity, Some(Fallible::Ok(ref cpus)) if !cpus.is_empty()),
        format!("under SCMP_ACT_LOG sched_getaffinity gave {affinity:?}"),
    )?;
    let (_, trace) = under_action(lab, "SCMP_ACT_TRACE")?;
    ensure_eq(
        trace.map(|r| r.cpu_affinity),
        Some(Fallible::Errno(libc::ENOSYS)),
        "sched_getaffinity under SCMP_ACT_TRACE with no tracer",
    )
}

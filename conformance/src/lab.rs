//! A check's workspace: bundles built on the spot, a private `--root` for
//! the runtime, and the runtime's commands run with a time limit.
//!
//! Dropping a [`Lab`] force-deletes every container it created, removes
//! the cgroups it asked for, and removes its directory: a failed check
//! leaves nothing behind either.
#![forbid(unsafe_code)]

use std::fs;
use std::io::{IoSliceMut, Read};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, symlink};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::report::Report;
use crate::suite::{Failure, fail};

/// How long one runtime command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a container may take to reach an awaited status.
const STATUS_TIMEOUT: Duration = Duration::from_secs(10);
/// Where the probe lives inside every rootfs.
pub const PROBE: &str = "/gorae-probe";

/// What every check shares: the runtime under test, the programs put into
/// root filesystems, and the work directory.
#[derive(Debug)]
pub struct Env {
    /// The runtime binary.
    pub runtime: PathBuf,
    /// The static probe.
    pub probe: PathBuf,
    /// A static busybox, when installed.
    pub busybox: Option<PathBuf>,
    /// The suite's scratch directory; every lab lives below it.
    pub work: PathBuf,
    /// Keep lab directories (for debugging); containers are still deleted.
    pub keep: bool,
    seq: AtomicUsize,
}

impl Env {
    /// Sets up the scratch directory `work`.
    pub fn new(
        runtime: PathBuf,
        probe: PathBuf,
        busybox: Option<PathBuf>,
        work: PathBuf,
    ) -> Result<Self> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&work)
            .map_err(|e| Error::io("mkdir", &work, e))?;
        Ok(Env {
            runtime,
            probe,
            busybox,
            work,
            keep: false,
            seq: AtomicUsize::new(0),
        })
    }

    fn next(&self) -> usize {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }
}

/// What a runtime command did.
#[derive(Debug, Clone)]
pub struct Run {
    /// The runtime and verb (`runc create`), for messages.
    pub command: String,
    /// The whole command line.
    pub command_line: String,
    /// Exit status (None: killed by a signal).
    pub code: Option<i32>,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl Run {
    /// Whether it exited 0.
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// Itself if it succeeded, else a failure with its output.
    pub fn require(self) -> std::result::Result<Self, Failure> {
        if self.ok() {
            return Ok(self);
        }
        Err(self.failure(format!("`{}` failed", self.command)))
    }

    /// Itself if it failed (the spec wants an error), else a failure.
    pub fn require_error(self, why: &str) -> std::result::Result<Self, Failure> {
        if self.ok() {
            return Err(self.failure(format!("`{}` succeeded: {why}", self.command)));
        }
        Ok(self)
    }

    /// A failure carrying this command's output.
    pub fn failure(&self, message: String) -> Failure {
        let stderr = self.stderr.trim_end();
        // The line that says what failed: the last one naming an error
        // (runc's `level=error`, clap's `error:`), else the last one.
        let last = stderr
            .lines()
            .rfind(|l| l.to_ascii_lowercase().contains("error"))
            .or_else(|| stderr.lines().last())
            .unwrap_or("");
        let message = if last.is_empty() {
            message
        } else {
            format!("{message}: {}", runtime_message(last))
        };
        fail(message)
            .with("command", self.command_line.clone())
            .with(
                "exit",
                match (self.code, self.signal) {
                    (Some(code), _) => code.to_string(),
                    (None, Some(signal)) => format!("killed by signal {signal}"),
                    (None, None) => "unknown".to_owned(),
                },
            )
            .with("stderr", stderr)
    }
}

/// A bundle directory: `config.json` and `rootfs/`.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The bundle directory.
    pub dir: PathBuf,
    /// Its root filesystem.
    pub rootfs: PathBuf,
}

impl Bundle {
    /// Writes `config.json`.
    pub fn write_config(&self, config: &Value) -> Result<()> {
        let path = self.dir.join("config.json");
        let text = serde_json::to_string_pretty(config).map_err(|source| Error::Json {
            what: "config".into(),
            source,
        })?;
        fs::write(&path, text).map_err(|e| Error::io("write", path, e))
    }

    /// A path inside the rootfs, on the host.
    pub fn host_path(&self, inside: &str) -> PathBuf {
        self.rootfs.join(inside.trim_start_matches('/'))
    }
}

/// One check's workspace.
#[derive(Debug)]
pub struct Lab<'e> {
    env: &'e Env,
    /// The lab's directory.
    pub dir: PathBuf,
    /// The runtime's `--root`.
    pub root: PathBuf,
    tag: String,
    containers: Vec<String>,
    cgroups: Vec<PathBuf>,
}

impl<'e> Lab<'e> {
    /// A fresh lab for check `name`.
    pub fn new(env: &'e Env, name: &str) -> Result<Self> {
        let n = env.next();
        let dir = env.work.join(format!("{n:03}-{name}"));
        mkdir(&dir)?;
        let root = dir.join("state");
        Ok(Lab {
            env,
            dir,
            root,
            tag: format!("gc{}-{n}", std::process::id()),
            containers: Vec::new(),
            cgroups: Vec::new(),
        })
    }

    /// The shared environment.
    pub fn env(&self) -> &Env {
        self.env
    }

    /// This lab's tag, `gc<suite pid>-<n>`: unique to the run, for names
    /// of host objects a check makes.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// A container id unique to this run.
    pub fn id(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.tag)
    }

    /// Builds bundle `name`: a rootfs holding the probe and the usual
    /// empty directories, nothing else.
    pub fn bundle(&self, name: &str) -> Result<Bundle> {
        let dir = self.dir.join(name);
        let rootfs = dir.join("rootfs");
        for d in ["", "bin", "proc", "sys", "dev", "tmp", "etc", "root", "mnt"] {
            mkdir(&rootfs.join(d))?;
        }
        link_or_copy(&self.env.probe, &rootfs.join(PROBE.trim_start_matches('/')))?;
        Ok(Bundle { dir, rootfs })
    }

    /// Like [`Lab::bundle`], plus busybox as `/bin/sh` and a few applets,
    /// for checks that need a shell in the container; `None` when no static
    /// busybox is installed.
    pub fn bundle_with_shell(&self, name: &str) -> Result<Option<Bundle>> {
        let Some(busybox) = &self.env.busybox else {
            return Ok(None);
        };
        let bundle = self.bundle(name)?;
        link_or_copy(busybox, &bundle.rootfs.join("bin/busybox"))?;
        for applet in ["sh", "cat", "echo", "sleep", "ls", "touch"] {
            let link = bundle.rootfs.join("bin").join(applet);
            symlink("busybox", &link).map_err(|e| Error::io("symlink", link, e))?;
        }
        Ok(Some(bundle))
    }

    /// A cgroup path this lab asks the runtime for, unique to the run; the
    /// lab removes it (if the runtime left it, empty) when dropped.
    pub fn cgroups_path(&mut self) -> String {
        let path = format!("/gorae-conformance/{}", self.tag);
        self.cgroups.push(PathBuf::from(&path));
        path
    }

    /// Runs the runtime with this lab's `--root` and `args`.
    pub fn runtime(&self, args: &[&str]) -> Result<Run> {
        let n = self.env.next();
        let out = self.dir.join(format!("cmd-{n}.out"));
        let err = self.dir.join(format!("cmd-{n}.err"));
        self.run_to(args, &out, &err)
    }

    fn run_to(&self, args: &[&str], out: &Path, err: &Path) -> Result<Run> {
        let program = self.env.runtime.display().to_string();
        let stdout = fs::File::create(out).map_err(|e| Error::io("create", out, e))?;
        let stderr = fs::File::create(err).map_err(|e| Error::io("create", err, e))?;
        let mut child = Command::new(&self.env.runtime)
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|source| Error::Spawn {
                program: program.clone(),
                source,
            })?;
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() > COMMAND_TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(Error::Timeout {
                        program,
                        args: args.join(" "),
                        secs: COMMAND_TIMEOUT.as_secs(),
                    });
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                Err(source) => return Err(Error::Spawn { program, source }),
            }
        };
        Ok(Run {
            command: format!(
                "{} {}",
                basename(&self.env.runtime),
                args.first().copied().unwrap_or_default()
            ),
            command_line: format!(
                "{program} --root {} {}",
                self.root.display(),
                args.join(" ")
            ),
            code: status.code(),
            signal: std::os::unix::process::ExitStatusExt::signal(&status),
            stdout: fs::read_to_string(out).unwrap_or_default(),
            stderr: fs::read_to_string(err).unwrap_or_default(),
        })
    }

    /// `create --bundle B ID`; the container's stdout and stderr go to
    /// files read back with [`Lab::output`]. The id is deleted on drop.
    pub fn create(&mut self, bundle: &Bundle, id: &str) -> Result<Run> {
        self.containers.push(id.to_owned());
        let dir = bundle.dir.display().to_string();
        let out = self.dir.join(format!("{id}.out"));
        let err = self.dir.join(format!("{id}.err"));
        self.run_to(&["create", "--bundle", &dir, id], &out, &err)
    }

    /// What container `id` wrote to stdout so far.
    pub fn output(&self, id: &str) -> String {
        fs::read_to_string(self.dir.join(format!("{id}.out"))).unwrap_or_default()
    }

    /// `state ID`, parsed.
    pub fn state(&self, id: &str) -> std::result::Result<Value, Failure> {
        let run = self.runtime(&["state", id])?.require()?;
        serde_json::from_str(&run.stdout).map_err(|e| {
            fail(format!("state output is not JSON: {e}")).with("stdout", run.stdout.clone())
        })
    }

    /// The `status` field of `state ID`.
    pub fn status(&self, id: &str) -> std::result::Result<String, Failure> {
        let state = self.state(id)?;
        state
            .get("status")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| fail("state has no status string").with("state", state.to_string()))
    }

    /// Waits until `state ID` says `status`.
    pub fn wait_status(&self, id: &str, status: &str) -> std::result::Result<(), Failure> {
        let started = Instant::now();
        loop {
            let now = self.status(id)?;
            if now == status {
                return Ok(());
            }
            if started.elapsed() > STATUS_TIMEOUT {
                return Err(fail(format!(
                    "container still {now:?} after {} s, expected {status:?}",
                    STATUS_TIMEOUT.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Creates and starts a container from `bundle` with `config`, waits
    /// for it to stop, deletes it and returns the probe's report (the
    /// container's process must be the probe).
    pub fn probe(
        &mut self,
        bundle: &Bundle,
        config: &Value,
    ) -> std::result::Result<Report, Failure> {
        bundle.write_config(config)?;
        let id = self.id(&format!("p{}", self.env.next()));
        self.create(bundle, &id)?.require()?;
        self.runtime(&["start", &id])?.require()?;
        self.wait_status(&id, "stopped")?;
        let report = self.report(&id);
        let _ = self.runtime(&["delete", &id]);
        report
    }

    /// Like [`Lab::probe`] with `process.terminal`: creates with
    /// `--console-socket`, takes the pty master the runtime sends, and
    /// returns the report the probe wrote on its terminal.
    pub fn probe_on_console(
        &mut self,
        bundle: &Bundle,
        config: &Value,
    ) -> std::result::Result<Report, Failure> {
        bundle.write_config(config)?;
        let id = self.id(&format!("t{}", self.env.next()));
        let socket = self.dir.join(format!("{id}.console"));
        let listener = UnixListener::bind(&socket).map_err(|e| Error::io("bind", &socket, e))?;
        let (fd_tx, fd_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = fd_tx.send(receive_console(&listener));
        });
        self.containers.push(id.clone());
        let socket = socket.display().to_string();
        let dir = bundle.dir.display().to_string();
        let out = self.dir.join(format!("{id}.out"));
        let err = self.dir.join(format!("{id}.err"));
        let args = ["create", "--console-socket", &socket, "--bundle", &dir, &id];
        self.run_to(&args, &out, &err)?.require()?;
        let master = fd_rx
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| fail("the runtime sent no pty master to the console socket"))?
            .map_err(fail)?;
        let (text_tx, text_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = fs::File::from(master).read_to_end(&mut text);
            let _ = text_tx.send(String::from_utf8_lossy(&text).into_owned());
        });
        self.runtime(&["start", &id])?.require()?;
        self.wait_status(&id, "stopped")?;
        let _ = self.runtime(&["delete", &id]);
        let text = text_rx
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| fail("the terminal did not close after the process stopped"))?;
        let line = text
            .lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .unwrap_or("");
        serde_json::from_str(line.trim_end()).map_err(|e| {
            fail(format!("no probe report on the terminal: {e}")).with("terminal", text.clone())
        })
    }

    /// The probe report container `id` printed.
    pub fn report(&self, id: &str) -> std::result::Result<Report, Failure> {
        let out = self.output(id);
        let line = out.lines().rev().find(|l| l.starts_with('{')).unwrap_or("");
        serde_json::from_str(line).map_err(|e| {
            let err = fs::read_to_string(self.dir.join(format!("{id}.err"))).unwrap_or_default();
            fail(format!("no probe report from the container: {e}"))
                .with("stdout", out.trim_end())
                .with("stderr", err.trim_end())
        })
    }
}

impl Drop for Lab<'_> {
    fn drop(&mut self) {
        for id in std::mem::take(&mut self.containers) {
            let _ = self.runtime(&["delete", "--force", &id]);
        }
        for path in &self.cgroups {
            remove_cgroup(path);
        }
        if !self.env.keep {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Accepts one connection on `listener` (named `what` in errors),
/// waiting `limit` at most.
pub(crate) fn accept_within(
    listener: &UnixListener,
    limit: Duration,
    what: &str,
) -> std::result::Result<std::os::unix::net::UnixStream, String> {
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("{what}: {e}"))?;
    let started = Instant::now();
    loop {
        match listener.accept() {
            Ok((stream, _)) => return Ok(stream),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if started.elapsed() > limit {
                    return Err(format!("nothing connected to {what}"));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(format!("accept on {what}: {e}")),
        }
    }
}

/// Accepts the runtime's connection on the console socket and receives
/// the pty master it sends with `SCM_RIGHTS`.
fn receive_console(listener: &UnixListener) -> std::result::Result<OwnedFd, String> {
    let stream = accept_within(listener, COMMAND_TIMEOUT, "the console socket")?;
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| format!("recvmsg on the console socket: {e}"))?;
    let cmsgs = msg
        .cmsgs()
        .map_err(|e| format!("console socket message: {e}"))?;
    for cmsg in cmsgs {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            let mut owned = fds.into_iter().map(crate::sys::own_received_fd);
            if let Some(fd) = owned.next() {
                return Ok(fd);
            }
        }
    }
    Err("the console socket message carried no file descriptor".into())
}

/// Removes the (empty) cgroup directories a lab asked a runtime for, in
/// every hierarchy, deepest first. Never anything else.
fn remove_cgroup(path: &Path) {
    let Ok(hierarchies) = fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    let relative = path.strip_prefix("/").unwrap_or(path);
    let mut dirs: Vec<PathBuf> = hierarchies
        .filter_map(|h| h.ok())
        .map(|h| h.path())
        .chain(std::iter::once(PathBuf::from("/sys/fs/cgroup")))
        .map(|h| h.join(relative))
        .collect();
    // The parent `/gorae-conformance` goes too when no other run uses it.
    let parents: Vec<PathBuf> = dirs
        .iter()
        .filter_map(|d| d.parent().map(Path::to_path_buf))
        .collect();
    dirs.extend(parents);
    for dir in dirs {
        if dir.is_dir() {
            let _ = fs::remove_dir(&dir);
        }
    }
}

/// The `msg` of a runc-style log line (`time=... level=error msg="..."`),
/// else the line itself.
fn runtime_message(line: &str) -> String {
    line.split_once(" msg=")
        .and_then(|(_, quoted)| serde_json::from_str::<String>(quoted).ok())
        .unwrap_or_else(|| line.to_owned())
}

fn mkdir(path: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(path)
        .map_err(|e| Error::io("mkdir", path, e))
}

fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    // A bundle built again over itself: `to` may be a hard link of `from`,
    // and copying onto it would truncate the probe itself.
    if fs::symlink_metadata(to).is_ok() {
        fs::remove_file(to).map_err(|e| Error::io("remove", to, e))?;
    }
    if fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| Error::io("copy", to, e))
}

fn basename(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The config every check starts from: what `runc spec` gives, without a
/// terminal, masked or readonly paths, so that each check adds only the
/// feature it verifies. The process is the probe with `probe_args`.
pub fn base_config(probe_args: &[&str]) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let mut args = vec![PROBE];
    args.extend_from_slice(probe_args);
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": false
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "conformance",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]}
        ],
        "linux": {
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}
            ]
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn runtime_message_unquotes_runc_log_lines_and_keeps_plain_ones() {
        let line =
            r#"time="2026-11-23T14:07:59Z" level=error msg="runc create failed: \"x\" missing""#;
        assert_eq!(runtime_message(line), "runc create failed: \"x\" missing");
        assert_eq!(
            runtime_message("unknown version specified"),
            "unknown version specified"
        );
    }

    #[test]
    fn base_config_runs_the_probe_with_its_arguments() {
        let config = base_config(&["--exit", "3"]);
        assert_eq!(config["process"]["args"], json!([PROBE, "--exit", "3"]));
        assert_eq!(config["root"]["path"], "rootfs");
    }
}

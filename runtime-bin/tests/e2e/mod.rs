//! Real-engine end-to-end support: containerd, podman and Docker, installed
//! from Debian packages, drive the runtime under test (`E2E_RUNTIME`) in
//! place of `runc`.
//!
//! A [`Lab`] owns one run: a private directory (daemon state, storage, the
//! test image), a unique tag that names every cgroup parent, namespace and
//! container, and the runtime's probed [`Features`]. Every engine command
//! goes through [`Lab::cmd`] with a timeout; a command that overruns is
//! killed with its whole process group and fails its scenario.
//! [`Lab::finish`] stops whatever is left, removes what the engines made
//! (only what this run made) and reports anything it could not remove.

pub mod cli;
pub mod containerd;
pub mod docker;
pub mod podman;
pub mod podman_rootless;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// The image every scenario runs: busybox, `Cmd ["sh"]`.
pub const IMAGE: &str = "gorae-e2e/busybox:latest";
/// An image whose entrypoint does not exist: `create` must fail.
pub const BROKEN_IMAGE: &str = "gorae-e2e/broken:latest";

/// The usual bound on one engine command.
pub const SHORT: Duration = Duration::from_secs(30);
/// The bound on commands that start or stop daemons or load images.
pub const LONG: Duration = Duration::from_secs(90);

/// Why a scenario did not pass.
#[derive(Debug)]
pub enum Stop {
    /// A check failed: what was expected and what the engine said.
    Fail(String),
    /// The runtime lacks a feature the scenario needs (named in the text).
    Skip(String),
}

/// The result of a scenario step.
pub type Step<T = ()> = Result<T, Stop>;

/// Fails the scenario with a message.
pub fn fail<T>(msg: impl Into<String>) -> Step<T> {
    Err(Stop::Fail(msg.into()))
}

/// Fails unless `cond`, with the message `msg()`.
pub fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Step {
    if cond { Ok(()) } else { fail(msg()) }
}

/// Adds the last lines of a daemon's log to a failure.
pub fn with_log_tail(stop: Stop, log: &Path) -> Stop {
    match stop {
        Stop::Fail(msg) => {
            let text = fs::read_to_string(log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(10)..].join("\n        ");
            Stop::Fail(format!(
                "{msg}\n      last lines of {}:\n        {tail}",
                log.display()
            ))
        }
        skip => skip,
    }
}

/// What the runtime under test supports, probed from its own `--help`.
#[derive(Debug, Clone, Copy)]
pub struct Features {
    /// `exec`: `ctr task exec`, `podman exec`, `docker exec` need it.
    pub exec: bool,
    /// `create --console-socket`: every tty run needs it.
    pub console_socket: bool,
}

impl Features {
    fn probe(runtime: &Path) -> Features {
        let help = |args: &[&str]| {
            Command::new(runtime)
                .args(args)
                .stdin(Stdio::null())
                .output()
                .map(|o| {
                    (
                        o.status.success(),
                        String::from_utf8_lossy(&o.stdout).into_owned(),
                    )
                })
                .unwrap_or((false, String::new()))
        };
        Features {
            exec: help(&["exec", "--help"]).0,
            console_socket: help(&["create", "--help"]).1.contains("--console-socket"),
        }
    }
}

/// A finished command: exit code (`None` when killed by a signal), output.
#[derive(Debug)]
pub struct Done {
    /// The command line, for messages.
    pub line: String,
    /// Exit code, or `None` when the command died of a signal.
    pub code: Option<i32>,
    /// Everything it wrote to stdout.
    pub stdout: String,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

impl Done {
    /// Fails unless the command exited 0.
    pub fn ok(self) -> Step<Done> {
        self.code_is(0)
    }

    /// Fails unless the command exited with `code`.
    pub fn code_is(self, code: i32) -> Step<Done> {
        if self.code == Some(code) {
            Ok(self)
        } else {
            fail(format!("expected exit code {code}, {}", self.describe()))
        }
    }

    /// Fails unless stdout contains `needle`.
    pub fn stdout_has(self, needle: &str) -> Step<Done> {
        if self.stdout.contains(needle) {
            Ok(self)
        } else {
            fail(format!(
                "expected {needle:?} on stdout, {}",
                self.describe()
            ))
        }
    }

    /// Fails unless stderr or stdout contains `needle`.
    pub fn output_has(self, needle: &str) -> Step<Done> {
        if self.stdout.contains(needle) || self.stderr.contains(needle) {
            Ok(self)
        } else {
            fail(format!(
                "expected {needle:?} in the output, {}",
                self.describe()
            ))
        }
    }

    /// The command, its exit and its output, for a failure message.
    pub fn describe(&self) -> String {
        let code = self.code.map_or("a signal".to_owned(), |c| c.to_string());
        let mut s = format!("`{}` exited with {code}", self.line);
        for (name, text) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let text = text.trim();
            if !text.is_empty() {
                let _ = write!(
                    s,
                    "\n      {name}: {}",
                    text.replace('\n', "\n              ")
                );
            }
        }
        s
    }
}

/// A command left running (a foreground `ctr run` waiting for its task).
pub struct Background {
    child: Child,
    line: String,
    out: PathBuf,
    err: PathBuf,
    deadline: Instant,
}

impl Background {
    /// Waits for the command until its deadline, then kills its group.
    pub fn wait(mut self) -> Step<Done> {
        wait_bounded(&mut self.child, &self.line, self.deadline)?;
        collect(&mut self.child, self.line.clone(), &self.out, &self.err)
    }
}

impl Background {
    /// The command's process id.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends SIGTERM and waits up to `grace`, then kills the group.
    pub fn terminate(mut self, grace: Duration) -> Step<Done> {
        let _ = kill(Pid::from_raw(self.pid()), Signal::SIGTERM);
        self.deadline = Instant::now() + grace;
        self.wait()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            kill_group(&self.child);
            let _ = self.child.wait();
        }
    }
}

fn kill_group(child: &Child) {
    let pid = Pid::from_raw(child.id() as i32);
    let _ = killpg(pid, Signal::SIGKILL);
}

fn wait_bounded(child: &mut Child, line: &str, deadline: Instant) -> Step {
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return Ok(()),
            Ok(None) if Instant::now() >= deadline => {
                kill_group(child);
                let _ = child.wait();
                return fail(format!("timed out: `{line}` (killed)"));
            }
            Ok(None) => sleep(Duration::from_millis(20)),
            Err(e) => return fail(format!("wait for `{line}`: {e}")),
        }
    }
}

fn collect(child: &mut Child, line: String, out: &Path, err: &Path) -> Step<Done> {
    let status = child
        .wait()
        .map_err(|e| Stop::Fail(format!("wait for `{line}`: {e}")))?;
    let read = |p: &Path| String::from_utf8_lossy(&fs::read(p).unwrap_or_default()).into_owned();
    let done = Done {
        code: status.code(),
        stdout: read(out),
        stderr: read(err),
        line,
    };
    let _ = fs::remove_file(out);
    let _ = fs::remove_file(err);
    Ok(done)
}

/// Quotes `word` for `sh -c` (used to hand commands to `script`).
pub fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// One end-to-end run: its directory, tag, runtime and features.
pub struct Lab {
    /// The runtime binary the engines are told to use.
    pub runtime: PathBuf,
    /// What the runtime supports.
    pub features: Features,
    /// Unique per run: names cgroup parents, namespaces and containers.
    pub tag: String,
    /// Private directory for daemons, storage and scratch files.
    pub dir: PathBuf,
    /// The test image archive (OCI layout + docker-archive).
    pub image_archive: PathBuf,
    counter: AtomicUsize,
    /// Host paths the engines create at fixed places and that did not exist
    /// before this run: removed at the end when still empty.
    fixed_paths: Vec<PathBuf>,
}

/// Paths the engines create outside any directory they let us choose.
const FIXED_PATHS: &[&str] = &[
    "/run/containerd/s",
    "/run/containerd/fifo",
    "/run/containerd",
    "/run/containers/networks",
    "/run/containers",
    "/run/docker/plugins",
    "/run/docker",
    "/etc/docker/key.json",
    // podman's image copies keep a blob info cache at this fixed place.
    "/var/lib/containers/cache/blob-info-cache-v1.boltdb",
    "/var/lib/containers/cache",
    "/var/lib/containers",
];

impl Lab {
    /// Prepares a run: a private directory under `$TMPDIR` and the image.
    pub fn new(runtime: PathBuf) -> Result<Lab, String> {
        let tag = format!("gorae-e2e-{}", std::process::id());
        let dir = std::env::temp_dir().join(&tag);
        fs::create_dir_all(dir.join("tmp")).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let fixed_paths = FIXED_PATHS
            .iter()
            .map(PathBuf::from)
            .filter(|p| !p.exists())
            .collect();
        let lab = Lab {
            features: Features::probe(&runtime),
            runtime,
            tag,
            image_archive: dir.join("image.tar"),
            dir,
            counter: AtomicUsize::new(0),
            fixed_paths,
        };
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/make-image.sh");
        let archive = lab.image_archive.to_string_lossy().into_owned();
        lab.cmd(LONG, script.to_str().unwrap_or_default(), &[&archive])
            .and_then(Done::ok)
            .map_err(|e| format!("building the test image: {e:?}"))?;
        Ok(lab)
    }

    /// A path inside the run's directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// A unique name for a container in this run.
    pub fn name(&self, what: &str) -> String {
        format!("{}-{what}", self.tag)
    }

    fn spawn(&self, program: &str, args: &[&str]) -> Step<(Child, String, PathBuf, PathBuf)> {
        self.spawn_with_stdin(program, args, Stdio::null())
    }

    fn spawn_with_stdin(
        &self,
        program: &str,
        args: &[&str],
        stdin: Stdio,
    ) -> Step<(Child, String, PathBuf, PathBuf)> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let out = self.dir.join(format!("cmd-{n}.out"));
        let err = self.dir.join(format!("cmd-{n}.err"));
        let line = std::iter::once(program)
            .chain(args.iter().copied())
            .map(shell_quote)
            .collect::<Vec<_>>()
            .join(" ");
        let file = |p: &Path| {
            fs::File::create(p).map_err(|e| Stop::Fail(format!("create {}: {e}", p.display())))
        };
        let child = {
            use std::os::unix::process::CommandExt;
            Command::new(program)
                .args(args)
                .env("TMPDIR", self.dir.join("tmp"))
                .stdin(stdin)
                .stdout(file(&out)?)
                .stderr(file(&err)?)
                .process_group(0)
                .spawn()
                .map_err(|e| Stop::Fail(format!("spawn `{line}`: {e}")))?
        };
        Ok((child, line, out, err))
    }

    /// Runs `program args`, stdin empty, output captured to files (engines
    /// leave daemons holding inherited pipes), killed after `timeout`.
    pub fn cmd(&self, timeout: Duration, program: &str, args: &[&str]) -> Step<Done> {
        let (mut child, line, out, err) = self.spawn(program, args)?;
        wait_bounded(&mut child, &line, Instant::now() + timeout)?;
        collect(&mut child, line, &out, &err)
    }

    /// Starts `program args` and leaves it running, bounded by `timeout`.
    pub fn background(&self, timeout: Duration, program: &str, args: &[&str]) -> Step<Background> {
        let (child, line, out, err) = self.spawn(program, args)?;
        Ok(Background {
            child,
            line,
            out,
            err,
            deadline: Instant::now() + timeout,
        })
    }

    /// Runs `program args` under a pseudo-terminal (util-linux `script`),
    /// as a person at a terminal would.
    pub fn in_pty(&self, timeout: Duration, program: &str, args: &[&str]) -> Step<Done> {
        let line = std::iter::once(program)
            .chain(args.iter().copied())
            .map(shell_quote)
            .collect::<Vec<_>>()
            .join(" ");
        // stdin stays open (a pipe never written): at EOF on its stdin
        // `script` would send EOF into the terminal, and the engine would
        // see its tty input closed while the container still runs.
        let args = ["-qfec", line.as_str(), "/dev/null"];
        let (mut child, line, out, err) = self.spawn_with_stdin("script", &args, Stdio::piped())?;
        let stdin = child.stdin.take();
        wait_bounded(&mut child, &line, Instant::now() + timeout)?;
        drop(stdin);
        collect(&mut child, line, &out, &err)
    }

    /// Skips the scenario unless the runtime has `exec`.
    pub fn need_exec(&self) -> Step {
        if self.features.exec {
            Ok(())
        } else {
            Err(Stop::Skip(format!(
                "{} has no `exec` command (gorae exec not implemented yet)",
                self.runtime_name()
            )))
        }
    }

    /// Skips the scenario unless the runtime takes `--console-socket`.
    pub fn need_console_socket(&self) -> Step {
        if self.features.console_socket {
            Ok(())
        } else {
            Err(Stop::Skip(format!(
                "{} takes no `create --console-socket` (gorae terminals / process.terminal not implemented yet)",
                self.runtime_name()
            )))
        }
    }

    fn runtime_name(&self) -> String {
        self.runtime
            .file_name()
            .map_or_else(|| "runtime".into(), |n| n.to_string_lossy().into_owned())
    }

    /// Polls `probe` every 100 ms until it returns true or `timeout` passes.
    pub fn wait_until(
        &self,
        timeout: Duration,
        what: &str,
        mut probe: impl FnMut() -> Step<bool>,
    ) -> Step {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if probe()? {
                return Ok(());
            }
            sleep(Duration::from_millis(100));
        }
        fail(format!("timed out after {timeout:?} waiting for {what}"))
    }

    /// Processes that belong to this run: in a cgroup named with the tag,
    /// or with the run's directory on their command line (shims, conmon).
    pub fn processes(&self) -> Vec<(i32, String)> {
        let dir = self.dir.to_string_lossy().into_owned();
        let mut found = Vec::new();
        let Ok(entries) = fs::read_dir("/proc") else {
            return found;
        };
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            if pid == std::process::id() as i32 {
                continue;
            }
            let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let cgroup = fs::read_to_string(entry.path().join("cgroup")).unwrap_or_default();
            let stat = fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            let zombie = stat
                .rsplit(')')
                .next()
                .is_some_and(|s| s.trim_start().starts_with('Z'));
            if !zombie && (cgroup.contains(&self.tag) || cmdline.contains(&dir)) {
                found.push((pid, cmdline.trim().to_owned()));
            }
        }
        found
    }

    /// Mount points inside the run's directory.
    pub fn mounts(&self) -> Vec<String> {
        let dir = self.dir.to_string_lossy().into_owned();
        fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&dir))
            .map(str::to_owned)
            .collect()
    }

    /// Cgroup directories named with the tag, on every hierarchy.
    pub fn cgroups(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let roots: Vec<PathBuf> = match fs::read_dir("/sys/fs/cgroup") {
            Ok(rd) => rd
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect(),
            Err(_) => return found,
        };
        let mut roots = roots;
        roots.push(PathBuf::from("/sys/fs/cgroup"));
        for root in roots {
            let Ok(rd) = fs::read_dir(&root) else {
                continue;
            };
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with(&self.tag) && e.path().is_dir() {
                    found.push(e.path());
                }
            }
        }
        found
    }

    /// Ends the run: kills this run's processes that outlived their
    /// engine, unmounts, removes this run's cgroups (deepest first), its
    /// directory and the fixed host paths the engines created. Returns what
    /// was left behind *before* this sweep (a leak the engines or the
    /// runtime should have cleaned: processes, mounts, container cgroups)
    /// and what could not be removed at all. The engines' parent cgroups
    /// (`/<tag>` of containerd's namespace, `--cgroup-parent`s, podman's
    /// `<parent>/conmon`) are theirs to keep, and are removed silently.
    pub fn finish(&self) -> Vec<String> {
        let mut leaks = Vec::new();
        let procs = self.processes();
        if !procs.is_empty() {
            leaks.push(format!("processes: {procs:?}"));
            for (pid, _) in &procs {
                let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
            }
            sleep(Duration::from_millis(500));
        }
        let mut mounts = self.mounts();
        if !mounts.is_empty() {
            leaks.push(format!("mounts: {mounts:?}"));
            mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
            for m in &mounts {
                let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
            }
        }
        let cgroups = self.cgroups();
        let mut children: Vec<String> = cgroups
            .iter()
            .flat_map(|cg| fs::read_dir(cg).into_iter().flatten().flatten())
            .filter(|e| e.path().is_dir() && e.file_name() != "conmon")
            .filter_map(|e| {
                let path = e.path();
                let parent = path.parent()?.file_name()?.to_string_lossy().into_owned();
                Some(format!("/{parent}/{}", e.file_name().to_string_lossy()))
            })
            .collect();
        children.sort();
        children.dedup();
        if !children.is_empty() {
            leaks.push(format!(
                "container cgroups (on some or all hierarchies): {children:?}"
            ));
        }
        for cg in cgroups {
            if let Err(e) = remove_cgroup_tree(&cg) {
                leaks.push(format!("cgroup {} cannot be removed: {e}", cg.display()));
            }
        }
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            leaks.push(format!("run directory {}: {e}", self.dir.display()));
        }
        for p in &self.fixed_paths {
            if p.is_dir() {
                let _ = fs::remove_dir(p);
            } else if p.exists() {
                let _ = fs::remove_file(p);
            }
        }
        leaks
    }
}

/// A value read from a cgroup file, and which version it came from.
pub enum CgroupValue {
    /// From the v1 hierarchy of the controller.
    V1(String),
    /// From the unified (v2) hierarchy: the host has no such v1 hierarchy.
    V2(String),
}

/// Reads `pid`'s cgroup file: `v1_file` on the v1 hierarchy of
/// `controller`, else `v2_file` on the unified hierarchy; trimmed.
pub fn cgroup_file(
    pid: i32,
    controller: &str,
    v1_file: &str,
    v2_file: &str,
) -> Option<CgroupValue> {
    let table = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let read = |path: String| fs::read_to_string(path).ok().map(|v| v.trim().to_owned());
    let mut v2 = None;
    for line in table.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
        if ctrls.split(',').any(|c| c == controller) {
            return read(format!("/sys/fs/cgroup/{controller}{path}/{v1_file}"))
                .map(CgroupValue::V1);
        }
        if ctrls.is_empty() {
            v2 = Some(path.to_owned());
        }
    }
    read(format!("/sys/fs/cgroup{}/{v2_file}", v2?)).map(CgroupValue::V2)
}

/// Fails unless `pid`'s cgroup holds `want` in v1 `file` of `controller`
/// (or the v2 counterpart of both on a host without that hierarchy).
pub fn expect_cgroup(pid: i32, controller: &str, file: &str, want: &str) -> Step {
    let (v2_file, want_v2) = match file {
        "memory.limit_in_bytes" => ("memory.max", want.to_owned()),
        // runc's conversion of shares to weight.
        "cpu.shares" => {
            let shares: u64 = want.parse().unwrap_or(2);
            (
                "cpu.weight",
                (1 + (shares.max(2) - 2) * 9999 / 262_142).to_string(),
            )
        }
        other => (other, want.to_owned()),
    };
    let (got, expected) = match cgroup_file(pid, controller, file, v2_file) {
        Some(CgroupValue::V1(v)) => (Some(v), want.to_owned()),
        Some(CgroupValue::V2(v)) => (Some(v), want_v2),
        None => (None, want.to_owned()),
    };
    ensure(got.as_deref() == Some(expected.as_str()), || {
        format!("{controller} {file} of pid {pid} is {got:?}, expected {expected}")
    })
}

/// Removes a cgroup directory and its children, deepest first (`rmdir`
/// only: a cgroup with a process in it stays and is reported).
fn remove_cgroup_tree(dir: &Path) -> std::io::Result<()> {
    for e in fs::read_dir(dir)?.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_cgroup_tree(&e.path())?;
        }
    }
    fs::remove_dir(dir)
}

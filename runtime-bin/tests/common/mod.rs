//! Test support: real containers from a busybox bundle built at test time.
//!
//! Every [`Lab`] has its own directory under `target/tmp/gorae-tests`: a
//! state root, a bundle with its own rootfs (busybox hard-linked from the
//! host's `busybox-static`) and scratch files. Dropping it force-deletes
//! its containers and removes the directory, so tests run in parallel and
//! leave nothing behind; `make test` checks that afterwards.
#![allow(dead_code, unsafe_code, clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const GORAE: &str = env!("CARGO_BIN_EXE_gorae");

/// Where every test's directory lives; `make test` checks it is empty after.
pub fn tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gorae-tests")
}

/// The host's static busybox and the applets it provides.
fn busybox() -> &'static (PathBuf, Vec<String>) {
    static BUSYBOX: OnceLock<(PathBuf, Vec<String>)> = OnceLock::new();
    BUSYBOX.get_or_init(|| {
        let path = PathBuf::from("/bin/busybox");
        assert!(
            path.exists(),
            "/bin/busybox is missing: install Debian's busybox-static (make test does)"
        );
        let out = Command::new(&path).arg("--list").output().unwrap();
        let applets = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter(|a| *a != "busybox")
            .map(str::to_owned)
            .collect();
        (path, applets)
    })
}

/// Builds a busybox rootfs at `dir`: `/bin` with busybox and its applets,
/// the usual empty directories and an `/etc/passwd` and `/etc/group`.
pub fn make_rootfs(dir: &Path) {
    let (busybox, applets) = busybox();
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    // A hard link when the target dir shares the host's filesystem, else a copy.
    if fs::hard_link(busybox, bin.join("busybox")).is_err() {
        fs::copy(busybox, bin.join("busybox")).unwrap();
    }
    for a in applets {
        std::os::unix::fs::symlink("busybox", bin.join(a)).unwrap();
    }
    for d in ["proc", "sys", "dev", "tmp", "etc", "root", "home/user"] {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
    fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n",
    )
    .unwrap();
    fs::write(
        dir.join("etc/group"),
        "root:x:0:\nwheel:x:10:\nuser:x:1000:\n",
    )
    .unwrap();
}

/// The config every test starts from: what `runc spec` gives, minus the
/// terminal, with the namespaces and mounts real engines pass.
pub fn base_config(args: &[&str]) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "gorae-test",
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
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
            ]
        }
    })
}

/// What a gorae command printed and how it ended.
#[derive(Debug)]
pub struct Outcome {
    pub code: Option<i32>,
    /// The signal that ended gorae, if one did.
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// How a command that wrote its stdout and stderr to these files ended.
    pub fn of(status: std::process::ExitStatus, stdout: &Path, stderr: &Path) -> Self {
        Outcome {
            code: status.code(),
            signal: std::os::unix::process::ExitStatusExt::signal(&status),
            stdout: fs::read_to_string(stdout).unwrap_or_default(),
            stderr: fs::read_to_string(stderr).unwrap_or_default(),
        }
    }

    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    #[track_caller]
    pub fn expect_ok(self) -> Self {
        assert!(self.ok(), "gorae failed: {self:?}");
        self
    }

    /// The message of the one error line on stderr, unquoted from runc's
    /// text log format (`time="..." level=error msg="..."`).
    pub fn error_message(&self) -> Option<String> {
        let line = self.stderr.strip_suffix('\n')?;
        if line.contains('\n') {
            return None;
        }
        let quoted = line.split_once(" level=error msg=")?.1;
        serde_json::from_str(quoted).ok()
    }

    /// Asserts exit status 1 with a one-line error containing `needle`.
    #[track_caller]
    pub fn expect_error(self, needle: &str) -> Self {
        assert_eq!(self.code, Some(1), "expected exit status 1: {self:?}");
        let msg = self.error_message();
        assert!(msg.is_some(), "expected one error line: {self:?}");
        assert!(
            msg.is_some_and(|m| m.contains(needle)),
            "error lacks {needle:?}: {self:?}"
        );
        self
    }
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// One test's private world: state root, bundle, scratch directory.
pub struct Lab {
    pub dir: PathBuf,
    pub root: PathBuf,
    pub bundle: PathBuf,
    ids: std::sync::Mutex<Vec<String>>,
}

impl Lab {
    /// A lab named after the test, with a bundle running `args`.
    pub fn new(name: &str, args: &[&str]) -> Self {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir = tests_dir().join(format!("{name}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let bundle = dir.join("bundle");
        make_rootfs(&bundle.join("rootfs"));
        let lab = Lab {
            root: dir.join("root"),
            bundle,
            dir,
            ids: Default::default(),
        };
        lab.write_config(&base_config(args));
        lab
    }

    pub fn write_config(&self, config: &Value) {
        fs::write(
            self.bundle.join("config.json"),
            serde_json::to_vec_pretty(config).unwrap(),
        )
        .unwrap();
    }

    pub fn config(&self) -> Value {
        serde_json::from_slice(&fs::read(self.bundle.join("config.json")).unwrap()).unwrap()
    }

    /// Edits config.json in place.
    pub fn edit_config(&self, f: impl FnOnce(&mut Value)) {
        let mut c = self.config();
        f(&mut c);
        self.write_config(&c);
    }

    pub fn rootfs(&self) -> PathBuf {
        self.bundle.join("rootfs")
    }

    /// Runs `gorae --root <lab root> args...`; stdout and stderr go to files
    /// (a created container's init keeps the caller's stdio open).
    pub fn gorae(&self, args: &[&str]) -> Outcome {
        self.gorae_as(Path::new(GORAE), args, |_| {})
    }

    /// [`Lab::gorae`] through another `gorae` binary (a copy an attack
    /// targets), with `adjust` applied to the command before it runs
    /// (extra inherited fds, ...).
    pub fn gorae_as(
        &self,
        binary: &Path,
        args: &[&str],
        adjust: impl FnOnce(&mut Command),
    ) -> Outcome {
        if let Some(id) = container_id(args) {
            self.track(&id);
        }
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        fs::create_dir_all(&self.dir).unwrap();
        let out_path = self.dir.join(format!("out-{n}"));
        let err_path = self.dir.join(format!("err-{n}"));
        let mut command = Command::new(binary);
        command
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .current_dir(&self.bundle)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&out_path).unwrap())
            .stderr(fs::File::create(&err_path).unwrap());
        adjust(&mut command);
        Outcome::of(command.status().unwrap(), &out_path, &err_path)
    }

    /// `gorae run ID` of the bundle; returns what the container printed.
    pub fn run(&self, id: &str) -> Outcome {
        self.gorae(&["run", "--bundle", self.bundle.to_str().unwrap(), id])
    }

    /// Runs the bundle and returns its stdout, asserting success.
    #[track_caller]
    pub fn output(&self, id: &str) -> String {
        self.run(id).expect_ok().stdout
    }

    pub fn create(&self, id: &str) -> Outcome {
        self.gorae(&["create", "--bundle", self.bundle.to_str().unwrap(), id])
    }

    /// The parsed `gorae state ID`.
    #[track_caller]
    pub fn state(&self, id: &str) -> Value {
        let out = self.gorae(&["state", id]).expect_ok();
        serde_json::from_str(&out.stdout).unwrap()
    }

    /// The status `gorae state ID` reports, or `None` when it says the
    /// container does not exist; anything else (an output that does not
    /// parse, another error) fails the test.
    #[track_caller]
    pub fn status_or_absent(&self, id: &str) -> Option<String> {
        let out = self.gorae(&["state", id]);
        if !out.ok() {
            out.expect_error("does not exist");
            return None;
        }
        let state: Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state of {id} does not parse ({e}): {out:?}"));
        let status = state["status"].as_str().unwrap_or_default().to_owned();
        assert!(
            ["creating", "created", "running", "paused", "stopped"].contains(&status.as_str()),
            "{out:?}"
        );
        Some(status)
    }

    /// Cleans up container `id` when the lab is dropped, like the
    /// containers this lab's `create` and `run` made.
    pub fn track(&self, id: &str) {
        let mut ids = self.ids.lock().unwrap();
        if !ids.iter().any(|i| i == id) {
            ids.push(id.to_owned());
        }
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap().to_owned()
    }

    /// Waits until the container reaches `status` (5 s at most).
    #[track_caller]
    pub fn wait_status(&self, id: &str, status: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let now = self.status(id);
            if now == status {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{id} stayed {now}, never {status}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Asserts nothing of container `id` is left: no state directory and no
    /// process whose root is this lab's rootfs.
    #[track_caller]
    pub fn assert_nothing_left(&self, id: &str) {
        assert!(
            !self.root.join(id).exists(),
            "state dir of {id} left behind"
        );
        let rootfs = self.rootfs();
        let procs = processes_rooted_in(&rootfs);
        assert!(
            procs.is_empty(),
            "processes left in {}: {procs:?}",
            rootfs.display()
        );
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let lab = self.dir.to_str().unwrap();
        assert!(!mounts.contains(lab), "mounts left under {lab}");
    }
}

/// The pids of processes whose root directory is `rootfs` (containers').
/// After `pivot_root` the link `/proc/<pid>/root` reads as `/` from the
/// host, so the root is compared by device and inode through the link.
pub fn processes_rooted_in(rootfs: &Path) -> Vec<i32> {
    use std::os::unix::fs::MetadataExt;
    let Ok(want) = fs::metadata(rootfs) else {
        return Vec::new();
    };
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            fs::metadata(format!("/proc/{pid}/root"))
                .is_ok_and(|m| m.dev() == want.dev() && m.ino() == want.ino())
        })
        .collect()
}

/// The container id in a gorae command line (its last non-flag word for
/// the lifecycle commands).
fn container_id(args: &[&str]) -> Option<String> {
    let cmd = args.iter().position(|a| ["create", "run"].contains(a))?;
    let mut words = args[cmd + 1..].iter();
    let mut id = None;
    while let Some(w) = words.next() {
        if ["--bundle", "-b", "--pid-file"].contains(w) {
            words.next();
        } else if !w.starts_with('-') {
            id = Some((*w).to_owned());
        }
    }
    id
}

impl Drop for Lab {
    fn drop(&mut self) {
        let ids = std::mem::take(&mut *self.ids.lock().unwrap());
        for id in ids {
            if self.root.join(&id).exists() {
                let _ = self.gorae(&["delete", "--force", &id]);
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Accepts one connection on `listener` and receives the message and the
/// fd sent on it with SCM_RIGHTS (a pty master, a seccomp listener).
pub fn receive_fd(listener: &std::os::unix::net::UnixListener) -> (Vec<u8>, std::os::fd::OwnedFd) {
    use std::os::fd::{AsRawFd, FromRawFd, RawFd};
    let (stream, _) = listener.accept().unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = nix::sys::socket::recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        nix::sys::socket::MsgFlags::empty(),
    )
    .unwrap();
    let fd = msg
        .cmsgs()
        .unwrap()
        .find_map(|c| match c {
            nix::sys::socket::ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
            _ => None,
        })
        .expect("no fd sent");
    let len = msg.bytes;
    buf.truncate(len);
    // SAFETY: SCM_RIGHTS installed this fd in our process; we own it now.
    (buf, unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// The directories of container `id`'s cgroup at gorae's default path
/// (`/gorae/<tag of the state root>/<id>`) that exist, in every hierarchy.
pub fn cgroup_dirs(root: &Path, id: &str) -> Vec<PathBuf> {
    hierarchies()
        .into_iter()
        .map(|h| h.join("gorae").join(cgroup_tag(root)).join(id))
        .filter(|d| d.is_dir())
        .collect()
}

/// Whether the `/gorae/<tag>` parent of state root `root` exists in any
/// hierarchy (gorae removes it with its last container).
pub fn cgroup_parent_exists(root: &Path) -> bool {
    hierarchies()
        .into_iter()
        .any(|h| h.join("gorae").join(cgroup_tag(root)).is_dir())
}

/// The pids in container `id`'s cgroup (at the default path).
pub fn cgroup_pids(root: &Path, id: &str) -> Vec<i32> {
    let procs: Vec<String> = cgroup_dirs(root, id)
        .iter()
        .map(|d| fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default())
        .collect();
    let mut pids: Vec<i32> = procs
        .iter()
        .flat_map(|p| p.split_whitespace())
        .filter_map(|p| p.parse().ok())
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// The mount points of the cgroup hierarchies (`/sys/fs/cgroup/<name>`,
/// or `/sys/fs/cgroup` itself on a pure v2 host).
fn hierarchies() -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    if base.join("cgroup.procs").exists() {
        return vec![base.to_owned()];
    }
    fs::read_dir(base)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// The tag gorae names a state root's cgroups with: FNV-1a of its path,
/// derived here on its own so that the tests check the documented scheme.
fn cgroup_tag(root: &Path) -> String {
    let hash = root
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0x811c_9dc5u32, |h, b| {
            (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
        });
    format!("{hash:08x}")
}

/// Waits (5 s at most) until `done` holds; false if it never did.
pub fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// Waits (5 s at most) until process `pid` has a handler for `signal`:
/// a shell's `trap` is set some time after `start` returns, and a signal
/// sent before it meets the default disposition, which the kernel ignores
/// for a pid namespace's init (that signal is then lost).
#[track_caller]
pub fn wait_until_caught(pid: i32, signal: i32) {
    let caught = || {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|status| {
                let mask = status.lines().find_map(|l| l.strip_prefix("SigCgt:"))?;
                u64::from_str_radix(mask.trim(), 16).ok()
            })
            .is_some_and(|mask| mask & (1 << (signal - 1)) != 0)
    };
    assert!(
        eventually(caught),
        "process {pid} never caught signal {signal}"
    );
}

/// Makes this test process the subreaper of everything it starts: a
/// container's init, once its `create` exits, becomes its child, so that a
/// test can reap it and check that no process or zombie is left.
///
/// A thread then reaps, as they end, the children that lived in another
/// pid namespace (container processes orphaned to this process), as a
/// shim does: a pid namespace's init cannot finish exiting before every
/// process of its namespace is reaped, so `delete` of a container whose
/// exec'd process was orphaned here would otherwise wait for the test.
/// The gorae commands the tests run live in this process's namespace and
/// are left to the threads that wait for them.
pub fn become_subreaper() {
    static REAPER: OnceLock<()> = OnceLock::new();
    REAPER.get_or_init(|| {
        nix::sys::prctl::set_child_subreaper(true).unwrap();
        std::thread::spawn(|| {
            loop {
                for pid in children().filter(|p| is_zombie_in_a_container(*p)) {
                    reap(pid);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
    });
}

/// The pids whose parent is this process.
fn children() -> impl Iterator<Item = i32> {
    let me = std::process::id().to_string();
    let parent_of = |pid: i32| {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let (_, rest) = stat.rsplit_once(')')?;
        rest.split_whitespace().nth(1).map(str::to_owned)
    };
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(move |pid| parent_of(*pid).as_deref() == Some(me.as_str()))
}

/// A zombie whose pid namespace is not the host's (`NSpid` lists a pid
/// per level).
fn is_zombie_in_a_container(pid: i32) -> bool {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_default()
            .to_owned()
    };
    field("State:").trim_start().starts_with('Z') && field("NSpid:").split_whitespace().count() > 1
}

/// Reaps child `pid` of this (subreaper) process, waiting 5 s at most for
/// it to end; false if it is still running then.
pub fn reap(pid: i32) -> bool {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    let pid = nix::unistd::Pid::from_raw(pid);
    eventually(|| {
        !matches!(
            waitpid(pid, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)),
            Ok(WaitStatus::StillAlive)
        )
    })
}

/// Reaps every child of this process as it ends, for 5 s at most, and
/// returns the pids of those still running then: none when everything the
/// test started (gorae, container inits, exec'd processes) is gone, zombies
/// included. Only for a test that has no gorae command running meanwhile
/// (it would reap that command too).
pub fn reap_all_children() -> Vec<i32> {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    let any = nix::unistd::Pid::from_raw(-1);
    let flags = WaitPidFlag::WNOHANG | WaitPidFlag::__WALL;
    let none_left = eventually(|| {
        loop {
            match waitpid(any, Some(flags)) {
                Ok(WaitStatus::StillAlive) => break false,
                Ok(_) => continue,
                Err(_) => break true,
            }
        }
    });
    if none_left {
        return Vec::new();
    }
    children().collect()
}

/// A tmpfs the test mounted under the tests' directory (a state root on a
/// small or read-only disk); unmounted and removed when dropped. Only this
/// mount is ever remounted or unmounted.
pub struct Tmpfs {
    pub path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs with `options` (`size=...`, `nr_inodes=...`).
    pub fn mount(name: &str, options: &str) -> Self {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let path = tests_dir().join(format!("{name}-tmpfs-{}-{n}", std::process::id()));
        fs::create_dir_all(&path).unwrap();
        nix::mount::mount(
            Some("tmpfs"),
            &path,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some(options),
        )
        .unwrap();
        Tmpfs { path }
    }

    /// Remounts it read-only, or read-write again. The kernel refuses a
    /// read-only remount (EBUSY) while a removed file is still open, as
    /// the start socket is until the container's init has run `execve`:
    /// that is retried for a while.
    pub fn set_readonly(&self, readonly: bool) {
        let mut flags = nix::mount::MsFlags::MS_REMOUNT;
        flags.set(nix::mount::MsFlags::MS_RDONLY, readonly);
        let busy = Err(nix::errno::Errno::EBUSY);
        let mut last = busy;
        eventually(|| {
            last = nix::mount::mount(None::<&str>, &self.path, None::<&str>, flags, None::<&str>);
            last != busy
        });
        let path = self.path.display();
        assert!(last.is_ok(), "remount {path} ({flags:?}): {last:?}");
    }

    /// Fills its space with one file, until the kernel says it is full.
    pub fn fill_space(&self) {
        use std::io::Write;
        let mut file = fs::File::create(self.path.join("filler")).unwrap();
        let block = [0u8; 4096];
        while file.write_all(&block).is_ok() {}
    }

    /// Uses up its inodes with empty files, until the kernel says it is full.
    pub fn fill_inodes(&self) {
        let mut n = 0;
        while fs::File::create(self.path.join(format!("inode-{n}"))).is_ok() {
            n += 1;
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.path, nix::mount::MntFlags::MNT_DETACH);
        let _ = fs::remove_dir(&self.path);
    }
}

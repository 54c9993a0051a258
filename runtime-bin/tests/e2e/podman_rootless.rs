//! Rootless podman (Debian's podman 4.3) driving the runtime: an
//! unprivileged user made for the run, with a subordinate id range, its
//! own home (podman's `vfs` storage) and `XDG_RUNTIME_DIR`, runs podman
//! through `setpriv`. Rootless podman runs the runtime inside the user
//! namespace it sets up from those ranges, as root there: gorae sees a
//! config without a user namespace, cannot create cgroups (nothing is
//! delegated here) nor device nodes, and cannot return to the host's pid
//! namespace after entering a container's.
//!
//! `stop` kills what podman leaves running for the user (its rootless
//! pause process), deletes the user and its directories.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use super::cli::{DockerCli, TRAPS_TERM};
use super::{Done, IMAGE, LONG, Lab, SHORT, Step, Stop, ensure};

/// podman as an unprivileged user, with the runtime under test.
pub struct RootlessPodman<'a> {
    lab: &'a Lab,
    user: String,
    uid: u32,
    home: PathBuf,
    runtime_dir: PathBuf,
}

impl<'a> RootlessPodman<'a> {
    /// Creates the user, its directories, and loads the test image.
    pub fn start(lab: &'a Lab) -> Step<RootlessPodman<'a>> {
        let user = format!("gr{}", std::process::id());
        let home = lab.path("podman-rootless");
        lab.cmd(
            SHORT,
            "useradd",
            &[
                "--home-dir",
                &home.to_string_lossy(),
                "--create-home",
                "--shell",
                "/bin/sh",
                &user,
            ],
        )?
        .ok()?;
        let uid = lab
            .cmd(SHORT, "id", &["-u", &user])?
            .ok()?
            .stdout
            .trim()
            .parse()
            .map_err(|e| Stop::Fail(format!("uid of {user}: {e}")))?;
        let runtime_dir = PathBuf::from(format!("/run/user/{uid}"));
        let podman = RootlessPodman {
            lab,
            user,
            uid,
            home,
            runtime_dir,
        };
        podman.prepare()?;
        podman
            .cmd(LONG, &["load", "-i", &lab.image_archive.to_string_lossy()])?
            .ok()?;
        Ok(podman)
    }

    /// Subordinate ids, the runtime dir and a readable image archive.
    fn prepare(&self) -> Step {
        self.lab
            .cmd(
                SHORT,
                "usermod",
                &[
                    "--add-subuids",
                    "500000-565535",
                    "--add-subgids",
                    "500000-565535",
                    &self.user,
                ],
            )?
            .ok()?;
        let dir = self.runtime_dir.to_string_lossy().into_owned();
        let owner = format!("{}:", self.user);
        self.lab
            .cmd(SHORT, "mkdir", &["-p", "-m", "0700", &dir])?
            .ok()?;
        self.lab.cmd(SHORT, "chown", &[&owner, &dir])?.ok()?;
        let tmp = self.home.join("tmp");
        fs::create_dir_all(&tmp)
            .map_err(|e| Stop::Fail(format!("mkdir {}: {e}", tmp.display())))?;
        self.lab
            .cmd(
                SHORT,
                "chown",
                &["-R", &owner, &self.home.to_string_lossy()],
            )?
            .ok()?;
        let archive = self.lab.image_archive.to_string_lossy().into_owned();
        self.lab.cmd(SHORT, "chmod", &["a+r", &archive])?.ok()?;
        Ok(())
    }

    /// `podman <args>` as the user, bounded by `timeout`.
    fn cmd(&self, timeout: Duration, args: &[&str]) -> Step<Done> {
        let home = format!("HOME={}", self.home.display());
        let xdg = format!("XDG_RUNTIME_DIR={}", self.runtime_dir.display());
        let tmp = format!("TMPDIR={}", self.home.join("tmp").display());
        let runtime = self.lab.runtime.to_string_lossy().into_owned();
        let mut argv = vec![
            "--reuid",
            &self.user,
            "--regid",
            &self.user,
            "--init-groups",
            "env",
            &home,
            &xdg,
            &tmp,
            "podman",
            "--storage-driver",
            "vfs",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "file",
            "--runtime",
            &runtime,
        ];
        argv.extend_from_slice(args);
        self.lab.cmd(timeout, "setpriv", &argv)
    }

    fn podman(&self, args: &[&str]) -> Step<Done> {
        self.cmd(SHORT, args)
    }

    /// `podman run --rm`: output, exit code; root inside, the user outside.
    pub fn run_rm(&self) -> Step {
        let script = "cat /proc/self/uid_map; echo hello rootless; exit 3";
        let done = self
            .run(&["--rm"], IMAGE, &["sh", "-c", script])?
            .code_is(3)?
            .stdout_has("hello rootless")?;
        let first = done.stdout.lines().next().unwrap_or_default();
        let fields: Vec<&str> = first.split_whitespace().collect();
        let uid = self.uid.to_string();
        ensure(fields == ["0", uid.as_str(), "1"], || {
            format!("container root is not uid {uid}: {}", done.describe())
        })
    }

    /// `podman run -d`, `exec` (root inside, in the container's pid
    /// namespace), `stop` (SIGTERM seen by the trap), `rm`.
    pub fn detached_exec_stop_rm(&self) -> Step {
        self.with_detached("rootless", &["sh", "-c", TRAPS_TERM], |name| {
            self.wait_logged(name, "started")?;
            let exec = self
                .podman(&["exec", name, "sh", "-c", "echo exec-ok; id -u; echo $$"])?
                .ok()?;
            let lines: Vec<&str> = exec.stdout.lines().collect();
            ensure(
                lines.len() == 3 && lines[0] == "exec-ok" && lines[1] == "0",
                || format!("exec: {}", exec.describe()),
            )?;
            ensure(lines[2] != "1", || {
                format!(
                    "exec'd process is not in the container's pid namespace: {}",
                    exec.describe()
                )
            })?;
            self.stop_through_the_trap(name)?;
            self.podman(&["rm", name])?.ok()?;
            self.assert_gone(name)
        })
    }

    /// Removes every container, kills the user's processes (podman's pause
    /// process) and deletes the user with its directories.
    pub fn stop(self) -> Step {
        let _ = self.podman(&["rm", "--all", "--force", "--time", "0"]);
        let _ = self.lab.cmd(SHORT, "pkill", &["-KILL", "-u", &self.user]);
        std::thread::sleep(Duration::from_millis(200));
        let del = self.lab.cmd(SHORT, "userdel", &[&self.user]);
        let _ = fs::remove_dir_all(&self.runtime_dir);
        let _ = fs::remove_dir_all(&self.home);
        for file in ["/etc/subuid", "/etc/subgid"] {
            if let Ok(text) = fs::read_to_string(file) {
                let prefix = format!("{}:", self.user);
                let kept: String = text
                    .lines()
                    .filter(|l| !l.starts_with(&prefix))
                    .map(|l| format!("{l}\n"))
                    .collect();
                let _ = fs::write(file, kept);
            }
        }
        del?.ok()?;
        Ok(())
    }
}

impl DockerCli for RootlessPodman<'_> {
    const NAME: &'static str = "podman";
    const FORCE_REMOVE: &'static [&'static str] = &["--time", "0"];

    fn lab(&self) -> &Lab {
        self.lab
    }

    fn cli(&self, args: &[&str]) -> Step<Done> {
        self.podman(args)
    }

    fn run(&self, opts: &[&str], image: &str, cmd: &[&str]) -> Step<Done> {
        let mut args = vec!["run", "--network", "none"];
        args.extend_from_slice(opts);
        args.push(image);
        args.extend_from_slice(cmd);
        self.podman(&args)
    }
}

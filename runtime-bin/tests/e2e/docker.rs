//! Docker (Debian's `docker.io`: dockerd and its own managed containerd)
//! driving the runtime registered with `--add-runtime e2e=<runtime>`.
//!
//! dockerd runs on a private socket with a private `--data-root`,
//! `--exec-root`, pid file and config, the `vfs` storage driver, no bridge
//! and no iptables (no network at all: every container uses
//! `--network none`), `--cgroup-parent /<tag>-docker`, and default
//! nofile/nproc ulimits within the machine's. The client is Debian's
//! `/usr/bin/docker` with a private `--config`.

use std::fs;
use std::time::Duration;

use super::cli::DockerCli;
use super::{
    BROKEN_IMAGE, Background, Done, IMAGE, LONG, Lab, SHORT, Step, Stop, ensure, expect_cgroup,
};

/// The name the runtime under test is registered under in dockerd.
const RUNTIME: &str = "e2e";
/// Debian's client (a different docker CLI may be first on `PATH`).
const CLIENT: &str = "/usr/bin/docker";

/// A running private dockerd.
pub struct Docker<'a> {
    lab: &'a Lab,
    daemon: Option<Background>,
    base: Vec<String>,
}

impl<'a> Docker<'a> {
    /// Starts dockerd and loads the test image.
    pub fn start(lab: &'a Lab) -> Step<Docker<'a>> {
        let dir = lab.path("docker");
        fs::create_dir_all(dir.join("cli")).map_err(|e| Stop::Fail(format!("mkdir: {e}")))?;
        fs::write(dir.join("daemon.json"), "{}\n")
            .map_err(|e| Stop::Fail(format!("write daemon.json: {e}")))?;
        let p = |s: &str| dir.join(s).to_string_lossy().into_owned();
        let socket = format!("unix://{}", p("docker.sock"));
        let add_runtime = format!("{RUNTIME}={}", lab.runtime.display());
        let parent = format!("/{}-docker", lab.tag);
        let log = p("dockerd.log");
        let daemon_args: Vec<String> = [
            "--data-root",
            &p("data"),
            "--exec-root",
            &p("exec"),
            "--pidfile",
            &p("dockerd.pid"),
            "--config-file",
            &p("daemon.json"),
            "--host",
            &socket,
            "--storage-driver",
            "vfs",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-masq=false",
            "--bridge",
            "none",
            "--userland-proxy=false",
            "--cgroup-parent",
            &parent,
            "--add-runtime",
            &add_runtime,
            "--default-ulimit",
            "nofile=1024:4096",
            "--default-ulimit",
            "nproc=1024:4096",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let mut sh = vec![
            "-c".to_owned(),
            r#"exec dockerd "$@" >"$0" 2>&1"#.to_owned(),
            log,
        ];
        sh.extend(daemon_args);
        let sh: Vec<&str> = sh.iter().map(String::as_str).collect();
        let daemon = lab.background(Duration::from_secs(3600), "sh", &sh)?;
        let base = ["--config", &p("cli"), "--host", &socket]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let docker = Docker {
            lab,
            daemon: Some(daemon),
            base,
        };
        match docker.load_images() {
            Ok(()) => Ok(docker),
            Err(e) => {
                let _ = docker.stop();
                Err(super::with_log_tail(e, &dir.join("dockerd.log")))
            }
        }
    }

    fn load_images(&self) -> Step {
        self.lab
            .wait_until(LONG, "dockerd to answer `docker version`", || {
                Ok(self.docker(&["version"])?.code == Some(0))
            })?;
        self.cmd(
            LONG,
            &["load", "--input", &self.lab.image_archive.to_string_lossy()],
        )?
        .ok()?;
        let images = self
            .docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"])?
            .ok()?;
        for image in [IMAGE, BROKEN_IMAGE] {
            ensure(images.stdout.contains(image), || {
                format!("{image} not loaded: {}", images.describe())
            })?;
        }
        Ok(())
    }

    fn cmd(&self, timeout: Duration, args: &[&str]) -> Step<Done> {
        let argv: Vec<&str> = self
            .base
            .iter()
            .map(String::as_str)
            .chain(args.iter().copied())
            .collect();
        self.lab.cmd(timeout, CLIENT, &argv)
    }

    /// `docker <args>` against the private daemon, bounded by [`SHORT`].
    pub fn docker(&self, args: &[&str]) -> Step<Done> {
        self.cmd(SHORT, args)
    }

    /// `docker update` of a running container (the runtime's `update`
    /// through the shim) changes its cgroup limits.
    pub fn update(&self) -> Step {
        let opts = [
            "--memory",
            "64m",
            "--memory-swap",
            "64m",
            "--pids-limit",
            "50",
        ];
        self.with_detached_opts("update", &opts, &["sleep", "1000"], |name| {
            let pid = self.pid(name)?;
            expect_cgroup(pid, "memory", "memory.limit_in_bytes", "67108864")?;
            expect_cgroup(pid, "pids", "pids.max", "50")?;
            self.docker(&[
                "update",
                "--memory",
                "96m",
                "--memory-swap",
                "96m",
                "--pids-limit",
                "60",
                name,
            ])?
            .ok()?;
            expect_cgroup(pid, "memory", "memory.limit_in_bytes", "100663296")?;
            expect_cgroup(pid, "pids", "pids.max", "60")
        })
    }

    /// `--init`: Debian's docker-init (tini), bind-mounted as a file, is pid 1.
    pub fn init(&self) -> Step {
        self.run(&["--rm", "--init"], IMAGE, &["sh", "-c", "ps -o pid,args"])?
            .ok()?
            .stdout_has("1 /sbin/docker-init -- sh -c")
            .map(|_| ())
    }

    /// `--read-only` with a sized `--tmpfs`.
    pub fn read_only_with_tmpfs(&self) -> Step {
        let cmd = "touch /x 2>&1; grep ' /run ' /proc/mounts; echo a > /run/a && cat /run/a";
        self.run(
            &["--rm", "--read-only", "--tmpfs", "/run:size=1m"],
            IMAGE,
            &["sh", "-c", cmd],
        )?
        .ok()?
        .stdout_has("Read-only file system")?
        .stdout_has("tmpfs /run tmpfs")?
        .stdout_has("size=1024k")
        .map(|_| ())
    }

    /// `--device` creates the node (`linux.devices`) and allows it.
    pub fn device(&self) -> Step {
        let cmd = "head -c 4 /dev/e2e-zero | od -An -tx1";
        self.run(
            &["--rm", "--device", "/dev/zero:/dev/e2e-zero"],
            IMAGE,
            &["sh", "-c", cmd],
        )?
        .ok()?
        .stdout_has("00 00 00 00")
        .map(|_| ())
    }

    /// Removes the images and stops dockerd (SIGTERM, SIGKILL after 20 s).
    pub fn stop(mut self) -> Step {
        let _ = self.docker(&["rmi", "--force", IMAGE, BROKEN_IMAGE]);
        match self.daemon.take() {
            Some(d) => d.terminate(Duration::from_secs(20)).map(|_| ()),
            None => Ok(()),
        }
    }
}

impl DockerCli for Docker<'_> {
    const NAME: &'static str = "docker";

    fn lab(&self) -> &Lab {
        self.lab
    }

    fn cli(&self, args: &[&str]) -> Step<Done> {
        self.docker(args)
    }

    fn run(&self, opts: &[&str], image: &str, cmd: &[&str]) -> Step<Done> {
        let mut args = vec!["run", "--runtime", RUNTIME, "--network", "none"];
        args.extend_from_slice(opts);
        args.push(image);
        args.extend_from_slice(cmd);
        self.docker(&args)
    }
}

//! containerd (Debian's `containerd`, with its `containerd-shim-runc-v2`)
//! driving the runtime through `ctr`.
//!
//! The daemon runs from a private config: its own `root`, `state`, gRPC
//! and ttrpc sockets under the run's directory, the CRI plugin disabled.
//! Every `ctr run` names the runtime with `--runc-binary` (the shim then
//! execs it exactly as it execs runc) and gives it a private
//! `--runc-root`; containers live in a containerd namespace named with the
//! run's tag, so their cgroups are `/<tag>/<container>`.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use super::{BROKEN_IMAGE, Background, Done, IMAGE, LONG, Lab, SHORT, Step, ensure};

/// A running private containerd.
pub struct Containerd<'a> {
    lab: &'a Lab,
    daemon: Option<Background>,
    socket: String,
    runtime_root: PathBuf,
    fifo_dir: String,
}

fn image_ref(image: &str) -> String {
    format!("docker.io/{image}")
}

impl<'a> Containerd<'a> {
    /// Writes the private config, starts containerd and imports the image.
    pub fn start(lab: &'a Lab) -> Step<Containerd<'a>> {
        let dir = lab.path("containerd");
        let runtime_root = dir.join("runtime-root");
        for d in [&dir, &runtime_root, &dir.join("fifo")] {
            fs::create_dir_all(d)
                .map_err(|e| super::Stop::Fail(format!("mkdir {}: {e}", d.display())))?;
        }
        let d = dir.display();
        let config = format!(
            r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
"#
        );
        let config_path = dir.join("config.toml");
        fs::write(&config_path, config)
            .map_err(|e| super::Stop::Fail(format!("write config: {e}")))?;
        let log = dir.join("containerd.log");
        let daemon = lab.background(
            Duration::from_secs(3600),
            "sh",
            &[
                "-c",
                r#"exec containerd --config "$0" >"$1" 2>&1"#,
                &config_path.to_string_lossy(),
                &log.to_string_lossy(),
            ],
        )?;
        let ctrd = Containerd {
            lab,
            daemon: Some(daemon),
            socket: format!("{d}/containerd.sock"),
            runtime_root,
            fifo_dir: format!("{d}/fifo"),
        };
        match ctrd.load_images() {
            Ok(()) => Ok(ctrd),
            Err(e) => {
                let _ = ctrd.stop();
                Err(super::with_log_tail(e, &log))
            }
        }
    }

    fn load_images(&self) -> Step {
        self.lab
            .wait_until(LONG, "containerd to answer `ctr version`", || {
                Ok(self.ctr(&["version"])?.code == Some(0))
            })?;
        self.ctr_long(&[
            "images",
            "import",
            &self.lab.image_archive.to_string_lossy(),
        ])?
        .ok()?;
        let images = self.ctr(&["images", "ls", "-q"])?.ok()?;
        for image in [IMAGE, BROKEN_IMAGE] {
            ensure(images.stdout.contains(&image_ref(image)), || {
                format!("{image} not imported: {}", images.describe())
            })?;
        }
        Ok(())
    }

    fn base(&self) -> Vec<String> {
        vec![
            "--address".into(),
            self.socket.clone(),
            "--namespace".into(),
            self.lab.tag.clone(),
        ]
    }

    /// `ctr <args>` against the private daemon, bounded by [`SHORT`].
    pub fn ctr(&self, args: &[&str]) -> Step<Done> {
        let mut all = self.base();
        all.extend(args.iter().map(|a| (*a).to_owned()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        self.lab.cmd(SHORT, "ctr", &all)
    }

    fn ctr_long(&self, args: &[&str]) -> Step<Done> {
        let mut all = self.base();
        all.extend(args.iter().map(|a| (*a).to_owned()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        self.lab.cmd(LONG, "ctr", &all)
    }

    /// The argv of `ctr run` with the runtime under test: `opts` before
    /// the image, `cmd` after the container id.
    fn run_argv(&self, opts: &[&str], image: &str, id: &str, cmd: &[&str]) -> Vec<String> {
        let mut argv = self.base();
        argv.push("run".into());
        argv.extend(
            [
                "--runtime",
                "io.containerd.runc.v2",
                "--runc-binary",
                &self.lab.runtime.to_string_lossy(),
                "--runc-root",
                &self.runtime_root.to_string_lossy(),
                "--fifo-dir",
                &self.fifo_dir,
            ]
            .iter()
            .map(|s| (*s).to_owned()),
        );
        argv.extend(opts.iter().map(|s| (*s).to_owned()));
        argv.push(image_ref(image));
        argv.push(id.to_owned());
        argv.extend(cmd.iter().map(|s| (*s).to_owned()));
        argv
    }

    fn run(&self, opts: &[&str], image: &str, id: &str, cmd: &[&str]) -> Step<Done> {
        let argv = self.run_argv(opts, image, id, cmd);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        self.lab.cmd(SHORT, "ctr", &argv)
    }

    /// The task's status from `ctr task ls` (`RUNNING`, `PAUSED`, ...).
    fn status(&self, id: &str) -> Step<Option<String>> {
        let ls = self.ctr(&["task", "ls"])?.ok()?;
        Ok(ls.stdout.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&id)).then(|| f.get(2).copied().unwrap_or_default().to_owned())
        }))
    }

    fn wait_status(&self, id: &str, want: &str) -> Step {
        self.lab.wait_until(
            Duration::from_secs(15),
            &format!("task {id} to be {want}"),
            || Ok(self.status(id)?.as_deref() == Some(want)),
        )
    }

    fn task_pid(&self, id: &str) -> Step<i32> {
        let ls = self.ctr(&["task", "ls"])?.ok()?;
        ls.stdout
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.first() == Some(&id))
                    .then(|| f.get(1).and_then(|p| p.parse().ok()))
                    .flatten()
            })
            .ok_or_else(|| super::Stop::Fail(format!("no pid for task {id}: {}", ls.describe())))
    }

    /// Starts `cmd` detached in a new container `id` and waits until RUNNING.
    fn run_detached(&self, id: &str, cmd: &[&str]) -> Step {
        self.run(&["-d"], IMAGE, id, cmd)?.ok()?;
        self.wait_status(id, "RUNNING")
    }

    /// Removes container `id` whatever state it is in.
    fn remove(&self, id: &str) {
        if self.status(id).ok().flatten().is_some() {
            let _ = self.ctr(&["task", "kill", "-s", "KILL", id]);
            let _ = self
                .lab
                .wait_until(Duration::from_secs(15), "task to stop", || {
                    Ok(self.status(id)?.is_none_or(|s| s == "STOPPED"))
                });
        }
        let _ = self.ctr(&["task", "delete", id]);
        let _ = self.ctr(&["containers", "rm", id]);
    }

    /// Runs `body` on a fresh container name and removes the container after.
    fn with_container(&self, what: &str, body: impl FnOnce(&str) -> Step) -> Step {
        let id = self.lab.name(what);
        let result = body(&id);
        self.remove(&id);
        result
    }

    /// Checks that nothing of container `id` is left: no container record,
    /// no runtime state dir, no cgroup.
    fn assert_gone(&self, id: &str) -> Step {
        let ls = self.ctr(&["containers", "ls", "-q"])?.ok()?;
        ensure(!ls.stdout.lines().any(|l| l == id), || {
            format!("container {id} still listed by ctr")
        })?;
        let state = self.runtime_root.join(&self.lab.tag).join(id);
        ensure(!state.exists(), || {
            format!("runtime state dir {} left behind", state.display())
        })?;
        let cgroup = PathBuf::from("/sys/fs/cgroup/pids")
            .join(&self.lab.tag)
            .join(id);
        ensure(!cgroup.exists(), || {
            format!("cgroup {} left behind", cgroup.display())
        })
    }

    /// `ctr run --rm`: the container's output and exit code reach ctr.
    pub fn run_rm_output_and_exit_code(&self) -> Step {
        let id = self.lab.name("run-rm");
        let done = self.run(
            &["--rm"],
            IMAGE,
            &id,
            &["sh", "-c", "echo hello from $(hostname); exit 7"],
        )?;
        done.code_is(7)?.stdout_has("hello from ")?;
        self.assert_gone(&id)
    }

    /// `ctr run -d`, `task kill`, `task delete`, `containers rm`.
    pub fn detached_kill_delete(&self) -> Step {
        self.with_container("detached", |id| {
            self.run_detached(id, &["sleep", "1000"])?;
            self.ctr(&["task", "kill", "-s", "KILL", id])?.ok()?;
            self.wait_status(id, "STOPPED")?;
            self.ctr(&["task", "delete", id])?.ok()?;
            ensure(self.status(id)?.is_none(), || {
                format!("task {id} still listed after delete")
            })?;
            self.ctr(&["containers", "rm", id])?.ok()?;
            self.assert_gone(id)
        })
    }

    /// `ctr task exec` into a running task: output and exit code.
    pub fn task_exec(&self) -> Step {
        self.lab.need_exec()?;
        self.with_container("exec", |id| {
            self.run_detached(id, &["sleep", "1000"])?;
            self.ctr(&[
                "task",
                "exec",
                "--exec-id",
                "e1",
                id,
                "sh",
                "-c",
                "echo in-exec; exit 3",
            ])?
            .code_is(3)?
            .stdout_has("in-exec")?;
            ensure(self.status(id)?.as_deref() == Some("RUNNING"), || {
                "task not RUNNING after exec".into()
            })
        })
    }

    /// `ctr task pause` / `resume`: status and the freezer follow.
    pub fn pause_resume(&self) -> Step {
        self.with_container("pause", |id| {
            self.run_detached(id, &["sleep", "1000"])?;
            self.ctr(&["task", "pause", id])?.ok()?;
            self.wait_status(id, "PAUSED")?;
            let pid = self.task_pid(id)?;
            ensure(frozen(pid), || {
                format!("pid {pid}'s freezer is not FROZEN after pause")
            })?;
            self.ctr(&["task", "resume", id])?.ok()?;
            self.wait_status(id, "RUNNING")?;
            ensure(!frozen(pid), || {
                format!("pid {pid} still frozen after resume")
            })
        })
    }

    /// `ctr task ps` lists every process of the task.
    pub fn task_ps(&self) -> Step {
        self.with_container("ps", |id| {
            self.run_detached(id, &["sh", "-c", "sleep 1001 & exec sleep 1000"])?;
            let pid = self.task_pid(id)?;
            self.lab
                .wait_until(Duration::from_secs(10), "two processes in task ps", || {
                    let ps = self.ctr(&["task", "ps", id])?.ok()?;
                    let pids: Vec<i32> = ps
                        .stdout
                        .lines()
                        .skip(1)
                        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
                        .collect();
                    Ok(pids.len() == 2 && pids.contains(&pid))
                })
        })
    }

    /// `ctr task metrics` reports the task's cgroup statistics.
    pub fn task_metrics(&self) -> Step {
        self.with_container("metrics", |id| {
            self.run_detached(id, &["sleep", "1000"])?;
            let m = self.ctr(&["task", "metrics", id])?.ok()?;
            let has = |k: &str| m.stdout.contains(k);
            ensure(
                (has("memory.usage_in_bytes") && has("cpuacct.usage"))
                    || (has("memory.usage") && has("cpu.usage_usec")),
                || format!("no memory/cpu metrics: {}", m.describe()),
            )
        })
    }

    /// `--memory-limit` (read in the task's cgroup on the host), `--env`,
    /// a read-only `--mount type=bind`.
    pub fn limits_env_and_bind_mount(&self) -> Step {
        let data = self.lab.path("containerd/data");
        fs::create_dir_all(&data).map_err(|e| super::Stop::Fail(e.to_string()))?;
        fs::write(data.join("file"), "bound\n").map_err(|e| super::Stop::Fail(e.to_string()))?;
        let mount = format!(
            "type=bind,src={},dst=/data,options=rbind:ro",
            data.display()
        );
        let opts = [
            "--rm",
            "--memory-limit",
            "67108864",
            "--env",
            "E2E=yes",
            "--mount",
            &mount,
        ];
        self.with_container("limits", |id| {
            let script = "echo env=$E2E; cat /data/file; touch /data/x 2>&1; exec sleep 1000";
            let argv = self.run_argv(&opts, IMAGE, id, &["sh", "-c", script]);
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let fg = self.lab.background(SHORT, "ctr", &argv)?;
            self.wait_status(id, "RUNNING")?;
            let pid = self.task_pid(id)?;
            super::expect_cgroup(pid, "memory", "memory.limit_in_bytes", "67108864")?;
            self.ctr(&["task", "kill", "-s", "KILL", id])?.ok()?;
            fg.wait()?
                .code_is(137)?
                .stdout_has("env=yes")?
                .stdout_has("bound")?
                .stdout_has("Read-only file system")
                .map(|_| ())
        })
    }

    /// `ctr run -t` under a pseudo-terminal: the process has a tty.
    pub fn tty_run(&self) -> Step {
        self.lab.need_console_socket()?;
        let id = self.lab.name("tty");
        let argv = self.run_argv(
            &["--rm", "-t"],
            IMAGE,
            &id,
            &["sh", "-c", "tty; [ -t 0 ] && echo stdin-is-tty; exit 3"],
        );
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let result = self.lab.in_pty(SHORT, "ctr", &argv).and_then(|d| {
            d.code_is(3)?
                .stdout_has("/dev/pts/0")?
                .stdout_has("stdin-is-tty")
        });
        self.remove(&id);
        result?;
        self.assert_gone(&id)
    }

    /// A foreground `ctr run` whose task is killed by SIGKILL exits 137.
    pub fn killed_by_signal(&self) -> Step {
        self.with_container("killed", |id| {
            let argv = self.run_argv(&["--rm"], IMAGE, id, &["sleep", "1000"]);
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let fg = self.lab.background(SHORT, "ctr", &argv)?;
            self.wait_status(id, "RUNNING")?;
            self.ctr(&["task", "kill", "-s", "KILL", id])?.ok()?;
            fg.wait()?.code_is(137)?;
            self.assert_gone(id)
        })
    }

    /// An image whose entrypoint does not exist: create fails, the
    /// runtime's error reaches ctr, and nothing is left.
    pub fn failing_create(&self) -> Step {
        let id = self.lab.name("broken");
        let done = self.run(&["--rm"], BROKEN_IMAGE, &id, &[]);
        self.remove(&id);
        let done = done?;
        ensure(done.code != Some(0), || {
            format!(
                "create of a missing entrypoint succeeded: {}",
                done.describe()
            )
        })?;
        done.output_has("/no/such/program")?;
        self.assert_gone(&id)
    }

    /// Stops the daemon (SIGTERM, then SIGKILL after 15 s).
    pub fn stop(mut self) -> Step {
        match self.daemon.take() {
            Some(d) => d.terminate(Duration::from_secs(15)).map(|_| ()),
            None => Ok(()),
        }
    }
}

/// Whether `pid`'s cgroup is frozen (v1 `freezer.state`, v2 `cgroup.freeze`).
fn frozen(pid: i32) -> bool {
    match super::cgroup_file(pid, "freezer", "freezer.state", "cgroup.freeze") {
        Some(super::CgroupValue::V1(state)) => state == "FROZEN",
        Some(super::CgroupValue::V2(freeze)) => freeze == "1",
        None => false,
    }
}

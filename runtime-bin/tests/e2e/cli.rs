//! What Docker and podman (as root and rootless) share: docker's command
//! line. Each engine says how one of its commands runs and how it spells
//! `run`; the scenarios written against that command line live here once.

use std::time::Duration;

use super::{BROKEN_IMAGE, Done, IMAGE, Lab, Step, ensure};

/// A script that says `started`, then, on SIGTERM, `got-term` and exits 0.
pub const TRAPS_TERM: &str =
    r#"trap 'echo got-term; exit 0' TERM; echo started; while :; do sleep 0.1; done"#;

/// An engine driven through docker's command line.
pub trait DockerCli {
    /// The engine's name, for messages (`docker`, `podman`).
    const NAME: &'static str;
    /// What `rm --force` adds (podman: `--time 0`, no grace period).
    const FORCE_REMOVE: &'static [&'static str] = &[];

    fn lab(&self) -> &Lab;

    /// `<engine> <args>`, bounded by [`super::SHORT`].
    fn cli(&self, args: &[&str]) -> Step<Done>;

    /// `<engine> run <the engine's own options> <opts> <image> <cmd>`.
    fn run(&self, opts: &[&str], image: &str, cmd: &[&str]) -> Step<Done>;

    /// `rm --force` of container `name`, whatever its state; errors
    /// ignored (the container may never have been made).
    fn remove(&self, name: &str) {
        let mut args = vec!["rm", "--force"];
        args.extend_from_slice(Self::FORCE_REMOVE);
        args.push(name);
        let _ = self.cli(&args);
    }

    /// The container's status as `inspect` reports it.
    fn status(&self, name: &str) -> Step<String> {
        Ok(self
            .cli(&["inspect", "--format", "{{.State.Status}}", name])?
            .ok()?
            .stdout
            .trim()
            .to_owned())
    }

    /// The host pid of container `name`'s init, as `inspect` reports it.
    fn pid(&self, name: &str) -> Step<i32> {
        let out = self
            .cli(&["inspect", "--format", "{{.State.Pid}}", name])?
            .ok()?;
        out.stdout
            .trim()
            .parse()
            .map_err(|_| super::Stop::Fail(format!("no pid: {}", out.describe())))
    }

    /// `ps --all` no longer lists container `name`.
    fn assert_gone(&self, name: &str) -> Step {
        let ps = self.cli(&["ps", "--all", "--format", "{{.Names}}"])?.ok()?;
        ensure(!ps.stdout.lines().any(|l| l == name), || {
            format!("container {name} still listed: {}", ps.describe())
        })
    }

    /// Runs `body` with a detached container (named after `what`) running
    /// `cmd` with `opts`, and removes the container after.
    fn with_detached_opts(
        &self,
        what: &str,
        opts: &[&str],
        cmd: &[&str],
        body: impl FnOnce(&str) -> Step,
    ) -> Step {
        let name = self.lab().name(what);
        let mut all = vec!["-d", "--name", &name];
        all.extend_from_slice(opts);
        let result = self
            .run(&all, IMAGE, cmd)
            .and_then(Done::ok)
            .and_then(|_| body(&name));
        self.remove(&name);
        result
    }

    /// [`DockerCli::with_detached_opts`] without options.
    fn with_detached(&self, what: &str, cmd: &[&str], body: impl FnOnce(&str) -> Step) -> Step {
        self.with_detached_opts(what, &[], cmd, body)
    }

    /// Waits (10 s at most) until container `name` has logged `text`.
    fn wait_logged(&self, name: &str, text: &str) -> Step {
        let what = format!("`{text}` in {} logs", Self::NAME);
        self.lab().wait_until(Duration::from_secs(10), &what, || {
            Ok(self.cli(&["logs", name])?.ok()?.stdout.contains(text))
        })
    }

    /// `stop` of a container running [`TRAPS_TERM`]: the runtime's `kill`
    /// delivers SIGTERM, the trap logs it, and the container exits 0.
    fn stop_through_the_trap(&self, name: &str) -> Step {
        self.cli(&["stop", "--time", "10", name])?.ok()?;
        self.cli(&["logs", name])?.ok()?.stdout_has("got-term")?;
        let status = self
            .cli(&[
                "inspect",
                "--format",
                "{{.State.Status}} {{.State.ExitCode}}",
                name,
            ])?
            .ok()?;
        ensure(status.stdout.trim() == "exited 0", || {
            format!("after stop: {}", status.describe())
        })
    }

    /// `run --rm`: output, exit code, container removed.
    fn run_rm_output_and_exit_code(&self) -> Step {
        let name = self.lab().name("run-rm");
        let script = format!("echo hello from {}; exit 5", Self::NAME);
        self.run(&["--rm", "--name", &name], IMAGE, &["sh", "-c", &script])?
            .code_is(5)?
            .stdout_has(&format!("hello from {}", Self::NAME))?;
        self.assert_gone(&name)
    }

    /// `run -d`, `logs`, `stop` (SIGTERM through the runtime's `kill`,
    /// seen by the container's trap), `rm`.
    fn detached_logs_stop_rm(&self) -> Step {
        self.with_detached("detached", &["sh", "-c", TRAPS_TERM], |name| {
            self.wait_logged(name, "started")?;
            ensure(self.status(name)? == "running", || {
                format!("{name} is not running")
            })?;
            self.stop_through_the_trap(name)?;
            self.cli(&["rm", name])?.ok()?;
            self.assert_gone(name)
        })
    }

    /// `exec` into a running container: output and exit code; the
    /// container runs on.
    fn exec(&self) -> Step {
        self.lab().need_exec()?;
        self.with_detached("exec", &["sleep", "1000"], |name| {
            self.cli(&["exec", name, "sh", "-c", "echo in-exec; exit 4"])?
                .code_is(4)?
                .stdout_has("in-exec")?;
            ensure(self.status(name)? == "running", || {
                format!("{name} not running after exec")
            })
        })
    }

    /// `pause` / `unpause`.
    fn pause_unpause(&self) -> Step {
        self.with_detached("pause", &["sleep", "1000"], |name| {
            self.cli(&["pause", name])?.ok()?;
            ensure(self.status(name)? == "paused", || {
                format!("{name} not paused")
            })?;
            self.cli(&["unpause", name])?.ok()?;
            ensure(self.status(name)? == "running", || {
                format!("{name} not running after unpause")
            })
        })
    }

    /// `top` lists the container's processes.
    fn top(&self) -> Step {
        self.with_detached("top", &["sleep", "1000"], |name| {
            self.cli(&["top", name])?
                .ok()?
                .stdout_has("sleep 1000")
                .map(|_| ())
        })
    }

    /// An image whose entrypoint does not exist: the runtime's error with
    /// exit 127 (command not found), as with runc, and no container kept.
    fn failing_create(&self) -> Step {
        let name = self.lab().name("broken");
        let done = self.run(&["--rm", "--name", &name], BROKEN_IMAGE, &[]);
        self.remove(&name);
        done?.output_has("/no/such/program")?.code_is(127)?;
        self.assert_gone(&name)
    }
}

//! Real engines driving the runtime: containerd (`ctr`), podman and
//! Docker, each from Debian's packages, run the same scenarios with
//! `E2E_RUNTIME` (default: the workspace's release `gorae`) in place of
//! runc. `make test-e2e` installs the engines, builds gorae and runs this
//! with `E2E=1`; `E2E_RUNTIME=$(which runc) make test-e2e` runs the same
//! scenarios against runc. `E2E_ENGINES=containerd,podman` picks engines.
//!
//! A scenario passes, fails, or is skipped only when the runtime lacks a
//! feature it needs (probed from the runtime's `--help`; the reason names
//! it). The run ends with a leak check: no process, mount, cgroup or
//! directory of the run may be left. Exit status 1 when anything failed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e;

use std::path::{Path, PathBuf};
use std::time::Instant;

use e2e::cli::DockerCli;
use e2e::containerd::Containerd;
use e2e::docker::Docker;
use e2e::podman::Podman;
use e2e::podman_rootless::RootlessPodman;
use e2e::{Lab, Step, Stop};

/// Counts and prints scenario results.
#[derive(Default)]
struct Report {
    passed: usize,
    failed: usize,
    skipped: usize,
}

impl Report {
    fn record(&mut self, name: &str, started: Instant, result: Step) {
        let took = started.elapsed().as_secs_f64();
        match result {
            Ok(()) => {
                self.passed += 1;
                println!("e2e {name} ... ok ({took:.1}s)");
            }
            Err(Stop::Skip(why)) => {
                self.skipped += 1;
                println!("e2e {name} ... skipped: {why}");
            }
            Err(Stop::Fail(why)) => {
                self.failed += 1;
                println!("e2e {name} ... FAILED ({took:.1}s)\n      {why}");
            }
        }
    }

    fn run(&mut self, name: &str, scenario: impl FnOnce() -> Step) {
        let started = Instant::now();
        self.record(name, started, scenario());
    }
}

/// A named scenario of engine `E`.
type Scenario<E> = (&'static str, fn(&E) -> Step);

fn scenario<E>(name: &'static str, f: fn(&E) -> Step) -> Scenario<E> {
    (name, f)
}

/// Starts an engine, runs its scenarios, stops it; a failed start fails
/// every scenario of the engine.
fn suite<E>(
    report: &mut Report,
    engine: &str,
    start: impl FnOnce() -> Step<E>,
    scenarios: Vec<Scenario<E>>,
    stop: impl FnOnce(E) -> Step,
) {
    let started = Instant::now();
    let e = match start() {
        Ok(e) => {
            report.record(&format!("{engine}/setup"), started, Ok(()));
            e
        }
        Err(err) => {
            let why = match err {
                Stop::Fail(w) | Stop::Skip(w) => w,
            };
            report.record(&format!("{engine}/setup"), started, Err(Stop::Fail(why)));
            for (name, _) in scenarios {
                report.record(
                    &format!("{engine}/{name}"),
                    Instant::now(),
                    Err(Stop::Fail("not run: setup failed".into())),
                );
            }
            return;
        }
    };
    for (name, f) in scenarios {
        report.run(&format!("{engine}/{name}"), || f(&e));
    }
    let started = Instant::now();
    report.record(&format!("{engine}/teardown"), started, stop(e));
}

/// The release build beside this test's debug build of gorae
/// (`target/<triple>/release/gorae`).
fn default_runtime() -> PathBuf {
    let profiles = Path::new(env!("CARGO_BIN_EXE_gorae"))
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("target"));
    profiles.join("release/gorae")
}

fn main() {
    if std::env::var_os("E2E").is_none() {
        println!("engines: not run (containerd, podman, Docker): `make test-e2e` runs them");
        return;
    }
    let runtime = std::env::var_os("E2E_RUNTIME").map_or_else(default_runtime, PathBuf::from);
    let runtime = match runtime.canonicalize() {
        Ok(p) => p,
        Err(e) => {
            eprintln!(
                "e2e: runtime {}: {e} (build it with `cargo build --release -p gorae`, or set E2E_RUNTIME)",
                runtime.display()
            );
            std::process::exit(1);
        }
    };
    let engines =
        std::env::var("E2E_ENGINES").unwrap_or_else(|_| "containerd,podman,docker".into());
    let wants = |e: &str| engines.split(',').any(|w| w.trim() == e);

    let lab = match Lab::new(runtime) {
        Ok(lab) => lab,
        Err(e) => {
            eprintln!("e2e: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "e2e: runtime {} (exec: {}, console socket: {}), tag {}, dir {}",
        lab.runtime.display(),
        lab.features.exec,
        lab.features.console_socket,
        lab.tag,
        lab.dir.display()
    );
    let mut report = Report::default();

    if wants("containerd") {
        suite(
            &mut report,
            "containerd",
            || Containerd::start(&lab),
            vec![
                scenario(
                    "run-rm-output-and-exit-code",
                    Containerd::run_rm_output_and_exit_code,
                ),
                scenario("detached-run-kill-delete", Containerd::detached_kill_delete),
                scenario("task-exec", Containerd::task_exec),
                scenario("task-pause-resume", Containerd::pause_resume),
                scenario("task-ps", Containerd::task_ps),
                scenario("task-metrics", Containerd::task_metrics),
                scenario(
                    "limits-env-and-bind-mount",
                    Containerd::limits_env_and_bind_mount,
                ),
                scenario("tty-run", Containerd::tty_run),
                scenario("killed-by-signal-exits-137", Containerd::killed_by_signal),
                scenario(
                    "failing-create-reports-runtime-error",
                    Containerd::failing_create,
                ),
            ],
            Containerd::stop,
        );
    }
    if wants("podman") {
        suite(
            &mut report,
            "podman",
            || Podman::start(&lab),
            vec![
                scenario(
                    "run-rm-output-and-exit-code",
                    Podman::run_rm_output_and_exit_code,
                ),
                scenario("detached-logs-stop-rm", Podman::detached_logs_stop_rm),
                scenario("exec", Podman::exec),
                scenario("pause-unpause", Podman::pause_unpause),
                scenario("top", Podman::top),
                scenario("resource-limits", Podman::resource_limits),
                scenario(
                    "cgroup-mount-shows-own-cgroup",
                    Podman::cgroup_mount_shows_own_cgroup,
                ),
                scenario("run-it-under-pty", Podman::run_it),
                scenario("cap-drop", Podman::cap_drop),
                scenario("read-only", Podman::read_only),
                scenario("tmpfs", Podman::tmpfs),
                scenario("volumes", Podman::volumes),
                scenario("seccomp-profile", Podman::seccomp_profile),
                scenario("process-config", Podman::process_config),
                scenario(
                    "join-namespaces-of-another-container",
                    Podman::join_namespaces,
                ),
                scenario("device", Podman::device),
                scenario("sysctl", Podman::sysctl),
                scenario("privileged", Podman::privileged),
                scenario("user-namespace", Podman::user_namespace),
                scenario("failing-create-exits-127", Podman::failing_create),
            ],
            Podman::stop,
        );
    }
    if wants("podman") || wants("podman-rootless") {
        suite(
            &mut report,
            "podman-rootless",
            || RootlessPodman::start(&lab),
            vec![
                scenario("run-rm-uid-map-and-exit-code", RootlessPodman::run_rm),
                scenario(
                    "detached-exec-stop-rm",
                    RootlessPodman::detached_exec_stop_rm,
                ),
            ],
            RootlessPodman::stop,
        );
    }
    if wants("docker") {
        suite(
            &mut report,
            "docker",
            || Docker::start(&lab),
            vec![
                scenario(
                    "run-rm-output-and-exit-code",
                    Docker::run_rm_output_and_exit_code,
                ),
                scenario("detached-logs-stop-rm", Docker::detached_logs_stop_rm),
                scenario("exec", Docker::exec),
                scenario("pause-unpause", Docker::pause_unpause),
                scenario("top", Docker::top),
                scenario("update-resources", Docker::update),
                scenario("init", Docker::init),
                scenario("read-only-with-tmpfs", Docker::read_only_with_tmpfs),
                scenario("device", Docker::device),
                scenario("failing-create-exits-127", Docker::failing_create),
            ],
            Docker::stop,
        );
    }

    let started = Instant::now();
    let leaks = lab.finish();
    let result = if leaks.is_empty() {
        Ok(())
    } else {
        Err(Stop::Fail(format!(
            "left behind (now removed where possible):\n      {}",
            leaks.join("\n      ")
        )))
    };
    report.record("cleanup/nothing-left-behind", started, result);

    println!(
        "e2e: {} passed, {} failed, {} skipped",
        report.passed, report.failed, report.skipped
    );
    if report.failed > 0 {
        std::process::exit(1);
    }
}

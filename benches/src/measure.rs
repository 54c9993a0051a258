//! The measurements: lifecycle latency (interleaved: every iteration runs
//! each contender once, in turn), throughput (N concurrent `run`s), and
//! gorae's `--trace` phases when it prints them.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use serde::Serialize;

use crate::bundle::Bundles;
use crate::error::{Error, Result};
use crate::invoke::{self, Invocation, Running};
use crate::runtime::Runtime;
use crate::stats::{self, Summary};
use crate::sys;
use crate::trace;

/// How long a started container may take to stop, and `state` to say so.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one throughput round may take.
const ROUND_TIMEOUT: Duration = Duration::from_secs(300);

/// The timed operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// `run` of `/bin/true`: create, start, wait, delete in one command.
    Run,
    /// `create`.
    Create,
    /// `start`.
    Start,
    /// `delete` of the stopped container.
    Delete,
    /// `exec` of `/bin/true` into a running container.
    Exec,
}

impl Op {
    /// Every operation, in table order.
    pub const ALL: [Op; 5] = [Op::Run, Op::Create, Op::Start, Op::Delete, Op::Exec];

    /// Its name in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Op::Run => "run",
            Op::Create => "create",
            Op::Start => "start",
            Op::Delete => "delete",
            Op::Exec => "exec",
        }
    }
}

/// How many times to measure what.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Measured iterations of the lifecycle.
    pub iterations: usize,
    /// Discarded iterations before them.
    pub warmup: usize,
    /// Containers run at once in a throughput round.
    pub concurrency: usize,
    /// Measured throughput rounds.
    pub rounds: usize,
    /// Discarded throughput rounds before them.
    pub warmup_rounds: usize,
    /// Iterations of `gorae --trace` (when it exists).
    pub trace_iterations: usize,
    /// Pause after each timed step, in ms, so that the kernel's deferred
    /// work of one container (network namespace teardown above all) is not
    /// charged to the next measurement.
    pub settle_ms: u64,
}

/// Why an operation is not measured at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// The floor has only `run`.
    NotApplicable,
    /// The runtime lacks the command (gorae's `exec`, for now).
    Unsupported(String),
}

/// The samples of one operation of one contender.
#[derive(Debug, Clone, Default)]
pub struct OpRecord {
    /// Wall times in ms.
    pub ms: Vec<f64>,
    /// Peak RSS in KiB.
    pub rss_kib: Vec<f64>,
    /// CPU time (user + system) in ms.
    pub cpu_ms: Vec<f64>,
    /// The first failure; no more samples are taken after it.
    pub error: Option<String>,
    /// Why the operation is not measured at all.
    pub skipped: Option<Skip>,
}

impl OpRecord {
    fn add(&mut self, keep: bool, invocation: &Invocation) {
        if keep {
            self.ms.push(invocation.elapsed.as_secs_f64() * 1000.0);
            self.rss_kib.push(invocation.max_rss_kib as f64);
            self.cpu_ms.push(invocation.cpu.as_secs_f64() * 1000.0);
        }
    }

    fn open(&self) -> bool {
        self.error.is_none() && self.skipped.is_none()
    }
}

/// Everything measured for one contender.
#[derive(Debug, Clone)]
pub struct Contender {
    /// Who.
    pub runtime: Runtime,
    /// Per operation.
    pub ops: BTreeMap<Op, OpRecord>,
    /// Wall time of each measured throughput round, in ms.
    pub throughput_ms: Vec<f64>,
    /// The first throughput failure.
    pub throughput_error: Option<String>,
    /// The running container `exec` joins.
    exec_target: Option<String>,
}

impl Contender {
    /// A contender with nothing measured yet; the floor has only `run`.
    pub fn new(runtime: Runtime) -> Self {
        let mut ops: BTreeMap<Op, OpRecord> = Op::ALL
            .iter()
            .map(|op| (*op, OpRecord::default()))
            .collect();
        if !runtime.is_oci() {
            for op in [Op::Create, Op::Start, Op::Delete, Op::Exec] {
                if let Some(record) = ops.get_mut(&op) {
                    record.skipped = Some(Skip::NotApplicable);
                }
            }
        }
        Contender {
            runtime,
            ops,
            throughput_ms: Vec::new(),
            throughput_error: None,
            exec_target: None,
        }
    }

    fn op(&mut self, op: Op) -> &mut OpRecord {
        self.ops.entry(op).or_default()
    }

    fn fail(&mut self, op: Op, error: &Error) {
        let record = self.op(op);
        if record.error.is_none() {
            record.error = Some(error.to_string());
        }
    }
}

/// The per-phase timings of one gorae command under `--trace`.
#[derive(Debug, Clone, Serialize)]
pub struct TraceCommand {
    /// `run`, `create`, `start` or `delete`.
    pub command: String,
    /// Traced invocations.
    pub invocations: usize,
    /// Each phase, in the order gorae printed them.
    pub phases: Vec<PhaseTime>,
}

/// One phase's time over the traced invocations.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseTime {
    /// The phase's name as gorae prints it.
    pub phase: String,
    /// Its time in µs.
    pub us: Summary,
}

/// What `gorae --trace` gave.
#[derive(Debug, Clone, Serialize)]
pub struct TraceReport {
    /// Whether gorae printed trace lines.
    pub available: bool,
    /// Why not, when it did not.
    pub note: String,
    /// Per command.
    pub commands: Vec<TraceCommand>,
}

/// One bench run's places: the work dir (state roots, bundles, pid files)
/// and the container id prefix.
#[derive(Debug, Clone)]
pub struct Bench {
    /// What to measure how often.
    pub settings: Settings,
    /// The bundles.
    pub bundles: Bundles,
    /// Where pid files and the invocations' output go.
    pub scratch: PathBuf,
    /// Prefix of every container id (`gbench<pid>`), so leftovers are ours.
    pub prefix: String,
}

impl Bench {
    /// Lifecycle latency: warm-up plus measured iterations, each running
    /// every contender in turn (A B C A B C ...).
    pub fn latency(&self, contenders: &mut [Contender]) {
        for contender in contenders.iter_mut() {
            self.start_exec_target(contender);
        }
        let total = self.settings.warmup + self.settings.iterations;
        for i in 0..total {
            if sys::interrupted() {
                break;
            }
            let keep = i >= self.settings.warmup;
            for contender in contenders.iter_mut() {
                self.run_once(contender, i, keep);
                self.lifecycle_once(contender, i, keep);
                self.exec_once(contender, i, keep);
                reap_orphans();
            }
            progress(&format!("latency: iteration {}/{total}", i + 1));
        }
        for contender in contenders.iter_mut() {
            self.stop_exec_target(contender);
        }
        reap_orphans();
    }

    /// Throughput: rounds of `concurrency` concurrent `run`s, contenders
    /// interleaved per round.
    pub fn throughput(&self, contenders: &mut [Contender]) {
        let total = self.settings.warmup_rounds + self.settings.rounds;
        for round in 0..total {
            if sys::interrupted() {
                break;
            }
            for contender in contenders.iter_mut() {
                let run_ok = contender
                    .ops
                    .get(&Op::Run)
                    .is_some_and(|r| r.error.is_none());
                if !run_ok || contender.throughput_error.is_some() {
                    continue;
                }
                match self.throughput_round(&contender.runtime, round) {
                    Ok(ms) if round >= self.settings.warmup_rounds => {
                        contender.throughput_ms.push(ms);
                    }
                    Ok(_) => {}
                    Err(e) => contender.throughput_error = Some(e.to_string()),
                }
                // A round leaves many namespaces to tear down.
                sleep(Duration::from_millis(self.settings.settle_ms * 10));
                reap_orphans();
            }
            progress(&format!("throughput: round {}/{total}", round + 1));
        }
    }

    /// gorae's phases under `--trace`, or why there are none.
    pub fn trace(&self, gorae: &Runtime) -> TraceReport {
        let mut traced = gorae.clone();
        traced.extra_flags.push("--trace".into());
        let unavailable = |note: String| TraceReport {
            available: false,
            note,
            commands: Vec::new(),
        };
        let probe_id = format!("{}-trace-probe", self.prefix);
        let probe = invoke::invoke(
            &traced.run(&self.bundles.true_bundle, &probe_id),
            &self.scratch,
            &probe_id,
        );
        match probe {
            Err(e) => {
                force_delete(gorae, &probe_id, &self.scratch);
                let why = match e {
                    Error::Failed { status, .. } => {
                        format!("`gorae --trace run` ended with {status}")
                    }
                    other => other.to_string(),
                };
                return unavailable(format!("gorae has no working --trace yet ({why})"));
            }
            Ok(inv) if trace::parse(&inv.stderr).is_empty() => {
                return unavailable("`gorae --trace` printed no trace lines".into());
            }
            Ok(_) => {}
        }
        let mut samples: BTreeMap<Op, Vec<Vec<(String, f64)>>> = BTreeMap::new();
        for i in 0..self.settings.trace_iterations {
            if sys::interrupted() {
                break;
            }
            let id = format!("{}-trace-r{i}", self.prefix);
            if let Ok(inv) = invoke::invoke(
                &traced.run(&self.bundles.true_bundle, &id),
                &self.scratch,
                &id,
            ) {
                samples
                    .entry(Op::Run)
                    .or_default()
                    .push(trace::parse(&inv.stderr));
            }
            let id = format!("{}-trace-l{i}", self.prefix);
            if let Ok(invs) = self.lifecycle(&traced, &id) {
                for (op, inv) in [Op::Create, Op::Start, Op::Delete].into_iter().zip(&invs) {
                    samples
                        .entry(op)
                        .or_default()
                        .push(trace::parse(&inv.stderr));
                }
            }
            reap_orphans();
        }
        TraceReport {
            available: true,
            note: String::new(),
            commands: samples
                .into_iter()
                .map(|(op, runs)| summarize_phases(op, &runs))
                .collect(),
        }
    }

    fn run_once(&self, contender: &mut Contender, i: usize, keep: bool) {
        if !contender.op(Op::Run).open() {
            return;
        }
        let rt = &contender.runtime;
        let id = format!("{}-{}-r{i}", self.prefix, rt.name);
        let what = rt.run(&self.bundles.true_bundle, &id);
        let result = invoke::invoke(&what, &self.scratch, &id);
        self.settle();
        match result {
            Ok(inv) => contender.op(Op::Run).add(keep, &inv),
            Err(e) => {
                if rt.is_oci() {
                    force_delete(rt, &id, &self.scratch);
                }
                contender.fail(Op::Run, &e);
            }
        }
    }

    fn lifecycle_once(&self, contender: &mut Contender, i: usize, keep: bool) {
        let ops = [Op::Create, Op::Start, Op::Delete];
        if !ops.iter().all(|op| contender.op(*op).open()) {
            return;
        }
        let id = format!("{}-{}-l{i}", self.prefix, contender.runtime.name);
        match self.lifecycle(&contender.runtime, &id) {
            Ok(invs) => {
                for (op, inv) in ops.into_iter().zip(&invs) {
                    contender.op(op).add(keep, inv);
                }
            }
            Err((op, e)) => contender.fail(op, &e),
        }
    }

    /// create → start → wait until `state` says stopped → delete; the three
    /// timed invocations, or the operation that failed. A failure leaves
    /// no container behind.
    fn lifecycle(&self, rt: &Runtime, id: &str) -> Result<[Invocation; 3], (Op, Error)> {
        let pid_file = self.scratch.join(format!("{id}.pid"));
        let result = self.lifecycle_steps(rt, id, &pid_file);
        if result.is_err() {
            force_delete(rt, id, &self.scratch);
        }
        // The pid file is gone already when create failed early.
        let _ = fs::remove_file(&pid_file);
        result
    }

    fn lifecycle_steps(
        &self,
        rt: &Runtime,
        id: &str,
        pid_file: &Path,
    ) -> Result<[Invocation; 3], (Op, Error)> {
        let bundle = &self.bundles.true_bundle;
        let create = invoke::invoke(&rt.create(bundle, pid_file, id), &self.scratch, id)
            .map_err(|e| (Op::Create, e))?;
        let start = invoke::invoke(&rt.start(id), &self.scratch, id).map_err(|e| (Op::Start, e))?;
        self.wait_stopped(rt, id, pid_file)
            .map_err(|e| (Op::Start, e))?;
        self.settle();
        let delete = invoke::invoke(&rt.delete(id, false), &self.scratch, id)
            .map_err(|e| (Op::Delete, e))?;
        self.settle();
        Ok([create, start, delete])
    }

    /// Waits for the container's init (from the pid file) to end, reaps it
    /// if it was reparented to us, then polls `state` until it says stopped.
    fn wait_stopped(&self, rt: &Runtime, id: &str, pid_file: &Path) -> Result<()> {
        let deadline = Instant::now() + STOP_TIMEOUT;
        let pid = read_pid(pid_file)?;
        if !invoke::wait_exit(pid, deadline)? {
            return Err(Error::Timeout {
                what: format!("container {id} (pid {pid}) to exit"),
                seconds: STOP_TIMEOUT.as_secs(),
            });
        }
        // Ours only when reparented to us, the subreaper: ECHILD otherwise.
        let _ = waitpid(pid, Some(WaitPidFlag::WNOHANG));
        loop {
            let state = invoke::invoke(&rt.state(id), &self.scratch, id)?;
            if status_of(&state.stdout) == Some("stopped") {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("`{} state {id}` to say stopped", rt.name),
                    seconds: STOP_TIMEOUT.as_secs(),
                });
            }
            sleep(Duration::from_millis(1));
        }
    }

    /// Creates and starts the sleeping container `exec` joins, or records
    /// why `exec` is not measured.
    fn start_exec_target(&self, contender: &mut Contender) {
        let rt = contender.runtime.clone();
        if !rt.is_oci() {
            return;
        }
        if !rt.supports_exec() {
            contender.op(Op::Exec).skipped = Some(Skip::Unsupported(format!(
                "{} has no exec command",
                rt.name
            )));
            return;
        }
        let id = format!("{}-{}-exec", self.prefix, rt.name);
        let pid_file = self.scratch.join(format!("{id}.pid"));
        let started = invoke::invoke(
            &rt.create(&self.bundles.sleep_bundle, &pid_file, &id),
            &self.scratch,
            &id,
        )
        .and_then(|_| invoke::invoke(&rt.start(&id), &self.scratch, &id));
        match started {
            Ok(_) => contender.exec_target = Some(id),
            Err(e) => {
                force_delete(&rt, &id, &self.scratch);
                contender.fail(Op::Exec, &e);
            }
        }
    }

    fn exec_once(&self, contender: &mut Contender, i: usize, keep: bool) {
        let Some(target) = contender.exec_target.clone() else {
            return;
        };
        if !contender.op(Op::Exec).open() {
            return;
        }
        let tag = format!("{target}-{i}");
        let result = invoke::invoke(&contender.runtime.exec_true(&target), &self.scratch, &tag);
        self.settle();
        match result {
            Ok(inv) => contender.op(Op::Exec).add(keep, &inv),
            Err(e) => contender.fail(Op::Exec, &e),
        }
    }

    fn stop_exec_target(&self, contender: &mut Contender) {
        let Some(id) = contender.exec_target.take() else {
            return;
        };
        let rt = &contender.runtime;
        // Whatever fails here, delete --force below and the final cleanup
        // still remove the container.
        let _ = invoke::invoke(&rt.kill(&id), &self.scratch, &id);
        if let Ok(pid) = read_pid(&self.scratch.join(format!("{id}.pid"))) {
            let _ = invoke::wait_exit(pid, Instant::now() + STOP_TIMEOUT);
        }
        reap_orphans();
        force_delete(rt, &id, &self.scratch);
        let _ = fs::remove_file(self.scratch.join(format!("{id}.pid")));
    }

    /// Pauses for [`Settings::settle_ms`].
    fn settle(&self) {
        sleep(Duration::from_millis(self.settings.settle_ms));
    }

    /// One round: spawn `concurrency` `run`s at once, wait for all; the
    /// wall time in ms from the first spawn to the last exit.
    fn throughput_round(&self, rt: &Runtime, round: usize) -> Result<f64> {
        let ids: Vec<String> = (0..self.settings.concurrency)
            .map(|k| format!("{}-{}-t{round}-{k}", self.prefix, rt.name))
            .collect();
        let started = Instant::now();
        let spawned: Vec<Result<Running>> = ids
            .iter()
            .map(|id| invoke::spawn(&rt.run(&self.bundles.true_bundle, id), &self.scratch, id))
            .collect();
        let deadline = started + ROUND_TIMEOUT;
        let mut first_error = None;
        for running in spawned {
            if let Err(e) = running.and_then(|r| r.wait(deadline)) {
                first_error.get_or_insert(e);
            }
        }
        let wall = started.elapsed();
        match first_error {
            None => Ok(wall.as_secs_f64() * 1000.0),
            Some(e) => {
                if rt.is_oci() {
                    ids.iter()
                        .for_each(|id| force_delete(rt, id, &self.scratch));
                }
                Err(e)
            }
        }
    }
}

/// The summary of each phase over the traced invocations of `op`.
fn summarize_phases(op: Op, runs: &[Vec<(String, f64)>]) -> TraceCommand {
    let mut order: Vec<String> = Vec::new();
    for (phase, _) in runs.iter().flatten() {
        if !order.contains(phase) {
            order.push(phase.clone());
        }
    }
    let phases = order
        .into_iter()
        .filter_map(|phase| {
            let values: Vec<f64> = runs
                .iter()
                .flatten()
                .filter(|(p, _)| *p == phase)
                .map(|(_, us)| *us)
                .collect();
            stats::summarize(&values).map(|us| PhaseTime { phase, us })
        })
        .collect();
    TraceCommand {
        command: op.name().to_owned(),
        invocations: runs.len(),
        phases,
    }
}

/// `delete --force id`, ignoring failure (the container may not exist).
pub fn force_delete(rt: &Runtime, id: &str, scratch: &Path) {
    let _ = invoke::invoke(&rt.delete(id, true), scratch, &format!("{id}.force"));
}

/// Reaps every child that has ended (container inits reparented to us, the
/// subreaper). Only called while no runtime invocation is being waited for.
pub fn reap_orphans() {
    while let Ok(status) = waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}

fn read_pid(path: &Path) -> Result<Pid> {
    let text = fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
    text.trim()
        .parse::<i32>()
        .map(Pid::from_raw)
        .map_err(|_| Error::Output {
            command: path.display().to_string(),
            problem: format!("pid file holds {:?}", text.trim()),
        })
}

/// The `status` field of `state` JSON.
fn status_of(state_json: &str) -> Option<&'static str> {
    let value: serde_json::Value = serde_json::from_str(state_json).ok()?;
    ["creating", "created", "running", "stopped", "paused"]
        .into_iter()
        .find(|s| value["status"] == *s)
}

fn progress(message: &str) {
    eprintln!("gorae-bench: {message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_of_reads_the_state_json() {
        assert_eq!(
            status_of(r#"{"id":"a","status":"stopped"}"#),
            Some("stopped")
        );
        assert_eq!(status_of("not json"), None);
    }

    #[test]
    fn phases_are_summarized_in_first_seen_order() {
        let runs = vec![
            vec![("load".to_owned(), 10.0), ("clone".to_owned(), 100.0)],
            vec![("load".to_owned(), 30.0), ("exec".to_owned(), 5.0)],
        ];
        let cmd = summarize_phases(Op::Create, &runs);
        let names: Vec<&str> = cmd.phases.iter().map(|p| p.phase.as_str()).collect();
        assert_eq!(names, ["load", "clone", "exec"]);
        assert_eq!(cmd.phases[0].us.median, 20.0);
        assert_eq!(cmd.invocations, 2);
    }
}

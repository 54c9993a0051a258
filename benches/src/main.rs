//! `gorae-bench`: lifecycle latency, throughput and memory of gorae side by
//! side with crun, runc and youki (when on `PATH`), and a floor that does
//! only the kernel work every container needs.
//!
//! ```sh
//! gorae-bench --json target/bench.json          # full run, Markdown on stdout
//! gorae-bench --quick                           # a few iterations (CI)
//! gorae-bench floor BUNDLE                      # the floor, once
//! ```
//!
//! Every invocation is timed from spawn to `wait4`, whose rusage gives its
//! peak RSS. Contenders are interleaved (A B C A B C ...), warm-up
//! iterations are discarded, and a runtime that fails is reported in the
//! table with its error instead of stopping the run.

mod bundle;
mod cleanup;
mod error;
mod floor;
mod host;
mod invoke;
mod measure;
mod report;
mod runtime;
mod stats;
mod sys;
mod trace;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::error::{Error, Result};
use crate::measure::{Bench, Contender, Settings};
use crate::report::{Outcome, Report};
use crate::runtime::{BinaryInfo, Runtime, which};

/// Benchmarks gorae against crun, runc and youki, and a floor.
#[derive(Parser, Debug)]
#[command(name = "gorae-bench", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    bench: BenchArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a bundle's program the floor's way (namespaces, pivot_root, execve).
    Floor {
        /// The bundle directory (holding config.json).
        bundle: PathBuf,
    },
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// The gorae binary (default: `gorae` next to this binary, then on PATH).
    #[arg(long)]
    gorae: Option<PathBuf>,
    /// Runtimes to compare, in interleaving order; those not found are skipped.
    #[arg(long, value_delimiter = ',', default_value = "gorae,crun,runc,youki")]
    runtimes: Vec<String>,
    /// Few iterations and containers: a smoke run that never fails on a timing.
    #[arg(long)]
    quick: bool,
    /// Measured lifecycle iterations [default: 100, quick: 3].
    #[arg(long)]
    iterations: Option<usize>,
    /// Discarded warm-up iterations [default: 10, quick: 1].
    #[arg(long)]
    warmup: Option<usize>,
    /// Containers run at once in a throughput round [default: 50, quick: 5].
    #[arg(long)]
    concurrency: Option<usize>,
    /// Measured throughput rounds [default: 10, quick: 1].
    #[arg(long)]
    rounds: Option<usize>,
    /// Traced gorae iterations, when `gorae --trace` exists [default: 20, quick: 2].
    #[arg(long)]
    trace_iterations: Option<usize>,
    /// Pause after each timed step so that one container's deferred kernel
    /// work (network namespace teardown) is not charged to the next
    /// measurement; ten times as long after a throughput round [default:
    /// 50, quick: 0].
    #[arg(long)]
    settle_ms: Option<u64>,
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// The static busybox copied into the bundle.
    #[arg(long, default_value = "/bin/busybox")]
    busybox: PathBuf,
    /// On a hybrid cgroup host whose v2 hierarchy holds hugetlb, mount a
    /// hugetlb v1 hierarchy at /sys/fs/cgroup/hugetlb so that crun 1.8.1
    /// accepts the host (left mounted; benchmark machines only).
    #[arg(long)]
    mount_hugetlb_v1: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Command::Floor { bundle }) => {
            floor::run(bundle).map(|code| ExitCode::from(u8::try_from(code).unwrap_or(255)))
        }
        None => bench(&cli.bench),
    };
    result.unwrap_or_else(|e| {
        eprintln!("gorae-bench: {e}");
        ExitCode::FAILURE
    })
}

impl BenchArgs {
    fn settings(&self) -> Settings {
        let pick = |value: Option<usize>, full: usize, quick: usize| {
            value.unwrap_or(if self.quick { quick } else { full })
        };
        Settings {
            iterations: pick(self.iterations, 100, 3).max(1),
            warmup: pick(self.warmup, 10, 1),
            concurrency: pick(self.concurrency, 50, 5).max(1),
            rounds: pick(self.rounds, 10, 1).max(1),
            warmup_rounds: if self.quick { 0 } else { 1 },
            trace_iterations: pick(self.trace_iterations, 20, 2),
            settle_ms: self.settle_ms.unwrap_or(if self.quick { 0 } else { 50 }),
        }
    }
}

/// The whole run. Exits non-zero only when gorae itself failed, something
/// was left behind or the run was interrupted; other runtimes' failures are
/// results.
fn bench(args: &BenchArgs) -> Result<ExitCode> {
    if !nix::unistd::geteuid().is_root() {
        return Err(Error::Setup(
            "must run as root (namespaces, mounts, runtimes' cgroups)".into(),
        ));
    }
    // Like a shim: detached containers' inits are reparented to us.
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| Error::sys("prctl PR_SET_CHILD_SUBREAPER", "gorae-bench", e))?;
    sys::catch_interrupts().map_err(|e| Error::sys("sigaction", "SIGINT, SIGTERM", e))?;
    let hugetlb_workaround = host::hugetlb_workaround(args.mount_hugetlb_v1)?;
    let template = std::env::temp_dir().join("gorae-bench.XXXXXX");
    let work = nix::unistd::mkdtemp(&template)
        .map_err(|e| Error::sys("mkdtemp", template.display(), e))?;
    let prefix = format!("gbench{}", std::process::id());
    let load_before = host::load_average();
    let mut notes = Vec::new();
    let contenders = find_contenders(args, &work, &mut notes);
    let runtimes: Vec<Runtime> = contenders.iter().map(|c| c.runtime.clone()).collect();
    let outcome = measure_all(args, &work, &prefix, contenders);
    let scratch = work.join("scratch");
    let cleanup = cleanup::run(&work, &scratch, &prefix, &runtimes);
    let (contenders, trace) = outcome?;
    let settings = args.settings();
    let binaries: Vec<Result<BinaryInfo, String>> = runtimes
        .iter()
        .map(|rt| rt.binary_info().map_err(|e| e.to_string()))
        .collect();
    let load_after = host::load_average();
    if sys::interrupted() {
        notes.push("INTERRUPTED (SIGINT or SIGTERM): the run stopped early".into());
    }
    notes.extend(host::load_note(&load_before, &load_after));
    notes.extend(standing_notes());
    let report = Report {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        host: host::describe(),
        hugetlb_workaround,
        bundle: bundle_description(),
        runtimes: report::results(&contenders, &binaries, settings.concurrency),
        trace,
        notes,
        cleanup,
        settings,
    };
    print!("{}", report::markdown(&report));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text).map_err(|e| Error::io("write", path, e))?;
    }
    Ok(exit_code(&report))
}

/// Builds the bundles and measures; the caller cleans up whatever happens.
fn measure_all(
    args: &BenchArgs,
    work: &Path,
    prefix: &str,
    mut contenders: Vec<Contender>,
) -> Result<(Vec<Contender>, Option<measure::TraceReport>)> {
    let scratch = work.join("scratch");
    std::fs::create_dir_all(&scratch).map_err(|e| Error::io("create", &scratch, e))?;
    let bench = Bench {
        settings: args.settings(),
        bundles: bundle::build(work, &args.busybox)?,
        scratch,
        prefix: prefix.to_owned(),
    };
    bench.latency(&mut contenders);
    bench.throughput(&mut contenders);
    let trace = contenders
        .iter()
        .find(|c| c.runtime.name == "gorae")
        .map(|c| bench.trace(&c.runtime));
    Ok((contenders, trace))
}

/// The requested runtimes that exist, each with its own `--root`, then the
/// floor. Missing ones are named in `notes`.
fn find_contenders(args: &BenchArgs, work: &Path, notes: &mut Vec<String>) -> Vec<Contender> {
    let mut found = Vec::new();
    for name in &args.runtimes {
        let binary = if name == "gorae" {
            args.gorae
                .clone()
                .or_else(gorae_beside_us)
                .or_else(|| which("gorae"))
        } else {
            which(name)
        };
        match binary {
            Some(binary) => {
                // `<name>-state`, not `root-<name>`: the tests' leak check
                // looks for command lines with "gorae run" and the like.
                let root = work.join(format!("{name}-state"));
                found.push(Contender::new(Runtime::oci(name, binary, root)));
            }
            None => notes.push(format!("{name}: not found on PATH, skipped")),
        }
    }
    if let Ok(me) = std::env::current_exe() {
        found.push(Contender::new(Runtime::floor(me)));
    }
    found
}

/// `gorae` in the directory of this binary (both in `target/<triple>/release`).
fn gorae_beside_us() -> Option<PathBuf> {
    let candidate = std::env::current_exe().ok()?.parent()?.join("gorae");
    candidate.is_file().then_some(candidate)
}

fn bundle_description() -> String {
    format!(
        "static busybox rootfs (read-only, shared by all containers), process /bin/true as root, \
         namespaces {}, mounts /proc /dev /dev/pts /dev/shm /dev/mqueue /sys, ociVersion {}, \
         no cgroupsPath (each runtime's default)",
        bundle::NAMESPACES.join(" "),
        bundle::OCI_VERSION
    )
}

fn standing_notes() -> Vec<String> {
    vec![
        "each invocation is timed from spawn to wait4 by gorae-bench, a child subreaper like a \
         shim; `create`, `start` and `delete` are one lifecycle: create → start → wait for the \
         init to exit (pidfd) and `state` to say stopped (not timed) → delete"
            .into(),
        "peak RSS is wait4's ru_maxrss: the largest of the runtime process and the descendants \
         it waited for (e.g. runc's `runc init` stages), not a detached container's init"
            .into(),
        "gorae, runc and crun each create and remove a cgroup per container in every hierarchy, \
         which is part of their times"
            .into(),
        "floor = `gorae-bench floor`: unshare(pid|net|ipc|uts|mount) + fork + rbind of the rootfs + \
         pivot_root + execve of /bin/true; no /proc, /dev or other mounts, no cgroups, no state"
            .into(),
    ]
}

/// Failure only when gorae failed an operation, something was left, or the
/// run was interrupted.
fn exit_code(report: &Report) -> ExitCode {
    let gorae_failed = report
        .runtimes
        .iter()
        .filter(|r| r.name == "gorae")
        .any(|r| {
            r.ops.values().any(|o| matches!(o, Outcome::Failed { .. }))
                || matches!(r.throughput, Outcome::Failed { .. })
        });
    if gorae_failed || !report.cleanup.leftovers.is_empty() || sys::interrupted() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

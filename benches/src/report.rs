//! The results: a JSON document and the Markdown tables printed on stdout.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use crate::cleanup::Cleanup;
use crate::host::Host;
use crate::measure::{Contender, Op, OpRecord, Settings, Skip, TraceReport};
use crate::runtime::BinaryInfo;
use crate::stats::{self, Summary, ratio};

/// The whole report of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The command line that produced it.
    pub command: String,
    /// The machine.
    pub host: Host,
    /// What was done about crun and hybrid cgroups.
    pub hugetlb_workaround: String,
    /// What the containers are.
    pub bundle: String,
    /// Iterations and concurrency.
    pub settings: Settings,
    /// One entry per contender, in run order.
    pub runtimes: Vec<RuntimeResult>,
    /// gorae's phases, when `gorae --trace` exists.
    pub trace: Option<TraceReport>,
    /// Remarks a reader needs to read the numbers right.
    pub notes: Vec<String>,
    /// What the cleanup did and found.
    pub cleanup: Cleanup,
}

/// The results of one contender.
#[derive(Debug, Clone, Serialize)]
pub struct RuntimeResult {
    /// `gorae`, `crun`, `runc`, `youki` or `floor`.
    pub name: String,
    /// Its binary, or `None` when it could not be inspected.
    pub binary: Option<BinaryInfo>,
    /// Why the binary could not be inspected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary_error: Option<String>,
    /// Per operation.
    pub ops: BTreeMap<Op, OpResult>,
    /// N concurrent `run`s.
    pub throughput: Outcome<Throughput>,
}

/// Measured, failed, or not measured.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome<T> {
    /// Measured.
    Measured(T),
    /// The runtime failed; the first error.
    Failed {
        /// Its message.
        error: String,
    },
    /// Not applicable (the floor has only `run`).
    NotApplicable,
    /// The runtime lacks the command (`n/a`).
    Unsupported {
        /// Why.
        reason: String,
    },
    /// Not measured because an earlier step failed.
    NotMeasured {
        /// Why.
        reason: String,
    },
}

/// The latency and memory of one operation.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Wall time, ms.
    pub ms: Summary,
    /// Peak RSS of the invocation, KiB.
    pub peak_rss_kib: Summary,
    /// CPU time (user + system) of the invocation and what it waited for, ms.
    pub cpu_ms: Summary,
    /// Median ÷ crun's median of the same operation.
    pub ratio_to_crun: Option<f64>,
    /// Median ÷ the floor's `run` median (`run` only).
    pub ratio_to_floor: Option<f64>,
    /// CPU time median ÷ crun's.
    pub cpu_ratio_to_crun: Option<f64>,
    /// Every measured sample, ms, in order.
    pub samples_ms: Vec<f64>,
}

/// One operation's outcome.
pub type OpResult = Outcome<Latency>;

/// Throughput rounds.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    /// Containers per round.
    pub containers: usize,
    /// Wall time of a round, ms.
    pub wall_ms: Summary,
    /// Containers per second at the median.
    pub containers_per_s: f64,
    /// Median ÷ crun's median.
    pub ratio_to_crun: Option<f64>,
    /// Median ÷ the floor's median.
    pub ratio_to_floor: Option<f64>,
}

/// Turns the contenders' records into results with ratios.
pub fn results(
    contenders: &[Contender],
    binaries: &[Result<BinaryInfo, String>],
    concurrency: usize,
) -> Vec<RuntimeResult> {
    let record_of = |name: &str, op: Op| {
        contenders
            .iter()
            .find(|c| c.runtime.name == name)
            .and_then(|c| c.ops.get(&op))
    };
    let round_median = |name: &str| {
        contenders
            .iter()
            .find(|c| c.runtime.name == name)
            .and_then(|c| stats::summarize(&c.throughput_ms))
            .map(|s| s.median)
    };
    contenders
        .iter()
        .zip(binaries)
        .map(|(c, binary)| {
            let ops = c
                .ops
                .iter()
                .map(|(op, record)| {
                    let crun = record_of("crun", *op);
                    let floor = record_of("floor", Op::Run).filter(|_| *op == Op::Run);
                    (*op, op_result(record, crun, floor))
                })
                .collect();
            let throughput =
                throughput_result(c, concurrency, round_median("crun"), round_median("floor"));
            RuntimeResult {
                name: c.runtime.name.clone(),
                binary: binary.as_ref().ok().cloned(),
                binary_error: binary.as_ref().err().cloned(),
                ops,
                throughput,
            }
        })
        .collect()
}

fn wall(r: &OpRecord) -> &[f64] {
    &r.ms
}

fn cpu(r: &OpRecord) -> &[f64] {
    &r.cpu_ms
}

/// The median of `samples` of `record`, when it has any.
fn median(record: Option<&OpRecord>, samples: fn(&OpRecord) -> &[f64]) -> Option<f64> {
    record
        .and_then(|r| stats::summarize(samples(r)))
        .map(|s| s.median)
}

fn op_result(record: &OpRecord, crun: Option<&OpRecord>, floor: Option<&OpRecord>) -> OpResult {
    match &record.skipped {
        Some(Skip::NotApplicable) => return Outcome::NotApplicable,
        Some(Skip::Unsupported(reason)) => {
            return Outcome::Unsupported {
                reason: reason.clone(),
            };
        }
        None => {}
    }
    if let Some(error) = &record.error {
        return Outcome::Failed {
            error: error.clone(),
        };
    }
    match (
        stats::summarize(&record.ms),
        stats::summarize(&record.rss_kib),
        stats::summarize(&record.cpu_ms),
    ) {
        (Some(ms), Some(peak_rss_kib), Some(cpu_ms)) => Outcome::Measured(Latency {
            ms,
            peak_rss_kib,
            cpu_ms,
            ratio_to_crun: median(crun, wall).and_then(|c| ratio(ms.median, c)),
            ratio_to_floor: median(floor, wall).and_then(|f| ratio(ms.median, f)),
            cpu_ratio_to_crun: median(crun, cpu).and_then(|c| ratio(cpu_ms.median, c)),
            samples_ms: record.ms.clone(),
        }),
        _ => Outcome::NotMeasured {
            reason: "an earlier step of the lifecycle failed".into(),
        },
    }
}

fn throughput_result(
    c: &Contender,
    containers: usize,
    crun: Option<f64>,
    floor: Option<f64>,
) -> Outcome<Throughput> {
    if let Some(error) = &c.throughput_error {
        return Outcome::Failed {
            error: error.clone(),
        };
    }
    match stats::summarize(&c.throughput_ms) {
        Some(wall_ms) => Outcome::Measured(Throughput {
            containers,
            wall_ms,
            containers_per_s: containers as f64 / (wall_ms.median / 1000.0),
            ratio_to_crun: crun.and_then(|v| ratio(wall_ms.median, v)),
            ratio_to_floor: floor.and_then(|v| ratio(wall_ms.median, v)),
        }),
        None => Outcome::NotMeasured {
            reason: "`run` failed".into(),
        },
    }
}

/// The Markdown rendering of `report`.
pub fn markdown(report: &Report) -> String {
    let mut md = String::new();
    header(&mut md, report);
    latency_table(&mut md, report);
    ratio_table(&mut md, report);
    cpu_table(&mut md, report);
    throughput_table(&mut md, report);
    resources_table(&mut md, report);
    trace_section(&mut md, report);
    failures(&mut md, report);
    notes(&mut md, report);
    md
}

fn header(md: &mut String, r: &Report) {
    let s = &r.settings;
    let h = &r.host;
    let names: Vec<&str> = r.runtimes.iter().map(|rt| rt.name.as_str()).collect();
    let _ = writeln!(md, "# gorae-bench\n");
    let _ = writeln!(md, "- command: `{}`", r.command);
    let _ = writeln!(
        md,
        "- host: {}, {} cores ({}), {} GiB RAM",
        h.kernel, h.cores, h.cpu, h.memory_gib
    );
    let _ = writeln!(md, "- cgroups: {}", h.cgroups);
    let _ = writeln!(
        md,
        "- crun hybrid-host workaround: {}",
        r.hugetlb_workaround
    );
    let _ = writeln!(md, "- bundle: {}", r.bundle);
    let _ = writeln!(
        md,
        "- latency: {} measured iterations after {} warm-up, contenders interleaved ({}); \
         throughput: {} containers at once, {} measured rounds after {} warm-up",
        s.iterations,
        s.warmup,
        names.join(" → "),
        s.concurrency,
        s.rounds,
        s.warmup_rounds
    );
    md.push('\n');
}

fn latency_table(md: &mut String, r: &Report) {
    md.push_str("## Lifecycle latency, ms: median [min – max]\n\n");
    table_head(md, "runtime", &Op::ALL.map(Op::name));
    for rt in &r.runtimes {
        let cells = op_cells(rt, |l| {
            format!("{:.2} [{:.2} – {:.2}]", l.ms.median, l.ms.min, l.ms.max)
        });
        table_row(md, &rt.name, &cells);
    }
    md.push('\n');
    let unsupported: Vec<&str> = r
        .runtimes
        .iter()
        .flat_map(|rt| rt.ops.values())
        .filter_map(|o| match o {
            Outcome::Unsupported { reason } => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    if !unsupported.is_empty() {
        let _ = writeln!(md, "n/a: {}.\n", unsupported.join("; "));
    }
}

fn ratio_table(md: &mut String, r: &Report) {
    md.push_str("## Ratios of medians\n\n");
    let mut heads: Vec<String> = Op::ALL
        .iter()
        .map(|op| format!("{} ×crun", op.name()))
        .collect();
    heads.push("run ×floor".into());
    heads.push("throughput ×crun".into());
    let heads: Vec<&str> = heads.iter().map(String::as_str).collect();
    table_head(md, "runtime", &heads);
    for rt in &r.runtimes {
        let mut cells = op_cells(rt, |l| times(l.ratio_to_crun));
        cells.push(match rt.ops.get(&Op::Run) {
            Some(Outcome::Measured(l)) => times(l.ratio_to_floor),
            other => short_outcome(other),
        });
        cells.push(match &rt.throughput {
            Outcome::Measured(t) => times(t.ratio_to_crun),
            other => short_outcome(Some(other)),
        });
        table_row(md, &rt.name, &cells);
    }
    md.push('\n');
}

fn cpu_table(md: &mut String, r: &Report) {
    md.push_str(
        "## CPU time, ms (user + sys of the runtime and what it waited for): median (×crun)\n\n\
         Less disturbed by other load than wall time.\n\n",
    );
    table_head(md, "runtime", &Op::ALL.map(Op::name));
    for rt in &r.runtimes {
        let cells = op_cells(rt, |l| {
            format!("{:.2} ({})", l.cpu_ms.median, times(l.cpu_ratio_to_crun))
        });
        table_row(md, &rt.name, &cells);
    }
    md.push('\n');
}

/// One cell per operation: `cell` of a measured one, else its short outcome.
fn op_cells(rt: &RuntimeResult, cell: impl Fn(&Latency) -> String) -> Vec<String> {
    Op::ALL
        .iter()
        .map(|op| match rt.ops.get(op) {
            Some(Outcome::Measured(l)) => cell(l),
            other => short_outcome(other),
        })
        .collect()
}

fn throughput_table(md: &mut String, r: &Report) {
    let _ = writeln!(
        md,
        "## Throughput: {} concurrent `run`s of /bin/true\n",
        r.settings.concurrency
    );
    table_head(
        md,
        "runtime",
        &[
            "wall ms: median [min – max]",
            "containers/s",
            "×crun",
            "×floor",
        ],
    );
    for rt in &r.runtimes {
        let cells = match &rt.throughput {
            Outcome::Measured(t) => vec![
                format!(
                    "{:.1} [{:.1} – {:.1}]",
                    t.wall_ms.median, t.wall_ms.min, t.wall_ms.max
                ),
                format!("{:.1}", t.containers_per_s),
                times(t.ratio_to_crun),
                times(t.ratio_to_floor),
            ],
            other => vec![
                short_outcome(Some(other)),
                "–".into(),
                "–".into(),
                "–".into(),
            ],
        };
        table_row(md, &rt.name, &cells);
    }
    md.push('\n');
}

fn resources_table(md: &mut String, r: &Report) {
    md.push_str(
        "## Resources: binary, and peak RSS per invocation (MiB, median of `ru_maxrss`)\n\n",
    );
    let mut heads = vec!["version", "binary size", "shared libraries"];
    heads.extend(Op::ALL.map(Op::name));
    table_head(md, "runtime", &heads);
    for rt in &r.runtimes {
        let mut cells = match &rt.binary {
            Some(b) => vec![
                if b.version.is_empty() {
                    "–".into()
                } else {
                    b.version.clone()
                },
                format!("{:.2} MiB", b.size_bytes as f64 / 1_048_576.0),
                if b.shared_libraries.is_empty() {
                    "none (static)".into()
                } else {
                    format!(
                        "{}: {}",
                        b.shared_libraries.len(),
                        b.shared_libraries.join(" ")
                    )
                },
            ],
            None => vec![
                rt.binary_error.clone().unwrap_or_default(),
                "–".into(),
                "–".into(),
            ],
        };
        cells.extend(op_cells(rt, |l| {
            format!("{:.1}", l.peak_rss_kib.median / 1024.0)
        }));
        table_row(md, &rt.name, &cells);
    }
    md.push('\n');
}

fn trace_section(md: &mut String, r: &Report) {
    let Some(trace) = &r.trace else {
        return;
    };
    if !trace.available {
        let _ = writeln!(md, "gorae phase breakdown skipped: {}.\n", trace.note);
        return;
    }
    md.push_str("## gorae phases (`gorae --trace`), µs: median [min – max]\n\n");
    let mut phases: Vec<&str> = Vec::new();
    for time in trace.commands.iter().flat_map(|c| &c.phases) {
        if !phases.contains(&time.phase.as_str()) {
            phases.push(&time.phase);
        }
    }
    let heads: Vec<String> = trace
        .commands
        .iter()
        .map(|c| format!("{} (n={})", c.command, c.invocations))
        .collect();
    let heads: Vec<&str> = heads.iter().map(String::as_str).collect();
    table_head(md, "phase", &heads);
    for phase in &phases {
        let cells: Vec<String> = trace
            .commands
            .iter()
            .map(|c| match c.phases.iter().find(|t| t.phase == *phase) {
                Some(t) => format!("{:.0} [{:.0} – {:.0}]", t.us.median, t.us.min, t.us.max),
                None => "–".into(),
            })
            .collect();
        table_row(md, phase, &cells);
    }
    let sums: Vec<String> = trace
        .commands
        .iter()
        .map(|c| format!("{:.0}", c.phases.iter().map(|t| t.us.median).sum::<f64>()))
        .collect();
    table_row(md, "sum of medians", &sums);
    let gorae = r.runtimes.iter().find(|rt| rt.name == "gorae");
    let walls: Vec<String> = trace
        .commands
        .iter()
        .map(|c| {
            let op = Op::ALL.into_iter().find(|op| op.name() == c.command);
            match gorae.zip(op).and_then(|(g, op)| g.ops.get(&op)) {
                Some(Outcome::Measured(l)) => format!("{:.0}", l.ms.median * 1000.0),
                _ => "–".into(),
            }
        })
        .collect();
    table_row(md, "wall time, untraced median", &walls);
    md.push('\n');
}

fn failures(md: &mut String, r: &Report) {
    let mut lines = Vec::new();
    for rt in &r.runtimes {
        for (op, outcome) in &rt.ops {
            if let Outcome::Failed { error } = outcome {
                lines.push(format!("- {} {}: {}", rt.name, op.name(), error));
            }
        }
        if let Outcome::Failed { error } = &rt.throughput {
            lines.push(format!("- {} throughput: {}", rt.name, error));
        }
    }
    if !lines.is_empty() {
        let _ = writeln!(md, "## Failures\n\n{}\n", lines.join("\n"));
    }
}

fn notes(md: &mut String, r: &Report) {
    md.push_str("## Notes\n\n");
    for note in &r.notes {
        let _ = writeln!(md, "- {note}");
    }
    let c = &r.cleanup;
    if c.leftovers.is_empty() {
        let _ = writeln!(
            md,
            "- cleanup: nothing left behind (state dirs, bundles, container processes, mounts, cgroups named for this run){}",
            if c.deleted.is_empty() {
                String::new()
            } else {
                format!("; force-deleted at the end: {}", c.deleted.join(", "))
            }
        );
    } else {
        let _ = writeln!(md, "- cleanup: LEFT BEHIND: {}", c.leftovers.join("; "));
    }
}

fn short_outcome<T>(outcome: Option<&Outcome<T>>) -> String {
    match outcome {
        Some(Outcome::Failed { .. }) => "failed (see Failures)".into(),
        Some(Outcome::Unsupported { .. }) => "n/a".into(),
        Some(Outcome::NotMeasured { .. }) => "not measured".into(),
        Some(Outcome::NotApplicable) => "–".into(),
        Some(Outcome::Measured(_)) | None => "–".into(),
    }
}

fn times(ratio: Option<f64>) -> String {
    ratio.map_or("–".into(), |r| format!("{r:.2}×"))
}

fn table_head(md: &mut String, first: &str, heads: &[&str]) {
    let _ = writeln!(md, "| {first} | {} |", heads.join(" | "));
    let _ = writeln!(md, "|---|{}", "---|".repeat(heads.len()));
}

fn table_row(md: &mut String, first: &str, cells: &[String]) {
    let _ = writeln!(md, "| {first} | {} |", cells.join(" | "));
}

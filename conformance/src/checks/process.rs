//! `config.md`: the version, root and process fields the `config` module
//! leaves out: an unsupported major version, a missing `root`, empty
//! `args`, `consoleSize`, real-time and deadline scheduling with flags,
//! `execCPUAffinity` (through `exec --process`), and empty annotation keys.
#![forbid(unsafe_code)]

use std::fs;

use serde_json::json;

use super::{MUST, check, create_fails, create_fails_unlike, probe_with, running};
use crate::lab::{Lab, PROBE, base_config};
use crate::report::{Fallible, Report, SchedAttr};
use crate::suite::{Check, Failure, Outcome, ensure, ensure_eq, fail, skip};

pub(super) fn checks() -> Vec<Check> {
    vec![
        check(
            MUST,
            "config.version.unsupported",
            "config.md#specification-version",
            "create with an ociVersion of a major version no runtime supports fails",
            "if a configuration is compliant with version 1.1 of this specification, it is compatible with all runtimes that support any 1.1 or later release of this specification, but is not compatible with a runtime that supports 1.0 and not 1.1. ... Runtimes MUST generate an error when invalid or unsupported values are encountered.",
            version_unsupported,
        ),
        check(
            MUST,
            "config.root.missing",
            "config.md#root",
            "create with no root fails",
            "root (object, OPTIONAL) specifies the container's root filesystem. ... On all other platforms, this field is REQUIRED.",
            root_missing,
        ),
        check(
            MUST,
            "config.process.args-empty",
            "config.md#process",
            "a process with empty args fails to create or start, the program never runs",
            "This specification extends the IEEE standard in that at least one entry is REQUIRED (non-Windows) ... Runtimes MUST generate an error when invalid or unsupported values are encountered.",
            args_empty,
        ),
        check(
            MUST,
            "config.process.console-size",
            "config.md#process",
            "consoleSize is the size of the process's terminal",
            "consoleSize (object, OPTIONAL) specifies the console size in characters of the terminal.",
            console_size,
        ),
        check(
            MUST,
            "config.process.console-size-ignored",
            "config.md#process",
            "consoleSize without a terminal is ignored",
            "Runtimes MUST ignore consoleSize if terminal is false or unset.",
            console_size_ignored,
        ),
        check(
            MUST,
            "config.process.scheduler-realtime",
            "config.md#linux-process",
            "SCHED_FIFO with a priority and SCHED_FLAG_RESET_ON_FORK is the process's scheduling",
            "priority (int32, OPTIONAL) represents the static priority of the process, used by real-time policies like SCHED_FIFO and SCHED_RR. ... flags (array of strings, OPTIONAL) is an array of strings representing scheduling flags.",
            scheduler_realtime,
        ),
        check(
            MUST,
            "config.process.scheduler-deadline",
            "config.md#linux-process",
            "SCHED_DEADLINE runtime, deadline and period are the process's",
            "runtime (uint64, OPTIONAL) represents the amount of time in nanoseconds during which the process is allowed to run in a given period, used by the deadline scheduler. ... deadline (uint64, OPTIONAL) represents the absolute deadline for the process to complete its execution ... period (uint64, OPTIONAL) represents the length of the period in nanoseconds used for determining the process runtime",
            scheduler_deadline,
        ),
        check(
            MUST,
            "config.process.exec-cpu-affinity",
            "config.md#linux-process",
            "an exec'd process with execCPUAffinity final runs on those CPUs",
            "execCPUAffinity (object, OPTIONAL) specifies CPU affinity used to execute the process. ... final (string, OPTIONAL) is a list of CPUs the process will be run on after the transition to container's cgroup.",
            exec_cpu_affinity,
        ),
        check(
            MUST,
            "config.process.exec-cpu-affinity.init",
            "config.md#linux-process",
            "execCPUAffinity in config.json leaves the init process's affinity alone",
            "execCPUAffinity (object, OPTIONAL) specifies CPU affinity used to execute the process. This setting is not applicable to the container's init process.",
            exec_cpu_affinity_init,
        ),
        check(
            MUST,
            "config.annotations.empty-key",
            "config.md#annotations",
            "create with an empty annotation key fails",
            "Keys MUST NOT be an empty string. ... Runtimes MUST generate an error when invalid or unsupported values are encountered.",
            annotations_empty_key,
        ),
    ]
}

fn version_unsupported(lab: &mut Lab) -> Outcome {
    create_fails(
        lab,
        "ociVersion 99.0.0 is a major version no runtime supports",
        |c| {
            c["ociVersion"] = json!("99.0.0");
        },
    )
    .map(drop)
}

fn root_missing(lab: &mut Lab) -> Outcome {
    create_fails(lab, "config.json has no root", |c| {
        if let Some(obj) = c.as_object_mut() {
            obj.remove("root");
        }
    })
    .map(drop)
}

fn args_empty(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    let mut config = base_config(&[]);
    config["process"]["args"] = json!([]);
    bundle.write_config(&config)?;
    let id = lab.id("noargs");
    if lab.create(&bundle, &id)?.ok() {
        lab.runtime(&["start", &id])?
            .require_error("process.args is empty")?;
    }
    Ok(())
}

/// The probe's report from a container with a terminal and `consoleSize`.
fn console_report(lab: &mut Lab, terminal: bool) -> Result<Report, Failure> {
    let bundle = lab.bundle("bundle")?;
    let mut config = base_config(&[]);
    config["process"]["terminal"] = json!(terminal);
    config["process"]["consoleSize"] = json!({"height": 33, "width": 111});
    if terminal {
        lab.probe_on_console(&bundle, &config)
    } else {
        lab.probe(&bundle, &config)
    }
}

fn console_size(lab: &mut Lab) -> Outcome {
    let report = console_report(lab, true)?;
    ensure_eq(
        report.terminal_size,
        Fallible::Ok((33, 111)),
        "terminal size (rows, columns)",
    )
}

fn console_size_ignored(lab: &mut Lab) -> Outcome {
    let report = console_report(lab, false)?;
    ensure_eq(
        report.terminal_size,
        Fallible::Errno(libc::ENOTTY),
        "TIOCGWINSZ on stdin (no terminal)",
    )
}

fn sched_of(report: Report) -> Result<SchedAttr, Failure> {
    match report.sched_attr {
        Fallible::Ok(a) => Ok(a),
        Fallible::Errno(e) => Err(fail(format!(
            "sched_getattr failed in the container: errno {e}"
        ))),
    }
}

fn scheduler_realtime(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &[], |c, _| {
        c["ociVersion"] = json!("1.2.0");
        c["process"]["scheduler"] =
            json!({"policy": "SCHED_FIFO", "priority": 10, "flags": ["SCHED_FLAG_RESET_ON_FORK"]});
    })?;
    let attr = sched_of(report)?;
    ensure_eq(
        attr.policy,
        libc::SCHED_FIFO as u32,
        "policy (1: SCHED_FIFO)",
    )?;
    ensure_eq(attr.priority, 10, "priority")?;
    ensure(
        attr.flags & 1 != 0,
        format!(
            "sched flags {:#x} lack SCHED_FLAG_RESET_ON_FORK (0x1)",
            attr.flags
        ),
    )
}

fn scheduler_deadline(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &[], |c, _| {
        c["ociVersion"] = json!("1.2.0");
        c["process"]["scheduler"] = json!({
            "policy": "SCHED_DEADLINE", "runtime": 2_000_000, "deadline": 20_000_000, "period": 40_000_000
        });
    })?;
    let attr = sched_of(report)?;
    ensure_eq(attr.policy, 6, "policy (6: SCHED_DEADLINE)")?;
    ensure_eq(
        (attr.runtime, attr.deadline, attr.period),
        (2_000_000, 20_000_000, 40_000_000),
        "(runtime, deadline, period) in ns",
    )
}

/// The CPUs this process may run on (the runtime's, inherited).
fn own_cpus() -> Vec<usize> {
    nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0))
        .map(|set| {
            (0..nix::sched::CpuSet::count())
                .filter(|c| set.is_set(*c).unwrap_or(false))
                .collect()
        })
        .unwrap_or_default()
}

fn exec_cpu_affinity(lab: &mut Lab) -> Outcome {
    let cpus = own_cpus();
    if cpus.len() < 2 {
        return Err(skip(format!(
            "the suite may run on CPUs {cpus:?} only: a final set smaller than all needs two"
        )));
    }
    let (first, last) = (cpus[0], cpus[cpus.len() - 1]);
    let bundle = lab.bundle("bundle")?;
    let id = running(lab, &bundle)?;
    let process = json!({
        "terminal": false,
        "user": {"uid": 0, "gid": 0},
        "args": [PROBE],
        "env": ["PATH=/bin"],
        "cwd": "/",
        "execCPUAffinity": {"initial": last.to_string(), "final": first.to_string()}
    });
    let file = lab.dir.join("process.json");
    fs::write(&file, process.to_string())
        .map_err(|e| fail(format!("write {}: {e}", file.display())))?;
    let run = lab
        .runtime(&["exec", "--process", &file.display().to_string(), &id])?
        .require()?;
    let line = run
        .stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or("");
    let report: Report = serde_json::from_str(line).map_err(|e| {
        fail(format!("no probe report from the exec'd process: {e}"))
            .with("stdout", run.stdout.clone())
    })?;
    ensure_eq(
        report.cpu_affinity,
        Fallible::Ok(vec![first]),
        "CPU affinity of the exec'd process",
    )
}

fn exec_cpu_affinity_init(lab: &mut Lab) -> Outcome {
    let cpus = own_cpus();
    if cpus.len() < 2 {
        return Err(skip(format!(
            "the suite may run on CPUs {cpus:?} only: a final set smaller than all needs two"
        )));
    }
    let first = cpus[0];
    let report = probe_with(lab, &[], |c, _| {
        c["ociVersion"] = json!("1.2.1");
        c["process"]["execCPUAffinity"] =
            json!({"initial": first.to_string(), "final": first.to_string()});
    })?;
    ensure_eq(
        report.cpu_affinity,
        Fallible::Ok(cpus),
        "CPU affinity of the init process (the runtime's)",
    )
}

fn annotations_empty_key(lab: &mut Lab) -> Outcome {
    create_fails_unlike(
        lab,
        "an annotation key is empty",
        |c| c["annotations"] = json!({"org.example.key": "a key"}),
        |c| c["annotations"] = json!({"": "empty key"}),
    )
    .map(drop)
}

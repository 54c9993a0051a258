//! Printing results: TAP 13 as checks finish, a JSON report, and the
//! Markdown check × runtime table made from several JSON reports.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::suite::{Result as CheckResult, Status};

/// The TAP header for `count` checks.
pub fn tap_header(count: usize) -> String {
    format!("TAP version 13\n1..{count}\n")
}

/// One TAP test line (1-based `n`), with a YAML block for a failure.
pub fn tap_line(n: usize, r: &CheckResult) -> String {
    // TAP reads the first unescaped `#` as the start of a directive.
    let title = format!("[{}] {}", r.section, r.description).replace('#', "\\#");
    let reason = r.reason.as_deref().unwrap_or("");
    match r.status {
        Status::Pass => format!("ok {n} - {title}\n"),
        Status::Skip => format!("ok {n} - {title} # SKIP {}\n", one_line(reason)),
        Status::Fail => {
            let mut out = format!("not ok {n} - {title}\n  ---\n");
            let mut field = |key: &str, value: &str| {
                let _ = writeln!(out, "  {key}: {}", yaml_string(value));
            };
            field("id", r.id);
            field("message", reason);
            field("requirement", r.requirement);
            for (key, value) in &r.details {
                field(key, value);
            }
            out.push_str("  ...\n");
            out
        }
    }
}

/// The closing line: `N passed, N failed, N skipped`.
pub fn summary_line(results: &[CheckResult]) -> String {
    let count = |s: Status| results.iter().filter(|r| r.status == s).count();
    format!(
        "{} passed, {} failed, {} skipped\n",
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Skip)
    )
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn yaml_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

/// The machine-readable report of one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// The runtime's name (its file name).
    pub runtime: String,
    /// The runtime's path.
    pub runtime_path: String,
    /// First line of `runtime --version`.
    pub runtime_version: String,
    /// Counts.
    pub passed: usize,
    /// Counts.
    pub failed: usize,
    /// Counts.
    pub skipped: usize,
    /// Every check's result, in order.
    pub checks: Vec<ReportEntry>,
}

/// One check in a [`Report`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportEntry {
    /// Check id.
    pub id: String,
    /// Spec section.
    pub section: String,
    /// What it verifies.
    pub description: String,
    /// MUST or SHOULD.
    pub level: String,
    /// The quoted spec sentence.
    pub requirement: String,
    /// pass, fail or skip.
    pub status: String,
    /// Failure message or skip reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Evidence of a failure.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<(String, String)>,
}

impl Report {
    /// The report of a finished run.
    pub fn new(runtime: &std::path::Path, version: String, results: &[CheckResult]) -> Self {
        let count = |s: Status| results.iter().filter(|r| r.status == s).count();
        let checks = results
            .iter()
            .map(|r| ReportEntry {
                id: r.id.to_owned(),
                section: r.section.to_owned(),
                description: r.description.to_owned(),
                level: serde_json::to_value(r.level)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                requirement: r.requirement.to_owned(),
                status: serde_json::to_value(r.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                reason: r.reason.clone(),
                details: r.details.clone(),
            })
            .collect();
        Report {
            runtime: runtime.file_name().map_or_else(
                || runtime.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            runtime_path: runtime.display().to_string(),
            runtime_version: version,
            passed: count(Status::Pass),
            failed: count(Status::Fail),
            skipped: count(Status::Skip),
            checks,
        }
    }
}

/// The Markdown check × runtime table of several reports.
pub fn results_markdown(reports: &[Report], date: &str, host: &str) -> String {
    let mut out = String::from("# Conformance results\n\n");
    let _ = writeln!(
        out,
        "One run of `make conformance` on {date}, on {host}. Produced by `gorae-conformance results`; do not edit by hand.\n"
    );
    out.push_str(
        "| runtime | version | passed | failed | skipped |\n| --- | --- | --- | --- | --- |\n",
    );
    for r in reports {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            r.runtime,
            cell(&r.runtime_version),
            r.passed,
            r.failed,
            r.skipped
        );
    }
    out.push_str("\nA failure or skip cell carries the first line of its reason.\n\n| check | section | level |");
    for r in reports {
        let _ = write!(out, " {} |", r.runtime);
    }
    out.push_str("\n| --- | --- | --- |");
    reports.iter().for_each(|_| out.push_str(" --- |"));
    out.push('\n');
    let mut order: Vec<(&str, &ReportEntry)> = Vec::new();
    let mut by_runtime: Vec<BTreeMap<&str, &ReportEntry>> = Vec::new();
    for r in reports {
        let map: BTreeMap<&str, &ReportEntry> =
            r.checks.iter().map(|c| (c.id.as_str(), c)).collect();
        for c in &r.checks {
            if !order.iter().any(|(id, _)| *id == c.id) {
                order.push((c.id.as_str(), c));
            }
        }
        by_runtime.push(map);
    }
    for (id, entry) in order {
        let _ = write!(out, "| `{id}` | {} | {} |", entry.section, entry.level);
        for map in &by_runtime {
            let text = match map.get(id) {
                None => "–".to_owned(),
                Some(c) if c.status == "pass" => "pass".to_owned(),
                Some(c) => format!(
                    "**{}**: {}",
                    c.status,
                    cell(
                        c.reason
                            .as_deref()
                            .unwrap_or("")
                            .lines()
                            .next()
                            .unwrap_or("")
                    )
                ),
            };
            let _ = write!(out, " {text} |");
        }
        out.push('\n');
    }
    out
}

/// The Markdown table of checks: id, section, level and the quoted spec
/// statement each verifies.
pub fn checks_markdown(checks: &[crate::suite::Check]) -> String {
    let mut out = String::from(
        "| check | section | level | what it verifies | spec statement |\n| --- | --- | --- | --- | --- |\n",
    );
    for c in checks {
        let level = match c.level {
            crate::suite::Level::Must => "MUST",
            crate::suite::Level::Should => "SHOULD",
        };
        let _ = writeln!(
            out,
            "| `{}` | [{}](https://github.com/opencontainers/runtime-spec/blob/main/{}) | {level} | {} | \"{}\" |",
            c.id,
            c.section,
            c.section,
            cell(c.description),
            c.requirement.replace('|', "\\|")
        );
    }
    out
}

/// Text safe inside a Markdown table cell, at most 160 characters.
fn cell(text: &str) -> String {
    let text = text.replace('|', "\\|").replace('\n', " ");
    match text.char_indices().nth(160) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::suite::Level;

    fn result(status: Status, reason: Option<&str>) -> CheckResult {
        CheckResult {
            id: "runtime.start.twice",
            section: "runtime.md#start",
            description: "start of a running container fails",
            level: Level::Must,
            requirement: "Attempting to `start` a container that is not `created` MUST ...",
            status,
            reason: reason.map(str::to_owned),
            details: vec![("stderr".into(), "line one\nline \"two\"".into())],
        }
    }

    #[test]
    fn failure_is_a_not_ok_line_with_a_yaml_block() {
        let text = tap_line(3, &result(Status::Fail, Some("it started twice")));
        assert!(text.starts_with(
            "not ok 3 - [runtime.md\\#start] start of a running container fails\n  ---\n"
        ));
        assert!(text.contains("  stderr: \"line one\\nline \\\"two\\\"\"\n"));
        assert!(text.ends_with("  ...\n"));
    }

    #[test]
    fn skip_carries_its_reason_on_one_line() {
        let text = tap_line(1, &result(Status::Skip, Some("no\nbusybox")));
        assert_eq!(
            text,
            "ok 1 - [runtime.md\\#start] start of a running container fails # SKIP no busybox\n"
        );
    }

    #[test]
    fn summary_counts_each_status() {
        let results = [
            result(Status::Pass, None),
            result(Status::Fail, Some("x")),
            result(Status::Skip, Some("y")),
            result(Status::Pass, None),
        ];
        assert_eq!(summary_line(&results), "2 passed, 1 failed, 1 skipped\n");
    }
}

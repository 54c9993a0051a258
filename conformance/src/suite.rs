//! Checks, their outcomes, and the loop that runs them.
#![forbid(unsafe_code)]

use std::fmt::Debug;

use serde::Serialize;

use crate::error::Error;
use crate::lab::{Env, Lab};

/// How strong the spec's statement is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Level {
    /// MUST / MUST NOT / REQUIRED.
    #[serde(rename = "MUST")]
    Must,
    /// SHOULD / SHOULD NOT.
    #[serde(rename = "SHOULD")]
    Should,
}

/// One spec statement and the code that verifies it.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    /// Stable name, `<area>.<topic>.<case>`.
    pub id: &'static str,
    /// Spec file and anchor, as `runtime.md#start`.
    pub section: &'static str,
    /// What the check verifies, one line.
    pub description: &'static str,
    /// MUST or SHOULD.
    pub level: Level,
    /// The spec's sentence, quoted.
    pub requirement: &'static str,
    /// The check itself.
    pub run: fn(&mut Lab) -> Outcome,
}

/// Why a check did not pass.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The runtime does not do what the spec says.
    Fail {
        /// What is wrong, one line.
        message: String,
        /// Evidence: expected and observed values, runtime output.
        details: Vec<(String, String)>,
    },
    /// The check cannot run on this machine; the reason says why.
    Skip(String),
}

/// What a check returns; `?` works on suite errors and failures alike.
pub type Outcome = std::result::Result<(), Failure>;

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Fail {
            message: e.to_string(),
            details: Vec::new(),
        }
    }
}

impl Failure {
    /// Adds one piece of evidence.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        if let Failure::Fail { details, .. } = &mut self {
            details.push((key.to_owned(), value.into()));
        }
        self
    }
}

/// A failure with a message.
pub fn fail(message: impl Into<String>) -> Failure {
    Failure::Fail {
        message: message.into(),
        details: Vec::new(),
    }
}

/// A skip with its reason.
pub fn skip(reason: impl Into<String>) -> Failure {
    Failure::Skip(reason.into())
}

/// Fails with `message` unless `cond` holds.
pub fn ensure(cond: bool, message: impl Into<String>) -> Outcome {
    if cond { Ok(()) } else { Err(fail(message)) }
}

/// Fails unless `got == expected`, showing both.
pub fn ensure_eq<T: PartialEq + Debug>(got: T, expected: T, what: &str) -> Outcome {
    if got == expected {
        return Ok(());
    }
    Err(fail(format!("{what}: got {got:?}, expected {expected:?}"))
        .with("expected", format!("{expected:?}"))
        .with("got", format!("{got:?}")))
}

/// The result of one check, ready to print.
#[derive(Debug, Clone, Serialize)]
pub struct Result {
    /// The check's id.
    pub id: &'static str,
    /// Its section.
    pub section: &'static str,
    /// Its description.
    pub description: &'static str,
    /// MUST or SHOULD.
    pub level: Level,
    /// The quoted spec sentence.
    pub requirement: &'static str,
    /// `pass`, `fail` or `skip`.
    pub status: Status,
    /// Failure message or skip reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Evidence of a failure.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<(String, String)>,
}

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Verified.
    Pass,
    /// The runtime did not do what the spec says.
    Fail,
    /// Could not be verified here.
    Skip,
}

/// Runs one check in a fresh lab, which cleans up when dropped.
pub fn run_check(env: &Env, check: &Check) -> Result {
    let outcome = match Lab::new(env, check.id) {
        Ok(mut lab) => (check.run)(&mut lab),
        Err(e) => Err(Failure::from(e)),
    };
    let (status, reason, details) = match outcome {
        Ok(()) => (Status::Pass, None, Vec::new()),
        Err(Failure::Fail { message, details }) => (Status::Fail, Some(message), details),
        Err(Failure::Skip(reason)) => (Status::Skip, Some(reason), Vec::new()),
    };
    Result {
        id: check.id,
        section: check.section,
        description: check.description,
        level: check.level,
        requirement: check.requirement,
        status,
        reason,
        details,
    }
}

/// The checks whose id, section or description contains `filter`.
pub fn select(checks: &[Check], filter: Option<&str>) -> Vec<Check> {
    checks
        .iter()
        .filter(|c| {
            filter.is_none_or(|f| {
                c.id.contains(f) || c.section.contains(f) || c.description.contains(f)
            })
        })
        .copied()
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn pass(_: &mut Lab) -> Outcome {
        Ok(())
    }

    fn check(id: &'static str, section: &'static str) -> Check {
        Check {
            id,
            section,
            description: "a description",
            level: Level::Must,
            requirement: "MUST",
            run: pass,
        }
    }

    #[test]
    fn filter_matches_id_section_or_description() {
        let checks = [
            check("linux.sysctl", "config-linux.md#sysctl"),
            check("runtime.kill.signal", "runtime.md#kill"),
        ];
        let ids = |f: Option<&str>| select(&checks, f).iter().map(|c| c.id).collect::<Vec<_>>();
        assert_eq!(ids(None), ["linux.sysctl", "runtime.kill.signal"]);
        assert_eq!(ids(Some("sysctl")), ["linux.sysctl"]);
        assert_eq!(ids(Some("runtime.md#kill")), ["runtime.kill.signal"]);
        assert_eq!(ids(Some("description")).len(), 2);
        assert!(ids(Some("nothing")).is_empty());
    }

    #[test]
    fn ensure_eq_shows_both_values() {
        let Err(Failure::Fail { message, details }) = ensure_eq(1, 2, "answer") else {
            panic!("1 == 2 passed");
        };
        assert_eq!(message, "answer: got 1, expected 2");
        assert_eq!(
            details,
            [("expected".into(), "2".into()), ("got".into(), "1".into())]
        );
    }
}

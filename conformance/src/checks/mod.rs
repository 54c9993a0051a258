//! The checks, one module per spec file: `runtime.md` (+ `runtime-linux.md`),
//! `config.md`, `config-linux.md`.
#![forbid(unsafe_code)]

mod cgroups;
mod config;
mod hooks;
mod linux;
mod lsm;
mod mount_options;
mod netdev;
mod process;
mod runtime;
mod seccomp;

use serde_json::Value;

use crate::lab::{Bundle, Lab, base_config};
use crate::report::Report;
use crate::suite::{Check, Failure, Level, Outcome};

/// Every check, in spec order.
pub fn all() -> Vec<Check> {
    let mut checks = runtime::checks();
    checks.extend(config::checks());
    checks.extend(process::checks());
    checks.extend(hooks::checks());
    checks.extend(mount_options::checks());
    checks.extend(linux::checks());
    checks.extend(cgroups::checks());
    checks.extend(netdev::checks());
    checks.extend(seccomp::checks());
    checks.extend(lsm::checks());
    checks
}

/// A check of a MUST statement.
const MUST: Level = Level::Must;
/// A check of a SHOULD statement.
const SHOULD: Level = Level::Should;

/// runtime.md's rule for a property the runtime cannot apply: what the
/// `.unavailable` checks quote.
const UNAPPLIABLE: &str = "If the runtime cannot apply a property as specified in the configuration, it MUST generate an error and a new container MUST NOT be created.";

/// A check from its parts.
const fn check(
    level: Level,
    id: &'static str,
    section: &'static str,
    description: &'static str,
    requirement: &'static str,
    run: fn(&mut Lab) -> Outcome,
) -> Check {
    Check {
        id,
        section,
        description,
        level,
        requirement,
        run,
    }
}

/// Creates a container from the base config changed by `edit`, requires
/// the create to fail (`why` says why it should) and returns the id.
fn create_fails(
    lab: &mut Lab,
    why: &str,
    edit: impl FnOnce(&mut Value),
) -> Result<String, Failure> {
    let bundle = lab.bundle("bundle")?;
    let mut config = base_config(&[]);
    edit(&mut config);
    bundle.write_config(&config)?;
    let id = lab.id("bad");
    lab.create(&bundle, &id)?.require_error(why)?;
    Ok(id)
}

/// Like [`create_fails`], after a control: the base config changed by
/// `good` (the same field, valid) must create. A runtime that refuses the
/// field whatever its value (an `ociVersion` it does not know, say) then
/// fails the check rather than passing it by accident.
fn create_fails_unlike(
    lab: &mut Lab,
    why: &str,
    good: impl FnOnce(&mut Value),
    bad: impl FnOnce(&mut Value),
) -> Result<String, Failure> {
    let bundle = lab.bundle("control")?;
    let mut config = base_config(&[]);
    good(&mut config);
    bundle.write_config(&config)?;
    let id = lab.id("control");
    lab.create(&bundle, &id)?
        .require()
        .map_err(|f| f.with("why", "the control (the same field, valid) must create"))?;
    let _ = lab.runtime(&["delete", "--force", &id]);
    create_fails(lab, why, bad)
}

/// Runs the probe with `probe_args` in a container whose config is the
/// base config changed by `edit`.
fn probe_with(
    lab: &mut Lab,
    probe_args: &[&str],
    edit: impl FnOnce(&mut Value, &Bundle),
) -> Result<Report, Failure> {
    let bundle = lab.bundle("bundle")?;
    let mut config = base_config(probe_args);
    edit(&mut config, &bundle);
    lab.probe(&bundle, &config)
}

/// `config[a][b]... = value`, creating objects on the way.
fn set(config: &mut Value, path: &[&str], value: Value) {
    let mut at = config;
    for key in path {
        if !at.is_object() {
            *at = Value::Object(serde_json::Map::new());
        }
        at = &mut at[*key];
    }
    *at = value;
}

/// Creates a container whose probe touches `/ran` and then waits for a
/// signal; returns its id, in `created` state.
fn created(lab: &mut Lab, bundle: &Bundle) -> Result<String, Failure> {
    let config = base_config(&["--touch", "/ran", "--wait-signal", "60"]);
    bundle.write_config(&config)?;
    let id = lab.id("c");
    lab.create(bundle, &id)?.require()?;
    Ok(id)
}

/// Writes `config` into `bundle`, creates container `<tag>` from it and
/// returns its id and the pid its state reports.
fn create_with(
    lab: &mut Lab,
    bundle: &Bundle,
    config: &Value,
    tag: &str,
) -> Result<(String, i64), Failure> {
    bundle.write_config(config)?;
    let id = lab.id(tag);
    lab.create(bundle, &id)?.require()?;
    let pid = lab
        .state(&id)?
        .get("pid")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    Ok((id, pid))
}

/// Like [`created`], then started and seen `running`.
fn running(lab: &mut Lab, bundle: &Bundle) -> Result<String, Failure> {
    let id = created(lab, bundle)?;
    lab.runtime(&["start", &id])?.require()?;
    wait_ran(bundle)?;
    lab.wait_status(&id, "running")?;
    Ok(id)
}

/// Waits (5 s at most) for the probe to create `/ran`: the program runs,
/// with its signals blocked.
fn wait_ran(bundle: &Bundle) -> Outcome {
    for _ in 0..500 {
        if bundle.host_path("/ran").exists() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Err(crate::suite::fail(
        "the program did not run (no /ran 5 s after start)",
    ))
}

/// Like [`running`], then killed and seen `stopped`.
fn stopped(lab: &mut Lab, bundle: &Bundle) -> Result<String, Failure> {
    let id = running(lab, bundle)?;
    lab.runtime(&["kill", &id, "KILL"])?.require()?;
    lab.wait_status(&id, "stopped")?;
    Ok(id)
}

/// The inode of `/proc/self/ns/<name>` of the suite: the runtime
/// namespace of that type.
fn host_namespace(name: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/self/ns/{name}"))
        .ok()
        .map(|m| m.ino())
}

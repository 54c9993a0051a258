//! `config.md` and `config-linux.md`, Linux security modules: the
//! process's AppArmor profile and SELinux label, and the SELinux mount
//! label.
//!
//! Each field has a check of its effect, which runs where the LSM is
//! enabled, and an `.unavailable` twin for hosts without it, where the
//! runtime cannot apply the field and runtime.md wants an error.
#![forbid(unsafe_code)]

use std::fs;

use serde_json::json;

use super::{MUST, UNAPPLIABLE, check, create_fails_unlike, probe_with};
use crate::lab::Lab;
use crate::report::Fallible;
use crate::suite::{Check, Outcome, ensure, ensure_eq, skip};

pub(super) fn checks() -> Vec<Check> {
    vec![
        check(
            MUST,
            "config.process.apparmor",
            "config.md#linux-process",
            "apparmorProfile is the process's AppArmor profile",
            "apparmorProfile (string, OPTIONAL) specifies the name of the AppArmor profile for the process.",
            apparmor,
        ),
        check(
            MUST,
            "config.process.apparmor.unavailable",
            "runtime.md#create",
            "create with an apparmorProfile fails where AppArmor is not enabled",
            UNAPPLIABLE,
            apparmor_unavailable,
        ),
        check(
            MUST,
            "config.process.selinux-label",
            "config.md#linux-process",
            "selinuxLabel is the process's SELinux context",
            "selinuxLabel (string, OPTIONAL) specifies the SELinux label for the process.",
            selinux_label,
        ),
        check(
            MUST,
            "config.process.selinux-label.unavailable",
            "runtime.md#create",
            "create with a selinuxLabel fails where SELinux is not enabled",
            UNAPPLIABLE,
            selinux_label_unavailable,
        ),
        check(
            MUST,
            "linux.mount-label",
            "config-linux.md#mount-label",
            "mountLabel is the context of the container's tmpfs mounts",
            "mountLabel (string, OPTIONAL) will set the Selinux context for the mounts in the container.",
            mount_label,
        ),
        check(
            MUST,
            "linux.mount-label.unavailable",
            "runtime.md#create",
            "create with a mountLabel fails where SELinux is not enabled",
            UNAPPLIABLE,
            mount_label_unavailable,
        ),
    ]
}

/// Where the LSM is off (`enabled` false), create with the field `edit`
/// sets must fail, after the config without it created; else skips.
fn unavailable(
    lab: &mut Lab,
    enabled: bool,
    lsm: &str,
    other: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> Outcome {
    if enabled {
        return Err(skip(format!(
            "{lsm} is enabled here: {other} checks the field"
        )));
    }
    create_fails_unlike(
        lab,
        &format!("{lsm} is not enabled on this host"),
        |_| {},
        edit,
    )
    .map(drop)
}

fn apparmor_enabled() -> bool {
    fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|v| v.trim() == "Y")
}

/// A loaded AppArmor profile in complain mode (it denies the probe
/// nothing), from securityfs.
fn complain_profile() -> Option<String> {
    let profiles = fs::read_to_string("/sys/kernel/security/apparmor/profiles").ok()?;
    profiles
        .lines()
        .find_map(|l| l.strip_suffix(" (complain)").map(str::to_owned))
}

fn apparmor(lab: &mut Lab) -> Outcome {
    if !apparmor_enabled() {
        return Err(skip(
            "AppArmor is not enabled on this host; config.process.apparmor.unavailable checks the error",
        ));
    }
    let profile = complain_profile().ok_or_else(|| {
        skip("no AppArmor profile in complain mode is loaded (see /sys/kernel/security/apparmor/profiles) to run the probe under")
    })?;
    let report = probe_with(lab, &[], |c, _| {
        c["process"]["apparmorProfile"] = json!(profile)
    })?;
    let label = match report.apparmor_label {
        Fallible::Ok(l) => l,
        Fallible::Errno(_) => match report.lsm_label {
            Fallible::Ok(l) => l,
            Fallible::Errno(e) => format!("unreadable (errno {e})"),
        },
    };
    ensure_eq(
        label,
        format!("{profile} (complain)"),
        "AppArmor label of the process",
    )
}

fn apparmor_unavailable(lab: &mut Lab) -> Outcome {
    unavailable(
        lab,
        apparmor_enabled(),
        "AppArmor",
        "config.process.apparmor",
        |c| {
            c["process"]["apparmorProfile"] = json!("conformance-profile");
        },
    )
}

/// The suite's own SELinux context, where SELinux is enabled.
fn selinux_context() -> Option<String> {
    if !std::path::Path::new("/sys/fs/selinux/enforce").exists() {
        return None;
    }
    fs::read_to_string("/proc/self/attr/current")
        .ok()
        .map(|c| c.trim_end_matches(['\0', '\n']).to_owned())
        .filter(|c| !c.is_empty())
}

/// The suite's context with the MCS categories `c17,c42`: a label the
/// suite's domain may give, told apart from the one inherited.
fn other_context(own: &str) -> Option<String> {
    let mut parts: Vec<&str> = own.splitn(4, ':').collect();
    if parts.len() < 4 {
        return None;
    }
    parts.truncate(3);
    Some(format!("{}:s0:c17,c42", parts.join(":")))
}

fn selinux_label(lab: &mut Lab) -> Outcome {
    let own = selinux_context().ok_or_else(|| {
        skip("SELinux is not enabled on this host; config.process.selinux-label.unavailable checks the error")
    })?;
    let label = other_context(&own).ok_or_else(|| {
        skip(format!(
            "the suite's context {own:?} has no MLS/MCS level to vary"
        ))
    })?;
    let report = probe_with(lab, &[], |c, _| c["process"]["selinuxLabel"] = json!(label))?;
    ensure_eq(
        report.lsm_label,
        Fallible::Ok(label),
        "SELinux context of the process",
    )
}

fn selinux_label_unavailable(lab: &mut Lab) -> Outcome {
    unavailable(
        lab,
        selinux_context().is_some(),
        "SELinux",
        "config.process.selinux-label",
        |c| {
            c["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0:c17,c42");
        },
    )
}

fn mount_label(lab: &mut Lab) -> Outcome {
    let own = selinux_context().ok_or_else(|| {
        skip("SELinux is not enabled on this host; linux.mount-label.unavailable checks the error")
    })?;
    let label = "system_u:object_r:tmpfs_t:s0:c17,c42";
    let report = probe_with(lab, &[], |c, _| c["linux"]["mountLabel"] = json!(label))?;
    // The label holds a comma: look in the options joined again.
    let shm = report
        .mounts
        .iter()
        .rfind(|m| m.mount_point == "/dev/shm")
        .map(|m| m.super_options.join(","))
        .unwrap_or_default();
    ensure(
        shm.contains(&format!("context=\"{label}\"")) || shm.contains(&format!("context={label}")),
        format!(
            "/dev/shm (tmpfs) is not mounted with context={label}: {shm:?} (suite context {own})"
        ),
    )
}

fn mount_label_unavailable(lab: &mut Lab) -> Outcome {
    unavailable(
        lab,
        selinux_context().is_some(),
        "SELinux",
        "linux.mount-label",
        |c| {
            c["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0:c17,c42");
        },
    )
}

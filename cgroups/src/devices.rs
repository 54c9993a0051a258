//! Device access rules (`linux.resources.devices`) for the v1 `devices`
//! controller.

use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::error::Result;
use crate::fsutil;

/// The rules runc appends after the bundle's own: `mknod` of any device
/// node, and full access to the devices every container gets (`/dev/null`,
/// `zero`, `full`, `random`, `urandom`, `tty`, `ptmx` and `/dev/pts/*`).
pub fn default_device_rules() -> Vec<LinuxDeviceCgroup> {
    let rule = |typ, major, minor: Option<i64>, access: &str| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(true);
        r.set_typ(Some(typ));
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some(access.to_string()));
        r
    };
    use LinuxDeviceType::{B, C};
    vec![
        rule(C, None, None, "m"),
        rule(B, None, None, "m"),
        rule(C, Some(1), Some(3), "rwm"),
        rule(C, Some(1), Some(8), "rwm"),
        rule(C, Some(1), Some(7), "rwm"),
        rule(C, Some(5), Some(0), "rwm"),
        rule(C, Some(1), Some(5), "rwm"),
        rule(C, Some(1), Some(9), "rwm"),
        rule(C, Some(136), None, "rwm"),
        rule(C, Some(5), Some(2), "rwm"),
    ]
}

/// The line the kernel expects in `devices.allow`/`devices.deny`:
/// `type major:minor access`, with `*` for any number.
pub(crate) fn rule_line(rule: &LinuxDeviceCgroup) -> String {
    let typ = rule.typ().unwrap_or(LinuxDeviceType::A);
    if typ == LinuxDeviceType::A {
        return "a *:* rwm".to_string();
    }
    let num = |n: Option<i64>| match n {
        Some(n) if n >= 0 => n.to_string(),
        _ => "*".to_string(),
    };
    let access = rule.access().as_deref().unwrap_or("rwm");
    format!(
        "{} {}:{} {}",
        typ.as_str(),
        num(rule.major()),
        num(rule.minor()),
        access
    )
}

/// Writes the bundle's rules in order, then the default ones, each to
/// `devices.allow` or `devices.deny`.
pub(crate) fn apply_v1(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let defaults = default_device_rules();
    for rule in rules.iter().chain(defaults.iter()) {
        let file = if rule.allow() {
            "devices.allow"
        } else {
            "devices.deny"
        };
        fsutil::write(dir, file, &rule_line(rule))?;
    }
    Ok(())
}

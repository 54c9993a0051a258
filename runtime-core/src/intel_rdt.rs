//! `linux.intelRdt`: gorae does not place containers in resctrl groups.
//! The spec requires an error when RDT is asked for and no `resctrl`
//! filesystem is mounted in the runtime's mount namespace; with one
//! mounted, gorae refuses too rather than run the container outside the
//! class of service it asked for. Both at validation, before anything is
//! made. Without `intelRdt` no resctrl filesystem is touched.
#![forbid(unsafe_code)]

use oci_spec::runtime::{LinuxIntelRdt, Spec};

use crate::error::{Error, Result};

/// Checks the values the spec constrains, then refuses the field.
pub(crate) fn check(spec: &Spec) -> Result<()> {
    let Some(rdt) = spec.linux().as_ref().and_then(|l| l.intel_rdt().as_ref()) else {
        return Ok(());
    };
    check_values(rdt)?;
    let problem = if resctrl_mounted()? {
        "resctrl groups are not supported by gorae"
    } else {
        "no resctrl filesystem is mounted in the runtime's mount namespace"
    };
    Err(Error::invalid("linux.intelRdt", problem))
}

/// What the spec says the values MUST be: `closID` names one directory
/// (or is `/`, the default class), `memBwSchema` starts with `MB:`, and no
/// schema holds a newline.
fn check_values(rdt: &LinuxIntelRdt) -> Result<()> {
    if let Some(id) = rdt.clos_id().as_deref() {
        let one_dir = !id.is_empty() && id != "." && id != ".." && !id.contains(['/', '\n']);
        if !(one_dir || id == "/") {
            return Err(Error::invalid(
                "linux.intelRdt.closID",
                format!("{id:?} is not a directory name (or \"/\")"),
            ));
        }
    }
    if let Some(schema) = rdt.mem_bw_schema().as_deref() {
        if !schema.starts_with("MB:") {
            return Err(Error::invalid(
                "linux.intelRdt.memBwSchema",
                format!("{schema:?} does not start with \"MB:\""),
            ));
        }
    }
    let schemata = rdt.schemata().as_deref().unwrap_or_default();
    if let Some(i) = schemata.iter().position(|line| line.contains('\n')) {
        return Err(Error::invalid(
            format!("linux.intelRdt.schemata[{i}]"),
            "holds a newline",
        ));
    }
    for (field, value) in [
        ("linux.intelRdt.l3CacheSchema", rdt.l3_cache_schema()),
        ("linux.intelRdt.memBwSchema", rdt.mem_bw_schema()),
    ] {
        if value.as_deref().is_some_and(|v| v.contains('\n')) {
            return Err(Error::invalid(field, "holds a newline"));
        }
    }
    Ok(())
}

/// Whether a `resctrl` filesystem is mounted in our mount namespace.
fn resctrl_mounted() -> Result<bool> {
    let table = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::io("read", "/proc/self/mountinfo", e))?;
    Ok(table.lines().any(|line| {
        line.split_once(" - ")
            .is_some_and(|(_, fs)| fs.split(' ').next() == Some("resctrl"))
    }))
}

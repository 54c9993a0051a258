//! `process.capabilities`: the five sets as bit masks, computed before the
//! clone; what the config leaves out is dropped.

use std::str::FromStr;

use oci_spec::runtime::{Capabilities, LinuxCapabilities};

use crate::sys;

/// The five capability sets as masks of capability numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Sets {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

/// The highest capability number the running kernel knows.
pub(crate) fn last_cap() -> u8 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

impl Sets {
    /// Translates the config's sets. Names the running kernel does not know
    /// are dropped and returned, for the caller to warn about (as runc does:
    /// engines list capabilities newer than the node's kernel).
    pub(crate) fn from_spec(caps: Option<&LinuxCapabilities>) -> (Self, Vec<String>) {
        let last = last_cap();
        let mut unknown = Vec::new();
        let mut mask = |set: Option<&Capabilities>| {
            let mut m = 0u64;
            for cap in set.into_iter().flatten() {
                let name = format!("CAP_{cap}");
                match caps::Capability::from_str(&name) {
                    Ok(c) if c.index() <= last => m |= c.bitmask(),
                    _ => {
                        if !unknown.contains(&name) {
                            unknown.push(name);
                        }
                    }
                }
            }
            m
        };
        let Some(c) = caps else {
            return (Sets::default(), unknown);
        };
        let sets = Sets {
            bounding: mask(c.bounding().as_ref()),
            effective: mask(c.effective().as_ref()),
            permitted: mask(c.permitted().as_ref()),
            inheritable: mask(c.inheritable().as_ref()),
            ambient: mask(c.ambient().as_ref()),
        };
        (sets, unknown)
    }

    /// Drops every capability outside the bounding set from it.
    pub(crate) fn apply_bounding(&self, last: u8) -> Result<(), nix::errno::Errno> {
        for cap in 0..=last {
            if self.bounding & (1 << cap) == 0 {
                sys::prctl(libc::PR_CAPBSET_DROP, u64::from(cap), 0)?;
            }
        }
        Ok(())
    }

    /// Sets effective, permitted and inheritable, then raises the ambient set.
    pub(crate) fn apply(&self, last: u8) -> Result<(), nix::errno::Errno> {
        sys::capset(self.permitted, self.effective, self.inheritable)?;
        for cap in 0..=last {
            if self.ambient & (1 << cap) != 0 {
                sys::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE as u64,
                    u64::from(cap),
                )?;
            }
        }
        Ok(())
    }
}

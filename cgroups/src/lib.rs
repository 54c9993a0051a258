//! cgroup v1, v2 and hybrid support for the gorae OCI runtime.
//!
//! - [`Hierarchy::detect`] reads `/proc/self/mountinfo` and
//!   `/proc/self/cgroup` to learn the host's layout.
//! - [`CgroupPath`] turns `linux.cgroupsPath` into a directory in each
//!   hierarchy, the way runc's cgroupfs driver does.
//! - [`validate`] checks `linux.resources` before anything is created.
//! - [`Cgroup`] creates the container's cgroup, places processes, applies
//!   every `linux.resources` field ([`Cgroup::apply`] also serves `update`),
//!   freezes, kills, reports [`Stats`] and OOM events, and destroys only the
//!   directories it created.
//!
//! On a hybrid host the resource controllers are the v1 ones and the
//! container also gets a directory in the unified hierarchy, so
//! `cgroup.kill`, `cgroup.freeze` and `cgroup.events` work there too.
//!
//! ```
//! use gorae_cgroups::{CgroupPath, check_values};
//! use oci_spec::runtime::LinuxResources;
//!
//! let path = CgroupPath::from_spec(None, "web-1").unwrap();
//! assert_eq!(path, CgroupPath::Absolute("gorae/web-1".into()));
//! assert!(CgroupPath::parse("a/../../etc").is_err());
//!
//! let resources: LinuxResources =
//!     serde_json::from_str(r#"{"cpu": {"cpus": "0-abc"}}"#).unwrap();
//! let err = check_values(&resources).unwrap_err();
//! assert!(err.to_string().contains("cpu.cpus"));
//! ```

#![deny(unsafe_code)]

mod cgroup;
mod devices;
mod error;
mod fsutil;
mod hierarchy;
mod oom;
mod path;
mod stats;
mod sys;
mod v1;
mod v2;
mod validate;

#[cfg(test)]
mod unit_tests;

pub use cgroup::{Cgroup, FreezerKind};
pub use devices::default_device_rules;
pub use error::{Error, Result, Warning};
pub use hierarchy::{Hierarchy, Unified, V1Mount, read_mountinfo};
pub use oom::{OomEvent, OomWatcher};
pub use path::CgroupPath;
pub use stats::{
    Blkio, BlkioEntry, Cpu, CpuSet, CpuUsage, Hugetlb, Memory, MemoryEntry, Pids, Stats, Throttling,
};
pub use v1::V1Dirs;
pub use v2::{blkio_weight_to_io_weight, cpu_shares_to_weight, memory_swap_to_v2};
pub use validate::{check_values, validate, validate_on};

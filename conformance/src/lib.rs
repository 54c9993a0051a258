//! gorae-conformance: an OCI runtime-spec conformance suite that drives any
//! runtime binary with runc's command line (gorae, runc, crun), and
//! `gorae-probe`, the static program its containers run to report what
//! they see.
//!
//! The suite builds each bundle itself (a root filesystem holding the probe
//! and, where a check needs a shell, a static busybox), runs one check per
//! spec statement with a private `--root`, and cleans up after itself.
//!
//! ```
//! use gorae_conformance::report::capability_names;
//! assert_eq!(capability_names(1 << 5), ["CAP_KILL"]);
//! ```
#![deny(missing_docs)]

pub mod checks;
pub mod error;
pub mod lab;
pub mod output;
pub mod probe;
pub mod report;
pub mod suite;
pub mod sys;

pub use error::{Error, Result};

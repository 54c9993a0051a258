//! gorae-core: the OCI container lifecycle as a library.
//!
//! A [`Runtime`] is a state root (`/run/gorae` by default). It creates a
//! container from an OCI bundle (a root filesystem plus `config.json`),
//! starts it, reports its state, signals it and deletes it, exactly as the
//! OCI runtime specification describes and as `runc` behaves.
//!
//! ```no_run
//! use gorae_core::{CreateOptions, Runtime};
//!
//! # fn main() -> Result<(), gorae_core::Error> {
//! let runtime = Runtime::new("/run/gorae");
//! let opts = CreateOptions { bundle: "/path/to/bundle".into(), ..Default::default() };
//! let status = runtime.run("demo", &opts, false)?;
//! println!("the container exited with {status}");
//! # Ok(())
//! # }
//! ```
//!
//! The create path, in the order it runs: [`bundle`] loads and validates the
//! config, `container::create` prepares the plan ([`namespaces`], mounts,
//! process) and clones the init, whose steps are in `init`.

pub mod bundle;
mod capabilities;
mod console;
mod container;
mod devices;
pub mod documents;
mod error;
pub mod hooks;
mod init;
mod masks;
mod mounts;
pub mod namespaces;
mod process;
mod rlimits;
mod scheduling;
mod sealed;
pub mod state;
mod sys;
mod sysctl;

pub use gorae_cgroups::{OomEvent, OomWatcher, Stats};
pub use oci_spec;

pub use container::{CreateOptions, Created, DEFAULT_ROOT, ExecOptions, Execed, Runtime};
pub use error::{Error, Result};
pub use state::{State, Status};

//! gorae-core: the OCI container lifecycle as a library.
#![deny(missing_docs)]
//!
//! A [`Runtime`] is a state root (`/run/gorae` by default). It creates a
//! container from an OCI bundle (a root filesystem plus `config.json`),
//! starts it, reports its state, signals it and deletes it, exactly as the
//! OCI runtime specification describes and as `runc` behaves.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # if !nix::unistd::geteuid().is_root() || !std::path::Path::new("/bin/busybox").exists() {
//! #     println!("skipped: running a container needs root and /bin/busybox");
//! #     return Ok(());
//! # }
//! # let dir = std::env::temp_dir().join(format!("gorae-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(dir.join("bundle/rootfs/bin"))?;
//! # std::fs::copy("/bin/busybox", dir.join("bundle/rootfs/bin/sh"))?;
//! # let mut config = gorae_core::documents::default_config(None);
//! # config["process"]["terminal"] = false.into();
//! # config["process"]["args"] = serde_json::json!(["sh", "-c", "exit 7"]);
//! # std::fs::write(dir.join("bundle/config.json"), config.to_string())?;
//! # let bundle = dir.join("bundle");
//! use gorae_core::{CreateOptions, Runtime};
//!
//! let runtime = Runtime::new(dir.join("state"));
//! let status = runtime.run("doc-example", &CreateOptions::new(&bundle), false)?;
//! assert_eq!(status, 7);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```
//!
//! # Threads
//!
//! gorae-core may be called from a multi-threaded program (an async shim):
//! between `clone3` and `execve` the child only makes system calls on data
//! prepared before the clone, never allocates or takes a lock, so a lock
//! another thread held at the clone cannot hang it. One exception: joining a
//! time namespace, or creating one with offsets, changes the calling
//! thread's namespace for its children and needs a single-threaded caller
//! (the kernel answers `EUSERS` otherwise). `run` and `exec_and_wait` block
//! the signals they forward in the calling thread only.
//!
//! The create path, in the order it runs: [`bundle`] loads and validates the
//! config, `container::create` prepares the plan ([`namespaces`], mounts,
//! process) and clones the init, whose steps are in `init`.

pub mod bundle;
mod capabilities;
mod console;
mod container;
mod copyup;
mod devices;
pub mod documents;
mod error;
mod files;
pub mod hooks;
mod idmap;
mod init;
mod intel_rdt;
mod masks;
mod memory_policy;
mod mounts;
pub mod namespaces;
mod netdevices;
mod netlink;
mod process;
mod rlimits;
mod scheduling;
mod sealed;
pub mod shared_mounts;
pub mod state;
mod sys;
mod sysctl;

pub use gorae_cgroups::{OomEvent, OomWatcher, Stats};
pub use oci_spec;

pub use container::{
    Container, CreateOptions, Created, DEFAULT_ROOT, ExecOptions, Execed, Runtime, WarningSink,
    default_root, rootless,
};
pub use error::{Error, Result};
pub use state::{State, Status};

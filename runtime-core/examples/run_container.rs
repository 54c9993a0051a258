//! Runs the OCI bundle given on the command line to completion and prints
//! the container's exit status.
//!
//! ```text
//! cargo run -p gorae-core --example run_container -- /path/to/bundle [state-root]
//! ```

use std::process::ExitCode;

use gorae_core::{CreateOptions, Runtime};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(bundle) = args.next() else {
        eprintln!("usage: run_container BUNDLE [STATE_ROOT]");
        return ExitCode::from(2);
    };
    let root = args.next().unwrap_or_else(|| "/run/gorae-example".into());
    let runtime = Runtime::new(root).on_warning(|w| eprintln!("warning: {w}"));
    let id = format!("run-container-{}", std::process::id());
    match runtime.run(&id, &CreateOptions::new(bundle), false) {
        Ok(status) => {
            println!("container exited with status {status}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("run_container: {e}");
            ExitCode::FAILURE
        }
    }
}

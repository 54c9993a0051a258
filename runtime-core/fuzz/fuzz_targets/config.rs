//! A bundle's `config.json` as `gorae create` takes it: parsed and checked
//! by `Bundle::from_config`, then every other check `create` makes before it
//! changes anything (`Bundle::check`: namespaces, mounts, devices, hooks,
//! process, sysctl, seccomp compilation, ...). Nothing may panic, hang or
//! allocate without bound, and every error must print.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use gorae_core::bundle::Bundle;
use libfuzzer_sys::fuzz_target;

/// A bundle directory with an empty `rootfs`, under this crate's (ignored)
/// `target/`, made by the first run and reused.
fn bundle_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-bundle");
        if let Err(e) = std::fs::create_dir_all(dir.join("rootfs")) {
            panic!("cannot make the fuzz bundle {}: {e}", dir.display());
        }
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let bundle = match Bundle::from_config(bundle_dir(), data) {
        Ok(bundle) => bundle,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    match bundle.check() {
        Ok(warnings) => assert!(warnings.iter().all(|w| !w.is_empty())),
        Err(e) => {
            let _ = e.to_string();
        }
    }
});

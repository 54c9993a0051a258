//! A busybox bundle for the library's own tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

/// True when the tests can make containers here (root and a static busybox).
pub fn can_run_containers() -> bool {
    let ok = nix::unistd::geteuid().is_root() && Path::new("/bin/busybox").exists();
    if !ok {
        println!("skipped: needs root and /bin/busybox (Debian's busybox-static)");
    }
    ok
}

/// A fresh directory for one test under target/tmp, removed by the caller.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("gorae-tests")
        .join(format!("core-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A bundle at `dir` running `args` in a busybox rootfs, with a pid
/// namespace or not.
pub fn bundle(dir: &Path, args: &[&str], pid_namespace: bool) -> PathBuf {
    let bin = dir.join("rootfs/bin");
    std::fs::create_dir_all(&bin).unwrap();
    if std::fs::hard_link("/bin/busybox", bin.join("busybox")).is_err() {
        std::fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
    }
    for applet in ["sh", "sleep", "true"] {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
    }
    let mut config = gorae_core::documents::default_config(None);
    config["process"]["terminal"] = false.into();
    config["process"]["args"] = serde_json::json!(args);
    config["root"]["readonly"] = false.into();
    if !pid_namespace {
        config["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "pid");
    }
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_vec(&config).unwrap(),
    )
    .unwrap();
    dir.to_owned()
}

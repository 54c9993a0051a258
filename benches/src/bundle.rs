//! The OCI bundles every runtime runs: one busybox root filesystem (a static
//! `busybox` plus a symlink per applet) shared, read-only, by a bundle whose
//! process is `/bin/true` and one whose process sleeps (the target of
//! `exec`).
#![forbid(unsafe_code)]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::error::{Error, Result};

/// The namespaces every container gets (OCI type names).
pub const NAMESPACES: [&str; 5] = ["pid", "network", "ipc", "uts", "mount"];

/// The `ociVersion` written into the configs: crun 1.8.1 refuses anything
/// newer ("unknown version specified").
pub const OCI_VERSION: &str = "1.0.2";

/// The bundles of one bench run.
#[derive(Debug, Clone)]
pub struct Bundles {
    /// Runs `/bin/true`; its `rootfs/` is the shared root filesystem.
    pub true_bundle: PathBuf,
    /// Runs `sleep` for an hour: the running container `exec` joins.
    pub sleep_bundle: PathBuf,
}

/// Builds the root filesystem and both bundles under `dir`.
pub fn build(dir: &Path, busybox: &Path) -> Result<Bundles> {
    let true_bundle = dir.join("bundle-true");
    let sleep_bundle = dir.join("bundle-sleep");
    let rootfs = true_bundle.join("rootfs");
    build_rootfs(&rootfs, busybox)?;
    write_config(&true_bundle, &json!("rootfs"), &["/bin/true"])?;
    fs::create_dir_all(&sleep_bundle).map_err(|e| Error::io("create", &sleep_bundle, e))?;
    let shared_root = json!(rootfs.to_string_lossy());
    write_config(&sleep_bundle, &shared_root, &["/bin/sleep", "3600"])?;
    Ok(Bundles {
        true_bundle,
        sleep_bundle,
    })
}

/// A busybox root filesystem: `/bin/busybox`, its applets as symlinks, and
/// the mount points of the config.
fn build_rootfs(rootfs: &Path, busybox: &Path) -> Result<()> {
    for sub in ["bin", "proc", "sys", "dev", "tmp", "etc"] {
        let path = rootfs.join(sub);
        fs::create_dir_all(&path).map_err(|e| Error::io("create", &path, e))?;
    }
    let target = rootfs.join("bin/busybox");
    fs::copy(busybox, &target).map_err(|e| Error::io("copy busybox to", &target, e))?;
    for applet in applets(busybox)? {
        let link = rootfs.join("bin").join(&applet);
        symlink("busybox", &link).map_err(|e| Error::io("symlink", &link, e))?;
    }
    Ok(())
}

/// The applet names `busybox --list` prints, without `busybox` itself.
fn applets(busybox: &Path) -> Result<Vec<String>> {
    let out = Command::new(busybox)
        .arg("--list")
        .output()
        .map_err(|source| Error::Spawn {
            program: busybox.to_path_buf(),
            source,
        })?;
    let list = String::from_utf8_lossy(&out.stdout);
    let names: Vec<String> = list
        .lines()
        .map(str::trim)
        .filter(|name| !name.is_empty() && *name != "busybox" && !name.contains('/'))
        .map(str::to_owned)
        .collect();
    if !names.iter().any(|n| n == "true") || !names.iter().any(|n| n == "sleep") {
        return Err(Error::Setup(format!(
            "{} --list names no `true` or `sleep` applet",
            busybox.display()
        )));
    }
    Ok(names)
}

/// Writes `dir/config.json` for a root at `root` running `args`.
fn write_config(dir: &Path, root: &Value, args: &[&str]) -> Result<()> {
    let path = dir.join("config.json");
    let text = serde_json::to_string_pretty(&config(root, args))?;
    fs::write(&path, text).map_err(|e| Error::io("write", &path, e))
}

/// The config: root user, the five namespaces, the usual mounts, a
/// read-only root shared by concurrent containers. No capabilities and no
/// cgroup mount: every runtime does the same, minimal work.
fn config(root: &Value, args: &[&str]) -> Value {
    let namespaces: Vec<Value> = NAMESPACES.iter().map(|t| json!({"type": t})).collect();
    json!({
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/bin"],
            "cwd": "/"
        },
        "root": {"path": root, "readonly": true},
        "hostname": "gorae-bench",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]}
        ],
        "linux": {"namespaces": namespaces}
    })
}

/// The root filesystem and process arguments of the bundle at `dir`, as the
/// floor needs them: `root.path` (relative to the bundle or absolute) and
/// `process.args`.
pub fn root_and_args(dir: &Path) -> Result<(PathBuf, Vec<String>)> {
    let path = dir.join("config.json");
    let text = fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
    let value: Value = serde_json::from_str(&text)?;
    let bad = |problem| Error::Bundle {
        path: path.clone(),
        problem,
    };
    let root = value["root"]["path"]
        .as_str()
        .ok_or_else(|| bad("root.path is not a string"))?;
    let args: Vec<String> = value["process"]["args"]
        .as_array()
        .ok_or_else(|| bad("process.args is not an array"))?
        .iter()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect();
    if args.is_empty() {
        return Err(bad("process.args is empty"));
    }
    Ok((dir.join(root), args))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn config_has_the_five_namespaces_and_crun_s_oci_version() {
        let value = config(&json!("rootfs"), &["/bin/true"]);
        assert_eq!(value["ociVersion"], "1.0.2");
        let types: Vec<&str> = value["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, NAMESPACES);
    }
}

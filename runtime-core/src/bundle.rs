//! Loading an OCI bundle: `config.json` parsed and every field gorae uses
//! checked before anything on the system is touched.

use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Process, Spec};

use crate::error::{Error, Result};

/// The name of the configuration file inside a bundle.
pub const CONFIG_FILE: &str = "config.json";

/// The largest `config.json` gorae reads: 16 MiB. A container's arguments
/// and environment must fit the kernel's `execve` limit (a quarter of the
/// stack limit, 2 MiB by default), engines cap annotations far lower
/// (Kubernetes: 256 KiB in all) and a whole seccomp profile takes tens of
/// KiB: no engine writes a config near this size. A larger one is refused
/// before it is read, instead of being parsed into several times its size
/// in memory.
pub const CONFIG_LIMIT: u64 = 16 << 20;

/// A loaded and validated bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The bundle directory, absolute.
    pub dir: PathBuf,
    /// The root filesystem, absolute.
    pub rootfs: PathBuf,
    /// The parsed configuration.
    pub spec: Spec,
    /// Capability names in `process.capabilities` that gorae does not know
    /// (newer than it, or misspelt): dropped, as runc drops them, with a
    /// warning.
    pub dropped_caps: Vec<String>,
}

impl Bundle {
    /// Reads `<dir>/config.json` and validates everything that can be
    /// validated without touching the system. The config must be a regular
    /// file (symlinks are followed, as runc does) of at most
    /// [`CONFIG_LIMIT`] bytes: a FIFO, a device or a directory is refused
    /// before it is opened for reading.
    pub fn load(dir: &Path) -> Result<Self> {
        let dir = std::path::absolute(dir).map_err(|e| Error::io("resolve bundle", dir, e))?;
        let bytes = crate::files::read_regular(&dir.join(CONFIG_FILE), CONFIG_LIMIT)?;
        Self::from_config(&dir, &bytes)
    }

    /// Parses and validates the bytes of a `config.json` for the bundle
    /// directory `dir`, as [`Bundle::load`] does with the file, for a caller
    /// that holds the config in memory. `root.path` is resolved against
    /// `dir` (made absolute) and must be a directory.
    ///
    /// ```
    /// use gorae_core::bundle::Bundle;
    ///
    /// let dir = std::env::temp_dir().join(format!("gorae-doc-bundle-{}", std::process::id()));
    /// std::fs::create_dir_all(dir.join("rootfs"))?;
    /// let config = gorae_core::documents::default_config(None).to_string();
    /// let bundle = Bundle::from_config(&dir, config.as_bytes())?;
    /// assert_eq!(bundle.rootfs, dir.join("rootfs"));
    /// let err = Bundle::from_config(&dir, br#"{"ociVersion": 1}"#).unwrap_err();
    /// assert!(err.to_string().contains("expected a string"));
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_config(dir: &Path, bytes: &[u8]) -> Result<Self> {
        let dir = std::path::absolute(dir).map_err(|e| Error::io("resolve bundle", dir, e))?;
        let config = dir.join(CONFIG_FILE);
        let mut value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|source| Error::ConfigParse {
                path: config.clone(),
                source,
            })?;
        let dropped_caps = drop_unknown_capabilities(&mut value);
        spell_scheduler_flags_as_oci_spec(&mut value);
        let spec: Spec =
            serde_path_to_error::deserialize(value).map_err(|e| Error::ConfigField {
                path: config.clone(),
                field: e.path().to_string(),
                source: e.into_inner(),
            })?;
        check_version(spec.version())?;
        let root = spec
            .root()
            .as_ref()
            .ok_or_else(|| Error::invalid("root", "missing"))?;
        let rootfs = dir.join(root.path());
        match fs::metadata(&rootfs) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::invalid(
                    "root.path",
                    format!("{} is not a directory", rootfs.display()),
                ));
            }
            Err(e) => return Err(Error::io("stat root.path", &rootfs, e)),
        }
        let process = spec
            .process()
            .as_ref()
            .ok_or_else(|| Error::invalid("process", "missing"))?;
        check_process(process)?;
        check_annotations_and_mount_label(&spec)?;
        if spec.hostname().is_some() || spec.domainname().is_some() {
            crate::namespaces::require_listed(
                &spec,
                oci_spec::runtime::LinuxNamespaceType::Uts,
                "hostname",
            )?;
        }
        Ok(Bundle {
            dir,
            rootfs,
            spec,
            dropped_caps,
        })
    }

    /// Makes every other check `create` makes on the config before it
    /// changes anything: namespaces (the files of namespaces to join are
    /// opened, without side effects, and their type checked), id mappings,
    /// mounts (bind sources must exist), devices, hooks, the process
    /// (arguments, capabilities, rlimits, scheduling, I/O priority), sysctl,
    /// masked paths, the memory policy, `linux.intelRdt` (refused) and
    /// `linux.netDevices` (each must exist on the host, which is asked over
    /// rtnetlink); the seccomp profile is compiled. Returns the
    /// warnings `create` would give. Only the cgroup is left to `create`,
    /// which checks it against the host's hierarchy for the container's id.
    ///
    /// ```
    /// use gorae_core::bundle::Bundle;
    ///
    /// let dir = std::env::temp_dir().join(format!("gorae-doc-check-{}", std::process::id()));
    /// std::fs::create_dir_all(dir.join("rootfs"))?;
    /// let mut config = gorae_core::documents::default_config(None);
    /// config["linux"]["sysctl"] = serde_json::json!({"kernel.panic": "1"});
    /// let bundle = Bundle::from_config(&dir, config.to_string().as_bytes())?;
    /// let err = bundle.check().unwrap_err();
    /// assert!(err.to_string().contains("linux.sysctl.kernel.panic"));
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check(&self) -> Result<Vec<String>> {
        crate::container::prepare(self).map(|(_, warnings)| warnings)
    }
}

/// The spec is versioned semantically; gorae runs major version 1.
fn check_version(version: &str) -> Result<()> {
    if version.is_empty() {
        return Err(Error::invalid("ociVersion", "missing"));
    }
    let mut parts = version.splitn(3, '.');
    let major = parts.next().unwrap_or_default();
    let minor = parts.next();
    if major != "1" || minor.is_none_or(|m| m.parse::<u32>().is_err()) {
        return Err(Error::invalid(
            "ociVersion",
            format!("{version:?} is not a 1.x version"),
        ));
    }
    Ok(())
}

/// Checks the parts of `process` every container process needs.
pub(crate) fn check_process(process: &Process) -> Result<()> {
    let args = process.args().as_deref().unwrap_or_default();
    if args.first().is_none_or(|a| a.is_empty()) {
        return Err(Error::invalid("process.args", "empty"));
    }
    if !process.cwd().is_absolute() {
        return Err(Error::invalid(
            "process.cwd",
            format!("{} is not absolute", process.cwd().display()),
        ));
    }
    for (i, var) in process
        .env()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        if !var.contains('=') || var.starts_with('=') {
            return Err(Error::invalid(
                format!("process.env[{i}]"),
                format!("{var:?} is not NAME=value"),
            ));
        }
    }
    if process
        .apparmor_profile()
        .as_deref()
        .is_some_and(|p| !p.is_empty())
        && !apparmor_enabled()
    {
        return Err(Error::invalid(
            "process.apparmorProfile",
            "AppArmor is not enabled on this host",
        ));
    }
    if process
        .selinux_label()
        .as_deref()
        .is_some_and(|l| !l.is_empty())
        && !selinux_enabled()
    {
        return Err(Error::invalid(
            "process.selinuxLabel",
            "SELinux is not enabled on this host",
        ));
    }
    Ok(())
}

/// Labels gorae cannot apply are errors (runtime.md: a property the runtime
/// cannot apply as specified), as runc does when the LSM is absent.
fn apparmor_enabled() -> bool {
    fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|v| v.starts_with('Y'))
}

fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// `annotations` keys must not be empty; `linux.mountLabel` needs SELinux.
fn check_annotations_and_mount_label(spec: &Spec) -> Result<()> {
    if spec
        .annotations()
        .as_ref()
        .is_some_and(|a| a.keys().any(String::is_empty))
    {
        return Err(Error::invalid("annotations", "a key is empty"));
    }
    let label = spec
        .linux()
        .as_ref()
        .and_then(|l| l.mount_label().as_deref());
    if label.is_some_and(|l| !l.is_empty()) && !selinux_enabled() {
        return Err(Error::invalid(
            "linux.mountLabel",
            "SELinux is not enabled on this host",
        ));
    }
    Ok(())
}

/// Reads a process document (`exec --process`): a regular file of at
/// most [`CONFIG_LIMIT`] bytes holding what `config.json` holds under
/// `process`, parsed as `create` parses that (capabilities unknown to
/// gorae dropped and returned, the spec's scheduler flag names, errors
/// naming the field).
pub fn load_process(path: &Path) -> Result<(oci_spec::runtime::Process, Vec<String>)> {
    let bytes = crate::files::read_regular(path, CONFIG_LIMIT)?;
    let parsed: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|source| Error::ConfigParse {
            path: path.to_owned(),
            source,
        })?;
    // Under `process`, so that the config's fix-ups apply as they are.
    let mut value = serde_json::json!({ "process": parsed });
    let dropped_caps = drop_unknown_capabilities(&mut value);
    spell_scheduler_flags_as_oci_spec(&mut value);
    let process = value
        .get_mut("process")
        .map(serde_json::Value::take)
        .unwrap_or_default();
    let process = serde_path_to_error::deserialize(process).map_err(|e| Error::ConfigField {
        path: path.to_owned(),
        field: e.path().to_string(),
        source: e.into_inner(),
    })?;
    Ok((process, dropped_caps))
}

/// oci-spec 0.10 spells two `process.scheduler.flags` unlike the spec
/// (`SCHED_RESET_ON_FORK`, `SCHED_FLAG_D_L_OVERRUN`): the spec's names
/// are rewritten to those before parsing.
fn spell_scheduler_flags_as_oci_spec(config: &mut serde_json::Value) {
    let Some(flags) = config
        .pointer_mut("/process/scheduler/flags")
        .and_then(|f| f.as_array_mut())
    else {
        return;
    };
    for flag in flags.iter_mut() {
        let crate_name = match flag.as_str() {
            Some("SCHED_FLAG_RESET_ON_FORK") => "SCHED_RESET_ON_FORK",
            Some("SCHED_FLAG_DL_OVERRUN") => "SCHED_FLAG_D_L_OVERRUN",
            _ => continue,
        };
        *flag = serde_json::Value::String(crate_name.to_owned());
    }
}

/// Removes from `process.capabilities` the names that do not parse as a
/// capability, returning them: engines pass capabilities newer than the
/// node's kernel (and than gorae), which runc drops with a warning.
fn drop_unknown_capabilities(config: &mut serde_json::Value) -> Vec<String> {
    let mut dropped = Vec::new();
    let Some(sets) = config
        .pointer_mut("/process/capabilities")
        .and_then(|c| c.as_object_mut())
    else {
        return dropped;
    };
    for names in sets.values_mut().filter_map(|v| v.as_array_mut()) {
        names.retain(|name| {
            let known =
                serde_json::from_value::<oci_spec::runtime::Capability>(name.clone()).is_ok();
            if !known {
                let name = name.as_str().unwrap_or("(not a string)").to_owned();
                if !dropped.contains(&name) {
                    dropped.push(name);
                }
            }
            known
        });
    }
    dropped
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_configs_gorae_spec_writes_pass_every_check() {
        let dir = std::env::temp_dir().join(format!("gorae-check-{}", std::process::id()));
        fs::create_dir_all(dir.join("rootfs")).unwrap();
        for rootless in [None, Some((1000, 1000))] {
            let config = crate::documents::default_config(rootless).to_string();
            let bundle = Bundle::from_config(&dir, config.as_bytes()).unwrap();
            assert_eq!(bundle.check().unwrap(), Vec::<String>::new());
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_major_version_one_is_accepted() {
        assert!(check_version("1.0.2-dev").is_ok());
        assert!(check_version("1.2.0").is_ok());
        for bad in ["", "2.0.0", "0.9", "1", "v1.0.0", "1.x"] {
            assert!(check_version(bad).is_err(), "{bad} accepted");
        }
    }
}

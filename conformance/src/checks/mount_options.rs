//! `config.md`, Linux mount options: the option strings of the spec's
//! table that the `config` module leaves out, each seen in the probe's
//! `/proc/self/mountinfo` (per-mount options, superblock options and
//! propagation), plus relative bind sources and `idmap` without a user
//! namespace.
#![forbid(unsafe_code)]

use std::fs;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use serde_json::{Value, json};

use super::config::{host_dir, push_mounts};
use super::{MUST, SHOULD, check, create_fails_unlike, probe_with};
use crate::lab::Lab;
use crate::report::{Mount, Report};
use crate::suite::{Check, Failure, Outcome, ensure, fail, skip};

pub(super) fn checks() -> Vec<Check> {
    vec![
        check(
            MUST,
            "config.mounts.bind-relative-source",
            "config.md#mounts",
            "a bind mount source relative to the bundle is used",
            "source (string, OPTIONAL) A device name, but can also be a file or directory name for bind mounts or a dummy. Path values for bind mounts are either absolute or relative to the bundle.",
            bind_relative_source,
        ),
        check(
            MUST,
            "config.mounts.options.atime",
            "config.md#linux-mount-options",
            "noatime, nodiratime, relatime and strictatime set the mount's access-time flags",
            "Runtimes MUST/SHOULD/MAY implement the following option strings for Linux: ... nodiratime | MUST ... noatime | MUST ... relatime | MUST ... strictatime | MUST",
            options_atime,
        ),
        check(
            MUST,
            "config.mounts.options.sync",
            "config.md#linux-mount-options",
            "sync, dirsync and lazytime set the superblock flags",
            "Runtimes MUST/SHOULD/MAY implement the following option strings for Linux: ... dirsync | MUST ... lazytime | MUST ... sync | MUST",
            options_sync,
        ),
        check(
            MUST,
            "config.mounts.options.clear",
            "config.md#linux-mount-options",
            "suid, dev, exec, rw, atime, diratime, async, nolazytime, nostrictatime undo the options before them",
            "Runtimes MUST/SHOULD/MAY implement the following option strings for Linux: ... async | MUST ... atime | MUST ... dev | MUST ... diratime | MUST ... exec | MUST ... nolazytime | MUST ... norelatime | MUST ... nostrictatime | MUST ... rw | MUST ... suid | MUST",
            options_clear,
        ),
        check(
            MUST,
            "config.mounts.options.no-visible-effect",
            "config.md#linux-mount-options",
            "defaults, silent, loud, iversion and noiversion are accepted and leave a plain rw mount",
            "Runtimes MUST/SHOULD/MAY implement the following option strings for Linux: ... defaults | MUST ... iversion | MUST ... loud | MUST ... noiversion | MUST ... silent | MUST",
            options_no_visible_effect,
        ),
        check(
            MUST,
            "config.mounts.options.remount",
            "config.md#linux-mount-options",
            "a remount entry changes the flags of the mount already on its destination",
            "Runtimes MUST/SHOULD/MAY implement the following option strings for Linux: ... remount | MUST",
            options_remount,
        ),
        check(
            MUST,
            "config.mounts.options.propagation",
            "config.md#linux-mount-options",
            "private, shared, unbindable and their recursive forms set a bind mount's propagation",
            "Runtimes MUST/SHOULD/MAY implement the following option strings for Linux: ... private | MUST ... rprivate | MUST ... rshared | MUST ... runbindable | MUST ... shared | MUST ... unbindable | MUST",
            options_propagation,
        ),
        check(
            MUST,
            "config.mounts.options.slave",
            "config.md#linux-mount-options",
            "slave and rslave make a bind mount of a shared mount its slave",
            "Runtimes MUST/SHOULD/MAY implement the following option strings for Linux: ... rslave | MUST ... slave | MUST",
            options_slave,
        ),
        check(
            SHOULD,
            "config.mounts.options.recursive",
            "config.md#linux-mount-options",
            "the recursive r* options apply to the submounts of an rbind mount",
            "Runtimes MUST/SHOULD/MAY implement the following option strings for Linux: ... rdev | SHOULD ... rdiratime | SHOULD ... rexec | SHOULD ... rnoatime | SHOULD ... rnodiratime | SHOULD ... rnoexec | SHOULD ... rnosuid | SHOULD ... rnosymfollow | SHOULD ... rrelatime | SHOULD ... rro | SHOULD ... rrw | SHOULD ... rsuid | SHOULD ... rsymfollow | SHOULD",
            options_recursive,
        ),
        check(
            SHOULD,
            "config.mounts.options.nosymfollow",
            "config.md#linux-mount-options",
            "nosymfollow sets the mount's nosymfollow flag",
            "Runtimes MUST/SHOULD/MAY implement the following option strings for Linux: ... nosymfollow | SHOULD",
            options_nosymfollow,
        ),
        check(
            SHOULD,
            "config.mounts.options.data",
            "config.md#linux-mount-options",
            "options the table does not list reach the filesystem as mount data",
            "Runtimes SHOULD treat unknown options as filesystem-specific ones) and pass those as a comma-separated string to the fifth (const void *data) argument of mount(2).",
            options_data,
        ),
        check(
            MUST,
            "config.mounts.idmap.no-userns",
            "config.md#linux-mount-options",
            "create with an idmap mount without mappings nor user namespace fails",
            "idmap | SHOULD | Indicates that the mount MUST have an idmapping applied. ... If there are no uidMappings and gidMappings specified and the container isn't using user namespaces, an error MUST be returned.",
            idmap_no_userns,
        ),
    ]
}

/// Runs the probe with tmpfs mounts at `/mnt/<name>` with the options of
/// each `(name, options)`, and returns the report.
fn tmpfs_probe(lab: &mut Lab, mounts: &[(&str, &[&str])]) -> Result<Report, Failure> {
    let list: Vec<Value> = mounts
        .iter()
        .map(|(name, options)| {
            json!({"destination": format!("/mnt/{name}"), "type": "tmpfs", "source": "tmpfs", "options": options})
        })
        .collect();
    probe_with(lab, &[], |c, _| push_mounts(c, Value::Array(list)))
}

/// The topmost mount on `path` in the report.
fn mount_at<'r>(report: &'r Report, path: &str) -> Result<&'r Mount, Failure> {
    report
        .mounts
        .iter()
        .rfind(|m| m.mount_point == path)
        .ok_or_else(|| fail(format!("nothing is mounted on {path}")))
}

/// Fails unless the per-mount options of `path` have every one of `has`
/// and none of `lacks`.
fn options_are(report: &Report, path: &str, has: &[&str], lacks: &[&str]) -> Outcome {
    let m = mount_at(report, path)?;
    for want in has {
        ensure(
            m.options.iter().any(|o| o == want),
            format!("{path} options {:?} lack {want}", m.options),
        )?;
    }
    for unwanted in lacks {
        ensure(
            !m.options.iter().any(|o| o == unwanted),
            format!("{path} options {:?} have {unwanted}", m.options),
        )?;
    }
    Ok(())
}

/// Like [`options_are`], for the superblock options of `path`.
fn superblock_is(report: &Report, path: &str, has: &[&str], lacks: &[&str]) -> Outcome {
    let m = mount_at(report, path)?;
    for want in has {
        ensure(
            m.super_options.iter().any(|o| o == want),
            format!(
                "{path} superblock options {:?} lack {want}",
                m.super_options
            ),
        )?;
    }
    for unwanted in lacks {
        ensure(
            !m.super_options.iter().any(|o| o == unwanted),
            format!(
                "{path} superblock options {:?} have {unwanted}",
                m.super_options
            ),
        )?;
    }
    Ok(())
}

fn bind_relative_source(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &["--check-path", "/mnt/file"], |c, b| {
        let dir = b.dir.join("relative-data");
        let _ = fs::create_dir_all(&dir).and_then(|()| fs::write(dir.join("file"), b"relative"));
        push_mounts(
            c,
            json!([{"destination": "/mnt", "type": "bind", "source": "relative-data", "options": ["bind"]}]),
        );
    })?;
    let read = report
        .paths
        .iter()
        .find(|p| p.path == "/mnt/file")
        .map(|p| p.read.clone());
    ensure(
        read == Some(crate::report::Fallible::Ok(8)),
        format!("/mnt/file (bundle/relative-data/file, 8 bytes) read as {read:?}"),
    )
}

fn options_atime(lab: &mut Lab) -> Outcome {
    let report = tmpfs_probe(
        lab,
        &[
            ("noatime", &["noatime"]),
            ("nodiratime", &["nodiratime"]),
            ("relatime", &["relatime"]),
            ("strictatime", &["strictatime"]),
        ],
    )?;
    options_are(&report, "/mnt/noatime", &["noatime"], &["relatime"])?;
    options_are(&report, "/mnt/nodiratime", &["nodiratime"], &[])?;
    options_are(&report, "/mnt/relatime", &["relatime"], &["noatime"])?;
    options_are(&report, "/mnt/strictatime", &[], &["relatime", "noatime"])
}

fn options_sync(lab: &mut Lab) -> Outcome {
    let report = tmpfs_probe(lab, &[("sync", &["sync", "dirsync", "lazytime"])])?;
    superblock_is(&report, "/mnt/sync", &["sync", "dirsync", "lazytime"], &[])
}

fn options_clear(lab: &mut Lab) -> Outcome {
    let report = tmpfs_probe(
        lab,
        &[(
            "clear",
            &[
                "nosuid",
                "suid",
                "nodev",
                "dev",
                "noexec",
                "exec",
                "ro",
                "rw",
                "noatime",
                "atime",
                "nodiratime",
                "diratime",
                "sync",
                "async",
                "lazytime",
                "nolazytime",
                "relatime",
                "norelatime",
                "strictatime",
                "nostrictatime",
            ],
        )],
    )?;
    options_are(
        &report,
        "/mnt/clear",
        &["rw"],
        &["nosuid", "nodev", "noexec", "ro", "noatime", "nodiratime"],
    )?;
    superblock_is(&report, "/mnt/clear", &[], &["sync", "lazytime"])
}

fn options_no_visible_effect(lab: &mut Lab) -> Outcome {
    let report = tmpfs_probe(
        lab,
        &[(
            "plain",
            &["defaults", "silent", "loud", "iversion", "noiversion"],
        )],
    )?;
    options_are(
        &report,
        "/mnt/plain",
        &["rw"],
        &["nosuid", "nodev", "noexec", "ro"],
    )
}

fn options_remount(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &[], |c, _| {
        push_mounts(
            c,
            json!([
                {"destination": "/mnt", "type": "tmpfs", "source": "remounted", "options": ["nosuid"]},
                {"destination": "/mnt", "type": "tmpfs", "source": "remounted", "options": ["remount", "ro", "nosuid"]}
            ]),
        );
    })?;
    let on_mnt = report
        .mounts
        .iter()
        .filter(|m| m.mount_point == "/mnt")
        .count();
    ensure(
        on_mnt == 1,
        format!("{on_mnt} mounts on /mnt: the remount entry mounted anew"),
    )?;
    options_are(&report, "/mnt", &["ro", "nosuid"], &["rw"])
}

/// Bind mounts of a host directory at `/mnt/<option>`, one per option.
fn bind_probe(lab: &mut Lab, source: &str, options: &[&str]) -> Result<Report, Failure> {
    let list: Vec<Value> = options
        .iter()
        .map(|o| json!({"destination": format!("/mnt/{o}"), "type": "bind", "source": source, "options": ["rbind", o]}))
        .collect();
    probe_with(lab, &[], |c, _| push_mounts(c, Value::Array(list)))
}

fn propagation_of(report: &Report, path: &str) -> Result<Vec<String>, Failure> {
    mount_at(report, path).map(|m| m.propagation.clone())
}

fn options_propagation(lab: &mut Lab) -> Outcome {
    let source = host_dir(lab)?;
    let options = [
        "private",
        "rprivate",
        "shared",
        "rshared",
        "unbindable",
        "runbindable",
    ];
    let report = bind_probe(lab, &source, &options)?;
    for option in options {
        let path = format!("/mnt/{option}");
        let got = propagation_of(&report, &path)?;
        let ok = match option.trim_start_matches('r') {
            "private" => got.is_empty(),
            "shared" => got.iter().any(|p| p.starts_with("shared:")),
            _ => got.iter().any(|p| p == "unbindable"),
        };
        ensure(
            ok,
            format!("{path} (option {option}) has propagation {got:?}"),
        )?;
    }
    Ok(())
}

/// A tmpfs the check mounts on the host (under the lab), unmounted on
/// drop; it holds `file` (5 bytes).
struct HostMount(PathBuf);

impl HostMount {
    fn new(at: &Path, flags: MsFlags) -> Result<Self, Failure> {
        fs::create_dir_all(at).map_err(|e| fail(format!("mkdir {}: {e}", at.display())))?;
        mount(
            Some("conformance"),
            at,
            Some("tmpfs"),
            flags,
            Some("size=1m"),
        )
        .map_err(|e| skip(format!("cannot mount a tmpfs on {}: {e}", at.display())))?;
        let guard = HostMount(at.to_path_buf());
        fs::write(at.join("file"), b"hello").map_err(|e| fail(format!("write: {e}")))?;
        Ok(guard)
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = umount2(&self.0, MntFlags::MNT_DETACH);
    }
}

fn options_slave(lab: &mut Lab) -> Outcome {
    let source = lab.dir.join("shared-source");
    let host = HostMount::new(&source, MsFlags::empty())?;
    mount(
        None::<&str>,
        &host.0,
        None::<&str>,
        MsFlags::MS_SHARED,
        None::<&str>,
    )
    .map_err(|e| skip(format!("cannot make {} shared: {e}", source.display())))?;
    let report = bind_probe(lab, &source.display().to_string(), &["slave", "rslave"])?;
    for option in ["slave", "rslave"] {
        let path = format!("/mnt/{option}");
        let got = propagation_of(&report, &path)?;
        ensure(
            got.iter().any(|p| p.starts_with("master:"))
                && !got.iter().any(|p| p.starts_with("shared:")),
            format!("{path} (option {option}, source a shared mount) has propagation {got:?}"),
        )?;
    }
    Ok(())
}

fn options_recursive(lab: &mut Lab) -> Outcome {
    let source = lab.dir.join("rbind-source");
    fs::create_dir_all(source.join("sub")).map_err(|e| fail(format!("mkdir: {e}")))?;
    let flags = MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV
        | MsFlags::MS_NOEXEC
        | MsFlags::MS_NODIRATIME
        | MsFlags::MS_STRICTATIME;
    let _sub = HostMount::new(&source.join("sub"), flags)?;
    let src = source.display().to_string();
    let set = [
        "rbind",
        "rro",
        "rnosuid",
        "rnodev",
        "rnoexec",
        "rnoatime",
        "rnodiratime",
        "rnosymfollow",
    ];
    let clear = [
        "rbind",
        "rrw",
        "rsuid",
        "rdev",
        "rexec",
        "rrelatime",
        "rdiratime",
        "rsymfollow",
    ];
    let report = probe_with(lab, &[], |c, _| {
        push_mounts(
            c,
            json!([
                {"destination": "/mnt/set", "type": "bind", "source": src, "options": set},
                {"destination": "/mnt/clear", "type": "bind", "source": src, "options": clear}
            ]),
        );
    })?;
    options_are(
        &report,
        "/mnt/set/sub",
        &[
            "ro",
            "nosuid",
            "nodev",
            "noexec",
            "noatime",
            "nodiratime",
            "nosymfollow",
        ],
        &[],
    )?;
    options_are(
        &report,
        "/mnt/clear/sub",
        &["rw", "relatime"],
        &["nosuid", "nodev", "noexec", "nodiratime", "nosymfollow"],
    )
}

fn options_nosymfollow(lab: &mut Lab) -> Outcome {
    let report = tmpfs_probe(lab, &[("nosymfollow", &["nosymfollow"])])?;
    options_are(&report, "/mnt/nosymfollow", &["nosymfollow"], &[])
}

fn options_data(lab: &mut Lab) -> Outcome {
    let report = tmpfs_probe(lab, &[("data", &["size=2m", "mode=700", "nr_inodes=1234"])])?;
    superblock_is(
        &report,
        "/mnt/data",
        &["size=2048k", "mode=700", "nr_inodes=1234"],
        &[],
    )
}

fn idmap_no_userns(lab: &mut Lab) -> Outcome {
    let source = host_dir(lab)?;
    let bind = |c: &mut Value, options: Value| {
        c["ociVersion"] = json!("1.2.0");
        push_mounts(
            c,
            json!([{"destination": "/mnt", "type": "bind", "source": source, "options": options}]),
        );
    };
    create_fails_unlike(
        lab,
        "the idmap mount has no mappings and the container no user namespace",
        |c| bind(c, json!(["bind"])),
        |c| bind(c, json!(["bind", "idmap"])),
    )
    .map(drop)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::report::parse_mountinfo;

    #[test]
    fn options_are_reads_per_mount_options() {
        let report = Report {
            mounts: parse_mountinfo("1 0 0:1 / /mnt rw,nosuid shared:3 - tmpfs x rw\n"),
            ..Report::default()
        };
        assert!(options_are(&report, "/mnt", &["nosuid"], &["ro"]).is_ok());
        assert!(options_are(&report, "/mnt", &["nodev"], &[]).is_err());
        assert_eq!(propagation_of(&report, "/mnt").unwrap(), ["shared:3"]);
    }
}

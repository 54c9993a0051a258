//! Mounts an init makes in the mount namespace it shares with gorae (a
//! config that lists no "mount" namespace): they outlive the container.
//! `create` records which mounts appeared below the rootfs; `delete`, or a
//! failed `create`, detaches them, last first, each only if the path still
//! leads (without symlinks) to the very mount that was recorded.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::mount::{MntFlags, umount2};
use nix::sys::stat::Mode;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sys;

/// One mount below a container's rootfs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedMount {
    /// Its mount id (`/proc/self/mountinfo`, first field).
    pub id: u64,
    /// Its mount point.
    pub path: PathBuf,
}

/// The mounts strictly below `rootfs` in our mount namespace, in the
/// order they were made.
pub(crate) fn below(rootfs: &Path) -> Result<Vec<SharedMount>> {
    let root = std::fs::canonicalize(rootfs).map_err(|e| Error::io("resolve", rootfs, e))?;
    let table = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::io("read", "/proc/self/mountinfo", e))?;
    Ok(parse(&table)
        .filter(|m| m.path.starts_with(&root) && m.path != root)
        .collect())
}

/// The mounts below `rootfs` that are not in `before`.
pub(crate) fn made_since(rootfs: &Path, before: &[SharedMount]) -> Result<Vec<SharedMount>> {
    Ok(below(rootfs)?
        .into_iter()
        .filter(|m| !before.iter().any(|b| b.id == m.id))
        .collect())
}

/// Detaches `mounts` (recorded by [`made_since`]) last first. Returns a
/// warning for each that could not be detached or is no longer what was
/// recorded (left alone).
pub(crate) fn undo(rootfs: &Path, mounts: &[SharedMount]) -> Vec<String> {
    let root = match nix::fcntl::open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(root) => root,
        Err(errno) => {
            return vec![format!(
                "cannot open {} to undo its mounts: {errno}",
                rootfs.display()
            )];
        }
    };
    let canonical = std::fs::canonicalize(rootfs).unwrap_or_else(|_| rootfs.to_owned());
    mounts
        .iter()
        .rev()
        .filter_map(|m| {
            detach(root.as_fd(), &canonical, m)
                .err()
                .map(|why| format!("mount {} left in place: {why}", m.path.display()))
        })
        .collect()
}

fn detach(
    root: std::os::fd::BorrowedFd<'_>,
    rootfs: &Path,
    m: &SharedMount,
) -> std::result::Result<(), String> {
    let relative = m
        .path
        .strip_prefix(rootfs)
        .map_err(|_| "not below the rootfs".to_owned())?;
    let relative = CString::new(relative.as_os_str().as_encoded_bytes())
        .map_err(|_| "path contains a NUL byte".to_owned())?;
    // No symlink on the way: the container may have swapped a directory
    // for one pointing at a host mount.
    let fd = sys::openat2_in_root(root, &relative, libc::O_PATH, libc::RESOLVE_NO_SYMLINKS)
        .map_err(|errno| format!("open: {errno}"))?;
    let fdinfo = format!("/proc/self/fdinfo/{}", fd.as_raw_fd());
    let info = std::fs::read_to_string(&fdinfo).map_err(|e| format!("read {fdinfo}: {e}"))?;
    let id = info
        .lines()
        .find_map(|l| l.strip_prefix("mnt_id:"))
        .and_then(|v| v.trim().parse::<u64>().ok());
    if id != Some(m.id) {
        return Err(format!("now mount {id:?}, not {}", m.id));
    }
    umount2(
        format!("/proc/self/fd/{}", fd.as_raw_fd()).as_str(),
        MntFlags::MNT_DETACH,
    )
    .map_err(|errno| format!("umount: {errno}"))
}

/// The mounts of a `mountinfo` table: id and unescaped mount point.
fn parse(table: &str) -> impl Iterator<Item = SharedMount> + '_ {
    table.lines().filter_map(|line| {
        let mut fields = line.split(' ');
        let id = fields.next()?.parse().ok()?;
        let path = fields.nth(3)?;
        Some(SharedMount {
            id,
            path: PathBuf::from(unescape(path)),
        })
    })
}

/// Undoes mountinfo's octal escapes (`\040` for a space, ...).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .map(|d| d.iter().fold(0u32, |n, c| n * 8 + u32::from(c - b'0')));
        match octal.and_then(|n| u8::try_from(n).ok()) {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_give_ids_and_unescaped_points() {
        let table = "36 35 98:0 / /mnt/a\\040b rw - ext3 /dev/root rw\n\
                     37 36 0:5 / /mnt/a\\040b/proc rw - proc proc rw\n";
        let got: Vec<_> = parse(table).collect();
        assert_eq!(got[0].id, 36);
        assert_eq!(got[0].path, Path::new("/mnt/a b"));
        assert_eq!(got[1].path, Path::new("/mnt/a b/proc"));
        assert_eq!(unescape("a\\134b\\"), "a\\b\\");
    }
}

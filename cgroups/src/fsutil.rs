//! Small helpers to read and write cgroup control files with errors that
//! name the file.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Writes `value` to `dir/file` in one `write(2)`, as cgroupfs expects.
/// The file must exist: cgroup control files are created by the kernel.
pub(crate) fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    let path = dir.join(file);
    write_path(&path, value)
}

/// Like [`write`] with a full path.
pub(crate) fn write_path(path: &Path, value: &str) -> Result<()> {
    write_raw(path, value).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    })
}

/// The raw `io::Error` of a write, for callers that react to a specific errno
/// (runc retries some writes on `EINVAL`).
pub(crate) fn try_write(dir: &Path, file: &str, value: &str) -> io::Result<()> {
    write_raw(&dir.join(file), value)
}

/// One `write(2)` of `value` to an existing file.
#[cfg(not(test))]
fn write_raw(path: &Path, value: &str) -> io::Result<()> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
}

/// In unit tests the control files are regular files in a temp dir laid
/// out like cgroupfs. The kernel takes each write as one command, so the
/// test double appends each write as one line: a test sees every value
/// written, in order. The file must exist, as on cgroupfs.
#[cfg(test)]
fn write_raw(path: &Path, value: &str) -> io::Result<()> {
    OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(format!("{value}\n").as_bytes()))
}

/// Builds the error for a failed [`try_write`].
pub(crate) fn write_error(dir: &Path, file: &str, value: &str, source: io::Error) -> Error {
    Error::Write {
        path: dir.join(file),
        value: value.to_string(),
        source,
    }
}

/// Reads `dir/file` as a string.
pub(crate) fn read(dir: &Path, file: &str) -> Result<String> {
    read_path(&dir.join(file))
}

/// Reads a file as a string.
pub(crate) fn read_path(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a `/proc` file with as few `read(2)` calls as possible (one, and
/// one more for the end, while it fits in the buffer). A seq file takes its
/// lock again on every read: for `mountinfo` that is the kernel's global
/// `namespace_sem`, which every mount and every clone of a mount
/// namespace holds for writing, so with containers starting next to us each
/// extra read is another wait (std's reads start at 32 bytes and double).
pub(crate) fn read_proc(path: &Path) -> Result<String> {
    let failed = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = fs::File::open(path).map_err(failed)?;
    let mut buf = vec![0u8; 16 * 1024];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(failed(e)),
        }
    }
    buf.truncate(len);
    String::from_utf8(buf).map_err(|e| failed(io::Error::new(io::ErrorKind::InvalidData, e)))
}

/// Reads `dir/file`, `None` if it does not exist.
pub(crate) fn read_opt(dir: &Path, file: &str) -> Result<Option<String>> {
    let path = dir.join(file);
    match fs::read_to_string(&path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read { path, source }),
    }
}

/// Parses a single unsigned number; `max` (cgroup v2's "unlimited") maps to `u64::MAX`.
pub(crate) fn parse_u64(path: &Path, text: &str) -> Result<u64> {
    let t = text.trim();
    if t == "max" {
        return Ok(u64::MAX);
    }
    t.parse::<u64>().map_err(|_| parse_error(path, t))
}

/// Reads `dir/file` as one number (see [`parse_u64`]).
pub(crate) fn read_u64(dir: &Path, file: &str) -> Result<u64> {
    let path = dir.join(file);
    let text = read_path(&path)?;
    parse_u64(&path, &text)
}

/// Reads `dir/file` as one number, `None` if the file does not exist.
pub(crate) fn read_u64_opt(dir: &Path, file: &str) -> Result<Option<u64>> {
    match read_opt(dir, file)? {
        Some(text) => parse_u64(&dir.join(file), &text).map(Some),
        None => Ok(None),
    }
}

/// Finds `key value` in a flat-keyed file such as `memory.events`.
pub(crate) fn keyed_value(path: &Path, text: &str, key: &str) -> Result<Option<u64>> {
    for line in text.lines() {
        let mut it = line.split_whitespace();
        if it.next() == Some(key) {
            let value = it.next().unwrap_or_default();
            return parse_u64(path, value).map(Some);
        }
    }
    Ok(None)
}

/// Every `key value` pair of a flat-keyed file; lines that do not fit are skipped.
pub(crate) fn keyed_values(text: &str) -> impl Iterator<Item = (&str, u64)> {
    text.lines().filter_map(|line| {
        let mut it = line.split_whitespace();
        let key = it.next()?;
        let value = it.next()?.parse().ok()?;
        Some((key, value))
    })
}

/// Builds a parse error.
pub(crate) fn parse_error(path: &Path, content: &str) -> Error {
    Error::Parse {
        path: path.to_path_buf(),
        content: content.to_string(),
    }
}

/// Pids listed in `dir/cgroup.procs`.
pub(crate) fn read_procs(dir: &Path) -> Result<Vec<i32>> {
    let path = dir.join("cgroup.procs");
    let text = read_path(&path)?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.trim().parse::<i32>().map_err(|_| parse_error(&path, l)))
        .collect()
}

/// Sub-directories (child cgroups) of `dir`, depth first, children before parents.
pub(crate) fn child_cgroups_post_order(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    collect_children(dir, &mut out)?;
    Ok(out)
}

fn collect_children(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(Error::Read {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    for entry in entries {
        let entry = entry.map_err(|source| Error::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if is_dir {
            let child = entry.path();
            collect_children(&child, out)?;
            out.push(child);
        }
    }
    Ok(())
}

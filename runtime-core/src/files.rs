//! Opening files a config or a state directory names, without the effects
//! of opening them: a FIFO would block, a device could be endless or act on
//! being opened (a serial line waits for its carrier, a watchdog arms).
//!
//! A path is first opened with `O_PATH`, which never runs the file's own
//! `open`; its type is checked on that handle, and only then is the very
//! same inode opened for reading through `/proc/self/fd/N`.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sys::stat::{Mode, SFlag, fstat};
use nix::sys::statfs::{FsType, fstatfs};

use crate::error::{Error, Result};

/// Opens `path` with `O_PATH`, following symlinks, for its type to be
/// checked before anything else is done with it.
pub(crate) fn open_path(path: &Path) -> Result<OwnedFd, Errno> {
    open(path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
}

/// Opens the inode behind an `O_PATH` handle for reading, without blocking.
pub(crate) fn reopen(handle: &OwnedFd) -> Result<File, Errno> {
    let fd_path = format!("/proc/self/fd/{}", handle.as_raw_fd());
    let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK;
    open(fd_path.as_str(), flags, Mode::empty()).map(File::from)
}

/// Whether the file behind `handle` lives on a filesystem of type `fs`.
pub(crate) fn is_on(handle: &OwnedFd, fs: FsType) -> bool {
    fstatfs(handle.as_fd()).is_ok_and(|s| s.filesystem_type() == fs)
}

/// Reads the regular file at `path` (symlinks followed, as runc does),
/// refusing anything else and anything larger than `limit` bytes.
pub(crate) fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let handle = open_path(path).map_err(|errno| Error::io("open", path, errno.into()))?;
    let st = fstat(handle.as_fd()).map_err(|errno| Error::sys("fstat", path, errno))?;
    let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
    if kind != SFlag::S_IFREG {
        return Err(Error::NotRegularFile {
            path: path.to_owned(),
            kind: kind_name(kind),
        });
    }
    let too_large = || Error::TooLarge {
        path: path.to_owned(),
        limit,
    };
    let size = u64::try_from(st.st_size).unwrap_or(0);
    if size > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    reopen(&handle)
        .map_err(|errno| Error::io("open", path, errno.into()))?
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("read", path, e))?;
    // The size may have grown since `fstat`, or a file of /proc reports 0.
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Names a file type the way an error message should.
fn kind_name(kind: SFlag) -> &'static str {
    match kind {
        SFlag::S_IFDIR => "a directory",
        SFlag::S_IFIFO => "a FIFO",
        SFlag::S_IFCHR => "a character device",
        SFlag::S_IFBLK => "a block device",
        SFlag::S_IFSOCK => "a socket",
        _ => "not a file",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::bundle::CONFIG_LIMIT;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("gorae-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = scratch("fifo");
        let fifo = dir.join("config.json");
        nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o600)).unwrap();
        let err = read_regular(&fifo, CONFIG_LIMIT).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("config.json is not a regular file (a FIFO)")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_device_and_a_directory_are_refused() {
        let err = read_regular(Path::new("/dev/zero"), CONFIG_LIMIT).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/dev/zero is not a regular file (a character device)"
        );
        let err = read_regular(Path::new("/"), CONFIG_LIMIT).unwrap_err();
        assert_eq!(err.to_string(), "/ is not a regular file (a directory)");
    }

    #[test]
    fn a_file_over_the_limit_is_refused_and_one_at_it_is_read() {
        let dir = scratch("limit");
        let file = dir.join("state.json");
        std::fs::write(&file, [b' '; 10]).unwrap();
        assert_eq!(read_regular(&file, 10).unwrap().len(), 10);
        let err = read_regular(&file, 9).unwrap_err();
        assert!(matches!(err, Error::TooLarge { limit: 9, .. }), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_proc_file_that_reports_size_zero_is_still_bounded() {
        // /proc/self/mountinfo has st_size 0 and is longer than 16 bytes.
        let err = read_regular(Path::new("/proc/self/mountinfo"), 16).unwrap_err();
        assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    }
}

//! `tmpcopyup`, runc's mount option: a tmpfs mounted over a directory of
//! the image starts with that directory's contents. The init keeps a
//! handle on the directory from before the mount and copies the tree from
//! it into the new tmpfs, with stack buffers only (no allocation after the
//! clone): names from `getdents64`, data with `sendfile`, links with
//! `readlinkat`, owners and modes kept.

use std::ffi::CStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{FchmodatFlags, Mode, SFlag, fchmodat, fstatat, mkdirat, mknodat};
use nix::unistd::{Gid, Uid, fchownat, symlinkat};

use crate::sys;

/// How deep a tree `tmpcopyup` copies (runc has no limit; images' /run and
/// /tmp are shallow, and the stack of the init is not).
const MAX_DEPTH: usize = 32;

/// Copies the contents of directory `from` into directory `to`.
pub(crate) fn copy_tree(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Result<(), Errno> {
    copy_dir(from, to, 0)
}

fn copy_dir(from: BorrowedFd<'_>, to: BorrowedFd<'_>, depth: usize) -> Result<(), Errno> {
    if depth > MAX_DEPTH {
        return Err(Errno::ELOOP);
    }
    let reader = openat(
        from,
        c".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let mut buf = [0u8; 4096];
    loop {
        let n = sys::getdents64(reader.as_fd(), &mut buf)?;
        if n == 0 {
            return Ok(());
        }
        let mut at = 0;
        while at + 19 < n {
            let reclen = u16::from_ne_bytes([buf[at + 16], buf[at + 17]]) as usize;
            if reclen == 0 || at + reclen > n {
                return Err(Errno::EIO);
            }
            let name =
                CStr::from_bytes_until_nul(&buf[at + 19..at + reclen]).map_err(|_| Errno::EIO)?;
            if name != c"." && name != c".." {
                copy_entry(from, to, name, depth)?;
            }
            at += reclen;
        }
    }
}

fn copy_entry(
    from: BorrowedFd<'_>,
    to: BorrowedFd<'_>,
    name: &CStr,
    depth: usize,
) -> Result<(), Errno> {
    let st = fstatat(from, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
    let mode = Mode::from_bits_truncate(st.st_mode & 0o7777);
    match kind {
        SFlag::S_IFDIR => {
            match mkdirat(to, name, mode) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(e),
            }
            let dir = |fd: BorrowedFd<'_>| -> Result<OwnedFd, Errno> {
                openat(
                    fd,
                    name,
                    OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
            };
            let (src, dst) = (dir(from)?, dir(to)?);
            copy_dir(src.as_fd(), dst.as_fd(), depth + 1)?;
        }
        SFlag::S_IFREG => {
            let src = openat(
                from,
                name,
                OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?;
            let flags = OFlag::O_WRONLY
                | OFlag::O_CREAT
                | OFlag::O_EXCL
                | OFlag::O_NOFOLLOW
                | OFlag::O_CLOEXEC;
            let dst = openat(to, name, flags, mode)?;
            while sys::sendfile(dst.as_fd(), src.as_fd(), 1 << 20)? > 0 {}
        }
        SFlag::S_IFLNK => {
            let mut target = [0u8; 4096];
            let len = sys::readlinkat_into(from, name, &mut target)?;
            let target =
                CStr::from_bytes_with_nul(&target[..=len]).map_err(|_| Errno::ENAMETOOLONG)?;
            symlinkat(target, to, name)?;
        }
        _ => mknodat(to, name, kind, mode, st.st_rdev)?,
    }
    fchownat(
        to,
        name,
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )?;
    if kind != SFlag::S_IFLNK {
        // The umask of the init may have cut the mode at creation.
        fchmodat(to, name, mode, FchmodatFlags::FollowSymlink)?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_is_copied_with_files_links_dirs_and_modes() {
        let base = std::env::temp_dir().join(format!("gorae-copyup-{}", std::process::id()));
        let (src, dst) = (base.join("src"), base.join("dst"));
        std::fs::create_dir_all(src.join("sub/deeper")).unwrap();
        std::fs::create_dir_all(&dst).unwrap();
        std::fs::write(src.join("file"), "content").unwrap();
        std::fs::write(src.join("sub/deeper/x"), "deep").unwrap();
        std::os::unix::fs::symlink("../file", src.join("sub/link")).unwrap();
        std::fs::set_permissions(
            src.join("file"),
            std::os::unix::fs::PermissionsExt::from_mode(0o640),
        )
        .unwrap();
        let open = |p: &std::path::Path| std::fs::File::open(p).unwrap();
        let (s, d) = (open(&src), open(&dst));
        copy_tree(s.as_fd(), d.as_fd()).unwrap();
        assert_eq!(
            std::fs::read_to_string(dst.join("file")).unwrap(),
            "content"
        );
        assert_eq!(
            std::fs::read_to_string(dst.join("sub/deeper/x")).unwrap(),
            "deep"
        );
        assert_eq!(
            std::fs::read_link(dst.join("sub/link")).unwrap(),
            std::path::Path::new("../file")
        );
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dst.join("file")).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o640);
        std::fs::remove_dir_all(&base).unwrap();
    }
}

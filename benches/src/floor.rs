//! The floor: the least work that gives a process the containers' five
//! namespaces and root filesystem. `unshare` of pid/net/ipc/uts/mount,
//! `fork` (the child is pid 1 of the new pid namespace), `/` made private,
//! the rootfs bind-mounted on itself, `pivot_root(".", ".")` and a lazy
//! unmount of the old root, then `execve` of the bundle's program. No
//! `/proc`, `/dev` or other mounts, no cgroups, no capabilities, no state.
//! Runtimes are read as "× floor".
#![forbid(unsafe_code)]

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, chdir, execve, pivot_root};

use crate::bundle;
use crate::error::{Error, Result};
use crate::sys;

/// Runs the bundle's program the floor's way; returns its exit status
/// (128 + N when killed by signal N), as a runtime's `run` does.
pub fn run(bundle_dir: &Path) -> Result<i32> {
    let (root, args) = bundle::root_and_args(bundle_dir)?;
    let c_root = c_string(root.as_os_str().as_bytes())?;
    let argv = args
        .iter()
        .map(|a| c_string(a.as_bytes()))
        .collect::<Result<Vec<_>>>()?;
    let env = [c_string(b"PATH=/bin")?];
    let flags = CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNET
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWNS;
    unshare(flags).map_err(|e| Error::sys("unshare", "pid|net|ipc|uts|mount", e))?;
    match sys::fork_single_threaded().map_err(|e| Error::sys("fork", "floor child", e))? {
        ForkResult::Child => {
            let err = enter_and_exec(&c_root, &argv, &env);
            eprintln!("gorae-bench floor: {err}");
            std::process::exit(127);
        }
        ForkResult::Parent { child } => {
            match waitpid(child, None).map_err(|e| Error::sys("waitpid", child, e))? {
                WaitStatus::Exited(_, code) => Ok(code),
                WaitStatus::Signaled(_, signal, _) => Ok(128 + signal as i32),
                _ => Ok(255),
            }
        }
    }
}

/// In the child: private `/`, bind, pivot, exec. Returns only on failure.
fn enter_and_exec(root: &CString, argv: &[CString], env: &[CString]) -> Error {
    let none: Option<&str> = None;
    let steps = || -> Result<()> {
        mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none)
            .map_err(|e| Error::sys("mount --make-rprivate", "/", e))?;
        let rootfs = root.as_c_str();
        mount(
            Some(rootfs),
            rootfs,
            none,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            none,
        )
        .map_err(|e| Error::sys("mount --rbind", rootfs.to_string_lossy(), e))?;
        chdir(rootfs).map_err(|e| Error::sys("chdir", rootfs.to_string_lossy(), e))?;
        pivot_root(".", ".").map_err(|e| Error::sys("pivot_root", ".", e))?;
        umount2(".", MntFlags::MNT_DETACH).map_err(|e| Error::sys("umount2", "old root", e))?;
        let program = argv.first().map(CString::as_c_str).unwrap_or_default();
        execve(program, argv, env)
            .map_err(|e| Error::sys("execve", program.to_string_lossy(), e))?;
        Ok(())
    };
    match steps() {
        Ok(()) => Error::Setup("execve returned".into()),
        Err(e) => e,
    }
}

fn c_string(bytes: &[u8]) -> Result<CString> {
    CString::new(bytes).map_err(|_| Error::Setup("a NUL byte in the floor's path or args".into()))
}

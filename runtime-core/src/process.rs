//! `process`: argv, environment, working directory, user and the program's
//! lookup in the container's `PATH`, prepared before the clone so that the
//! init only copies bytes and makes system calls.

use std::ffi::{CStr, CString};

use nix::errno::Errno;
use nix::sys::stat::{Mode, SFlag, stat};
use nix::unistd::{AccessFlags, Gid, Uid, access};
use oci_spec::runtime::{Process, Spec};

use crate::capabilities::Sets;
use crate::error::{Error, Result};
use crate::sys::{self, PATH_MAX};

/// `PATH` used to find the program when the config's environment has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The container's process, ready for the init.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// argv, environment and the resolved program path.
    pub exec: sys::ExecArgs,
    /// Directories to search for `args[0]`; empty when it holds a `/`.
    pub search: Vec<CString>,
    pub cwd: CString,
    /// `/a`, `/a/b`, ...: the cwd's ancestors, created when missing.
    pub cwd_ancestors: Vec<CString>,
    pub uid: Uid,
    pub gid: Gid,
    pub additional_gids: Vec<u32>,
    pub umask: Mode,
    pub caps: Sets,
    pub no_new_privileges: bool,
    pub hostname: Option<CString>,
    pub domainname: Option<CString>,
}

fn cstring(s: &str, field: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::invalid(field, "contains a NUL byte"))
}

impl Prepared {
    /// Prepares `process` (validated by [`crate::bundle::Bundle::load`]).
    pub(crate) fn from_spec(spec: &Spec, process: &Process) -> Result<(Self, Vec<String>)> {
        let args = process.args().as_deref().unwrap_or_default();
        let args = args
            .iter()
            .enumerate()
            .map(|(i, a)| cstring(a, &format!("process.args[{i}]")))
            .collect::<Result<Vec<_>>>()?;
        let env_list = process.env().as_deref().unwrap_or_default();
        let env = env_list
            .iter()
            .enumerate()
            .map(|(i, e)| cstring(e, &format!("process.env[{i}]")))
            .collect::<Result<Vec<_>>>()?;
        let program = args
            .first()
            .map(|a| a.as_bytes())
            .unwrap_or_default()
            .to_vec();
        let search = if program.contains(&b'/') {
            Vec::new()
        } else {
            let path = env_list
                .iter()
                .rev()
                .find_map(|e| e.strip_prefix("PATH="))
                .unwrap_or(DEFAULT_PATH);
            path.split(':')
                .map(|d| if d.is_empty() { "." } else { d })
                .filter(|d| d.len() + program.len() + 2 < PATH_MAX)
                .map(|d| cstring(d, "process.env PATH"))
                .collect::<Result<Vec<_>>>()?
        };
        let user = process.user();
        let (caps, unknown_caps) = Sets::from_spec(process.capabilities().as_ref());
        let prepared = Prepared {
            exec: sys::ExecArgs::new(args, env),
            search,
            cwd: cstring(&process.cwd().to_string_lossy(), "process.cwd")?,
            cwd_ancestors: process
                .cwd()
                .ancestors()
                .filter(|a| a.parent().is_some())
                .map(|a| cstring(&a.to_string_lossy(), "process.cwd"))
                .collect::<Result<Vec<_>>>()?
                .into_iter()
                .rev()
                .collect(),
            uid: Uid::from_raw(user.uid()),
            gid: Gid::from_raw(user.gid()),
            additional_gids: user
                .additional_gids()
                .as_deref()
                .unwrap_or_default()
                .to_vec(),
            umask: Mode::from_bits_truncate(user.umask().unwrap_or(0o022)),
            caps,
            no_new_privileges: process.no_new_privileges().unwrap_or(false),
            hostname: spec
                .hostname()
                .as_deref()
                .map(|h| cstring(h, "hostname"))
                .transpose()?,
            domainname: spec
                .domainname()
                .as_deref()
                .map(|h| cstring(h, "domainname"))
                .transpose()?,
        };
        Ok((prepared, unknown_caps))
    }

    /// The program as the config names it.
    pub(crate) fn program(&self) -> &CStr {
        self.exec.args().first().map_or(c"", |a| a.as_c_str())
    }

    /// Finds the program in the container (run after `pivot_root` and the
    /// switch to the process's user) and stores its path in `resolved`.
    pub(crate) fn look_path(&mut self) -> Result<(), Errno> {
        let Prepared { exec, search, .. } = self;
        let mut program = [0u8; PATH_MAX];
        let len = exec
            .args()
            .first()
            .map_or(0, |a| a.as_bytes().len())
            .min(PATH_MAX - 1);
        if let Some(a) = exec.args().first() {
            program[..len].copy_from_slice(&a.as_bytes()[..len]);
        }
        let program = &program[..len];
        let resolved = exec.path_mut();
        if search.is_empty() {
            copy_into(resolved, &[program])?;
            return executable(resolved);
        }
        let mut denied = false;
        for dir in search.iter() {
            copy_into(resolved, &[dir.as_bytes(), b"/", program])?;
            match executable(resolved) {
                Ok(()) => return Ok(()),
                Err(Errno::EACCES) => denied = true,
                Err(_) => {}
            }
        }
        Err(if denied { Errno::EACCES } else { Errno::ENOENT })
    }
}

fn copy_into(buf: &mut [u8; PATH_MAX], parts: &[&[u8]]) -> Result<(), Errno> {
    let mut at = 0;
    for part in parts {
        let end = at + part.len();
        if end >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        buf[at..end].copy_from_slice(part);
        at = end;
    }
    buf[at] = 0;
    Ok(())
}

/// A regular file this process may execute.
fn executable(path: &[u8; PATH_MAX]) -> Result<(), Errno> {
    let path = CStr::from_bytes_until_nul(path).map_err(|_| Errno::EINVAL)?;
    let st = stat(path)?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
        return Err(Errno::EACCES);
    }
    access(path, AccessFlags::X_OK)
}

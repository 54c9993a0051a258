//! The contenders: OCI runtimes driven through runc's command line, each
//! with its own `--root`, and the floor (`gorae-bench floor`), which only
//! knows `run`.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::invoke::Invocable;

/// What kind of contender a [`Runtime`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// An OCI runtime with runc's command line and this state root.
    Oci {
        /// The `--root` given to every command.
        root: PathBuf,
    },
    /// `gorae-bench floor`: namespaces + `pivot_root` + `execve`, nothing else.
    Floor,
}

/// One contender.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// Its name in the tables (`gorae`, `crun`, `runc`, `youki`, `floor`).
    pub name: String,
    /// The program.
    pub binary: PathBuf,
    /// OCI runtime or floor.
    pub kind: Kind,
    /// Global flags put before the command (e.g. `--trace`).
    pub extra_flags: Vec<String>,
}

/// Facts about a runtime's binary.
#[derive(Debug, Clone, Serialize)]
pub struct BinaryInfo {
    /// The binary, symlinks resolved.
    pub path: PathBuf,
    /// First line of `--version` (empty for the floor).
    pub version: String,
    /// Size of the binary in bytes.
    pub size_bytes: u64,
    /// Shared libraries `ldd` lists (without the vDSO); empty when static.
    pub shared_libraries: Vec<String>,
}

impl Runtime {
    /// An OCI runtime `name` at `binary` whose state lives under `root`.
    pub fn oci(name: &str, binary: PathBuf, root: PathBuf) -> Self {
        Runtime {
            name: name.to_owned(),
            binary,
            kind: Kind::Oci { root },
            extra_flags: Vec::new(),
        }
    }

    /// The floor, run by this very binary.
    pub fn floor(binary: PathBuf) -> Self {
        Runtime {
            name: "floor".to_owned(),
            binary,
            kind: Kind::Floor,
            extra_flags: Vec::new(),
        }
    }

    /// Whether this is an OCI runtime (it has create/start/delete).
    pub fn is_oci(&self) -> bool {
        matches!(self.kind, Kind::Oci { .. })
    }

    /// `run` of the bundle as container `id` (the floor ignores `id`).
    pub fn run(&self, bundle: &Path, id: &str) -> Invocable {
        match self.kind {
            Kind::Oci { .. } => self.command(&["run", "--bundle"], &[bundle.as_os_str()], id),
            Kind::Floor => Invocable {
                program: self.binary.clone(),
                args: vec!["floor".into(), bundle.into()],
                label: format!("floor {}", bundle.display()),
            },
        }
    }

    /// `create --bundle B --pid-file P id`.
    pub fn create(&self, bundle: &Path, pid_file: &Path, id: &str) -> Invocable {
        self.command(
            &["create", "--bundle"],
            &[
                bundle.as_os_str(),
                "--pid-file".as_ref(),
                pid_file.as_os_str(),
            ],
            id,
        )
    }

    /// `start id`.
    pub fn start(&self, id: &str) -> Invocable {
        self.command(&["start"], &[], id)
    }

    /// `state id`.
    pub fn state(&self, id: &str) -> Invocable {
        self.command(&["state"], &[], id)
    }

    /// `delete id`, or `delete --force id`.
    pub fn delete(&self, id: &str, force: bool) -> Invocable {
        let words: &[&str] = if force {
            &["delete", "--force"]
        } else {
            &["delete"]
        };
        self.command(words, &[], id)
    }

    /// `kill id KILL`.
    pub fn kill(&self, id: &str) -> Invocable {
        let mut what = self.command(&["kill"], &[], id);
        what.args.push("KILL".into());
        what.label.push_str(" KILL");
        what
    }

    /// `exec id /bin/true`.
    pub fn exec_true(&self, id: &str) -> Invocable {
        let mut what = self.command(&["exec"], &[], id);
        what.args.push("/bin/true".into());
        what.label.push_str(" /bin/true");
        what
    }

    /// `list --quiet`: the ids in this runtime's root.
    pub fn list_quiet(&self) -> Invocable {
        let mut what = self.command(&["list"], &[], "");
        what.args.pop();
        what.args.push("--quiet".into());
        what.label = format!("{} list --quiet", self.name);
        what
    }

    /// `<binary> [--root R] [flags] <words> <args> <id>`.
    fn command(&self, words: &[&str], args: &[&std::ffi::OsStr], id: &str) -> Invocable {
        let mut all: Vec<OsString> = Vec::new();
        if let Kind::Oci { root } = &self.kind {
            all.push("--root".into());
            all.push(root.into());
        }
        all.extend(self.extra_flags.iter().map(OsString::from));
        all.extend(words.iter().map(OsString::from));
        all.extend(args.iter().map(|a| a.to_os_string()));
        all.push(id.into());
        Invocable {
            program: self.binary.clone(),
            args: all,
            label: self.label(words, id),
        }
    }

    /// `gorae --trace run c1`: name, extra flags, command words, id.
    fn label(&self, words: &[&str], id: &str) -> String {
        let mut parts = vec![self.name.as_str()];
        parts.extend(self.extra_flags.iter().map(String::as_str));
        parts.extend(words.iter().copied().filter(|w| !w.starts_with("--")));
        parts.push(id);
        parts.join(" ")
    }

    /// Whether the runtime has an `exec` command (`exec --help` succeeds).
    pub fn supports_exec(&self) -> bool {
        self.is_oci()
            && Command::new(&self.binary)
                .args(["exec", "--help"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    }

    /// Version, size and shared libraries of the binary.
    pub fn binary_info(&self) -> Result<BinaryInfo> {
        let path =
            fs::canonicalize(&self.binary).map_err(|e| Error::io("resolve", &self.binary, e))?;
        let size_bytes = fs::metadata(&path)
            .map_err(|e| Error::io("stat", &path, e))?
            .len();
        let version = if self.is_oci() {
            first_line_of(&path, &["--version"])
        } else {
            String::new()
        };
        let shared_libraries = parse_ldd(&ldd_output(Path::new("ldd"), &path));
        Ok(BinaryInfo {
            path,
            version,
            size_bytes,
            shared_libraries,
        })
    }
}

/// The first line `program args` prints on stdout, or empty.
fn first_line_of(program: &Path, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .unwrap_or_default()
}

/// What `ldd binary` prints (stdout), or empty.
fn ldd_output(ldd: &Path, binary: &Path) -> String {
    Command::new(ldd)
        .arg(binary)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default()
}

/// The library names of `ldd` output, without the vDSO: `libc.so.6`,
/// `ld-linux-x86-64.so.2`. "not a dynamic executable" gives none.
pub fn parse_ldd(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| name.contains(".so") && !name.starts_with("linux-vdso"))
        .map(|name| name.rsplit('/').next().unwrap_or(name).to_owned())
        .collect()
}

/// Finds `name` in `$PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_ldd_lists_libraries_without_the_vdso() {
        let out = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                   \tlibseccomp.so.2 => /lib/x86_64-linux-gnu/libseccomp.so.2 (0x1)\n\
                   \t/lib64/ld-linux-x86-64.so.2 (0x2)\n";
        assert_eq!(
            parse_ldd(out),
            vec!["libseccomp.so.2", "ld-linux-x86-64.so.2"]
        );
        assert!(parse_ldd("\tnot a dynamic executable\n").is_empty());
    }

    #[test]
    fn oci_commands_put_root_and_flags_before_the_command() {
        let mut rt = Runtime::oci("gorae", "/bin/gorae".into(), "/r".into());
        rt.extra_flags.push("--trace".into());
        let args: Vec<String> = rt
            .start("c1")
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(args, ["--root", "/r", "--trace", "start", "c1"]);
    }
}

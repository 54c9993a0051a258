//! `linux.cgroupsPath`: parsing, and where it lands in each hierarchy.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::hierarchy::{Unified, V1Mount};

/// Where a container's cgroup lives, as given by `linux.cgroupsPath`.
///
/// Resolution follows runc's cgroupfs driver:
/// - absolute (`/a/b`): under the root of every hierarchy;
/// - relative (`a/b`): under this process's own cgroup in each v1 hierarchy,
///   and under the *parent* of its own cgroup in the unified hierarchy (its
///   own v2 cgroup usually holds processes, so it cannot get children with
///   controllers);
/// - absent: [`CgroupPath::default_for`], `/gorae/<container-id>`.
///
/// `..` components are refused everywhere, `.` and repeated `/` are dropped.
/// The systemd form `slice:prefix:name` is recognised and refused: gorae has
/// only the cgroupfs driver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CgroupPath {
    /// `/a/b`, stored without the leading `/`.
    Absolute(PathBuf),
    /// `a/b`.
    Relative(PathBuf),
    /// `slice:prefix:name`.
    Systemd {
        /// The parent slice, e.g. `system.slice` (may be empty).
        slice: String,
        /// The unit prefix, e.g. `docker`.
        prefix: String,
        /// The unit name, usually the container id.
        name: String,
    },
}

impl CgroupPath {
    /// Parses a `linux.cgroupsPath` value.
    pub fn parse(path: &str) -> Result<Self> {
        let invalid = |reason| Error::InvalidPath {
            path: path.to_string(),
            reason,
        };
        if path.is_empty() {
            return Err(invalid("empty path"));
        }
        if path.contains('\0') {
            return Err(invalid("contains a NUL byte"));
        }
        if !path.starts_with('/') {
            let parts: Vec<&str> = path.split(':').collect();
            if parts.len() == 3 {
                if parts[1].is_empty()
                    || parts[2].is_empty()
                    || parts.iter().any(|p| p.contains('/'))
                {
                    return Err(invalid("systemd form must be slice:prefix:name"));
                }
                return Ok(CgroupPath::Systemd {
                    slice: parts[0].to_string(),
                    prefix: parts[1].to_string(),
                    name: parts[2].to_string(),
                });
            }
        }
        let mut clean = PathBuf::new();
        for c in Path::new(path).components() {
            match c {
                Component::Normal(n) => clean.push(n),
                Component::ParentDir => return Err(invalid("\"..\" components are not allowed")),
                Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            }
        }
        if clean.as_os_str().is_empty() {
            return Err(invalid(
                "names the root cgroup; a container needs its own cgroup",
            ));
        }
        if path.starts_with('/') {
            Ok(CgroupPath::Absolute(clean))
        } else {
            Ok(CgroupPath::Relative(clean))
        }
    }

    /// The path used when the bundle gives none: `/gorae/<container-id>`.
    pub fn default_for(container_id: &str) -> Result<Self> {
        let ok = !container_id.is_empty()
            && container_id != "."
            && container_id != ".."
            && !container_id.contains(['/', '\0']);
        if !ok {
            return Err(Error::InvalidPath {
                path: container_id.to_string(),
                reason: "container id cannot be used as a cgroup name",
            });
        }
        Ok(CgroupPath::Absolute(Path::new("gorae").join(container_id)))
    }

    /// `linux.cgroupsPath` if given, else [`CgroupPath::default_for`].
    pub fn from_spec(cgroups_path: Option<&Path>, container_id: &str) -> Result<Self> {
        match cgroups_path {
            Some(p) => Self::parse(&p.to_string_lossy()),
            None => Self::default_for(container_id),
        }
    }

    /// Refuses forms this crate cannot place: the systemd form, with an error
    /// that says whether systemd runs here. [`crate::validate`] calls it.
    pub fn check_supported(&self) -> Result<()> {
        match self {
            CgroupPath::Systemd {
                slice,
                prefix,
                name,
            } => {
                let path = format!("{slice}:{prefix}:{name}");
                if Path::new("/run/systemd/system").is_dir() {
                    Err(Error::SystemdDriverUnsupported { path })
                } else {
                    Err(Error::SystemdNotRunning { path })
                }
            }
            _ => Ok(()),
        }
    }

    /// The path relative to the hierarchy's mount point, given this
    /// process's own cgroup there and whether the hierarchy is the unified one.
    fn inner(&self, own_cgroup: &Path, unified: bool) -> Result<PathBuf> {
        self.check_supported()?;
        match self {
            CgroupPath::Absolute(p) => Ok(p.clone()),
            CgroupPath::Relative(p) => {
                let base = if unified {
                    own_cgroup.parent().unwrap_or(Path::new(""))
                } else {
                    own_cgroup
                };
                Ok(base.join(p))
            }
            CgroupPath::Systemd { .. } => Ok(PathBuf::new()),
        }
    }

    /// The container's directory in a v1 hierarchy.
    pub fn v1_dir(&self, mount: &V1Mount) -> Result<PathBuf> {
        Ok(mount
            .mount_point
            .join(self.inner(&mount.own_cgroup, false)?))
    }

    /// The container's directory in the unified hierarchy.
    pub fn unified_dir(&self, unified: &Unified) -> Result<PathBuf> {
        Ok(unified
            .mount_point
            .join(self.inner(&unified.own_cgroup, true)?))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn mount(own: &str) -> V1Mount {
        V1Mount {
            mount_point: "/sys/fs/cgroup/memory".into(),
            controllers: vec!["memory".into()],
            own_cgroup: own.into(),
        }
    }

    #[test]
    fn absolute_path_lands_under_the_hierarchy_root() {
        let p = CgroupPath::parse("/a//b/./c").unwrap();
        assert_eq!(p, CgroupPath::Absolute("a/b/c".into()));
        assert_eq!(
            p.v1_dir(&mount("sup/x")).unwrap(),
            Path::new("/sys/fs/cgroup/memory/a/b/c")
        );
    }

    #[test]
    fn relative_path_is_under_own_cgroup_on_v1_and_its_parent_on_v2() {
        let p = CgroupPath::parse("a/b").unwrap();
        assert_eq!(
            p.v1_dir(&mount("sup/x")).unwrap(),
            Path::new("/sys/fs/cgroup/memory/sup/x/a/b")
        );
        let u = Unified {
            mount_point: "/sys/fs/cgroup".into(),
            own_cgroup: "user.slice/session-1.scope".into(),
        };
        assert_eq!(
            p.unified_dir(&u).unwrap(),
            Path::new("/sys/fs/cgroup/user.slice/a/b")
        );
    }

    #[test]
    fn dot_dot_is_refused_in_relative_and_absolute_paths() {
        for bad in ["a/../../etc", "/a/../b", "..", "../x"] {
            assert!(
                matches!(CgroupPath::parse(bad), Err(Error::InvalidPath { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn root_and_empty_paths_are_refused() {
        assert!(CgroupPath::parse("/").is_err());
        assert!(CgroupPath::parse("").is_err());
        assert!(CgroupPath::parse("/./").is_err());
    }

    #[test]
    fn default_path_is_gorae_slash_id() {
        let p = CgroupPath::from_spec(None, "abc").unwrap();
        assert_eq!(p, CgroupPath::Absolute("gorae/abc".into()));
        assert!(CgroupPath::default_for("../x").is_err());
        assert!(CgroupPath::default_for("a/b").is_err());
    }

    #[test]
    fn systemd_form_is_parsed_and_refused_for_placement() {
        let p = CgroupPath::parse("system.slice:docker:abc").unwrap();
        assert_eq!(
            p,
            CgroupPath::Systemd {
                slice: "system.slice".into(),
                prefix: "docker".into(),
                name: "abc".into()
            }
        );
        let err = p.v1_dir(&mount("")).unwrap_err();
        assert!(matches!(
            err,
            Error::SystemdNotRunning { .. } | Error::SystemdDriverUnsupported { .. }
        ));
        assert!(CgroupPath::parse("a::b").is_err());
    }
}

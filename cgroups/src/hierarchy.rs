//! Which cgroup hierarchies this host has, found from `/proc/self/mountinfo`
//! and `/proc/self/cgroup` (never from hard-coded paths).

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsutil;

/// One mounted cgroup v1 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct V1Mount {
    /// Where it is mounted, e.g. `/sys/fs/cgroup/memory`.
    pub mount_point: PathBuf,
    /// The controllers bound to it (`cpu`, `cpuacct`, ...), or the
    /// `name=...` of a named hierarchy such as `name=systemd`.
    pub controllers: Vec<String>,
    /// This process's own cgroup in it, relative to `mount_point`.
    pub own_cgroup: PathBuf,
}

impl V1Mount {
    /// Whether this hierarchy carries `controller`.
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }

    /// A named hierarchy without resource controllers (`name=systemd`).
    pub fn is_named(&self) -> bool {
        self.controllers.iter().all(|c| c.starts_with("name="))
    }
}

/// The cgroup v2 (unified) hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unified {
    /// Where it is mounted, e.g. `/sys/fs/cgroup` or `/sys/fs/cgroup/unified`.
    pub mount_point: PathBuf,
    /// This process's own cgroup, relative to `mount_point`.
    pub own_cgroup: PathBuf,
}

/// The cgroup layout of the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Hierarchy {
    /// Only v1 hierarchies.
    V1 {
        /// Every mounted v1 hierarchy.
        mounts: Vec<V1Mount>,
    },
    /// Only the unified hierarchy, which holds the resource controllers.
    V2 {
        /// The unified hierarchy.
        root: Unified,
    },
    /// Resource controllers on v1 hierarchies plus a unified hierarchy
    /// (without controllers) used for freeze, kill and events.
    Hybrid {
        /// Every mounted v1 hierarchy.
        v1: Vec<V1Mount>,
        /// The unified hierarchy.
        unified: Unified,
    },
}

/// The text of `/proc/self/mountinfo`, read in one `read(2)` where it fits:
/// each read of it takes the kernel's global mount lock, for which starting
/// containers queue.
pub fn read_mountinfo() -> Result<String> {
    fsutil::read_proc(Path::new("/proc/self/mountinfo"))
}

impl Hierarchy {
    /// Detects the layout from `/proc/self/mountinfo` and `/proc/self/cgroup`.
    pub fn detect() -> Result<Self> {
        let mountinfo = read_mountinfo()?;
        let own = fsutil::read_proc(Path::new("/proc/self/cgroup"))?;
        Self::from_proc(&mountinfo, &own)
    }

    /// Builds the layout from the text of `/proc/self/mountinfo` and
    /// `/proc/self/cgroup`.
    pub fn from_proc(mountinfo: &str, self_cgroup: &str) -> Result<Self> {
        let memberships = parse_self_cgroup(self_cgroup);
        let mut v1 = Vec::new();
        let mut unified = None;
        for m in mountinfo.lines().filter_map(parse_mount_line) {
            if m.fstype == "cgroup2" {
                if unified.is_none() {
                    let own = memberships
                        .iter()
                        .find(|(ctrls, _)| ctrls.is_empty())
                        .map(|(_, p)| p.as_str())
                        .unwrap_or("/");
                    unified = Some(Unified {
                        own_cgroup: own_relative(own, &m.root),
                        mount_point: m.mount_point,
                    });
                }
                continue;
            }
            let opts: Vec<&str> = m.super_options.split(',').collect();
            let found = memberships.iter().find(|(ctrls, _)| {
                !ctrls.is_empty() && ctrls.iter().all(|c| opts.contains(&c.as_str()))
            });
            let Some((ctrls, own)) = found else { continue };
            if v1.iter().any(|x: &V1Mount| &x.controllers == ctrls) {
                continue;
            }
            v1.push(V1Mount {
                mount_point: m.mount_point,
                controllers: ctrls.clone(),
                own_cgroup: own_relative(own, &m.root),
            });
        }
        let has_controllers = v1.iter().any(|m| !m.is_named());
        match (has_controllers, unified) {
            (true, Some(unified)) => Ok(Hierarchy::Hybrid { v1, unified }),
            (true, None) => Ok(Hierarchy::V1 { mounts: v1 }),
            (false, Some(root)) => Ok(Hierarchy::V2 { root }),
            (false, None) => Err(Error::NoCgroupMounts),
        }
    }

    /// The v1 hierarchies (empty on pure v2).
    pub fn v1_mounts(&self) -> &[V1Mount] {
        match self {
            Hierarchy::V1 { mounts } => mounts,
            Hierarchy::Hybrid { v1, .. } => v1,
            Hierarchy::V2 { .. } => &[],
        }
    }

    /// The unified hierarchy, if mounted.
    pub fn unified(&self) -> Option<&Unified> {
        match self {
            Hierarchy::V1 { .. } => None,
            Hierarchy::V2 { root } => Some(root),
            Hierarchy::Hybrid { unified, .. } => Some(unified),
        }
    }

    /// Whether resource controllers live in the unified hierarchy.
    pub fn is_v2(&self) -> bool {
        matches!(self, Hierarchy::V2 { .. })
    }

    /// The v1 hierarchy carrying `controller`.
    pub fn v1_mount(&self, controller: &str) -> Option<&V1Mount> {
        self.v1_mounts().iter().find(|m| m.has(controller))
    }
}

struct MountLine {
    root: String,
    mount_point: PathBuf,
    fstype: String,
    super_options: String,
}

/// Parses one line of mountinfo: `id parent maj:min root mountpoint opts [tags] - fstype source superopts`.
fn parse_mount_line(line: &str) -> Option<MountLine> {
    let (left, right) = line.split_once(" - ")?;
    let fields: Vec<&str> = left.split(' ').collect();
    let right: Vec<&str> = right.split(' ').collect();
    let fstype = *right.first()?;
    if fstype != "cgroup" && fstype != "cgroup2" {
        return None;
    }
    Some(MountLine {
        root: unescape_mountinfo(fields.get(3)?),
        mount_point: PathBuf::from(unescape_mountinfo(fields.get(4)?)),
        fstype: fstype.to_string(),
        super_options: right.get(2).copied().unwrap_or_default().to_string(),
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let digits = &bytes[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let v = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                out.push(u8::try_from(v).unwrap_or(b'?'));
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `/proc/self/cgroup` lines `id:controllers:path`; the v2 line has no controllers.
fn parse_self_cgroup(text: &str) -> Vec<(Vec<String>, String)> {
    text.lines()
        .filter_map(|line| {
            let mut it = line.splitn(3, ':');
            let _id = it.next()?;
            let ctrls = it.next()?;
            let path = it.next()?;
            let ctrls = ctrls
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect();
            Some((ctrls, path.to_string()))
        })
        .collect()
}

/// The own cgroup path relative to the mount's root (mountinfo field 4).
fn own_relative(own: &str, mount_root: &str) -> PathBuf {
    let own = Path::new(own);
    let rel = own.strip_prefix(mount_root).unwrap_or(own);
    rel.components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const HYBRID_MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HYBRID_SELF: &str = "\
9:name=systemd:/
4:memory:/sup/abc
2:cpuacct:/
1:cpu:/
0::/
";

    #[test]
    fn hybrid_host_is_detected_with_separate_cpu_and_cpuacct() {
        let h = Hierarchy::from_proc(HYBRID_MOUNTINFO, HYBRID_SELF).unwrap();
        let Hierarchy::Hybrid { v1, unified } = &h else {
            panic!("not hybrid: {h:?}")
        };
        assert_eq!(unified.mount_point, Path::new("/sys/fs/cgroup/unified"));
        assert_eq!(v1.len(), 4);
        let mem = h.v1_mount("memory").unwrap();
        assert_eq!(mem.own_cgroup, Path::new("sup/abc"));
        assert_eq!(h.v1_mount("cpu").unwrap().controllers, vec!["cpu"]);
        assert!(h.v1_mount("name=systemd").unwrap().is_named());
        assert!(h.v1_mount("pids").is_none());
    }

    #[test]
    fn pure_v2_host_is_detected() {
        let mi = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        let h = Hierarchy::from_proc(mi, "0::/user.slice/session-1.scope\n").unwrap();
        let Hierarchy::V2 { root } = h else { panic!() };
        assert_eq!(root.own_cgroup, Path::new("user.slice/session-1.scope"));
    }

    #[test]
    fn comounted_v1_controllers_share_one_hierarchy() {
        let mi = "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n";
        let h = Hierarchy::from_proc(mi, "3:cpu,cpuacct:/a\n").unwrap();
        let Hierarchy::V1 { mounts } = &h else {
            panic!()
        };
        assert_eq!(mounts.len(), 1);
        assert!(h.v1_mount("cpuacct").unwrap().has("cpu"));
    }

    #[test]
    fn mount_inside_cgroup_namespace_strips_the_mount_root() {
        let mi = "30 23 0:26 /ctr /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let h = Hierarchy::from_proc(mi, "0::/ctr/inner\n").unwrap();
        assert_eq!(h.unified().unwrap().own_cgroup, Path::new("inner"));
    }

    #[test]
    fn no_cgroup_mount_is_an_error() {
        let mi = "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n";
        assert!(matches!(
            Hierarchy::from_proc(mi, ""),
            Err(Error::NoCgroupMounts)
        ));
    }

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape_mountinfo("/a\\040b"), "/a b");
    }
}

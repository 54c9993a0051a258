//! The container engines' seccomp profile format (podman's and Docker's
//! `seccomp.json`: `archMap`, and `includes`/`excludes` by capability,
//! architecture and kernel version) converted to the OCI `LinuxSeccomp` of
//! one container, as moby's and containers/common's converters do.

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag, LinuxSyscall,
};
use serde::Deserialize;

use crate::Error;

/// A kernel version, `major.minor`, for `minKernel` filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
}

impl KernelVersion {
    /// Parses `major.minor[.rest]` (a `uname -r` release or a `minKernel`).
    pub fn parse(release: &str) -> Option<Self> {
        let mut parts = release.split(['.', '-']);
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(Self { major, minor })
    }

    /// The running kernel's version.
    pub fn current() -> Result<Self, Error> {
        let uts = nix::sys::utsname::uname().map_err(|_| Error::KernelRelease {
            release: String::new(),
        })?;
        let release = uts.release().to_string_lossy();
        Self::parse(&release).ok_or_else(|| Error::KernelRelease {
            release: release.into_owned(),
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EngineProfile {
    default_action: LinuxSeccompAction,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    architectures: Vec<Arch>,
    #[serde(default)]
    arch_map: Vec<ArchMap>,
    #[serde(default)]
    flags: Vec<LinuxSeccompFilterFlag>,
    #[serde(default)]
    listener_path: Option<std::path::PathBuf>,
    #[serde(default)]
    listener_metadata: Option<String>,
    #[serde(default)]
    syscalls: Vec<EngineSyscall>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: Arch,
    #[serde(default)]
    sub_architectures: Vec<Arch>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EngineSyscall {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    names: Vec<String>,
    action: LinuxSeccompAction,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<LinuxSeccompArg>>,
    #[serde(default)]
    includes: Conditions,
    #[serde(default)]
    excludes: Conditions,
}

/// An `includes` or `excludes` object of an engine-profile rule.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Conditions {
    #[serde(default)]
    arches: Vec<String>,
    #[serde(default)]
    caps: Vec<String>,
    #[serde(default)]
    min_kernel: Option<String>,
}

/// What a profile is converted for.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// The container's bounding capabilities (`CAP_SYS_ADMIN`, ...).
    pub caps: &'a [String],
    /// The native architecture (`SCMP_ARCH_X86_64` or `SCMP_ARCH_AARCH64`).
    pub arch: Arch,
    /// The kernel `minKernel` is checked against.
    pub kernel: KernelVersion,
}

/// Converts an engine-format profile into the container's `LinuxSeccomp`.
///
/// * `architectures`: the `archMap` entry of `target.arch` and its
///   sub-architectures (else the profile's plain `architectures`);
/// * a rule is kept when all its `includes` hold (every listed cap held, the
///   Go name of `target.arch` listed in `arches`, kernel >= `minKernel`) and
///   none of its `excludes` does (a listed cap held, the arch listed, kernel
///   >= `minKernel`).
pub fn to_oci(json: &str, target: &Target<'_>) -> Result<LinuxSeccomp, Error> {
    let profile: EngineProfile = serde_json::from_str(json).map_err(Error::EngineProfileJson)?;
    let mut syscalls = Vec::new();
    for (i, rule) in profile.syscalls.into_iter().enumerate() {
        if !applies(i, &rule, target)? {
            continue;
        }
        let mut syscall = LinuxSyscall::default();
        let mut names = rule.names;
        names.extend(rule.name);
        syscall.set_names(names);
        syscall.set_action(rule.action);
        syscall.set_errno_ret(rule.errno_ret);
        syscall.set_args(rule.args.filter(|args| !args.is_empty()));
        syscalls.push(syscall);
    }
    let architectures = match profile
        .arch_map
        .into_iter()
        .find(|m| m.architecture == target.arch)
    {
        Some(map) => std::iter::once(map.architecture)
            .chain(map.sub_architectures)
            .collect(),
        None => profile.architectures,
    };
    let mut oci = LinuxSeccomp::default();
    oci.set_default_action(profile.default_action);
    oci.set_default_errno_ret(profile.default_errno_ret);
    oci.set_architectures(Some(architectures).filter(|a| !a.is_empty()));
    oci.set_flags(Some(profile.flags).filter(|f| !f.is_empty()));
    oci.set_listener_path(profile.listener_path);
    oci.set_listener_metadata(profile.listener_metadata);
    oci.set_syscalls(Some(syscalls));
    Ok(oci)
}

fn applies(rule: usize, syscall: &EngineSyscall, target: &Target<'_>) -> Result<bool, Error> {
    let arch = go_arch(target.arch);
    let has_cap = |cap: &String| target.caps.contains(cap);
    let inc = &syscall.includes;
    let exc = &syscall.excludes;
    let included = inc.caps.iter().all(has_cap)
        && (inc.arches.is_empty() || inc.arches.iter().any(|a| a == arch))
        && at_least(rule, inc.min_kernel.as_deref(), target.kernel)?.unwrap_or(true);
    let excluded = exc.caps.iter().any(has_cap)
        || exc.arches.iter().any(|a| a == arch)
        || at_least(rule, exc.min_kernel.as_deref(), target.kernel)?.unwrap_or(false);
    Ok(included && !excluded)
}

/// Whether `kernel >= min_kernel`; `None` without a `minKernel`.
fn at_least(
    rule: usize,
    min_kernel: Option<&str>,
    kernel: KernelVersion,
) -> Result<Option<bool>, Error> {
    min_kernel
        .map(|value| {
            KernelVersion::parse(value)
                .map(|min| kernel >= min)
                .ok_or_else(|| Error::MinKernel {
                    rule,
                    value: value.to_owned(),
                })
        })
        .transpose()
}

/// The Go architecture name the engines use in `arches`.
fn go_arch(arch: Arch) -> &'static str {
    match arch {
        Arch::ScmpArchX86_64 => "amd64",
        Arch::ScmpArchAarch64 => "arm64",
        Arch::ScmpArchX86 => "386",
        Arch::ScmpArchArm => "arm",
        Arch::ScmpArchS390x => "s390x",
        Arch::ScmpArchPpc64le => "ppc64le",
        Arch::ScmpArchRiscv64 => "riscv64",
        _ => "",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const PROFILE: &str = r#"{
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
        "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                    {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
        "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": []},
            {"name": "write", "action": "SCMP_ACT_ALLOW"},
            {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
            {"names": ["chroot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_CHROOT"]}},
            {"names": ["chroot"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "excludes": {"caps": ["CAP_SYS_CHROOT"]}},
            {"names": ["clone3"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "5.3"}},
            {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "4.8"}}
        ]}"#;

    fn names(profile: &LinuxSeccomp) -> Vec<String> {
        let rules = profile.syscalls().as_deref().unwrap_or_default();
        rules
            .iter()
            .flat_map(|r| r.names().iter().cloned())
            .collect()
    }

    #[test]
    fn includes_and_excludes_select_rules_by_arch_caps_and_kernel() {
        let caps = ["CAP_SYS_CHROOT".to_owned()];
        let amd64_new = Target {
            caps: &caps,
            arch: Arch::ScmpArchX86_64,
            kernel: KernelVersion { major: 6, minor: 1 },
        };
        let profile = to_oci(PROFILE, &amd64_new).unwrap();
        assert_eq!(
            names(&profile),
            ["read", "write", "arch_prctl", "chroot", "clone3"]
        );
        assert_eq!(profile.default_errno_ret(), Some(38));
        assert_eq!(
            profile.architectures().as_deref(),
            Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32][..])
        );
        assert!(
            profile.syscalls().as_deref().unwrap_or_default()[0]
                .args()
                .is_none()
        );

        let arm64_old = Target {
            caps: &[],
            arch: Arch::ScmpArchAarch64,
            kernel: KernelVersion { major: 4, minor: 4 },
        };
        let profile = to_oci(PROFILE, &arm64_old).unwrap();
        assert_eq!(names(&profile), ["read", "write", "chroot", "ptrace"]);
        let chroot = &profile.syscalls().as_deref().unwrap_or_default()[2];
        assert_eq!(chroot.errno_ret(), Some(1));
    }

    #[test]
    fn bad_min_kernel_names_the_rule() {
        let json = r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "new"}}]}"#;
        let target = Target {
            caps: &[],
            arch: Arch::ScmpArchX86_64,
            kernel: KernelVersion { major: 6, minor: 1 },
        };
        let err = to_oci(json, &target).unwrap_err();
        assert!(matches!(err, Error::MinKernel { rule: 0, .. }), "{err:?}");
    }

    #[test]
    fn kernel_release_parses_major_minor() {
        assert_eq!(
            KernelVersion::parse("6.18.44-fc-v669"),
            Some(KernelVersion {
                major: 6,
                minor: 18
            })
        );
        assert_eq!(
            KernelVersion::parse("5.3"),
            Some(KernelVersion { major: 5, minor: 3 })
        );
        assert_eq!(KernelVersion::parse("6"), None);
        assert!(KernelVersion::current().is_ok());
    }
}

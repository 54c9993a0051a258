//! Device access rules (`linux.resources.devices`): lines for the v1
//! `devices` controller, an eBPF device filter on cgroup v2.

use std::os::fd::AsFd;
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::error::{Error, Result};
use crate::fsutil;
use crate::sys::{self, Insn};

/// The rules runc appends after the bundle's own: `mknod` of any device
/// node, and full access to the devices every container gets (`/dev/null`,
/// `zero`, `full`, `random`, `urandom`, `tty`, `ptmx` and `/dev/pts/*`).
pub fn default_device_rules() -> Vec<LinuxDeviceCgroup> {
    let rule = |typ, major, minor: Option<i64>, access: &str| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(true);
        r.set_typ(Some(typ));
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some(access.to_string()));
        r
    };
    use LinuxDeviceType::{B, C};
    vec![
        rule(C, None, None, "m"),
        rule(B, None, None, "m"),
        rule(C, Some(1), Some(3), "rwm"),
        rule(C, Some(1), Some(8), "rwm"),
        rule(C, Some(1), Some(7), "rwm"),
        rule(C, Some(5), Some(0), "rwm"),
        rule(C, Some(1), Some(5), "rwm"),
        rule(C, Some(1), Some(9), "rwm"),
        rule(C, Some(136), None, "rwm"),
        rule(C, Some(5), Some(2), "rwm"),
    ]
}

/// The line the kernel expects in `devices.allow`/`devices.deny`:
/// `type major:minor access`, with `*` for any number.
pub(crate) fn rule_line(rule: &LinuxDeviceCgroup) -> String {
    let typ = rule.typ().unwrap_or(LinuxDeviceType::A);
    if typ == LinuxDeviceType::A {
        return "a *:* rwm".to_string();
    }
    let num = |n: Option<i64>| match n {
        Some(n) if n >= 0 => n.to_string(),
        _ => "*".to_string(),
    };
    let given = rule.access().as_deref().unwrap_or("rwm");
    let access: String = ['r', 'w', 'm']
        .into_iter()
        .filter(|c| given.contains(*c))
        .collect();
    format!(
        "{} {}:{} {}",
        typ.as_str(),
        num(rule.major()),
        num(rule.minor()),
        access
    )
}

/// Writes the bundle's rules, then the default ones, each to
/// `devices.allow` or `devices.deny`.
///
/// The usual rule list is "deny everything, then allow these". Applied
/// literally to a cgroup that already denies by default (an `update`), the
/// first write would cut the running container off every device until
/// the allows follow. So in that case the allows are written first and
/// then only the entries no longer wanted are denied.
pub(crate) fn apply_v1(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let mut all = rules.to_vec();
    all.extend(default_device_rules());
    let current = fsutil::read_opt(dir, "devices.list")?.unwrap_or_default();
    let already_deny_all = !current.is_empty() && !current.lines().any(|l| l.trim() == "a *:* rwm");
    if let Some((first, allows)) = all.split_first()
        && is_deny_all(first)
        && allows.iter().all(|r| r.allow())
        && already_deny_all
    {
        let wanted: Vec<String> = allows.iter().map(rule_line).collect();
        for line in &wanted {
            fsutil::write(dir, "devices.allow", line)?;
        }
        for stale in current
            .lines()
            .map(str::trim)
            .filter(|l| !wanted.iter().any(|w| w == l))
        {
            fsutil::write(dir, "devices.deny", stale)?;
        }
        return Ok(());
    }
    for rule in &all {
        let file = if rule.allow() {
            "devices.allow"
        } else {
            "devices.deny"
        };
        fsutil::write(dir, file, &rule_line(rule))?;
    }
    Ok(())
}

fn is_deny_all(rule: &LinuxDeviceCgroup) -> bool {
    !rule.allow() && rule.typ().unwrap_or(LinuxDeviceType::A) == LinuxDeviceType::A
}

/// eBPF opcodes used by the device filter.
mod op {
    pub(super) const LDX_MEM_W: u8 = 0x61;
    pub(super) const ALU32_AND_K: u8 = 0x54;
    pub(super) const ALU32_RSH_K: u8 = 0x74;
    pub(super) const ALU32_MOV_X: u8 = 0xbc;
    pub(super) const ALU64_MOV_K: u8 = 0xb7;
    pub(super) const JNE_K: u8 = 0x55;
    pub(super) const EXIT: u8 = 0x95;
}

/// `BPF_DEVCG_DEV_*` of a rule type; `None` matches every type.
fn bpf_type(typ: LinuxDeviceType) -> Option<i32> {
    match typ {
        LinuxDeviceType::B => Some(1),
        LinuxDeviceType::C | LinuxDeviceType::U => Some(2),
        LinuxDeviceType::A | LinuxDeviceType::P => None,
    }
}

/// `BPF_DEVCG_ACC_*` bits of an access string: m=1, r=2, w=4.
fn bpf_access(access: &str) -> i32 {
    access.chars().fold(0, |acc, c| match c {
        'm' => acc | 1,
        'r' => acc | 2,
        'w' => acc | 4,
        _ => acc,
    })
}

/// The v2 device filter for `rules`: a `BPF_PROG_TYPE_CGROUP_DEVICE`
/// program with v1's semantics, where a later rule overrides an earlier
/// one. Rules are checked last to first; the first that matches decides;
/// with no match the access is allowed (a new v1 cgroup allows everything
/// until a rule says otherwise). A type `a` rule matches every device, as on v1.
pub(crate) fn device_filter(rules: &[LinuxDeviceCgroup]) -> Vec<Insn> {
    let mut p = vec![
        Insn::new(op::LDX_MEM_W, 2, 1, 0, 0),
        Insn::new(op::ALU32_AND_K, 2, 0, 0, 0xffff),
        Insn::new(op::LDX_MEM_W, 3, 1, 0, 0),
        Insn::new(op::ALU32_RSH_K, 3, 0, 0, 16),
        Insn::new(op::LDX_MEM_W, 4, 1, 4, 0),
        Insn::new(op::LDX_MEM_W, 5, 1, 8, 0),
    ];
    for rule in rules.iter().rev() {
        p.extend(rule_block(rule));
        // A type `a` rule always decides: anything after it would be
        // unreachable, which the verifier refuses.
        if rule.typ().unwrap_or(LinuxDeviceType::A) == LinuxDeviceType::A {
            return p;
        }
    }
    p.push(Insn::new(op::ALU64_MOV_K, 0, 0, 0, 1));
    p.push(Insn::new(op::EXIT, 0, 0, 0, 0));
    p
}

/// Tests of one rule, each jumping past the block when it fails, then
/// `r0 = allow; exit`.
fn rule_block(rule: &LinuxDeviceCgroup) -> Vec<Insn> {
    // (instruction, whether it jumps to the end of the block)
    let mut block: Vec<(Insn, bool)> = Vec::new();
    let typ = rule.typ().unwrap_or(LinuxDeviceType::A);
    if let Some(t) = bpf_type(typ) {
        block.push((Insn::new(op::JNE_K, 2, 0, 0, t), true));
        let access = bpf_access(rule.access().as_deref().unwrap_or("rwm"));
        if access != 7 {
            block.push((Insn::new(op::ALU32_MOV_X, 1, 3, 0, 0), false));
            block.push((Insn::new(op::ALU32_AND_K, 1, 0, 0, !access), false));
            block.push((Insn::new(op::JNE_K, 1, 0, 0, 0), true));
        }
        let numbers = [(4, rule.major()), (5, rule.minor())];
        for (reg, n) in numbers {
            if let Some(n) = n.filter(|&n| n >= 0) {
                let n = i32::try_from(n).unwrap_or(i32::MAX);
                block.push((Insn::new(op::JNE_K, reg, 0, 0, n), true));
            }
        }
    }
    block.push((
        Insn::new(op::ALU64_MOV_K, 0, 0, 0, i32::from(rule.allow())),
        false,
    ));
    block.push((Insn::new(op::EXIT, 0, 0, 0, 0), false));
    let len = block.len();
    block
        .into_iter()
        .enumerate()
        .map(|(i, (mut insn, jumps))| {
            if jumps {
                insn.off = i16::try_from(len - i - 1).unwrap_or(i16::MAX);
            }
            insn
        })
        .collect()
}

/// Replaces the device filter of the v2 cgroup `dir` with one for `rules`
/// followed by the default rules: the new program is attached before the
/// old ones are detached, so there is no moment without a filter.
pub(crate) fn apply_v2(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let mut all = rules.to_vec();
    all.extend(default_device_rules());
    let program = device_filter(&all);
    let cgroup = std::fs::File::open(dir).map_err(|source| Error::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let sys_err = |syscall, source| Error::Sys {
        syscall,
        path: dir.to_path_buf(),
        source,
    };
    let old = sys::attached_device_programs(cgroup.as_fd())
        .map_err(|e| sys_err("bpf(BPF_PROG_QUERY)", e))?;
    let prog =
        sys::load_device_program(&program).map_err(|(source, log)| Error::DeviceFilterLoad {
            path: dir.to_path_buf(),
            source,
            log,
        })?;
    sys::attach_device_program(cgroup.as_fd(), prog.as_fd())
        .map_err(|e| sys_err("bpf(BPF_PROG_ATTACH)", e))?;
    for o in old {
        sys::detach_device_program(cgroup.as_fd(), o.as_fd())
            .map_err(|e| sys_err("bpf(BPF_PROG_DETACH)", e))?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Runs a device filter the way the kernel would, for the opcodes it uses.
    fn run(program: &[Insn], typ: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [(access << 16) | typ, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = program[pc];
            let (dst, src) = (usize::from(i.regs & 0xf), usize::from(i.regs >> 4));
            pc += 1;
            match i.code {
                op::LDX_MEM_W => r[dst] = u64::from(ctx[usize::try_from(i.off).unwrap() / 4]),
                op::ALU32_AND_K => r[dst] = u64::from((r[dst] as u32) & (i.imm as u32)),
                op::ALU32_RSH_K => r[dst] = u64::from((r[dst] as u32) >> i.imm),
                op::ALU32_MOV_X => r[dst] = u64::from(r[src] as u32),
                op::ALU64_MOV_K => r[dst] = i64::from(i.imm) as u64,
                op::JNE_K => {
                    if r[dst] != i64::from(i.imm) as u64 {
                        pc += usize::try_from(i.off).unwrap();
                    }
                }
                op::EXIT => return r[0],
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    fn rules(json: &str) -> Vec<LinuxDeviceCgroup> {
        serde_json::from_str(json).unwrap()
    }

    const CHAR: u32 = 2;
    const BLOCK: u32 = 1;
    const R: u32 = 2;
    const W: u32 = 4;
    const M: u32 = 1;

    #[test]
    fn device_filter_denies_all_but_the_allowed_devices_and_accesses() {
        let mut rs = rules(
            r#"[{"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rw"},
                {"allow": true, "type": "b", "major": 8, "access": "r"}]"#,
        );
        rs.extend(default_device_rules());
        let p = device_filter(&rs);
        assert_eq!(run(&p, CHAR, R | W, 10, 200), 1);
        assert_eq!(
            run(&p, CHAR, M, 10, 200),
            1,
            "mknod of any char device is a default rule"
        );
        assert_eq!(run(&p, CHAR, R, 10, 201), 0);
        assert_eq!(run(&p, BLOCK, R, 8, 3), 1);
        assert_eq!(run(&p, BLOCK, W, 8, 3), 0);
        assert_eq!(run(&p, BLOCK, R, 9, 0), 0);
        assert_eq!(run(&p, CHAR, R | W, 1, 3), 1, "/dev/null is a default rule");
        assert_eq!(
            run(&p, CHAR, R | W, 136, 7),
            1,
            "/dev/pts/* is a default rule"
        );
        assert_eq!(run(&p, CHAR, R | W, 4, 1), 0);
    }

    #[test]
    fn device_filter_lets_a_later_rule_override_an_earlier_one() {
        let p = device_filter(&rules(
            r#"[{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "w"}]"#,
        ));
        assert_eq!(run(&p, CHAR, W, 1, 3), 0);
        assert_eq!(run(&p, CHAR, R, 1, 3), 1);
        assert_eq!(
            run(&p, CHAR, R | W, 5, 5),
            1,
            "no deny-all: allowed by default"
        );
    }

    /// Attaches a filter to a real v2 cgroup (the unified hierarchy works
    /// for this on hybrid hosts too) and checks the kernel enforces it.
    #[test]
    fn device_filter_is_enforced_by_the_kernel_on_a_v2_cgroup() {
        if !nix::unistd::geteuid().is_root() {
            println!("skipped: needs root");
            return;
        }
        let Some(unified) = crate::Hierarchy::detect()
            .ok()
            .and_then(|h| h.unified().cloned())
        else {
            println!("skipped: no cgroup v2 hierarchy");
            return;
        };
        struct Guard(std::path::PathBuf, Option<std::process::Child>);
        impl Drop for Guard {
            fn drop(&mut self) {
                if let Some(c) = &mut self.1 {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                let _ = std::fs::remove_dir(&self.0);
            }
        }
        let dir = unified
            .mount_point
            .join(format!("gorae-test-unit-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        let mut guard = Guard(dir.clone(), None);
        let run_in_cgroup = |script: &str| {
            use std::io::Write as _;
            let mut child = std::process::Command::new("sh")
                .args(["-c", &format!("read x; {script}")])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            std::fs::write(dir.join("cgroup.procs"), child.id().to_string()).unwrap();
            child.stdin.take().unwrap().write_all(b"go\n").unwrap();
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            (stdout, String::from_utf8_lossy(&out.stderr).into_owned())
        };
        // /dev/kmsg (c 1:11) is not among the default rules; /dev/null is.
        let script = "(: < /dev/kmsg); echo $?; (: > /dev/kmsg); echo $?; (: < /dev/null); echo $?";
        let deny_all = rules(r#"[{"allow": false, "access": "rwm"}]"#);
        apply_v2(&dir, &deny_all).unwrap();
        let (stdout, stderr) = run_in_cgroup(script);
        assert!(
            stdout.starts_with('1') || stdout.starts_with('2'),
            "{stdout} {stderr}"
        );
        assert!(stdout.ends_with(" 0"), "{stdout} {stderr}");
        assert!(stderr.contains("not permitted"), "{stderr}");

        let read_kmsg = rules(
            r#"[{"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "r"}]"#,
        );
        apply_v2(&dir, &read_kmsg).unwrap();
        let (stdout, stderr) = run_in_cgroup(script);
        let codes: Vec<&str> = stdout.split(' ').collect();
        assert_eq!(codes[0], "0", "{stdout} {stderr}");
        assert_ne!(codes[1], "0", "{stdout} {stderr}");
        assert_eq!(codes[2], "0", "{stdout} {stderr}");

        // Applying replaces the program instead of stacking another one.
        let cgroup = std::fs::File::open(&dir).unwrap();
        assert_eq!(
            sys::attached_device_programs(cgroup.as_fd()).unwrap().len(),
            1
        );
        let _ = &mut guard.1;
    }
}

//! Tests against the real kernel, as root. Each test works under its own
//! parent cgroup `gorae-test-<pid>-<n>` in every hierarchy, and a guard
//! removes that parent (and everything below it) even when the test fails.
//! Files this kernel lacks are skipped with a printed reason.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use gorae_cgroups::{Cgroup, CgroupPath, Error, FreezerKind, Hierarchy, OomEvent, validate};
use oci_spec::runtime::LinuxResources;

/// A test's own parent cgroup and the processes it started; both are
/// cleaned up on drop.
struct Sandbox {
    hierarchy: Hierarchy,
    parent: String,
    children: Vec<Child>,
}

impl Sandbox {
    /// `None` (with the reason printed) when the host cannot run the test.
    fn new(need_v1: bool) -> Option<Self> {
        if !nix::unistd::geteuid().is_root() {
            println!("skipped: needs root");
            return None;
        }
        let hierarchy = match Hierarchy::detect() {
            Ok(h) => h,
            Err(e) => {
                println!("skipped: {e}");
                return None;
            }
        };
        if need_v1 && hierarchy.v1_mounts().is_empty() {
            println!("skipped: no cgroup v1 hierarchy on this host");
            return None;
        }
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let parent = format!("gorae-test-{}-{n}", std::process::id());
        Some(Sandbox {
            hierarchy,
            parent,
            children: Vec::new(),
        })
    }

    fn path(&self, leaf: &str) -> CgroupPath {
        CgroupPath::parse(&format!("/{}/{leaf}", self.parent)).unwrap()
    }

    fn mount_points(&self) -> Vec<PathBuf> {
        let v1 = self
            .hierarchy
            .v1_mounts()
            .iter()
            .map(|m| m.mount_point.clone());
        v1.chain(self.hierarchy.unified().map(|u| u.mount_point.clone()))
            .collect()
    }

    /// Starts `cmd` with a piped stdin; it waits for a line before going on
    /// when the script starts with `read`.
    fn spawn(&mut self, program: &str, args: &[&str]) -> u32 {
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        self.children.push(child);
        pid
    }

    fn release(&mut self, pid: u32) {
        let child = self.children.iter_mut().find(|c| c.id() == pid).unwrap();
        child.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    }

    fn take(&mut self, pid: u32) -> Child {
        let i = self.children.iter().position(|c| c.id() == pid).unwrap();
        self.children.remove(i)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let mut all = Vec::new();
        for mount in self.mount_points() {
            let top = mount.join(&self.parent);
            if top.exists() {
                collect_dirs(&top, &mut all);
                all.push(top);
            }
        }
        // Processes may remain (a shell's grandchildren, or a test that
        // failed with its cgroup frozen): thaw and kill them everywhere
        // first, then remove the directories, deepest first.
        for d in &all {
            let _ = fs::write(d.join("freezer.state"), "THAWED");
            let _ = fs::write(d.join("cgroup.freeze"), "0");
            for pid in fs::read_to_string(d.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
            {
                if let Ok(pid) = pid.trim().parse::<i32>() {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::SIGKILL,
                    );
                }
            }
        }
        for d in all {
            for _ in 0..300 {
                if fs::remove_dir(&d).is_ok() || !d.exists() {
                    break;
                }
                sleep(Duration::from_millis(10));
            }
        }
    }
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            collect_dirs(&e.path(), out);
            out.push(e.path());
        }
    }
}

fn res(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

/// Reads `dir/file` trimmed, or prints why the check is skipped.
fn kernel_value(dir: &Path, file: &str) -> Option<String> {
    match fs::read_to_string(dir.join(file)) {
        Ok(s) => Some(s.trim().to_string()),
        Err(e) => {
            println!("skipped check of {}: {e}", dir.join(file).display());
            None
        }
    }
}

fn assert_kernel(cg: &Cgroup, controller: &str, file: &str, expected: &str) {
    let Some(dir) = cg.v1_dirs().get(controller) else {
        println!("skipped {file}: no {controller} hierarchy on this host");
        return;
    };
    if let Some(v) = kernel_value(dir, file) {
        assert_eq!(v, expected, "{}", dir.join(file).display());
    }
}

fn block_device() -> Option<String> {
    for e in fs::read_dir("/sys/block").ok()?.flatten() {
        let name = e.file_name().into_string().ok()?;
        if name.starts_with("loop") || name.starts_with("zram") || name.starts_with("ram") {
            continue;
        }
        return fs::read_to_string(e.path().join("dev"))
            .ok()
            .map(|s| s.trim().to_string());
    }
    None
}

fn proc_state(pid: u32) -> String {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("State:"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn v1_resources_are_applied_and_read_back_from_the_kernel() {
    let Some(sb) = Sandbox::new(true) else { return };
    let dev = block_device();
    let throttle = dev
        .as_deref()
        .and_then(|d| d.split_once(':'))
        .map(|(maj, min)| format!(r#", "blockIO": {{"throttleReadBpsDevice": [{{"major": {maj}, "minor": {min}, "rate": 1048576}}], "throttleWriteIOPSDevice": [{{"major": {maj}, "minor": {min}, "rate": 500}}]}}"#))
        .unwrap_or_default();
    let json = format!(
        r#"{{"memory": {{"limit": 67108864, "swap": 134217728, "reservation": 33554432, "swappiness": 30, "kernel": 1}},
            "cpu": {{"shares": 512, "quota": 20000, "period": 100000, "burst": 5000, "idle": 0, "cpus": "0", "mems": "0"}},
            "pids": {{"limit": 10}},
            "devices": [{{"allow": false, "access": "rwm"}}, {{"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rw"}}]
            {throttle}}}"#
    );
    let (cg, warnings) = Cgroup::create(&sb.hierarchy, &sb.path("ctr"), Some(&res(&json))).unwrap();
    assert_eq!(warnings[0].field, "memory.kernel");
    assert_kernel(&cg, "memory", "memory.limit_in_bytes", "67108864");
    assert_kernel(&cg, "memory", "memory.memsw.limit_in_bytes", "134217728");
    assert_kernel(&cg, "memory", "memory.soft_limit_in_bytes", "33554432");
    assert_kernel(&cg, "memory", "memory.swappiness", "30");
    assert_kernel(&cg, "cpu", "cpu.shares", "512");
    assert_kernel(&cg, "cpu", "cpu.cfs_quota_us", "20000");
    assert_kernel(&cg, "cpu", "cpu.cfs_period_us", "100000");
    assert_kernel(&cg, "cpu", "cpu.cfs_burst_us", "5000");
    assert_kernel(&cg, "cpu", "cpu.idle", "0");
    assert_kernel(&cg, "cpuset", "cpuset.cpus", "0");
    assert_kernel(&cg, "cpuset", "cpuset.mems", "0");
    assert_kernel(&cg, "pids", "pids.max", "10");
    match dev {
        Some(d) => {
            assert_kernel(
                &cg,
                "blkio",
                "blkio.throttle.read_bps_device",
                &format!("{d} 1048576"),
            );
            assert_kernel(
                &cg,
                "blkio",
                "blkio.throttle.write_iops_device",
                &format!("{d} 500"),
            );
        }
        None => println!("skipped blkio throttle: no block device"),
    }
    if let Some(list) = cg
        .v1_dirs()
        .get("devices")
        .and_then(|d| kernel_value(d, "devices.list"))
    {
        let rules: Vec<&str> = list.lines().collect();
        assert!(!rules.contains(&"a *:* rwm"), "{rules:?}");
        for rule in [
            "c 10:200 rw",
            "c 1:3 rwm",
            "c 136:* rwm",
            "c *:* m",
            "b *:* m",
        ] {
            assert!(rules.contains(&rule), "{rule} not in {rules:?}");
        }
    }
    cg.destroy().unwrap();
}

#[test]
fn v1_memory_update_orders_limit_and_memsw_writes_as_the_kernel_needs() {
    let Some(sb) = Sandbox::new(true) else { return };
    if sb.hierarchy.v1_mount("memory").is_none() {
        println!("skipped: no v1 memory hierarchy");
        return;
    }
    let r = |l: i64| res(&format!(r#"{{"memory": {{"limit": {l}, "swap": {l}}}}}"#));
    let (cg, _) = Cgroup::create(&sb.hierarchy, &sb.path("ctr"), Some(&r(33_554_432))).unwrap();
    cg.apply(&r(67_108_864)).unwrap();
    assert_kernel(&cg, "memory", "memory.limit_in_bytes", "67108864");
    assert_kernel(&cg, "memory", "memory.memsw.limit_in_bytes", "67108864");
    cg.apply(&r(16_777_216)).unwrap();
    assert_kernel(&cg, "memory", "memory.limit_in_bytes", "16777216");
    assert_kernel(&cg, "memory", "memory.memsw.limit_in_bytes", "16777216");
    cg.apply(&res(r#"{"memory": {"limit": -1}}"#)).unwrap();
    assert_kernel(
        &cg,
        "memory",
        "memory.limit_in_bytes",
        "9223372036854771712",
    );
    cg.destroy().unwrap();
}

#[test]
fn failed_apply_during_create_removes_every_directory_it_made() {
    let Some(sb) = Sandbox::new(true) else { return };
    // cpu.shares 1 is clamped to 2 by the kernel, which runc reports as an error.
    let r = res(r#"{"pids": {"limit": 3}, "cpu": {"shares": 1}}"#);
    let err = Cgroup::create(&sb.hierarchy, &sb.path("ctr"), Some(&r)).unwrap_err();
    assert!(
        matches!(err, Error::CpuSharesOutOfRange { actual: 2, .. }),
        "{err}"
    );
    for m in sb.mount_points() {
        assert!(!m.join(&sb.parent).exists(), "{} left behind", m.display());
    }
}

#[test]
fn blkio_weight_applies_where_the_kernel_has_it_and_fails_cleanly_where_not() {
    let Some(sb) = Sandbox::new(true) else { return };
    let Some(blkio) = sb.hierarchy.v1_mount("blkio") else {
        println!("skipped: no blkio hierarchy");
        return;
    };
    let r = res(r#"{"blockIO": {"weight": 500}}"#);
    match Cgroup::create(&sb.hierarchy, &sb.path("ctr"), Some(&r)) {
        Ok((cg, _)) => {
            let dir = &cg.v1_dirs()["blkio"];
            let file = ["blkio.weight", "blkio.bfq.weight"]
                .into_iter()
                .find(|f| dir.join(f).exists());
            let value = fs::read_to_string(dir.join(file.unwrap())).unwrap();
            assert!(value.contains("500"), "{value}");
            cg.destroy().unwrap();
        }
        Err(e) => {
            println!("this kernel has no blkio weight file: {e}");
            assert!(matches!(e, Error::Write { .. }), "{e}");
            assert!(!blkio.mount_point.join(&sb.parent).exists());
        }
    }
}

#[test]
fn resources_of_missing_controllers_are_refused_before_anything_is_created() {
    let Some(sb) = Sandbox::new(true) else { return };
    let mut cases = vec![
        (r#"{"cpu": {"cpus": "0-abc"}}"#, "cpu.cpus"),
        (r#"{"memory": {"limit": -5}}"#, "memory.limit"),
        (
            r#"{"devices": [{"allow": true, "type": "c", "access": "rwz"}]}"#,
            "devices.access",
        ),
        (r#"{"unified": {"memory.high": "1"}}"#, "unified"),
    ];
    if sb.hierarchy.v1_mount("hugetlb").is_none() {
        cases.push((
            r#"{"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]}"#,
            "hugetlb",
        ));
    }
    if sb.hierarchy.v1_mount("net_cls").is_none() {
        cases.push((r#"{"network": {"classID": 1}}"#, "net_cls"));
    }
    for (json, needle) in cases {
        let r = res(json);
        let err = validate(Some(&r), &sb.path("ctr")).unwrap_err();
        assert!(err.to_string().contains(needle), "{json}: {err}");
        let err = Cgroup::create(&sb.hierarchy, &sb.path("ctr"), Some(&r)).unwrap_err();
        assert!(err.to_string().contains(needle), "{json}: {err}");
        for m in sb.mount_points() {
            assert!(
                !m.join(&sb.parent).exists(),
                "{json}: {} created",
                m.display()
            );
        }
    }
    let systemd = CgroupPath::parse("system.slice:gorae:x").unwrap();
    assert!(validate(None, &systemd).is_err());
    let err = Cgroup::create(&sb.hierarchy, &systemd, None).unwrap_err();
    assert!(err.to_string().contains("systemd"), "{err}");
}

#[test]
fn added_pid_is_in_the_container_cgroup_of_every_hierarchy() {
    let Some(mut sb) = Sandbox::new(false) else {
        return;
    };
    let (cg, _) = Cgroup::create(&sb.hierarchy, &sb.path("ctr"), None).unwrap();
    let pid = sb.spawn("sleep", &["100"]);
    cg.add_pid(pid as i32).unwrap();
    let own = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let expected = format!("/{}/ctr", sb.parent);
    let lines: Vec<&str> = own.lines().collect();
    assert_eq!(lines.len(), sb.mount_points().len(), "{own}");
    for line in lines {
        assert!(
            line.ends_with(&format!(":{expected}")),
            "{line} not in {expected}"
        );
    }
    assert_eq!(cg.pids().unwrap(), [pid as i32]);
    assert!(cg.v2_dir_fd().unwrap().is_none() || sb.hierarchy.is_v2());
}

fn freeze_thaw(kind: FreezerKind) {
    let Some(mut sb) = Sandbox::new(false) else {
        return;
    };
    let (cg, _) = Cgroup::create(&sb.hierarchy, &sb.path("ctr"), None).unwrap();
    let cg = match cg.with_freezer(kind) {
        Ok(c) => c,
        Err(e) => {
            println!("skipped: {e}");
            cg_destroy_quiet(&sb);
            return;
        }
    };
    let pid = sb.spawn("sleep", &["100"]);
    cg.add_pid(pid as i32).unwrap();
    assert!(!cg.is_frozen().unwrap());
    cg.freeze().unwrap();
    assert!(cg.is_frozen().unwrap());
    match kind {
        FreezerKind::V1 => {
            let state = fs::read_to_string(cg.v1_dirs()["freezer"].join("freezer.state")).unwrap();
            assert_eq!(state.trim(), "FROZEN");
            assert!(
                proc_state(pid).starts_with('D'),
                "v1-frozen task state {}",
                proc_state(pid)
            );
        }
        FreezerKind::V2 => {
            let events =
                fs::read_to_string(cg.unified_dir().unwrap().join("cgroup.events")).unwrap();
            assert!(events.contains("frozen 1"), "{events}");
            // A v2-frozen task sits in the signal path (do_freezer_trap),
            // not in its own sleep.
            let wchan = fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
            assert!(
                wchan.contains("signal") || wchan.contains("freez"),
                "wchan {wchan}"
            );
        }
    }
    cg.thaw().unwrap();
    assert!(!cg.is_frozen().unwrap());
    let start = Instant::now();
    while proc_state(pid).starts_with('D') && start.elapsed() < Duration::from_secs(2) {
        sleep(Duration::from_millis(5));
    }
    assert!(!proc_state(pid).starts_with('D'), "{}", proc_state(pid));
}

fn cg_destroy_quiet(sb: &Sandbox) {
    if let Ok(cg) = Cgroup::open(&sb.hierarchy, &sb.path("ctr")) {
        let _ = cg.destroy();
    }
}

#[test]
fn freeze_and_thaw_through_the_v1_freezer() {
    freeze_thaw(FreezerKind::V1);
}

#[test]
fn freeze_and_thaw_through_v2_cgroup_freeze() {
    freeze_thaw(FreezerKind::V2);
}

fn wait_exit_signal(child: &mut Child) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Some(status) = child.try_wait().unwrap() {
            return status.signal();
        }
        sleep(Duration::from_millis(10));
    }
    None
}

#[test]
fn kill_all_signals_every_process_and_sigkill_uses_cgroup_kill() {
    let Some(mut sb) = Sandbox::new(false) else {
        return;
    };
    let (cg, _) = Cgroup::create(&sb.hierarchy, &sb.path("ctr"), None).unwrap();
    for (signal, expect) in [
        (libc::SIGTERM, libc::SIGTERM),
        (libc::SIGKILL, libc::SIGKILL),
    ] {
        let a = sb.spawn("sleep", &["100"]);
        let b = sb.spawn("sleep", &["100"]);
        cg.add_pid(a as i32).unwrap();
        cg.add_pid(b as i32).unwrap();
        cg.kill_all(signal).unwrap();
        for pid in [a, b] {
            let mut child = sb.take(pid);
            assert_eq!(wait_exit_signal(&mut child), Some(expect));
        }
        assert!(cg.pids().unwrap().is_empty());
    }
    assert!(!cg.is_frozen().unwrap());
    cg.destroy().unwrap();
}

#[test]
fn pids_max_five_stops_the_sixth_process_with_eagain() {
    let Some(mut sb) = Sandbox::new(false) else {
        return;
    };
    if sb.hierarchy.v1_mount("pids").is_none() && !sb.hierarchy.is_v2() {
        println!("skipped: no pids controller");
        return;
    }
    let (cg, _) = Cgroup::create(
        &sb.hierarchy,
        &sb.path("ctr"),
        Some(&res(r#"{"pids": {"limit": 5}}"#)),
    )
    .unwrap();
    let script = r#"<STDIN>; my @k; for my $i (1..6) { my $p = fork(); if (!defined $p) { print "fork $i failed errno ", $!+0, "\n"; last } if ($p == 0) { sleep 30; exit 0 } push @k, $p } print "made ", scalar(@k), "\n"; kill 9, @k; 1 while wait() > 0;"#;
    let pid = sb.spawn("perl", &["-e", script]);
    cg.add_pid(pid as i32).unwrap();
    sb.release(pid);
    let out = sb.take(pid).wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("fork 5 failed errno {}", libc::EAGAIN)),
        "{stdout}"
    );
    assert!(stdout.contains("made 4"), "{stdout}");
    cg.destroy().unwrap();
}

#[test]
fn stats_report_memory_cpu_and_pids_in_runc_json_shape() {
    let Some(mut sb) = Sandbox::new(false) else {
        return;
    };
    let (cg, _) = Cgroup::create(
        &sb.hierarchy,
        &sb.path("ctr"),
        Some(&res(r#"{"pids": {"limit": 50}}"#)),
    )
    .unwrap();
    let pid = sb.spawn(
        "sh",
        &[
            "-c",
            "read x; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 100",
        ],
    );
    cg.add_pid(pid as i32).unwrap();
    sb.release(pid);
    sleep(Duration::from_millis(300));
    let stats = cg.stats().unwrap();
    let json = serde_json::to_value(&stats).unwrap();
    println!("{json}");
    if sb.hierarchy.v1_mount("pids").is_some() || sb.hierarchy.is_v2() {
        assert!(stats.pids.current >= 1);
        assert_eq!(stats.pids.limit, 50);
    }
    if sb.hierarchy.v1_mount("memory").is_some() {
        assert!(stats.memory.usage.usage > 0);
        assert!(!stats.memory.raw.is_empty());
        assert!(json["memory"]["usage"]["limit"].as_u64().unwrap() > 0);
    }
    if sb.hierarchy.v1_mount("cpuacct").is_some() || sb.hierarchy.is_v2() {
        assert!(stats.cpu.usage.total > 0, "{json}");
    }
    cg.kill_all(libc::SIGKILL).unwrap();
    cg.destroy().unwrap();
}

#[test]
fn oom_kill_is_reported_as_an_event_and_counted() {
    let Some(mut sb) = Sandbox::new(false) else {
        return;
    };
    let r = res(r#"{"memory": {"limit": 33554432, "swap": 33554432}}"#);
    let (cg, _) = match Cgroup::create(&sb.hierarchy, &sb.path("ctr"), Some(&r)) {
        Ok(c) => c,
        Err(e) => {
            println!("skipped: {e}");
            return;
        }
    };
    let mut watcher = cg.oom_events().unwrap();
    assert_eq!(
        watcher.wait(Some(Duration::from_millis(10))).unwrap(),
        OomEvent::Timeout
    );
    let pid = sb.spawn(
        "sh",
        &[
            "-c",
            "read x; exec dd if=/dev/zero of=/dev/null bs=128M count=1",
        ],
    );
    cg.add_pid(pid as i32).unwrap();
    sb.release(pid);
    assert_eq!(
        watcher.wait(Some(Duration::from_secs(20))).unwrap(),
        OomEvent::Oom
    );
    let mut child = sb.take(pid);
    assert_eq!(wait_exit_signal(&mut child), Some(libc::SIGKILL));
    assert!(cg.oom_kill_count().unwrap() >= 1);
    cg.destroy().unwrap();
}

#[test]
fn destroy_removes_the_container_and_its_sub_cgroups_and_nothing_else() {
    let Some(sb) = Sandbox::new(false) else {
        return;
    };
    let (cg, _) = Cgroup::create(&sb.hierarchy, &sb.path("ctr"), None).unwrap();
    for dir in cg.dirs() {
        fs::create_dir(dir.join("made-by-container")).unwrap();
    }
    // A second container under the same parent keeps the parent alive.
    let (other, _) = Cgroup::create(&sb.hierarchy, &sb.path("other"), None).unwrap();
    cg.destroy().unwrap();
    for m in sb.mount_points() {
        assert!(!m.join(&sb.parent).join("ctr").exists());
        assert!(m.join(&sb.parent).join("other").exists());
    }
    // Opened later, a cgroup owns only its own directories, not the parent.
    let reopened = Cgroup::open(&sb.hierarchy, &sb.path("other")).unwrap();
    assert_eq!(reopened.dirs(), other.dirs());
    reopened.destroy().unwrap();
    for m in sb.mount_points() {
        assert!(!m.join(&sb.parent).join("other").exists());
        assert!(
            m.join(&sb.parent).exists(),
            "parent not created by open() was removed"
        );
    }
    assert!(matches!(
        Cgroup::open(&sb.hierarchy, &sb.path("other")),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn destroy_of_a_created_cgroup_also_removes_the_parents_it_created() {
    let Some(sb) = Sandbox::new(false) else {
        return;
    };
    let (cg, _) = Cgroup::create(&sb.hierarchy, &sb.path("a/b"), None).unwrap();
    cg.destroy().unwrap();
    for m in sb.mount_points() {
        assert!(
            !m.join(&sb.parent).exists(),
            "{} left",
            m.join(&sb.parent).display()
        );
    }
}

#[test]
fn v1_device_update_swaps_allowed_devices_without_a_deny_all_gap() {
    let Some(sb) = Sandbox::new(true) else { return };
    if sb.hierarchy.v1_mount("devices").is_none() {
        println!("skipped: no v1 devices hierarchy");
        return;
    }
    let rules = |minor: u32| {
        res(&format!(
            r#"{{"devices": [{{"allow": false, "access": "rwm"}}, {{"allow": true, "type": "c", "major": 10, "minor": {minor}, "access": "wr"}}]}}"#
        ))
    };
    let (cg, _) = Cgroup::create(&sb.hierarchy, &sb.path("ctr"), Some(&rules(200))).unwrap();
    cg.apply(&rules(229)).unwrap();
    let list = fs::read_to_string(cg.v1_dirs()["devices"].join("devices.list")).unwrap();
    let lines: Vec<&str> = list.lines().collect();
    assert!(lines.contains(&"c 10:229 rw"), "{lines:?}");
    assert!(!lines.contains(&"c 10:200 rw"), "{lines:?}");
    assert!(lines.contains(&"c 1:3 rwm"), "{lines:?}");
    assert!(!lines.contains(&"a *:* rwm"), "{lines:?}");
    cg.destroy().unwrap();
}

/// The pure-v2 code path, run on this host's unified hierarchy alone (on a
/// hybrid host it has no resource controllers, which the test allows for).
#[test]
fn pure_v2_flow_on_the_unified_hierarchy() {
    let Some(mut sb) = Sandbox::new(false) else {
        return;
    };
    let Some(unified) = sb.hierarchy.unified().cloned() else {
        println!("skipped: no cgroup v2 hierarchy");
        return;
    };
    let v2 = Hierarchy::V2 {
        root: unified.clone(),
    };
    let controllers = fs::read_to_string(unified.mount_point.join("cgroup.controllers")).unwrap();
    if !controllers.contains("pids") {
        let err = Cgroup::create(
            &v2,
            &sb.path("ctr"),
            Some(&res(r#"{"pids": {"limit": 5}}"#)),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                Error::ControllerUnavailable {
                    controller: "pids",
                    ..
                }
            ),
            "{err}"
        );
        assert!(!unified.mount_point.join(&sb.parent).exists());
    }
    let r = res(r#"{"unified": {"cgroup.max.depth": "2"}}"#);
    let (cg, warnings) = Cgroup::create(&v2, &sb.path("ctr"), Some(&r)).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let dir = cg.unified_dir().unwrap().to_path_buf();
    assert_eq!(
        fs::read_to_string(dir.join("cgroup.max.depth"))
            .unwrap()
            .trim(),
        "2"
    );
    assert!(cg.v2_dir_fd().unwrap().is_some());
    assert_eq!(cg.freezer(), Some(FreezerKind::V2));

    let pid = sb.spawn("sleep", &["100"]);
    cg.add_pid(pid as i32).unwrap();
    assert_eq!(cg.pids().unwrap(), [pid as i32]);
    cg.freeze().unwrap();
    assert!(cg.is_frozen().unwrap());
    let stats = cg.stats().unwrap();
    assert_eq!(stats.pids.current, 1);
    // SIGTERM on a frozen (paused) cgroup: delivered, cgroup stays frozen.
    cg.kill_all(libc::SIGTERM).unwrap();
    assert!(cg.is_frozen().unwrap());
    cg.thaw().unwrap();
    let mut child = sb.take(pid);
    assert_eq!(wait_exit_signal(&mut child), Some(libc::SIGTERM));
    cg.destroy().unwrap();
    assert!(!unified.mount_point.join(&sb.parent).exists());
}

#[test]
fn sigkill_of_a_paused_container_kills_it() {
    let Some(mut sb) = Sandbox::new(false) else {
        return;
    };
    let (cg, _) = Cgroup::create(&sb.hierarchy, &sb.path("ctr"), None).unwrap();
    let pid = sb.spawn("sleep", &["100"]);
    cg.add_pid(pid as i32).unwrap();
    cg.freeze().unwrap();
    cg.kill_all(libc::SIGKILL).unwrap();
    let mut child = sb.take(pid);
    assert_eq!(wait_exit_signal(&mut child), Some(libc::SIGKILL));
    cg.destroy().unwrap();
}

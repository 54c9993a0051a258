//! The values written for each resource, against temp dirs laid out like
//! cgroupfs (see the test double in `fsutil::write_raw`: one line per write).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use oci_spec::runtime::LinuxResources;

use crate::error::Error;
use crate::v1::{self, V1Dirs};
use crate::v2::{self, blkio_weight_to_io_weight, cpu_shares_to_weight, memory_swap_to_v2};
use crate::validate::{Available, check_values};

/// A temp dir removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("cgunit-{}-{n}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// A controller directory with the given (empty) control files.
    fn controller(&self, name: &str, files: &[&str]) -> PathBuf {
        let dir = self.0.join(name).join("ctr");
        fs::create_dir_all(&dir).unwrap();
        for f in files {
            fs::write(dir.join(f), "").unwrap();
        }
        dir
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn res(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

/// Every value written to `dir/file`, one per write.
fn writes(dir: &Path, file: &str) -> Vec<String> {
    fs::read_to_string(dir.join(file))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn set(dir: &Path, file: &str, content: &str) {
    fs::write(dir.join(file), content).unwrap();
}

const V1_MEMORY_FILES: &[&str] = &[
    "memory.limit_in_bytes",
    "memory.memsw.limit_in_bytes",
    "memory.soft_limit_in_bytes",
    "memory.oom_control",
    "memory.swappiness",
];

fn v1_dirs(entries: &[(&str, &Path)]) -> V1Dirs {
    entries
        .iter()
        .map(|(c, d)| (c.to_string(), d.to_path_buf()))
        .collect()
}

#[test]
fn v1_memory_values_go_to_limit_memsw_soft_limit_oom_control_and_swappiness() {
    let t = TempDir::new();
    let d = t.controller("memory", V1_MEMORY_FILES);
    set(&d, "memory.limit_in_bytes", "9223372036854771712\n");
    let r = res(
        r#"{"memory": {"limit": 104857600, "swap": 209715200, "reservation": 52428800,
        "swappiness": 10, "disableOOMKiller": true, "kernel": 1000, "kernelTCP": 1000}}"#,
    );
    let warnings = v1::apply(&v1_dirs(&[("memory", &d)]), &r).unwrap();
    assert_eq!(writes(&d, "memory.limit_in_bytes")[1], "104857600");
    assert_eq!(writes(&d, "memory.memsw.limit_in_bytes"), ["209715200"]);
    assert_eq!(writes(&d, "memory.soft_limit_in_bytes"), ["52428800"]);
    assert_eq!(writes(&d, "memory.oom_control"), ["1"]);
    assert_eq!(writes(&d, "memory.swappiness"), ["10"]);
    let fields: Vec<_> = warnings.iter().map(|w| w.field).collect();
    assert_eq!(fields, ["memory.kernel", "memory.kernelTCP"]);
}

#[test]
fn v1_unlimited_memory_also_unlimits_memsw_when_swap_is_unset() {
    let t = TempDir::new();
    let d = t.controller("memory", V1_MEMORY_FILES);
    set(&d, "memory.limit_in_bytes", "1048576\n");
    v1::apply(
        &v1_dirs(&[("memory", &d)]),
        &res(r#"{"memory": {"limit": -1}}"#),
    )
    .unwrap();
    assert_eq!(writes(&d, "memory.memsw.limit_in_bytes"), ["-1"]);
    assert_eq!(writes(&d, "memory.limit_in_bytes")[1], "-1");
}

#[test]
fn v1_cpu_values_go_to_shares_cfs_idle_and_rt_files() {
    let t = TempDir::new();
    let files = [
        "cpu.shares",
        "cpu.cfs_quota_us",
        "cpu.cfs_period_us",
        "cpu.cfs_burst_us",
        "cpu.idle",
        "cpu.rt_period_us",
        "cpu.rt_runtime_us",
    ];
    let d = t.controller("cpu", &files);
    let r = res(
        r#"{"cpu": {"shares": 512, "quota": 50000, "period": 100000, "burst": 10000,
        "idle": 1, "realtimePeriod": 1000000, "realtimeRuntime": 950000}}"#,
    );
    v1::apply(&v1_dirs(&[("cpu", &d)]), &r).unwrap();
    assert_eq!(writes(&d, "cpu.shares"), ["512"]);
    assert_eq!(writes(&d, "cpu.cfs_quota_us"), ["50000"]);
    assert_eq!(writes(&d, "cpu.cfs_period_us"), ["100000"]);
    assert_eq!(writes(&d, "cpu.cfs_burst_us"), ["10000"]);
    assert_eq!(writes(&d, "cpu.idle"), ["1"]);
    assert_eq!(writes(&d, "cpu.rt_period_us"), ["1000000"]);
    assert_eq!(writes(&d, "cpu.rt_runtime_us"), ["950000"]);
}

#[test]
fn v1_cpuset_pids_values() {
    let t = TempDir::new();
    let cs = t.controller("cpuset", &["cpuset.cpus", "cpuset.mems"]);
    let p = t.controller("pids", &["pids.max"]);
    let r = res(r#"{"cpu": {"cpus": "0-1", "mems": "0"}, "pids": {"limit": 5}}"#);
    v1::apply(&v1_dirs(&[("cpuset", &cs), ("pids", &p)]), &r).unwrap();
    assert_eq!(writes(&cs, "cpuset.cpus"), ["0-1"]);
    assert_eq!(writes(&cs, "cpuset.mems"), ["0"]);
    assert_eq!(writes(&p, "pids.max"), ["5"]);
    assert_eq!(v1::pids_max(0), "1");
    assert_eq!(v1::pids_max(-1), "max");
}

#[test]
fn v1_blkio_uses_blkio_weight_when_present_and_bfq_otherwise() {
    let t = TempDir::new();
    let throttle = [
        "blkio.throttle.read_bps_device",
        "blkio.throttle.write_bps_device",
        "blkio.throttle.read_iops_device",
        "blkio.throttle.write_iops_device",
    ];
    let mut files = vec![
        "blkio.weight",
        "blkio.weight_device",
        "blkio.leaf_weight",
        "blkio.leaf_weight_device",
    ];
    files.extend(throttle);
    let d = t.controller("blkio", &files);
    let r = res(r#"{"blockIO": {"weight": 500, "leafWeight": 300,
        "weightDevice": [{"major": 8, "minor": 0, "weight": 600, "leafWeight": 200}],
        "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
        "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 2097152}],
        "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}],
        "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 200}]}}"#);
    v1::apply(&v1_dirs(&[("blkio", &d)]), &r).unwrap();
    assert_eq!(writes(&d, "blkio.weight"), ["500"]);
    assert_eq!(writes(&d, "blkio.leaf_weight"), ["300"]);
    assert_eq!(writes(&d, "blkio.weight_device"), ["8:0 600"]);
    assert_eq!(writes(&d, "blkio.leaf_weight_device"), ["8:0 200"]);
    assert_eq!(
        writes(&d, "blkio.throttle.read_bps_device"),
        ["8:0 1048576"]
    );
    assert_eq!(
        writes(&d, "blkio.throttle.write_bps_device"),
        ["8:0 2097152"]
    );
    assert_eq!(writes(&d, "blkio.throttle.read_iops_device"), ["8:0 100"]);
    assert_eq!(writes(&d, "blkio.throttle.write_iops_device"), ["8:16 200"]);

    let t2 = TempDir::new();
    let d2 = t2.controller("blkio", &["blkio.bfq.weight", "blkio.bfq.weight_device"]);
    let r2 = res(
        r#"{"blockIO": {"weight": 100, "weightDevice": [{"major": 8, "minor": 0, "weight": 50}]}}"#,
    );
    v1::apply(&v1_dirs(&[("blkio", &d2)]), &r2).unwrap();
    assert_eq!(writes(&d2, "blkio.bfq.weight"), ["100"]);
    assert_eq!(writes(&d2, "blkio.bfq.weight_device"), ["8:0 50"]);
}

#[test]
fn v1_hugetlb_net_and_rdma_values() {
    let t = TempDir::new();
    let h = t.controller(
        "hugetlb",
        &[
            "hugetlb.2MB.limit_in_bytes",
            "hugetlb.2MB.rsvd.limit_in_bytes",
            "hugetlb.1GB.limit_in_bytes",
        ],
    );
    let cls = t.controller("net_cls", &["net_cls.classid"]);
    let prio = t.controller("net_prio", &["net_prio.ifpriomap"]);
    let rdma = t.controller("rdma", &["rdma.max"]);
    let r = res(
        r#"{"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
        "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}, {"name": "lo", "priority": 1}]},
        "rdma": {"mlx5_1": {"hcaHandles": 3}, "mlx4_0": {"hcaHandles": 2, "hcaObjects": 2000}}}"#,
    );
    let dirs = v1_dirs(&[
        ("hugetlb", &h),
        ("net_cls", &cls),
        ("net_prio", &prio),
        ("rdma", &rdma),
    ]);
    v1::apply(&dirs, &r).unwrap();
    assert_eq!(writes(&h, "hugetlb.2MB.limit_in_bytes"), ["4194304"]);
    assert_eq!(writes(&h, "hugetlb.2MB.rsvd.limit_in_bytes"), ["4194304"]);
    assert_eq!(writes(&cls, "net_cls.classid"), ["1048577"]);
    assert_eq!(writes(&prio, "net_prio.ifpriomap"), ["eth0 5", "lo 1"]);
    assert_eq!(
        writes(&rdma, "rdma.max"),
        [
            "mlx4_0 hca_handle=2 hca_object=2000",
            "mlx5_1 hca_handle=3 hca_object=max"
        ]
    );
}

#[test]
fn v1_hugetlb_without_rsvd_files_writes_only_the_limit() {
    let t = TempDir::new();
    let h = t.controller("hugetlb", &["hugetlb.2MB.limit_in_bytes"]);
    let r = res(r#"{"hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}]}"#);
    v1::apply(&v1_dirs(&[("hugetlb", &h)]), &r).unwrap();
    assert_eq!(writes(&h, "hugetlb.2MB.limit_in_bytes"), ["2097152"]);
}

#[test]
fn v1_device_rules_are_written_in_order_then_the_defaults() {
    let t = TempDir::new();
    let d = t.controller("devices", &["devices.allow", "devices.deny"]);
    let r = res(r#"{"devices": [{"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rw"},
        {"allow": false, "type": "b", "major": 8, "access": "m"}]}"#);
    v1::apply(&v1_dirs(&[("devices", &d)]), &r).unwrap();
    assert_eq!(writes(&d, "devices.deny"), ["a *:* rwm", "b 8:* m"]);
    let allow = writes(&d, "devices.allow");
    assert_eq!(allow[0], "c 10:200 rw");
    assert!(allow.contains(&"c 1:3 rwm".to_string()), "{allow:?}");
    assert!(allow.contains(&"c 136:* rwm".to_string()), "{allow:?}");
    assert!(allow.contains(&"c *:* m".to_string()), "{allow:?}");
}

#[test]
fn v1_resource_without_its_controller_fails_before_any_write() {
    let t = TempDir::new();
    let p = t.controller("pids", &["pids.max"]);
    let r = res(r#"{"pids": {"limit": 5}, "hugepageLimits": [{"pageSize": "2MB", "limit": 1}]}"#);
    let err = v1::apply(&v1_dirs(&[("pids", &p)]), &r).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ControllerUnavailable {
                controller: "hugetlb",
                field: "hugepageLimits"
            }
        ),
        "{err}"
    );
    assert!(writes(&p, "pids.max").is_empty());
}

#[test]
fn v1_refuses_unified() {
    let t = TempDir::new();
    let p = t.controller("pids", &["pids.max"]);
    let r = res(r#"{"unified": {"memory.high": "1000"}}"#);
    assert!(matches!(
        v1::apply(&v1_dirs(&[("pids", &p)]), &r),
        Err(Error::UnifiedOnV1)
    ));
}

#[test]
fn cpu_shares_convert_to_weight_like_runc() {
    assert_eq!(cpu_shares_to_weight(0), 0);
    assert_eq!(cpu_shares_to_weight(2), 1);
    assert_eq!(cpu_shares_to_weight(1024), 100);
    assert_eq!(cpu_shares_to_weight(262_144), 10_000);
    for (shares, weight) in [
        (100, 17),
        (512, 59),
        (2048, 174),
        (4096, 303),
        (10_000, 627),
    ] {
        assert_eq!(cpu_shares_to_weight(shares), weight, "{shares}");
    }
    assert_eq!(cpu_shares_to_weight(1_000_000), 10_000);
    let mut last = 0;
    for s in (2..262_144).step_by(97) {
        let w = cpu_shares_to_weight(s);
        assert!(w >= last && (1..=10_000).contains(&w), "{s} -> {w}");
        last = w;
    }
}

#[test]
fn blkio_weight_converts_linearly_to_io_weight() {
    assert_eq!(blkio_weight_to_io_weight(0), 0);
    assert_eq!(blkio_weight_to_io_weight(10), 1);
    assert_eq!(blkio_weight_to_io_weight(500), 4950);
    assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
}

#[test]
fn memory_swap_converts_to_swap_only_value() {
    assert_eq!(memory_swap_to_v2(200, 100).unwrap(), 100);
    assert_eq!(memory_swap_to_v2(100, 100).unwrap(), 0);
    assert_eq!(memory_swap_to_v2(-1, 100).unwrap(), -1);
    assert_eq!(memory_swap_to_v2(0, -1).unwrap(), -1);
    assert_eq!(memory_swap_to_v2(0, 100).unwrap(), 0);
    assert_eq!(memory_swap_to_v2(300, -1).unwrap(), 300);
    assert!(memory_swap_to_v2(50, 100).is_err());
    assert!(memory_swap_to_v2(100, 0).is_err());
}

const V2_FILES: &[&str] = &[
    "memory.max",
    "memory.low",
    "memory.swap.max",
    "cpu.weight",
    "cpu.max",
    "cpu.max.burst",
    "cpu.idle",
    "cpuset.cpus",
    "cpuset.mems",
    "pids.max",
    "io.weight",
    "io.max",
    "hugetlb.2MB.max",
    "hugetlb.2MB.rsvd.max",
    "rdma.max",
    "memory.high",
];

fn all_v2() -> Available {
    Available::from_list(["cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma"])
}

#[test]
fn v2_memory_swap_is_memory_plus_swap_minus_limit() {
    let t = TempDir::new();
    let d = t.controller("unified", V2_FILES);
    let r = res(r#"{"memory": {"limit": 104857600, "swap": 209715200, "reservation": 52428800}}"#);
    v2::apply(&d, &all_v2(), &r).unwrap();
    assert_eq!(writes(&d, "memory.max"), ["104857600"]);
    assert_eq!(writes(&d, "memory.swap.max"), ["104857600"]);
    assert_eq!(writes(&d, "memory.low"), ["52428800"]);
}

#[test]
fn v2_swap_equal_to_limit_disables_swap_and_minus_one_means_max() {
    let t = TempDir::new();
    let d = t.controller("unified", V2_FILES);
    v2::apply(
        &d,
        &all_v2(),
        &res(r#"{"memory": {"limit": 1000, "swap": 1000}}"#),
    )
    .unwrap();
    assert_eq!(writes(&d, "memory.swap.max"), ["0"]);
    let t2 = TempDir::new();
    let d2 = t2.controller("unified", V2_FILES);
    v2::apply(&d2, &all_v2(), &res(r#"{"memory": {"limit": -1}}"#)).unwrap();
    assert_eq!(writes(&d2, "memory.max"), ["max"]);
    assert_eq!(writes(&d2, "memory.swap.max"), ["max"]);
}

#[test]
fn v2_cpu_values_go_to_weight_max_burst_idle_and_cpuset() {
    let t = TempDir::new();
    let d = t.controller("unified", V2_FILES);
    let r = res(
        r#"{"cpu": {"shares": 1024, "quota": 50000, "period": 200000, "burst": 1000, "idle": 0,
        "cpus": "0", "mems": "0"}}"#,
    );
    v2::apply(&d, &all_v2(), &r).unwrap();
    assert_eq!(writes(&d, "cpu.weight"), ["100"]);
    assert_eq!(writes(&d, "cpu.max"), ["50000 200000"]);
    assert_eq!(writes(&d, "cpu.max.burst"), ["1000"]);
    assert_eq!(writes(&d, "cpu.idle"), ["0"]);
    assert_eq!(writes(&d, "cpuset.cpus"), ["0"]);
    assert_eq!(writes(&d, "cpuset.mems"), ["0"]);

    let t2 = TempDir::new();
    let d2 = t2.controller("unified", V2_FILES);
    v2::apply(&d2, &all_v2(), &res(r#"{"cpu": {"quota": -1}}"#)).unwrap();
    assert_eq!(writes(&d2, "cpu.max"), ["max 100000"]);
}

#[test]
fn v2_io_weight_is_converted_without_bfq_and_throttles_go_to_io_max() {
    let t = TempDir::new();
    let d = t.controller("unified", V2_FILES);
    let r = res(r#"{"blockIO": {"weight": 500,
        "weightDevice": [{"major": 8, "minor": 0, "weight": 600}],
        "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
        "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 300}]}}"#);
    let warnings = v2::apply(&d, &all_v2(), &r).unwrap();
    assert_eq!(writes(&d, "io.weight"), ["4950"]);
    assert_eq!(writes(&d, "io.max"), ["8:0 rbps=1048576", "8:0 wiops=300"]);
    assert_eq!(warnings[0].field, "blockIO.weightDevice");
}

#[test]
fn v2_io_weight_uses_bfq_with_device_weights_when_available() {
    let t = TempDir::new();
    let d = t.controller("unified", V2_FILES);
    set(&d, "io.bfq.weight", "default 100\n");
    let r = res(
        r#"{"blockIO": {"weight": 500, "weightDevice": [{"major": 8, "minor": 0, "weight": 600}]}}"#,
    );
    let warnings = v2::apply(&d, &all_v2(), &r).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(writes(&d, "io.bfq.weight")[1..], ["500", "8:0 600"]);
    assert!(writes(&d, "io.weight").is_empty());
}

#[test]
fn v2_pids_hugetlb_rdma_and_unified_values() {
    let t = TempDir::new();
    let d = t.controller("unified", V2_FILES);
    let r = res(
        r#"{"pids": {"limit": -1}, "hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}],
        "rdma": {"mlx4_0": {"hcaObjects": 10}}, "unified": {"memory.high": "50000000"}}"#,
    );
    v2::apply(&d, &all_v2(), &r).unwrap();
    assert_eq!(writes(&d, "pids.max"), ["max"]);
    assert_eq!(writes(&d, "hugetlb.2MB.max"), ["2097152"]);
    assert_eq!(writes(&d, "hugetlb.2MB.rsvd.max"), ["2097152"]);
    assert_eq!(
        writes(&d, "rdma.max"),
        ["mlx4_0 hca_handle=max hca_object=10"]
    );
    assert_eq!(writes(&d, "memory.high"), ["50000000"]);
}

#[test]
fn v2_unified_key_of_a_disabled_controller_fails_before_any_write() {
    let t = TempDir::new();
    let d = t.controller("unified", V2_FILES);
    let r = res(r#"{"pids": {"limit": 5}, "unified": {"hugetlb.2MB.max": "1"}}"#);
    let err = v2::apply(&d, &Available::from_list(["pids", "memory"]), &r).unwrap_err();
    assert!(
        matches!(err, Error::UnifiedControllerUnavailable { .. }),
        "{err}"
    );
    assert!(writes(&d, "pids.max").is_empty());
    let bad = res(r#"{"unified": {"../memory.max": "1"}}"#);
    assert!(matches!(check_values(&bad), Err(Error::UnifiedKey { .. })));
}

#[test]
fn v2_reports_fields_it_cannot_apply_as_warnings() {
    let t = TempDir::new();
    let d = t.controller("unified", V2_FILES);
    let r = res(
        r#"{"memory": {"swappiness": 10, "disableOOMKiller": true, "kernel": 1},
        "cpu": {"realtimeRuntime": 1000}, "network": {"classID": 5},
        "blockIO": {"leafWeight": 20}}"#,
    );
    let warnings = v2::apply(&d, &all_v2(), &r).unwrap();
    let fields: Vec<_> = warnings.iter().map(|w| w.field).collect();
    for f in [
        "memory.swappiness",
        "memory.disableOOMKiller",
        "memory.kernel",
        "cpu.realtimeRuntime",
        "network.classID",
        "blockIO.leafWeight",
    ] {
        assert!(fields.contains(&f), "{f} missing from {fields:?}");
    }
}

#[test]
fn v2_check_before_update_refuses_a_limit_below_usage() {
    let t = TempDir::new();
    let d = t.controller("unified", V2_FILES);
    set(&d, "memory.current", "209715200\n");
    let r = res(r#"{"memory": {"limit": 104857600, "checkBeforeUpdate": true}}"#);
    let err = v2::apply(&d, &all_v2(), &r).unwrap_err();
    assert!(
        matches!(
            err,
            Error::MemoryCheckBeforeUpdate {
                field: "memory.limit",
                ..
            }
        ),
        "{err}"
    );
    assert!(writes(&d, "memory.max").is_empty());
}

#[test]
fn bad_values_are_refused_naming_the_field() {
    let cases = [
        (r#"{"memory": {"limit": -2}}"#, "memory.limit"),
        (r#"{"memory": {"swap": -5, "limit": 10}}"#, "memory.swap"),
        (r#"{"memory": {"limit": 200, "swap": 100}}"#, "memory.swap"),
        (r#"{"memory": {"swappiness": 101}}"#, "memory.swappiness"),
        (r#"{"cpu": {"quota": -7}}"#, "cpu.quota"),
        (r#"{"cpu": {"cpus": "0-abc"}}"#, "cpu.cpus"),
        (r#"{"cpu": {"cpus": "3-1"}}"#, "cpu.cpus"),
        (r#"{"cpu": {"mems": "0,,1"}}"#, "cpu.mems"),
        (r#"{"cpu": {"idle": 2}}"#, "cpu.idle"),
        (r#"{"cpu": {"realtimeRuntime": -3}}"#, "cpu.realtimeRuntime"),
        (r#"{"blockIO": {"weight": 5}}"#, "blockIO.weight"),
        (
            r#"{"blockIO": {"throttleReadBpsDevice": [{"major": -1, "minor": 0, "rate": 1}]}}"#,
            "blockIO.throttleReadBpsDevice",
        ),
        (
            r#"{"hugepageLimits": [{"pageSize": "2XB", "limit": 1}]}"#,
            "hugepageLimits.pageSize",
        ),
        (
            r#"{"devices": [{"allow": true, "type": "p", "access": "rwm"}]}"#,
            "devices.type",
        ),
        (
            r#"{"devices": [{"allow": true, "type": "c", "access": "rwx"}]}"#,
            "devices.access",
        ),
        (
            r#"{"devices": [{"allow": true, "type": "c", "access": ""}]}"#,
            "devices.access",
        ),
        (
            r#"{"devices": [{"allow": true, "type": "c", "access": "rr"}]}"#,
            "devices.access",
        ),
    ];
    for (json, field) in cases {
        let err = check_values(&res(json)).unwrap_err();
        assert!(err.to_string().contains(field), "{json}: {err}");
    }
    let good = r#"{"cpu": {"cpus": "0-3,5,7-11:2/4", "mems": ""}, "memory": {"limit": -1, "swappiness": 18446744073709551615}}"#;
    check_values(&res(good)).unwrap();
}

#[test]
fn unified_key_for_a_controller_missing_on_v2_is_refused_by_validate() {
    let r = res(r#"{"unified": {"io.max": "8:0 rbps=1"}}"#);
    let err = crate::validate::check_controllers(true, &Available::from_list(["memory"]), &r)
        .unwrap_err();
    assert!(err.to_string().contains("io.max"), "{err}");
    crate::validate::check_controllers(true, &Available::from_list(["io"]), &r).unwrap();
    let cgroup_key = res(r#"{"unified": {"cgroup.max.depth": "3"}}"#);
    crate::validate::check_controllers(true, &Available::default(), &cgroup_key).unwrap();
}

#[test]
fn stats_parsers_read_kernel_formats() {
    let p = Path::new("x");
    let entries =
        crate::stats::parse_blkio_v1(p, "8:0 Read 100\n8:0 Write 5\n8:0 Total 105\nTotal 105\n")
            .unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[1].op, "Write");
    let io = crate::stats::parse_io_stat(
        p,
        "254:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n",
    )
    .unwrap();
    assert_eq!(io.io_service_bytes_recursive[0].value, 4096);
    assert_eq!(io.io_serviced_recursive[0].op, "Read");
    assert_eq!(
        crate::stats::parse_cpuset_list(p, "0-2,5\n").unwrap(),
        [0, 1, 2, 5]
    );
}

#[test]
fn stats_serialise_in_runc_events_shape() {
    let mut s = crate::Stats::default();
    s.pids.current = 3;
    s.memory.kernel_tcp.limit = 7;
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(v["pids"]["current"], 3);
    assert_eq!(v["memory"]["kernelTCP"]["limit"], 7);
    assert!(v["cpu"]["usage"].get("kernel").is_some());
    assert!(v["blkio"].as_object().unwrap().is_empty());
    assert!(v["hugetlb"].as_object().unwrap().is_empty());
}

#[test]
fn huge_page_size_the_kernel_lacks_is_refused() {
    let r = res(r#"{"hugepageLimits": [{"pageSize": "64KB", "limit": 0}]}"#);
    let sizes = ["2MB".to_string(), "1GB".to_string()];
    let err = crate::validate::check_huge_page_sizes(&r, &sizes).unwrap_err();
    assert!(err.to_string().contains("hugepageLimits.pageSize"), "{err}");
    let ok = res(r#"{"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]}"#);
    crate::validate::check_huge_page_sizes(&ok, &sizes).unwrap();
}

#[test]
fn read_proc_reads_a_file_larger_than_its_first_buffer_whole() {
    let t = TempDir::new();
    let path = t.0.join("big");
    let text: String = (0..5000).map(|i| format!("line {i}\n")).collect();
    assert!(text.len() > 16 * 1024);
    fs::write(&path, &text).unwrap();
    assert_eq!(crate::fsutil::read_proc(&path).unwrap(), text);
    let mountinfo = crate::fsutil::read_proc(Path::new("/proc/self/mountinfo")).unwrap();
    assert!(mountinfo.lines().any(|l| l.contains(" / ")), "{mountinfo}");
}

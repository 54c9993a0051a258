//! Every known container escape, replayed against gorae the way the
//! original exploit attacked its runtime. Each test names its CVE; each
//! fails when the defence it covers is taken out of gorae.
#![allow(clippy::unwrap_used, clippy::expect_used, unsafe_code)]

mod common;

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{GORAE, Lab, Outcome};
use serde_json::{Value, json};

/// A lab whose container runs `sh -c script`.
fn lab(name: &str, script: &str) -> Lab {
    Lab::new(name, &["sh", "-c", script])
}

fn write_exec(path: &Path, content: &str) {
    fs::write(path, content).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

fn mounts(c: &mut Value) -> &mut Vec<Value> {
    c["mounts"].as_array_mut().unwrap()
}

fn namespaces(c: &mut Value) -> &mut Vec<Value> {
    c["linux"]["namespaces"].as_array_mut().unwrap()
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

/// Names in `dir` (which must exist).
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn pid_of(lab: &Lab, id: &str) -> i64 {
    lab.state(id)["pid"].as_i64().unwrap()
}

/// The attacker of CVE-2019-5736, in busybox sh builtins only (fast enough
/// to catch a short-lived victim): it waits for a process whose name is
/// `evil` (the script), `exe` (what `#!/proc/self/exe` ran) or `gorae-copy`
/// (the runtime itself, waiting in the container), opens its
/// `/proc/<pid>/exe` and retries writing through that fd until the
/// executable stops being busy, as the original exploit did to runc.
const ATTACKER: &str = r#"
log=/tmp/attack.log
while :; do
  for p in /proc/[0-9]*; do
    read -r pid comm rest < $p/stat 2>/dev/null || continue
    case "$comm" in "(evil)"|"(exe)"|"(gorae-copy)") ;; *) continue ;; esac
    command exec 3< $p/exe 2>/dev/null || continue
    echo "reached $(readlink /proc/self/fd/3)" > $log.tmp
    i=0
    while [ $i -lt 30000 ]; do
      if echo pwned 2>/dev/null >/proc/self/fd/3; then echo wrote >> $log.tmp; break; fi
      i=$((i+1))
    done
    { echo pwned >/proc/self/fd/3; } 2>> $log.tmp
    mv $log.tmp $log
    exit 0
  done
done
"#;

/// Runs one attack: the attacker is exec'd into container `a`, then
/// `victim` makes a process run `/evil`; returns the attacker's log.
fn attack(lab: &Lab, victim: impl FnOnce()) -> String {
    let log = lab.rootfs().join("tmp/attack.log");
    let _ = fs::remove_file(&log);
    lab.gorae(&["exec", "-d", "a", "sh", "-c", ATTACKER])
        .expect_ok();
    victim();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !log.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // An attacker still trying (or one that never caught the victim) has
    // written at most its temporary log.
    fs::read_to_string(&log)
        .or_else(|_| fs::read_to_string(log.with_extension("log.tmp")))
        .unwrap_or_else(|_| "the attacker never caught the victim".to_owned())
}

/// CVE-2019-5736 (runc): a container program starting `#!/proc/self/exe`
/// made the kernel run the runtime's own host binary inside the container,
/// where another container process reopened `/proc/<pid>/exe` for writing
/// and overwrote runc. gorae's init and exec'd processes are not dumpable
/// while they run gorae's code and exec a sealed memfd stub; the attack
/// reaches only that and the binary is unchanged. (Linux 6.18 itself
/// refuses a `#!/proc/self/exe` whose binary lies outside the process's
/// root, with ENOENT; the stub keeps gorae safe on kernels that do not.)
#[test]
fn cve_2019_5736_proc_self_exe_reaches_the_sealed_stub_never_the_gorae_binary() {
    let lab = lab("cve20195736", "sleep 300");
    write_exec(&lab.rootfs().join("evil"), "#!/proc/self/exe\n");
    // The runtime under attack is a copy, so a successful attack can only
    // overwrite the copy.
    let copy = lab.dir.join("gorae-copy");
    fs::copy(GORAE, &copy).unwrap();
    let before = sha256(&copy);
    lab.create("a").expect_ok();
    lab.gorae(&["start", "a"]).expect_ok();
    let a = pid_of(&lab, "a");

    // Through create/start: the victim container's own process is /evil,
    // in the attacker's pid namespace.
    lab.edit_config(|c| {
        c["process"]["args"] = json!(["/evil"]);
        namespaces(c).retain(|n| n["type"] != "pid");
        namespaces(c).push(json!({"type": "pid", "path": format!("/proc/{a}/ns/pid")}));
    });
    let log = attack(&lab, || {
        lab.gorae_as(
            &copy,
            &["create", "--bundle", lab.bundle.to_str().unwrap(), "v"],
            |_| {},
        )
        .expect_ok();
        lab.gorae_as(&copy, &["start", "v"], |_| {}).expect_ok();
    });
    only_the_stub_was_reached("create/start", &log, &copy, &before);
    lab.gorae(&["delete", "--force", "v"]).expect_ok();

    // Through exec: `gorae exec a /evil`.
    let log = attack(&lab, || {
        lab.gorae_as(&copy, &["exec", "-d", "a", "/evil"], |_| {})
            .expect_ok();
    });
    only_the_stub_was_reached("exec", &log, &copy, &before);
    lab.gorae(&["delete", "--force", "a"]).expect_ok();
    lab.assert_nothing_left("a");
    lab.assert_nothing_left("v");
}

/// The attacker opened the sealed stub, wrote nothing, and the gorae binary
/// under attack kept its bytes.
fn only_the_stub_was_reached(how: &str, log: &str, binary: &Path, hash: &str) {
    assert!(
        log.starts_with("reached /memfd:gorae-exec (deleted)\n"),
        "{how}: the attack reached {log:?}"
    );
    assert!(!log.contains("wrote"), "{how}: {log:?}");
    assert_eq!(sha256(binary), hash, "{how} overwrote gorae: {log}");
}

/// Runs gorae with an open host directory at fd `n` that is not
/// close-on-exec: a careless engine leaking a directory fd into the runtime,
/// as runc leaked its own `/sys/fs/cgroup` fd into the container.
fn gorae_leaking_dir(lab: &Lab, dir: &OwnedFd, n: i32, args: &[&str]) -> Outcome {
    let fd = dir.as_raw_fd();
    lab.gorae_as(Path::new(GORAE), args, move |cmd| {
        // SAFETY: dup2 is async-signal-safe; the child only calls it.
        unsafe {
            cmd.pre_exec(move || {
                // dup2 onto itself would keep close-on-exec: clear it.
                let r = if fd == n {
                    libc::fcntl(n, libc::F_SETFD, 0)
                } else {
                    libc::dup2(fd, n)
                };
                if r < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    })
}

fn host_secret_dir(lab: &Lab) -> OwnedFd {
    let host = lab.dir.join("host-secret");
    fs::create_dir_all(&host).unwrap();
    fs::write(host.join("HOST-SECRET"), "x").unwrap();
    OwnedFd::from(fs::File::open(&host).unwrap())
}

/// CVE-2024-21626 (runc): a leaked host directory fd plus `process.cwd =
/// /proc/self/fd/N` put the container's process in a host directory. gorae
/// must refuse such a cwd (or land inside the container) for both `create`
/// and `exec --cwd`, for every small N.
#[test]
fn cve_2024_21626_a_cwd_through_a_leaked_fd_never_lands_on_the_host() {
    let lab = lab("cve202421626", "sleep 300");
    let secret = host_secret_dir(&lab);
    let inside = |out: &Outcome, what: &str| {
        assert!(
            !out.stdout.contains("HOST-SECRET") && !out.stdout.contains("unreachable"),
            "{what}: the process sits in a host directory: {out:?}"
        );
        if out.ok() {
            assert!(out.stdout.starts_with('/'), "{what}: {out:?}");
        } else {
            out.error_message()
                .unwrap_or_else(|| panic!("{what}: no one-line error: {out:?}"));
        }
    };
    let bundle = lab.bundle.to_str().unwrap().to_owned();
    for n in 3..10 {
        lab.edit_config(|c| {
            c["process"]["cwd"] = json!(format!("/proc/self/fd/{n}"));
            c["process"]["args"] = json!(["sh", "-c", "readlink /proc/self/cwd; ls"]);
        });
        let id = format!("c{n}");
        let out = gorae_leaking_dir(&lab, &secret, n, &["run", "--bundle", &bundle, &id]);
        inside(&out, &format!("create with cwd fd {n}"));
        let _ = lab.gorae(&["delete", "--force", &id]);
        lab.assert_nothing_left(&id);
    }
    lab.edit_config(|c| {
        c["process"]["cwd"] = json!("/");
        c["process"]["args"] = json!(["sleep", "300"]);
    });
    lab.create("e").expect_ok();
    lab.gorae(&["start", "e"]).expect_ok();
    for n in 3..10 {
        let cwd = format!("/proc/self/fd/{n}");
        let script = "readlink /proc/self/cwd; ls";
        let out = gorae_leaking_dir(
            &lab,
            &secret,
            n,
            &["exec", "--cwd", &cwd, "e", "sh", "-c", script],
        );
        inside(&out, &format!("exec --cwd {cwd}"));
    }
    lab.gorae(&["delete", "--force", "e"]).expect_ok();
    lab.assert_nothing_left("e");
}

/// CVE-2024-21626, the leak itself: no fd of the runtime (nor one its
/// caller leaked into it) reaches the container's process or an exec'd one.
#[test]
fn cve_2024_21626_no_host_fd_reaches_the_container() {
    let lab = lab("fdleak", "ls /proc/self/fd; sleep 300");
    let secret = host_secret_dir(&lab);
    let bundle = lab.bundle.to_str().unwrap().to_owned();
    // ls opens one directory of its own: fd 3.
    lab.edit_config(|c| c["process"]["args"] = json!(["ls", "/proc/self/fd"]));
    let out = gorae_leaking_dir(&lab, &secret, 5, &["run", "--bundle", &bundle, "r"]);
    assert_eq!(out.expect_ok().stdout, "0\n1\n2\n3\n");
    lab.edit_config(|c| c["process"]["args"] = json!(["sleep", "300"]));
    lab.create("e").expect_ok();
    lab.gorae(&["start", "e"]).expect_ok();
    let out = gorae_leaking_dir(&lab, &secret, 5, &["exec", "e", "ls", "/proc/self/fd"]);
    assert_eq!(out.expect_ok().stdout, "0\n1\n2\n3\n");
    // What the init holds while it runs: stdio only.
    let init = pid_of(&lab, "e");
    let fds = entries(Path::new(&format!("/proc/{init}/fd")));
    assert_eq!(fds, ["0", "1", "2"], "the container's init holds {fds:?}");
    lab.gorae(&["delete", "--force", "e"]).expect_ok();
    lab.assert_nothing_left("e");
}

/// CVE-2021-30465 (runc) / CVE-2024-45310 (runc): a racer swaps a mount
/// destination's path between a directory and a symlink to a host
/// directory while the runtime mounts, so that the mount (or the
/// directories created for it) land on the host. Many rounds; the host
/// directory stays untouched every time.
#[test]
fn cve_2021_30465_a_mount_destination_raced_into_a_symlink_stays_in_the_rootfs() {
    let lab = lab("cve202130465", "true");
    let host = lab.dir.join("host-target");
    fs::create_dir_all(&host).unwrap();
    let hostfile = lab.dir.join("volume-file");
    fs::write(&hostfile, "volume").unwrap();
    let rootfs = lab.rootfs();
    fs::create_dir(rootfs.join("data")).unwrap();
    symlink(&host, rootfs.join("alt")).unwrap();
    lab.edit_config(|c| {
        mounts(c).push(json!({"destination": "/data/t/sub", "type": "tmpfs", "source": "tmpfs"}));
        mounts(c).push(json!({"destination": "/data/f", "type": "bind",
            "source": hostfile, "options": ["bind"]}));
    });
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let dir = fs::File::open(&rootfs).unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                nix::fcntl::renameat2(
                    &dir,
                    "data",
                    &dir,
                    "alt",
                    nix::fcntl::RenameFlags::RENAME_EXCHANGE,
                )
                .unwrap();
            }
        });
        // No assertion in here: a panic would wait forever for the racer.
        for round in 0..60 {
            let id = format!("r{round}");
            let _ = lab.create(&id);
            let _ = lab.gorae(&["delete", "--force", &id]);
            if !entries(&host).is_empty() {
                break;
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let escaped = entries(&host);
    assert!(escaped.is_empty(), "the host directory got {escaped:?}");
    lab.assert_nothing_left("r0");
}

/// CVE-2021-30465, static cases: an absolute symlink, a relative one full
/// of `..`, and a chain of symlinks, each pointing at a host directory,
/// are followed inside the rootfs: the mounts land there.
#[test]
fn cve_2021_30465_symlinked_mount_destinations_resolve_inside_the_rootfs() {
    let lab = lab(
        "symlinkdest",
        "stat -f -c %T /abs/x /rel/y; cat /chain/z/marker",
    );
    let host = lab.dir.join("host-target");
    fs::create_dir_all(&host).unwrap();
    let volume = lab.dir.join("volume");
    fs::create_dir_all(&volume).unwrap();
    fs::write(volume.join("marker"), "volume\n").unwrap();
    let rootfs = lab.rootfs();
    symlink(&host, rootfs.join("abs")).unwrap();
    let ups = "../".repeat(40);
    let relative = format!("{ups}{}", host.strip_prefix("/").unwrap().display());
    symlink(&relative, rootfs.join("rel")).unwrap();
    symlink("/link2", rootfs.join("chain")).unwrap();
    symlink("link3", rootfs.join("link2")).unwrap();
    symlink(&host, rootfs.join("link3")).unwrap();
    // The links' targets, read inside the rootfs, exist there.
    let in_rootfs = rootfs.join(host.strip_prefix("/").unwrap());
    fs::create_dir_all(&in_rootfs).unwrap();
    lab.edit_config(|c| {
        mounts(c).push(json!({"destination": "/abs/x", "type": "tmpfs", "source": "tmpfs"}));
        mounts(c).push(json!({"destination": "/rel/y", "type": "tmpfs", "source": "tmpfs"}));
        mounts(c).push(json!({"destination": "/chain/z", "type": "bind",
            "source": volume, "options": ["rbind"]}));
    });
    assert_eq!(lab.output("s"), "tmpfs\ntmpfs\nvolume\n");
    assert!(
        entries(&host).is_empty(),
        "host dir got {:?}",
        entries(&host)
    );
    for made in ["x", "y", "z"] {
        assert!(
            in_rootfs.join(made).is_dir(),
            "{made} not made in the rootfs"
        );
    }
    lab.assert_nothing_left("s");
}

/// The config of a container whose `/dev` comes from the image: no tmpfs
/// on `/dev` (nor the mounts under it).
fn dev_from_image(c: &mut Value) {
    mounts(c).retain(|m| !m["destination"].as_str().unwrap().starts_with("/dev"));
}

/// CVE-2025-31133 (runc): with `/dev` from the image, `/dev/null` was a
/// symlink to a procfs file, so masking bind-mounted that file (writable)
/// over the masked path. gorae masks only with the real 1:3 device.
#[test]
fn cve_2025_31133_masking_refuses_a_dev_null_that_is_not_the_null_device() {
    let lab = lab("cve202531133", "cat /proc/timer_list; echo masked");
    let null = lab.rootfs().join("dev/null");
    let cases: [(&str, &dyn Fn()); 4] = [
        ("symlink to core_pattern", &|| {
            symlink("/proc/sys/kernel/core_pattern", &null).unwrap()
        }),
        ("regular file", &|| fs::write(&null, "").unwrap()),
        ("/dev/zero's numbers", &|| mknod(&null, 1, 5)),
        ("symlink to a real null device elsewhere", &|| {
            symlink("/tmp/null", &null).unwrap()
        }),
    ];
    mknod(&lab.rootfs().join("tmp/null"), 1, 3);
    lab.edit_config(|c| {
        dev_from_image(c);
        c["linux"]["maskedPaths"] = json!(["/proc/timer_list", "/proc/kcore"]);
    });
    for (i, (what, make)) in cases.iter().enumerate() {
        let _ = fs::remove_file(&null);
        make();
        let id = format!("n{i}");
        let out = lab.run(&id);
        assert!(!out.ok(), "{what}: masked with it: {out:?}");
        out.expect_error("check /dev/null is the 1:3 character device");
        lab.assert_nothing_left(&id);
    }
    // The real device masks as it should.
    let _ = fs::remove_file(&null);
    mknod(&null, 1, 3);
    assert_eq!(lab.output("ok"), "masked\n");
}

fn mknod(path: &Path, major: u64, minor: u64) {
    use nix::sys::stat::{Mode, SFlag, makedev};
    nix::sys::stat::mknod(
        path,
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o666),
        makedev(major, minor),
    )
    .unwrap();
}

/// CVE-2025-52565 (runc): the runtime bind-mounted the pty onto an image's
/// `/dev/console` it did not check, so a symlink redirected it. gorae
/// mounts nothing for the console; it opens `/dev/ptmx` inside the root,
/// so an image's `/dev/ptmx` or `/dev/pts` pointing at the host is never
/// followed out of the rootfs.
#[test]
fn cve_2025_52565_a_dev_ptmx_symlink_to_the_host_is_not_followed() {
    let lab = lab("cve202552565", "true");
    let host = lab.dir.join("host-dev");
    fs::create_dir_all(&host).unwrap();
    // The host side of the link: the host's own ptmx.
    symlink("/dev/ptmx", host.join("ptmx")).unwrap();
    symlink(host.join("ptmx"), lab.rootfs().join("dev/ptmx")).unwrap();
    lab.edit_config(|c| {
        dev_from_image(c);
        c["process"]["terminal"] = json!(true);
    });
    let socket = lab.dir.join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let out = lab.gorae(&[
        "create",
        "--console-socket",
        socket.to_str().unwrap(),
        "--bundle",
        lab.bundle.to_str().unwrap(),
        "t",
    ]);
    drop(listener);
    out.expect_error("set up the pty for process.terminal");
    lab.assert_nothing_left("t");
}

/// A host process (`sleep`) whose `oom_score_adj` is a harmless writable
/// procfs file.
struct Sleeper(std::process::Child);

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// CVE-2025-52881 (runc): a mount redirected the runtime's own procfs
/// writes (sysctl, `/proc/self/attr`) to another file, including another
/// procfs file that passes an "is it procfs" check. Here the image's
/// `/data` symlink steers a volume onto `/proc/sys/net/ipv4/ip_forward`;
/// gorae must refuse to write `net.ipv4.ip_forward` through it. (gorae
/// writes no LSM attributes, so `/proc/self/attr` has nothing to redirect.)
#[test]
fn cve_2025_52881_a_sysctl_write_redirected_by_a_mount_is_refused() {
    let lab = lab("cve202552881", "cat /proc/sys/net/ipv4/ip_forward");
    symlink("/proc/sys/net/ipv4", lab.rootfs().join("data")).unwrap();
    let plain = lab.dir.join("plain-file");
    fs::write(&plain, "untouched").unwrap();
    let sleeper = Sleeper(Command::new("sleep").arg("300").spawn().unwrap());
    let score = PathBuf::from(format!("/proc/{}/oom_score_adj", sleeper.0.id()));
    let score_before = fs::read_to_string(&score).unwrap();
    for (i, source) in [&plain, &score].into_iter().enumerate() {
        lab.edit_config(|c| {
            c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
            mounts(c).retain(|m| m["destination"] != "/data/ip_forward");
            mounts(c).push(json!({"destination": "/data/ip_forward", "type": "bind",
                "source": source, "options": ["bind"]}));
        });
        let id = format!("s{i}");
        lab.run(&id)
            .expect_error("write linux.sysctl net.ipv4.ip_forward");
        lab.assert_nothing_left(&id);
    }
    assert_eq!(fs::read_to_string(&plain).unwrap(), "untouched");
    assert_eq!(fs::read_to_string(&score).unwrap(), score_before);
    // Without the redirect the same key is written.
    lab.edit_config(|c| mounts(c).retain(|m| m["destination"] != "/data/ip_forward"));
    assert_eq!(lab.output("ok"), "1\n");
}

fn caps_of(out: &str) -> Vec<(String, u64)> {
    out.lines()
        .filter_map(|l| {
            let (name, hex) = l.split_once(":\t")?;
            Some((name.to_owned(), u64::from_str_radix(hex.trim(), 16).ok()?))
        })
        .collect()
}

/// CVE-2022-29162 (runc), CVE-2022-27650 (crun), CVE-2022-24769 (moby):
/// runtimes filled the inheritable set, so a non-root process gained
/// capabilities by executing a file with inheritable file capabilities.
/// gorae's inheritable and ambient sets are empty unless configured, for
/// the container's process and for exec'd ones.
#[test]
fn cve_2022_29162_inheritable_capabilities_are_never_granted_by_default() {
    let lab = lab("cve202229162", "grep Cap /proc/self/status");
    // A copy of busybox (never the host's, which the rootfs hard-links)
    // with CAP_NET_RAW as inheritable + effective file capability.
    let capped = lab.rootfs().join("bin/capped");
    fs::copy("/bin/busybox", &capped).unwrap();
    let st = Command::new("setcap")
        .args(["cap_net_raw+ei"])
        .arg(&capped)
        .status()
        .unwrap();
    assert!(st.success(), "setcap failed");
    // Named grep through a link, so busybox runs its grep applet.
    fs::create_dir_all(lab.rootfs().join("capbin")).unwrap();
    symlink("/bin/capped", lab.rootfs().join("capbin/grep")).unwrap();
    lab.edit_config(|c| {
        let caps = json!(["CAP_NET_RAW", "CAP_KILL", "CAP_CHOWN"]);
        c["process"]["capabilities"] =
            json!({"bounding": caps, "effective": caps, "permitted": caps});
        c["process"]["noNewPrivileges"] = json!(false);
    });
    let out = lab.output("root");
    let want_zero = ["CapInh", "CapAmb"];
    for (name, value) in caps_of(&out) {
        if want_zero.contains(&name.as_str()) {
            assert_eq!(value, 0, "{name} of the container's process: {out}");
        }
    }
    lab.edit_config(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["process"]["args"] = json!(["sleep", "300"]);
    });
    lab.create("c").expect_ok();
    lab.gorae(&["start", "c"]).expect_ok();
    for user in [None, Some("1000:1000"), Some("0")] {
        let mut args = vec!["exec"];
        if let Some(u) = user {
            args.extend(["--user", u]);
        }
        args.extend(["c", "grep", "Cap", "/proc/self/status"]);
        let out = lab.gorae(&args).expect_ok().stdout;
        for (name, value) in caps_of(&out) {
            if want_zero.contains(&name.as_str()) {
                assert_eq!(value, 0, "{name} of exec --user {user:?}: {out}");
            }
        }
    }
    // The non-root process executes the file with inheritable file caps
    // and gains nothing from it.
    let out = lab
        .gorae(&["exec", "c", "/capbin/grep", "Cap[EP]", "/proc/self/status"])
        .expect_ok()
        .stdout;
    assert!(
        caps_of(&out).iter().all(|(_, v)| *v == 0),
        "a file capability was gained through the inheritable set: {out}"
    );
    // Asked for, the inheritable set is granted (the control case).
    let out = lab
        .gorae(&[
            "exec",
            "--cap",
            "CAP_NET_RAW",
            "c",
            "grep",
            "CapInh",
            "/proc/self/status",
        ])
        .expect_ok()
        .stdout;
    assert_eq!(
        caps_of(&out),
        [("CapInh".to_owned(), 0)],
        "exec --cap adds bounding/effective/permitted only"
    );
    lab.gorae(&["delete", "--force", "c"]).expect_ok();
    lab.assert_nothing_left("c");
}

/// CVE-2026-41579 (runc) / CVE-2026-47766 (crun): an image whose `/dev`,
/// or the cgroup v1 mount path `/sys/fs/cgroup`, is a symlink to a host
/// directory made the runtime create device nodes and cgroup mount points
/// in the host directory. gorae follows such links inside the rootfs.
#[test]
fn cve_2026_41579_a_dev_or_cgroup_symlink_to_the_host_keeps_everything_in_the_rootfs() {
    let lab = lab(
        "cve202641579",
        "stat -f -c %T /dev; stat -c '%t:%T' /dev/null; ls /dev; ls /sys/fs/cgroup",
    );
    let host_dev = lab.dir.join("host-dev");
    let host_cg = lab.dir.join("host-cgroup");
    fs::create_dir_all(&host_dev).unwrap();
    fs::create_dir_all(&host_cg).unwrap();
    let rootfs = lab.rootfs();
    fs::remove_dir(rootfs.join("dev")).unwrap();
    symlink(&host_dev, rootfs.join("dev")).unwrap();
    fs::create_dir_all(rootfs.join("sys/fs")).unwrap();
    symlink(&host_cg, rootfs.join("sys/fs/cgroup")).unwrap();
    // The links' targets, read inside the rootfs, exist there (a dangling
    // one fails the create, which is safe too).
    for host in [&host_dev, &host_cg] {
        fs::create_dir_all(rootfs.join(host.strip_prefix("/").unwrap())).unwrap();
    }
    // No sysfs mount: the image's /sys/fs/cgroup symlink is what the
    // cgroup mount meets.
    lab.edit_config(|c| mounts(c).retain(|m| m["type"] != "sysfs"));
    let out = lab.output("d");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("tmpfs"), "{out}");
    assert_eq!(lines.next(), Some("1:3"), "{out}");
    assert!(
        out.contains("\nnull\n") && out.contains("\nptmx\n"),
        "{out}"
    );
    let hierarchies = mount_names_under("/sys/fs/cgroup");
    for h in &hierarchies {
        assert!(out.lines().any(|l| l == h), "cgroup {h} missing: {out}");
    }
    assert!(
        entries(&host_dev).is_empty(),
        "host /dev target got {:?}",
        entries(&host_dev)
    );
    assert!(
        entries(&host_cg).is_empty(),
        "host cgroup target got {:?}",
        entries(&host_cg)
    );
    lab.assert_nothing_left("d");
}

/// The directory names of the mounts right under `dir` on the host.
fn mount_names_under(dir: &str) -> Vec<String> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let prefix = format!("{dir}/");
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter_map(|p| p.strip_prefix(&prefix))
        .filter(|n| !n.contains('/'))
        .map(str::to_owned)
        .collect()
}

/// CVE-2026-30892 (crun): `exec --user 1` ran the process as root. gorae
/// takes `--user` literally: the uid given, the gid given or else the
/// container's, and refuses names (it reads no `/etc/passwd`).
#[test]
fn cve_2026_30892_exec_user_is_taken_literally() {
    let lab = lab("cve202630892", "sleep 300");
    lab.edit_config(|c| c["process"]["user"] = json!({"uid": 0, "gid": 7}));
    lab.create("c").expect_ok();
    lab.gorae(&["start", "c"]).expect_ok();
    let id = |user: &str| {
        lab.gorae(&["exec", "--user", user, "c", "sh", "-c", "id -u; id -g"])
            .expect_ok()
            .stdout
    };
    assert_eq!(id("1"), "1\n7\n");
    assert_eq!(id("1:2"), "1\n2\n");
    assert_eq!(id("0"), "0\n7\n");
    assert_eq!(id("65534:65534"), "65534\n65534\n");
    for name in ["root", "nobody", "1:wheel", "user:1", "1:"] {
        lab.gorae(&["exec", "--user", name, "c", "true"])
            .expect_error("give a numeric uid[:gid]");
    }
    lab.gorae(&["delete", "--force", "c"]).expect_ok();
    lab.assert_nothing_left("c");
}

/// CVE-2023-27561 / CVE-2019-16884 (runc): a procfs the container controls
/// (a fake `/proc` in the image, or a real procfs mounted where a symlink
/// sends `/proc`) redirected or fooled the runtime's own procfs accesses.
/// gorae refuses to write a sysctl into a fake `/proc`, does not take an
/// image's `/proc/self/setgroups` saying `deny` as a reason to keep the
/// caller's groups, and writes `oomScoreAdj` through the host's `/proc`.
#[test]
fn cve_2023_27561_a_fake_proc_in_the_image_fools_no_write_of_gorae() {
    let lab = lab("cve202327561", "id -G; cat /proc/self/oom_score_adj");
    let rootfs = lab.rootfs();
    let fake = rootfs.join("proc/sys/net/ipv4/ip_forward");
    fs::create_dir_all(fake.parent().unwrap()).unwrap();
    fs::write(&fake, "fake").unwrap();
    fs::create_dir_all(rootfs.join("proc/self")).unwrap();
    fs::write(rootfs.join("proc/self/setgroups"), "deny\n").unwrap();
    fs::write(rootfs.join("proc/self/oom_score_adj"), "fake\n").unwrap();
    lab.edit_config(|c| {
        mounts(c).retain(|m| m["type"] != "proc");
        c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    });
    lab.run("s")
        .expect_error("write linux.sysctl net.ipv4.ip_forward");
    assert_eq!(fs::read_to_string(&fake).unwrap(), "fake");

    // The caller's supplementary groups (root's 0 here) are dropped.
    lab.edit_config(|c| {
        c["linux"].as_object_mut().unwrap().remove("sysctl");
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["process"]["oomScoreAdj"] = json!(500);
        c["process"]["args"] = json!(["sleep", "300"]);
    });
    let bundle = lab.bundle.to_str().unwrap().to_owned();
    gorae_in_groups(&lab, &["create", "--bundle", &bundle, "g"]).expect_ok();
    let init = pid_of(&lab, "g");
    assert_eq!(
        fs::read_to_string(format!("/proc/{init}/oom_score_adj")).unwrap(),
        "500\n"
    );
    lab.gorae(&["start", "g"]).expect_ok();
    let groups = gorae_in_groups(&lab, &["exec", "g", "id", "-G"])
        .expect_ok()
        .stdout;
    assert_eq!(groups, "1000\n", "exec kept the caller's groups");
    let groups = fs::read_to_string(format!("/proc/{init}/status")).unwrap();
    let groups = groups.lines().find(|l| l.starts_with("Groups:")).unwrap();
    assert_eq!(
        groups.trim_end(),
        "Groups:",
        "the init kept the caller's groups"
    );
    assert_eq!(
        fs::read_to_string(rootfs.join("proc/self/oom_score_adj")).unwrap(),
        "fake\n"
    );
    lab.gorae(&["delete", "--force", "g"]).expect_ok();

    // A real procfs at /tmp/fakeproc, with the image's /proc a symlink to
    // it: the sysctl goes to that procfs or is refused, nowhere else.
    fs::remove_dir_all(rootfs.join("proc")).unwrap();
    symlink("/tmp/fakeproc", rootfs.join("proc")).unwrap();
    lab.edit_config(|c| {
        c["process"]["user"] = json!({"uid": 0, "gid": 0});
        c["process"]["args"] = json!(["cat", "/tmp/fakeproc/sys/net/ipv4/ip_forward"]);
        c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
        mounts(c).insert(
            0,
            json!({"destination": "/tmp/fakeproc", "type": "proc", "source": "proc"}),
        );
    });
    let out = lab.run("p");
    if out.ok() {
        assert_eq!(out.stdout, "1\n");
    } else {
        out.expect_error("write linux.sysctl net.ipv4.ip_forward");
    }
    assert!(entries(&rootfs.join("tmp/fakeproc")).is_empty());
    lab.assert_nothing_left("p");
}

/// Runs gorae with supplementary groups 0 and 10, as an engine might have.
fn gorae_in_groups(lab: &Lab, args: &[&str]) -> Outcome {
    lab.gorae_as(Path::new(GORAE), args, |cmd| {
        // SAFETY: a raw setgroups syscall is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                let groups: [libc::gid_t; 2] = [0, 10];
                if libc::syscall(libc::SYS_setgroups, 2, groups.as_ptr()) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    })
}

/// CVE-2023-25809 (runc): with a user namespace, `/sys/fs/cgroup` was
/// mounted writable, so the container's root could write the host's
/// cgroups. gorae's cgroup mounts stay read-only.
#[test]
fn cve_2023_25809_cgroupfs_is_read_only_in_a_user_namespace() {
    let lab = lab(
        "cve202325809",
        "for d in /sys/fs/cgroup /sys/fs/cgroup/*; do \
           mkdir $d/escape 2>/dev/null && echo MKDIR $d; \
           echo $$ 2>/dev/null > $d/cgroup.procs && echo WROTE $d; \
         done; ls /sys/fs/cgroup | wc -l",
    );
    lab.edit_config(|c| {
        namespaces(c).push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    });
    let out = lab.output("u");
    assert!(!out.contains("MKDIR") && !out.contains("WROTE"), "{out}");
    let listed: usize = out.trim().parse().unwrap();
    assert!(listed > 0, "no cgroup mounted: {out}");
    lab.assert_nothing_left("u");
}

/// CVE-2016-9962 (runc): the init was dumpable while it waited in the
/// container, so a process in the container could ptrace it and reach the
/// host through its fds. gorae's waiting init is not dumpable: neither a
/// sibling container in its pid namespace (same uid, same capabilities) nor
/// an unprivileged host user can read or trace it.
#[test]
fn cve_2016_9962_the_waiting_init_cannot_be_read_or_traced() {
    let lab = lab("cve20169962", "sleep 300");
    lab.create("a").expect_ok();
    lab.gorae(&["start", "a"]).expect_ok();
    let a = pid_of(&lab, "a");
    lab.edit_config(|c| {
        namespaces(c).retain(|n| n["type"] != "pid");
        namespaces(c).push(json!({"type": "pid", "path": format!("/proc/{a}/ns/pid")}));
    });
    lab.create("v").expect_ok();
    let script = r#"for p in /proc/[0-9]*; do
        read -r pid comm rest < $p/stat
        [ "$comm" = "(gorae)" ] || continue
        echo found
        cat $p/environ >/dev/null 2>&1 && echo READ-ENVIRON
        readlink $p/exe >/dev/null 2>&1 && echo READ-EXE
        readlink $p/cwd >/dev/null 2>&1 && echo READ-CWD
        for f in $p/fd/*; do readlink $f >/dev/null 2>&1 && echo READ-FD; done
        cat $p/mem >/dev/null 2>&1 && echo READ-MEM
      done"#;
    let out = lab.gorae(&["exec", "a", "sh", "-c", script]).expect_ok();
    assert_eq!(out.stdout, "found\n", "from the sibling container");

    // From the host, as nobody, against an init running as nobody with no
    // capabilities (where only dumpability decides).
    lab.edit_config(|c| {
        c["process"]["user"] = json!({"uid": 65534, "gid": 65534});
        c["process"]["capabilities"] = json!({});
    });
    lab.create("n").expect_ok();
    let init = pid_of(&lab, "n") as i32;
    let env = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .args(["cat", &format!("/proc/{init}/environ")])
        .output()
        .unwrap();
    assert!(!env.status.success(), "read environ: {env:?}");
    assert_eq!(ptrace_attach_as(65534, init), Err(libc::EPERM));
    lab.gorae(&["delete", "--force", "v"]).expect_ok();
    lab.gorae(&["delete", "--force", "n"]).expect_ok();
    lab.gorae(&["delete", "--force", "a"]).expect_ok();
    lab.assert_nothing_left("a");
}

/// Tries `PTRACE_ATTACH` to `pid` from a child running as `uid`; returns
/// the errno (or `Ok` after detaching).
fn ptrace_attach_as(uid: u32, pid: i32) -> Result<(), i32> {
    // SAFETY: the child only makes async-signal-safe syscalls and _exits.
    match unsafe { libc::fork() } {
        0 => unsafe {
            // Raw syscalls: glibc's wrappers would try to signal threads
            // that do not exist in the forked child.
            let ok = libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<u32>()) == 0
                && libc::syscall(libc::SYS_setresgid, uid, uid, uid) == 0
                && libc::syscall(libc::SYS_setresuid, uid, uid, uid) == 0;
            if !ok {
                libc::_exit(200);
            }
            let r = libc::ptrace(libc::PTRACE_ATTACH, pid, 0, 0);
            if r == 0 {
                libc::ptrace(libc::PTRACE_DETACH, pid, 0, 0);
                libc::_exit(0);
            }
            libc::_exit(*libc::__errno_location());
        },
        child => {
            let mut status = 0;
            // SAFETY: waiting for our own child.
            unsafe { libc::waitpid(child, &mut status, 0) };
            match libc::WEXITSTATUS(status) {
                0 => Ok(()),
                e => Err(e),
            }
        }
    }
}

/// Path traversal through container ids, `root.path` and hook paths:
/// nothing is created outside the state root, bad ids and relative hook
/// paths are refused before anything is made.
#[test]
fn path_traversal_through_ids_bundle_and_hooks_creates_nothing_outside_the_root() {
    let lab = lab("traversal", "true");
    fs::create_dir_all(&lab.root).unwrap();
    let before = entries(&lab.dir);
    for id in [
        "../x",
        "a/b",
        ".",
        "..",
        "",
        "../../../../tmp/escape",
        "/abs",
        "x\ny",
    ] {
        lab.create(id).expect_error("invalid container id");
    }
    assert_eq!(entries(&lab.root), Vec::<String>::new());
    // A bundle path and root.path with `..` in them still name the bundle.
    let twisted = format!("{}/../bundle", lab.bundle.display());
    lab.edit_config(|c| c["root"]["path"] = json!("../bundle/rootfs"));
    lab.gorae(&["run", "--bundle", &twisted, "b"]).expect_ok();
    lab.assert_nothing_left("b");
    for path in ["../../bin/true", "bin/true", "./true"] {
        lab.edit_config(|c| {
            c["hooks"] = json!({"prestart": [{"path": path}]});
        });
        lab.create("h").expect_error("must be absolute");
    }
    assert_eq!(entries(&lab.root), Vec::<String>::new());
    let mut after = entries(&lab.dir);
    after.retain(|e| !e.starts_with("out-") && !e.starts_with("err-"));
    let mut before = before;
    before.retain(|e| !e.starts_with("out-") && !e.starts_with("err-"));
    assert_eq!(after, before, "something was created beside the state root");
    for id in ["../x", "../../../../tmp/escape"] {
        assert!(!lab.root.join(id).exists(), "{id} was created");
    }
}

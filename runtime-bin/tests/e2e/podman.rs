//! podman (Debian's `podman`, with `conmon`) driving the runtime through
//! `--runtime`.
//!
//! Every podman command gets private storage and state (`--root`,
//! `--runroot`, `--tmpdir`, `--volumepath`, `--network-config-dir` under
//! the run's directory, the `vfs` driver: no overlay mounts), the
//! `cgroupfs` manager and file events (no systemd here); every container
//! runs with `--network none` (no CNI/netavark), `--cgroup-parent /<tag>-podman`
//! and nofile/nproc ulimits within the machine's (this VM lacks
//! CAP_SYS_RESOURCE, so podman's defaults cannot be applied).
//!
//! The runtime keeps its default `--root` (`/run/gorae`, `/run/runc`):
//! podman 4.3 does not pass `--runtime-flag root=...` on to the
//! `podman container cleanup` that conmon runs when a container exits, so
//! with it the final `delete` goes to the default root, misses the
//! container, and its state and cgroup leak.

use std::fs;
use std::time::Duration;

use super::cli::DockerCli;
use super::{BROKEN_IMAGE, Done, IMAGE, LONG, Lab, SHORT, Step, Stop, ensure, expect_cgroup};

/// podman with private storage and the runtime under test.
pub struct Podman<'a> {
    lab: &'a Lab,
    base: Vec<String>,
    run_opts: Vec<String>,
}

impl<'a> Podman<'a> {
    /// Creates the private dirs and loads the test image.
    pub fn start(lab: &'a Lab) -> Step<Podman<'a>> {
        let dir = lab.path("podman");
        let sub = |s: &str| dir.join(s).to_string_lossy().into_owned();
        for d in [
            "root", "runroot", "tmp", "volumes", "net", "data", "data-ro",
        ] {
            fs::create_dir_all(dir.join(d)).map_err(|e| Stop::Fail(format!("mkdir {d}: {e}")))?;
        }
        let base = [
            "--root",
            &sub("root"),
            "--runroot",
            &sub("runroot"),
            "--tmpdir",
            &sub("tmp"),
            "--volumepath",
            &sub("volumes"),
            "--network-config-dir",
            &sub("net"),
            "--storage-driver",
            "vfs",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "file",
            "--runtime",
            &lab.runtime.to_string_lossy(),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let parent = format!("/{}-podman", lab.tag);
        let run_opts = [
            "--network",
            "none",
            "--ulimit",
            "nofile=1024:4096",
            "--ulimit",
            "nproc=1024:4096",
            "--cgroup-parent",
            &parent,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let podman = Podman {
            lab,
            base,
            run_opts,
        };
        podman
            .cmd(LONG, &["load", "-i", &lab.image_archive.to_string_lossy()])?
            .ok()?;
        let images = podman
            .podman(&["images", "--format", "{{.Repository}}:{{.Tag}}"])?
            .ok()?;
        for image in [IMAGE, BROKEN_IMAGE] {
            ensure(images.stdout.contains(image), || {
                format!("{image} not loaded: {}", images.describe())
            })?;
        }
        Ok(podman)
    }

    fn cmd(&self, timeout: Duration, args: &[&str]) -> Step<Done> {
        let argv: Vec<&str> = self
            .base
            .iter()
            .map(String::as_str)
            .chain(args.iter().copied())
            .collect();
        self.lab.cmd(timeout, "podman", &argv)
    }

    /// `podman <args>` with the private storage, bounded by [`SHORT`].
    pub fn podman(&self, args: &[&str]) -> Step<Done> {
        self.cmd(SHORT, args)
    }

    /// The argv of `podman run <opts> IMAGE cmd` (without the program).
    fn run_argv(&self, opts: &[&str], image: &str, cmd: &[&str]) -> Vec<String> {
        let mut argv = self.base.clone();
        argv.push("run".into());
        argv.extend(self.run_opts.iter().cloned());
        argv.extend(opts.iter().map(|s| (*s).to_owned()));
        argv.push(image.to_owned());
        argv.extend(cmd.iter().map(|s| (*s).to_owned()));
        argv
    }

    /// `podman run --rm` of `cmd`, expecting exit 0.
    fn run_rm_ok(&self, opts: &[&str], cmd: &[&str]) -> Step<Done> {
        let mut all = vec!["--rm"];
        all.extend_from_slice(opts);
        self.run(&all, IMAGE, cmd)?.ok()
    }

    /// Inside, `/sys/fs/cgroup` (podman's `cgroup` mount) shows the
    /// container's own cgroup, as with runc: it reads its memory limit.
    pub fn cgroup_mount_shows_own_cgroup(&self) -> Step {
        let script = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max";
        self.run_rm_ok(&["--memory", "64m"], &["sh", "-c", script])?
            .stdout_has("67108864")
            .map(|_| ())
    }

    /// `--memory`, `--pids-limit`, `--cpu-shares` reach the container's
    /// cgroup (read on the host).
    pub fn resource_limits(&self) -> Step {
        let opts = [
            "--memory",
            "64m",
            "--pids-limit",
            "50",
            "--cpu-shares",
            "512",
        ];
        self.with_detached_opts("limits", &opts, &["sleep", "1000"], |name| {
            let pid = self.pid(name)?;
            expect_cgroup(pid, "memory", "memory.limit_in_bytes", "67108864")?;
            expect_cgroup(pid, "pids", "pids.max", "50")?;
            expect_cgroup(pid, "cpu", "cpu.shares", "512")
        })
    }

    /// `podman run -it` under a pseudo-terminal: the process has a tty.
    pub fn run_it(&self) -> Step {
        self.lab.need_console_socket()?;
        let name = self.lab.name("tty");
        let argv = self.run_argv(
            &["--rm", "-it", "--name", &name],
            IMAGE,
            &["sh", "-c", "tty; [ -t 0 ] && echo stdin-is-tty; exit 3"],
        );
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let result = self.lab.in_pty(SHORT, "podman", &argv).and_then(|d| {
            d.code_is(3)?
                .stdout_has("/dev/pts/0")?
                .stdout_has("stdin-is-tty")
        });
        self.remove(&name);
        result.map(|_| ())
    }

    /// `--cap-drop all` empties every set; `--cap-drop` of two capabilities
    /// removes exactly those from the bounding and effective sets.
    pub fn cap_drop(&self) -> Step {
        let caps = |opts: &[&str]| -> Step<(u64, u64)> {
            let out = self.run_rm_ok(
                opts,
                &["sh", "-c", "grep -E '^Cap(Eff|Bnd)' /proc/self/status"],
            )?;
            let get = |key: &str| {
                out.stdout
                    .lines()
                    .find_map(|l| l.strip_prefix(key))
                    .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
                    .ok_or_else(|| Stop::Fail(format!("no {key} in {}", out.describe())))
            };
            Ok((get("CapEff:")?, get("CapBnd:")?))
        };
        let (eff, bnd) = caps(&["--cap-drop", "all"])?;
        ensure(eff == 0 && bnd == 0, || {
            format!("--cap-drop all left CapEff {eff:x} CapBnd {bnd:x}")
        })?;
        let (full_eff, _) = caps(&[])?;
        let (eff, bnd) = caps(&["--cap-drop", "chown,setfcap"])?;
        let dropped = (1 << 0) | (1 << 31);
        ensure(full_eff & dropped == dropped, || {
            format!("default set {full_eff:x} lacks CHOWN/SETFCAP")
        })?;
        ensure(eff == full_eff & !dropped && bnd & dropped == 0, || {
            format!(
                "--cap-drop chown,setfcap: CapEff {eff:x} CapBnd {bnd:x}, default CapEff {full_eff:x}"
            )
        })
    }

    /// `--read-only`: the root refuses writes, podman's /tmp tmpfs takes them.
    pub fn read_only(&self) -> Step {
        self.run_rm_ok(
            &["--read-only"],
            &[
                "sh",
                "-c",
                "touch /x 2>&1; touch /tmp/y && echo tmp-writable",
            ],
        )?
        .stdout_has("Read-only file system")?
        .stdout_has("tmp-writable")
        .map(|_| ())
    }

    /// `--tmpfs` with a size: mounted as tmpfs with that size, writable.
    pub fn tmpfs(&self) -> Step {
        self.run_rm_ok(
            &["--tmpfs", "/scratch:size=1m"],
            &[
                "sh",
                "-c",
                "grep ' /scratch ' /proc/mounts; echo data > /scratch/f && cat /scratch/f",
            ],
        )?
        .stdout_has("tmpfs /scratch tmpfs")?
        .stdout_has("size=1024k")?
        .stdout_has("data")
        .map(|_| ())
    }

    /// `-v` bind mounts: a read-write volume shares files both ways, a
    /// `:ro` one refuses writes.
    pub fn volumes(&self) -> Step {
        let data = self.lab.path("podman/data");
        let ro = self.lab.path("podman/data-ro");
        fs::write(data.join("from-host"), "host-data\n").map_err(|e| Stop::Fail(e.to_string()))?;
        fs::write(ro.join("file"), "ro-data\n").map_err(|e| Stop::Fail(e.to_string()))?;
        let rw = format!("{}:/vol", data.display());
        let ro = format!("{}:/ro:ro", ro.display());
        self.run_rm_ok(
            &["-v", &rw, "-v", &ro],
            &["sh", "-c", "cat /vol/from-host /ro/file; echo ctr-data > /vol/from-ctr; touch /ro/x 2>&1; true"],
        )?
        .stdout_has("host-data")?
        .stdout_has("ro-data")?
        .stdout_has("Read-only file system")?;
        let back = fs::read_to_string(data.join("from-ctr")).unwrap_or_default();
        ensure(back == "ctr-data\n", || {
            format!("host sees {back:?} in the volume, not ctr-data")
        })
    }

    /// `--security-opt seccomp=<profile>`: the profile's rule applies
    /// (mkdir fails with EPERM) and the process is in seccomp filter mode.
    pub fn seccomp_profile(&self) -> Step {
        let profile = self.lab.path("podman/seccomp.json");
        let json = r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#;
        fs::write(&profile, json).map_err(|e| Stop::Fail(e.to_string()))?;
        let opt = format!("seccomp={}", profile.display());
        self.run_rm_ok(
            &["--security-opt", &opt],
            &["sh", "-c", "grep '^Seccomp:' /proc/self/status; mkdir /tmp/d 2>&1; touch /tmp/f && echo touch-ok"],
        )?
        .stdout_has("Seccomp:\t2")?
        .stdout_has("Operation not permitted")?
        .stdout_has("touch-ok")
        .map(|_| ())
    }

    /// `--user`, `--workdir`, `--env`, `--hostname` reach the process.
    pub fn process_config(&self) -> Step {
        let opts = [
            "--user",
            "1000:1000",
            "--workdir",
            "/tmp",
            "--env",
            "FOO=bar",
            "--hostname",
            "e2e-host",
        ];
        let cmd = [
            "sh",
            "-c",
            "echo \"$(id -u) $(id -g) $(pwd) $FOO $(hostname)\"",
        ];
        self.run_rm_ok(&opts, &cmd)?
            .stdout_has("1000 1000 /tmp bar e2e-host")
            .map(|_| ())
    }

    /// `--pid/--ipc/--uts container:A` join A's namespaces (as pods do,
    /// through `linux.namespaces[].path`).
    pub fn join_namespaces(&self) -> Step {
        self.with_detached_opts(
            "ns-owner",
            &["--hostname", "owner-host"],
            &["sleep", "1000"],
            |name| {
                let with = format!("container:{name}");
                let opts = ["--pid", &with, "--ipc", &with, "--uts", &with];
                self.run_rm_ok(&opts, &["sh", "-c", "ps -o args; hostname"])?
                    .stdout_has("sleep 1000")?
                    .stdout_has("owner-host")
                    .map(|_| ())
            },
        )
    }

    /// `--device` creates the host device node in the container
    /// (`linux.devices`) and the device cgroup lets it be read.
    pub fn device(&self) -> Step {
        self.run_rm_ok(
            &["--device", "/dev/zero:/dev/e2e-zero"],
            &["sh", "-c", "head -c 4 /dev/e2e-zero | od -An -tx1"],
        )?
        .stdout_has("00 00 00 00")
        .map(|_| ())
    }

    /// `--sysctl` of a namespaced key is applied.
    pub fn sysctl(&self) -> Step {
        self.run_rm_ok(
            &["--sysctl", "kernel.shm_rmid_forced=1"],
            &["cat", "/proc/sys/kernel/shm_rmid_forced"],
        )?
        .stdout_has("1")
        .map(|_| ())
    }

    /// `--privileged`: every capability of the host, no seccomp, the
    /// host's devices (podman lists them in `linux.devices`), `/sys` rw.
    pub fn privileged(&self) -> Step {
        let host = fs::read_to_string("/proc/self/status").unwrap_or_default();
        let host_bnd = host
            .lines()
            .find_map(|l| l.strip_prefix("CapBnd:"))
            .unwrap_or_default()
            .trim()
            .to_owned();
        let out = self.run_rm_ok(
            &["--privileged"],
            &["sh", "-c", "grep -E '^(CapEff|Seccomp):' /proc/self/status; ls /dev/kmsg; grep ' /sys ' /proc/mounts"],
        )?;
        let out = out
            .stdout_has(&format!("CapEff:\t{host_bnd}"))?
            .stdout_has("Seccomp:\t0")?;
        ensure(
            out.stdout.contains("/dev/kmsg") && !out.stderr.contains("No such file"),
            || format!("host device /dev/kmsg missing: {}", out.describe()),
        )?;
        out.stdout_has("sysfs /sys sysfs rw").map(|_| ())
    }

    /// `--uidmap/--gidmap`: a user namespace whose root is host uid 100000.
    pub fn user_namespace(&self) -> Step {
        let opts = ["--uidmap", "0:100000:65536", "--gidmap", "0:100000:65536"];
        let cmd = "id -u; cat /proc/self/uid_map; touch /tmp/x && echo write-ok";
        let out = self.run_rm_ok(&opts, &["sh", "-c", cmd])?;
        let lines: Vec<Vec<&str>> = out
            .stdout
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        let mapped =
            lines.first() == Some(&vec!["0"]) && lines.contains(&vec!["0", "100000", "65536"]);
        ensure(mapped, || {
            format!("expected uid 0 mapped to 100000: {}", out.describe())
        })?;
        out.stdout_has("write-ok").map(|_| ())
    }

    /// Removes every container and image of the private storage.
    pub fn stop(self) -> Step {
        self.podman(&["rm", "--all", "--force", "--time", "0"])?
            .ok()?;
        self.podman(&["rmi", "--all", "--force"])?.ok().map(|_| ())
    }
}

impl DockerCli for Podman<'_> {
    const NAME: &'static str = "podman";
    const FORCE_REMOVE: &'static [&'static str] = &["--time", "0"];

    fn lab(&self) -> &Lab {
        self.lab
    }

    fn cli(&self, args: &[&str]) -> Step<Done> {
        self.podman(args)
    }

    fn run(&self, opts: &[&str], image: &str, cmd: &[&str]) -> Step<Done> {
        let argv = self.run_argv(opts, image, cmd);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        self.lab.cmd(SHORT, "podman", &argv)
    }
}

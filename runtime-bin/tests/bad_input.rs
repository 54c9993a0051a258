//! Every bad input gets a one-line error naming what is wrong, exit status
//! 1, and leaves nothing behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Lab;
use serde_json::json;

/// Creates with the lab's bundle, expects the error, and checks that no
/// state directory, process or mount is left.
#[track_caller]
fn create_fails(lab: &Lab, id: &str, needle: &str) {
    lab.create(id).expect_error(needle);
    lab.assert_nothing_left(id);
}

#[test]
fn missing_config_json_is_named() {
    let lab = Lab::new("noconfig", &["true"]);
    std::fs::remove_file(lab.bundle.join("config.json")).unwrap();
    create_fails(&lab, "c", "config.json: No such file");
}

#[test]
fn malformed_config_json_is_named_with_its_position() {
    let lab = Lab::new("malformed", &["true"]);
    std::fs::write(
        lab.bundle.join("config.json"),
        "{\"ociVersion\": \"1.0.0\",",
    )
    .unwrap();
    create_fails(&lab, "c", "config.json: EOF while parsing");
    std::fs::write(lab.bundle.join("config.json"), "{\"ociVersion\": 1}").unwrap();
    create_fails(
        &lab,
        "c",
        "ociVersion: invalid type: integer `1`, expected a string",
    );
}

#[test]
fn config_json_that_is_not_a_regular_file_is_refused_without_opening_it() {
    let lab = Lab::new("fifoconfig", &["true"]);
    let config = lab.bundle.join("config.json");
    std::fs::remove_file(&config).unwrap();
    // A FIFO with no writer: reading it would block gorae forever.
    nix::unistd::mkfifo(&config, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    create_fails(&lab, "c", "config.json is not a regular file (a FIFO)");
    std::fs::remove_file(&config).unwrap();
    std::fs::create_dir(&config).unwrap();
    create_fails(&lab, "c", "config.json is not a regular file (a directory)");
    std::fs::remove_dir(&config).unwrap();
    // An endless device behind a symlink.
    std::os::unix::fs::symlink("/dev/zero", &config).unwrap();
    create_fails(
        &lab,
        "c",
        "config.json is not a regular file (a character device)",
    );
}

#[test]
fn config_json_symlink_is_followed_as_runc_does() {
    let lab = Lab::new("symlinkconfig", &["true"]);
    let config = lab.bundle.join("config.json");
    let real = lab.dir.join("real-config.json");
    std::fs::rename(&config, &real).unwrap();
    std::os::unix::fs::symlink(&real, &config).unwrap();
    lab.create("c").expect_ok();
    assert_eq!(lab.status("c"), "created");
    lab.gorae(&["delete", "--force", "c"]).expect_ok();
    lab.assert_nothing_left("c");
    std::fs::remove_file(&real).unwrap();
    create_fails(&lab, "c", "config.json: No such file or directory");
    std::fs::remove_file(&config).unwrap();
    std::os::unix::fs::symlink("config.json", &config).unwrap();
    create_fails(&lab, "c", "config.json: Too many levels of symbolic links");
}

#[test]
fn a_huge_config_json_is_refused_naming_the_limit_without_reading_it() {
    let lab = Lab::new("hugeconfig", &["true"]);
    let config = lab.bundle.join("config.json");
    // 100 MB, sparse: a JSON array that never ends.
    std::fs::write(&config, b"[").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&config)
        .unwrap()
        .set_len(100_000_000)
        .unwrap();
    let started = std::time::Instant::now();
    create_fails(
        &lab,
        "c",
        "config.json is larger than 16777216 bytes (16 MiB), the limit for this file",
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn a_config_json_with_a_megabyte_of_annotations_is_accepted() {
    let lab = Lab::new("bigconfig", &["true"]);
    lab.edit_config(|c| c["annotations"] = json!({"org.example.big": "x".repeat(1 << 20)}));
    lab.create("c").expect_ok();
    assert_eq!(
        lab.state("c")["annotations"]["org.example.big"]
            .as_str()
            .map(str::len),
        Some(1 << 20)
    );
    lab.gorae(&["delete", "--force", "c"]).expect_ok();
    lab.assert_nothing_left("c");
}

#[test]
fn deeply_nested_json_is_refused_at_the_recursion_limit() {
    let lab = Lab::new("nestedconfig", &["true"]);
    let config = lab.bundle.join("config.json");
    std::fs::write(&config, "[".repeat(1_000_000)).unwrap();
    create_fails(&lab, "c", "recursion limit exceeded at line 1 column 128");
    // Nested inside a field gorae reads, and inside one it does not know.
    for field in ["annotations", "org.example.unknown"] {
        let nested = format!("{}{}", "[".repeat(200), "]".repeat(200));
        std::fs::write(
            &config,
            format!("{{\"ociVersion\": \"1.0.0\", \"{field}\": {nested}}}"),
        )
        .unwrap();
        create_fails(&lab, "c", "recursion limit exceeded");
    }
}

#[test]
fn wrongly_typed_fields_are_refused_naming_the_field_and_what_was_expected() {
    let lab = Lab::new("wrongtype", &["true"]);
    type Edit = fn(&mut serde_json::Value);
    let cases: [(Edit, &str); 8] = [
        (
            |c| c["process"]["args"] = json!("sh"),
            "process.args: invalid type: string \"sh\", expected a sequence",
        ),
        (
            |c| c["process"]["user"]["uid"] = json!(-1),
            "process.user.uid: invalid value: integer `-1`, expected u32",
        ),
        (
            |c| c["process"]["terminal"] = json!("yes"),
            "process.terminal: invalid type: string \"yes\", expected a boolean",
        ),
        (
            |c| c["hostname"] = json!(5),
            "hostname: invalid type: integer `5`, expected a string",
        ),
        (
            |c| c["linux"]["namespaces"] = json!({"type": "pid"}),
            "linux.namespaces: invalid type: map, expected a sequence",
        ),
        (
            |c| c["mounts"][0]["options"] = json!("ro"),
            "mounts[0].options: invalid type: string \"ro\", expected a sequence",
        ),
        (
            |c| c["root"] = json!("rootfs"),
            "root: invalid type: string \"rootfs\", expected struct Root",
        ),
        (
            |c| c["linux"]["resources"] = json!({"memory": {"limit": "1G"}}),
            "linux.resources.memory.limit: invalid type: string \"1G\", expected i64",
        ),
    ];
    let base = lab.config();
    for (edit, needle) in cases {
        let mut config = base.clone();
        edit(&mut config);
        lab.write_config(&config);
        create_fails(&lab, "c", needle);
    }
    for (document, needle) in [
        ("null", "invalid type: null, expected struct Spec"),
        // serde reads a struct from an array of its fields in order.
        ("[]", "ociVersion: missing"),
        (
            "\"config\"",
            "invalid type: string \"config\", expected struct Spec",
        ),
    ] {
        std::fs::write(lab.bundle.join("config.json"), document).unwrap();
        create_fails(&lab, "c", needle);
    }
}

#[test]
fn a_namespace_path_that_is_a_fifo_is_refused_without_opening_it() {
    let lab = Lab::new("nsfifo", &["true"]);
    let fifo = lab.dir.join("netns");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let path = fifo.to_str().unwrap().to_owned();
    lab.edit_config(|c| c["linux"]["namespaces"][1] = json!({"type": "network", "path": path}));
    create_fails(
        &lab,
        "c",
        &format!("linux.namespaces[1].path: {path} is not a network namespace"),
    );
}

#[test]
fn a_corrupt_state_json_fails_every_verb_with_a_clear_error() {
    let lab = Lab::new("corruptstate", &["sleep", "30"]);
    lab.create("c").expect_ok();
    let file = lab.root.join("c/state.json");
    let good = std::fs::read(&file).unwrap();
    let name = file.display().to_string();
    let corrupt: [(&dyn Fn(), String); 5] = [
        (
            &|| std::fs::write(&file, "{\"id\": \"c\",").unwrap(),
            format!("corrupt state {name}: EOF while parsing a value at line 1 column 11"),
        ),
        (
            &|| std::fs::write(&file, "{\"id\": 7}").unwrap(),
            format!("corrupt state {name}: invalid type: integer `7`, expected a string"),
        ),
        (
            &|| {
                std::fs::remove_file(&file).unwrap();
                nix::unistd::mkfifo(&file, nix::sys::stat::Mode::from_bits_truncate(0o600))
                    .unwrap();
            },
            format!("{name} is not a regular file (a FIFO)"),
        ),
        (
            &|| {
                std::fs::remove_file(&file).unwrap();
                std::fs::create_dir(&file).unwrap();
            },
            format!("{name} is not a regular file (a directory)"),
        ),
        (
            &|| {
                std::fs::remove_dir(&file).unwrap();
                std::fs::write(&file, b"{").unwrap();
                let f = std::fs::File::options().write(true).open(&file).unwrap();
                f.set_len(100_000_000).unwrap();
            },
            format!("{name} is larger than 67108864 bytes (64 MiB), the limit for this file"),
        ),
    ];
    for (make_corrupt, needle) in corrupt {
        make_corrupt();
        for verb in ["state", "start", "kill", "delete"] {
            lab.gorae(&[verb, "c"]).expect_error(&needle);
        }
    }
    // Put back, the container is intact and is deleted whole.
    std::fs::write(&file, good).unwrap();
    assert_eq!(lab.status("c"), "created");
    lab.gorae(&["delete", "--force", "c"]).expect_ok();
    lab.assert_nothing_left("c");
}

#[test]
fn oci_version_whose_major_is_not_one_is_refused() {
    let lab = Lab::new("version", &["true"]);
    lab.edit_config(|c| c["ociVersion"] = json!("2.0.0"));
    create_fails(&lab, "c", "ociVersion: \"2.0.0\" is not a 1.x version");
    lab.edit_config(|c| {
        c.as_object_mut().unwrap().remove("ociVersion");
    });
    create_fails(&lab, "c", "ociVersion: missing");
}

#[test]
fn missing_rootfs_is_named() {
    let lab = Lab::new("norootfs", &["true"]);
    lab.edit_config(|c| c["root"]["path"] = json!("nowhere"));
    create_fails(&lab, "c", "root.path");
}

#[test]
fn bad_ids_are_refused_before_anything_is_made() {
    let lab = Lab::new("badid", &["true"]);
    for (id, needle) in [
        ("", "it is empty"),
        ("a/b", "only letters"),
        (".", "path component"),
        ("..", "path component"),
        ("../escape", "only letters"),
    ] {
        lab.create(id).expect_error(needle);
        assert!(!lab.root.join("escape").exists());
    }
    let entries = std::fs::read_dir(&lab.root).map(|d| d.count()).unwrap_or(0);
    assert_eq!(entries, 0, "something was made in the state root");
}

#[test]
fn an_id_that_exists_is_refused_and_the_existing_container_is_untouched() {
    let lab = Lab::new("exists", &["sleep", "30"]);
    lab.create("dup").expect_ok();
    let pid = lab.state("dup")["pid"].clone();
    lab.create("dup")
        .expect_error("container with id exists: dup");
    assert_eq!(lab.state("dup")["pid"], pid);
    assert_eq!(lab.status("dup"), "created");
    lab.gorae(&["delete", "--force", "dup"]).expect_ok();
    lab.assert_nothing_left("dup");
}

#[test]
fn a_program_not_in_the_container_is_named() {
    let lab = Lab::new("noprogram", &["no-such-program", "arg"]);
    // runc's words, which Docker matches to exit 127.
    create_fails(
        &lab,
        "c",
        "exec: \"no-such-program\": executable file not found in $PATH",
    );
    lab.edit_config(|c| c["process"]["args"] = json!(["/bin/nowhere"]));
    create_fails(
        &lab,
        "c",
        "exec: \"/bin/nowhere\": stat /bin/nowhere: no such file or directory",
    );
    lab.edit_config(|c| c["process"]["args"] = json!([]));
    create_fails(&lab, "c", "process.args: empty");
}

#[test]
fn a_cwd_that_cannot_be_entered_is_named() {
    let lab = Lab::new("badcwd", &["true"]);
    std::fs::write(lab.rootfs().join("afile"), "").unwrap();
    lab.edit_config(|c| c["process"]["cwd"] = json!("/afile"));
    create_fails(&lab, "c", "chdir to process.cwd \"/afile\": ENOTDIR");
    lab.edit_config(|c| c["process"]["cwd"] = json!("relative"));
    create_fails(&lab, "c", "process.cwd: relative is not absolute");
}

#[test]
fn operations_on_a_container_that_does_not_exist_fail() {
    let lab = Lab::new("nonexistent", &["true"]);
    for args in [
        vec!["start", "ghost"],
        vec!["state", "ghost"],
        vec!["kill", "ghost"],
        vec!["delete", "ghost"],
    ] {
        lab.gorae(&args)
            .expect_error("container \"ghost\" does not exist");
    }
    // As runc: forcing the delete of a container that is gone succeeds.
    lab.gorae(&["delete", "--force", "ghost"]).expect_ok();
}

#[test]
fn a_namespace_listed_twice_is_refused() {
    let lab = Lab::new("nstwice", &["true"]);
    lab.edit_config(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "pid"}))
    });
    create_fails(
        &lab,
        "c",
        "linux.namespaces[6].type: pid namespace listed twice",
    );
}

#[test]
fn a_namespace_path_of_another_type_is_refused() {
    let lab = Lab::new("nswrongtype", &["true"]);
    lab.edit_config(|c| {
        c["linux"]["namespaces"][1] = json!({"type": "network", "path": "/proc/self/ns/uts"});
    });
    create_fails(
        &lab,
        "c",
        "linux.namespaces[1].path: /proc/self/ns/uts is not a network namespace",
    );
    lab.edit_config(|c| {
        c["linux"]["namespaces"][1] = json!({"type": "network", "path": "/nonexistent/ns"});
    });
    create_fails(&lab, "c", "linux.namespaces[1].path: /nonexistent/ns");
}

#[test]
fn an_unknown_namespace_type_is_refused() {
    let lab = Lab::new("nsunknown", &["true"]);
    lab.edit_config(|c| c["linux"]["namespaces"][0] = json!({"type": "bogus"}));
    create_fails(&lab, "c", "unknown variant `bogus`");
}

#[test]
fn mappings_without_a_user_namespace_are_refused() {
    let lab = Lab::new("mapsnouserns", &["true"]);
    lab.edit_config(|c| {
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    });
    create_fails(
        &lab,
        "c",
        "linux.uidMappings: mappings need a new user namespace",
    );
}

#[test]
fn a_user_namespace_without_mappings_is_refused() {
    let lab = Lab::new("usernsnomaps", &["true"]);
    lab.edit_config(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}))
    });
    create_fails(&lab, "c", "needs linux.uidMappings and linux.gidMappings");
}

#[test]
fn a_hostname_without_a_uts_namespace_is_refused() {
    let lab = Lab::new("hostnamenouts", &["true"]);
    lab.edit_config(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "uts");
    });
    create_fails(&lab, "c", "hostname: needs a uts namespace");
}

#[test]
fn a_mount_destination_with_dotdot_is_refused() {
    let lab = Lab::new("mountdotdot", &["true"]);
    lab.edit_config(|c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/tmp/../../x", "type": "tmpfs", "source": "tmpfs"}));
    });
    create_fails(&lab, "c", "mounts[7].destination: must not contain \"..\"");
}

#[test]
fn a_mount_the_kernel_refuses_is_named_and_nothing_is_left() {
    let lab = Lab::new("mountrefused", &["true"]);
    lab.edit_config(|c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/mnt", "type": "nosuchfs", "source": "x"}));
    });
    create_fails(&lab, "c", "mount mounts[7] \"x\" onto \"/mnt\": ENODEV");
}

#[test]
fn a_bind_mount_of_a_missing_source_is_named() {
    let lab = Lab::new("bindmissing", &["true"]);
    lab.edit_config(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/mnt", "type": "bind", "source": "/nonexistent/src", "options": ["rbind"]}));
    });
    create_fails(&lab, "c", "mounts[7].source: /nonexistent/src");
}

#[test]
fn delete_force_with_a_corrupt_state_json_kills_the_container_and_removes_its_cgroup() {
    let lab = Lab::new("corruptdelete", &["sleep", "30"]);
    lab.create("c").expect_ok();
    let pid = lab.state("c")["pid"].as_i64().unwrap();
    // Its cgroup, the same relative path in every hierarchy (gorae's
    // default path: the config names none).
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let relative = cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::/"))
        .unwrap()
        .to_owned();
    let dirs = || -> Vec<std::path::PathBuf> {
        let hierarchies = std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten();
        std::iter::once(std::path::PathBuf::from("/sys/fs/cgroup"))
            .chain(hierarchies.map(|e| e.path()))
            .map(|h| h.join(&relative))
            .filter(|d| d.is_dir())
            .collect()
    };
    assert!(!dirs().is_empty(), "no cgroup {relative} found");
    std::fs::write(lab.root.join("c/state.json"), "{").unwrap();
    lab.gorae(&["delete", "c"]).expect_error("corrupt state");
    let out = lab.gorae(&["delete", "--force", "c"]).expect_ok();
    assert!(out.stderr.contains("deleting container"), "{out:?}");
    lab.assert_nothing_left("c");
    assert_eq!(dirs(), Vec::<std::path::PathBuf>::new());
}

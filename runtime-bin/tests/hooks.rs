//! OCI hooks through real containers: each kind runs at its point, in the
//! right namespace, in order, with the state on stdin; timeouts kill; each
//! failure has the spec's consequence.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::Lab;
use serde_json::{Value, json};

/// A host hook: the host's shell runs `script` with `DIR` set.
fn host_hook(dir: &Path, script: &str) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", script], "env": [format!("DIR={}", dir.display()), "PATH=/usr/bin:/bin"]})
}

/// A hook that records its kind, stdin and mount namespace in `DIR`.
fn recorder(dir: &Path, kind: &str) -> Value {
    host_hook(
        dir,
        &format!(
            "cat > $DIR/{kind}.state; readlink /proc/self/ns/mnt > $DIR/{kind}.mnt; echo {kind} >> $DIR/order"
        ),
    )
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn every_hook_runs_in_order_in_its_namespace_with_the_state_on_stdin() {
    let lab = Lab::new("hooksorder", &["sleep", "30"]);
    let out = lab.dir.join("hooks");
    std::fs::create_dir_all(&out).unwrap();
    lab.edit_config(|c| {
        c["hooks"] = json!({
            "prestart": [recorder(&out, "prestart")],
            "createRuntime": [recorder(&out, "createRuntime")],
            "createContainer": [recorder(&out, "createContainer")],
            "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c",
                "cat > /tmp/startContainer.state; readlink /proc/self/ns/mnt > /tmp/startContainer.mnt"]}],
            "poststart": [recorder(&out, "poststart")],
            "poststop": [recorder(&out, "poststop")]
        });
    });
    lab.create("h").expect_ok();
    let pid = lab.state("h")["pid"].as_i64().unwrap();
    let order = || std::fs::read_to_string(out.join("order")).unwrap();
    assert_eq!(order(), "prestart\ncreateRuntime\ncreateContainer\n");
    let host_mnt = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    let container_mnt = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap();
    let mnt = |kind: &str| std::fs::read_to_string(out.join(format!("{kind}.mnt"))).unwrap();
    assert_eq!(
        mnt("createRuntime").trim(),
        host_mnt.to_str().unwrap(),
        "createRuntime not in the runtime namespace"
    );
    assert_eq!(
        mnt("createContainer").trim(),
        container_mnt.to_str().unwrap(),
        "createContainer not in the container"
    );
    for kind in ["prestart", "createRuntime", "createContainer"] {
        let state = read_json(&out.join(format!("{kind}.state")));
        assert_eq!(state["id"], "h", "{kind}");
        assert_eq!(state["status"], "creating", "{kind}");
        assert_eq!(state["pid"], pid, "{kind}");
        assert_eq!(state["bundle"], lab.bundle.to_str().unwrap(), "{kind}");
    }
    lab.gorae(&["start", "h"]).expect_ok();
    assert_eq!(
        order(),
        "prestart\ncreateRuntime\ncreateContainer\npoststart\n"
    );
    let start_state = read_json(&lab.rootfs().join("tmp/startContainer.state"));
    assert_eq!(start_state["id"], "h");
    let start_mnt = std::fs::read_to_string(lab.rootfs().join("tmp/startContainer.mnt")).unwrap();
    assert_eq!(
        start_mnt.trim(),
        container_mnt.to_str().unwrap(),
        "startContainer not in the container"
    );
    assert_eq!(read_json(&out.join("poststart.state"))["status"], "running");
    lab.gorae(&["delete", "--force", "h"]).expect_ok();
    assert!(order().ends_with("poststart\npoststop\n"));
    assert_eq!(read_json(&out.join("poststop.state"))["status"], "stopped");
    lab.assert_nothing_left("h");
}

#[test]
fn a_failing_create_hook_fails_create_naming_it_and_leaves_nothing() {
    for kind in ["prestart", "createRuntime", "createContainer"] {
        let lab = Lab::new("hookfail", &["true"]);
        let dir = lab.dir.clone();
        lab.edit_config(|c| c["hooks"] = json!({kind: [host_hook(&dir, "exit 3")]}));
        lab.create("f")
            .expect_error(&format!("hooks.{kind}[0] /bin/sh"));
        lab.assert_nothing_left("f");
    }
}

#[test]
fn a_hook_past_its_timeout_is_killed_and_fails() {
    let lab = Lab::new("hooktimeout", &["true"]);
    let dir = lab.dir.clone();
    lab.edit_config(|c| {
        let mut hook = host_hook(&dir, "sleep 10");
        hook["timeout"] = json!(1);
        c["hooks"] = json!({"createRuntime": [hook]});
    });
    let started = std::time::Instant::now();
    lab.create("t").expect_error("killed after its timeout");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    lab.assert_nothing_left("t");
    lab.edit_config(|c| {
        let mut hook = json!({"path": "/bin/sh", "args": ["sh", "-c", "sleep 10"], "timeout": 1});
        hook["timeout"] = json!(1);
        c["hooks"] = json!({"createContainer": [hook]});
    });
    lab.create("u").expect_error("hooks.createContainer[0]");
    lab.assert_nothing_left("u");
}

/// runtime.md lifecycle step 7: a failing startContainer hook fails
/// `start`, the container is stopped and destroyed (step 12) and the
/// poststop hooks run (step 13); the program never runs.
#[test]
fn a_failing_start_container_hook_fails_start_and_destroys_the_container() {
    let lab = Lab::new("starthookfail", &["sh", "-c", "touch /ran; sleep 30"]);
    let dir = lab.dir.clone();
    lab.edit_config(|c| {
        c["hooks"] = json!({"startContainer": [{"path": "/bin/false"}],
                            "poststop": [host_hook(&dir, "touch $DIR/poststop-ran")]});
    });
    lab.create("s").expect_ok();
    lab.gorae(&["start", "s"])
        .expect_error("hooks.startContainer[0] /bin/false: exited with a failure status");
    lab.gorae(&["state", "s"]).expect_error("does not exist");
    assert!(!lab.rootfs().join("ran").exists(), "the program ran");
    assert!(
        dir.join("poststop-ran").exists(),
        "poststop hooks did not run"
    );
    lab.assert_nothing_left("s");
}

/// runtime.md: a failing poststart hook is a warning and the lifecycle
/// goes on; a failing poststop hook is a warning too.
#[test]
fn failing_poststart_and_poststop_hooks_are_warnings() {
    let lab = Lab::new("posthooks", &["sleep", "30"]);
    let dir = lab.dir.clone();
    lab.edit_config(|c| {
        c["hooks"] = json!({"poststart": [host_hook(&dir, "exit 1")], "poststop": [host_hook(&dir, "exit 2")]});
    });
    lab.create("p").expect_ok();
    let started = lab.gorae(&["start", "p"]);
    assert_eq!(started.code, Some(0), "{started:?}");
    assert!(
        started.stderr.contains("level=warning") && started.stderr.contains("hooks.poststart[0]"),
        "{started:?}"
    );
    assert_eq!(lab.status("p"), "running");
    let deleted = lab.gorae(&["delete", "--force", "p"]);
    assert_eq!(deleted.code, Some(0), "{deleted:?}");
    assert!(deleted.stderr.contains("hooks.poststop[0]"), "{deleted:?}");
    lab.assert_nothing_left("p");
}

#[test]
fn a_relative_hook_path_is_refused() {
    let lab = Lab::new("hookrelative", &["true"]);
    lab.edit_config(|c| c["hooks"] = json!({"poststop": [{"path": "bin/true"}]}));
    lab.create("r")
        .expect_error("hooks.poststop[0].path: must be absolute");
    lab.assert_nothing_left("r");
}

//! Hooks (`config.md`, `runtime.md` lifecycle): failures at each phase,
//! `poststop` failures as warnings, `timeout`, `env`, absolute `path`, and
//! the pid a container-namespace hook sees in the state; the `config`
//! module has order, namespaces and stdin.
#![forbid(unsafe_code)]

use std::fs;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::config::{log_hook, log_lines};
use super::{MUST, check, create_fails_unlike, set, wait_ran};
use crate::lab::{Bundle, Lab, base_config};
use crate::suite::{Check, Failure, Outcome, ensure, ensure_eq, fail, skip};

pub(super) fn checks() -> Vec<Check> {
    vec![
        check(
            MUST,
            "config.hooks.prestart-failure",
            "runtime.md#lifecycle",
            "a failing prestart hook fails create and no container remains",
            "If any prestart hook fails, the runtime MUST generate an error, stop the container, and continue the lifecycle at step 12.",
            prestart_failure,
        ),
        check(
            MUST,
            "config.hooks.create-container-failure",
            "runtime.md#lifecycle",
            "a failing createContainer hook fails create and no container remains",
            "If any createContainer hook fails, the runtime MUST generate an error, stop the container, and continue the lifecycle at step 12.",
            create_container_failure,
        ),
        check(
            MUST,
            "config.hooks.start-container-failure",
            "runtime.md#lifecycle",
            "a failing startContainer hook fails start, the program never runs and no container remains",
            "If any startContainer hook fails, the runtime MUST generate an error, stop the container, and continue the lifecycle at step 12.",
            start_container_failure,
        ),
        check(
            MUST,
            "config.hooks.poststart-failure",
            "runtime.md#lifecycle",
            "a failing poststart hook is a warning: start succeeds, later hooks run, the container runs on",
            "The poststart hooks MUST be invoked by the runtime. If any poststart hook fails, the runtime MUST log a warning, but the remaining hooks and lifecycle continue as if the hook had succeeded.",
            poststart_failure,
        ),
        check(
            MUST,
            "config.hooks.poststop-failure",
            "runtime.md#lifecycle",
            "a failing poststop hook is a warning: the next hook runs and delete succeeds",
            "If any poststop hook fails, the runtime MUST log a warning, but the remaining hooks and lifecycle continue as if the hook had succeeded.",
            poststop_failure,
        ),
        check(
            MUST,
            "config.hooks.timeout",
            "config.md#posix-platform-hooks",
            "a hook running past its timeout is aborted and create fails",
            "timeout (int, OPTIONAL) is the number of seconds before aborting the hook.",
            timeout,
        ),
        check(
            MUST,
            "config.hooks.timeout-zero",
            "config.md#posix-platform-hooks",
            "create with a hook timeout of 0 fails",
            "If set, timeout MUST be greater than zero. ... Runtimes MUST generate an error when invalid or unsupported values are encountered.",
            timeout_zero,
        ),
        check(
            MUST,
            "config.hooks.env",
            "config.md#posix-platform-hooks",
            "a hook runs with its env",
            "env (array of strings, OPTIONAL) with the same semantics as IEEE Std 1003.1-2008's environ.",
            env,
        ),
        check(
            MUST,
            "config.hooks.path-relative",
            "config.md#posix-platform-hooks",
            "create with a relative hook path fails",
            "path (string, REQUIRED) with similar semantics to IEEE Std 1003.1-2008 execv's path. This specification extends the IEEE standard in that path MUST be absolute.",
            path_relative,
        ),
        check(
            MUST,
            "config.hooks.path-namespaces",
            "config.md#posix-platform-hooks",
            "a startContainer hook path is looked up in the container, a poststart one on the host",
            "The startContainer hooks' path MUST resolve in the container namespace. ... The poststart hooks' path MUST resolve in the runtime namespace.",
            path_namespaces,
        ),
        check(
            MUST,
            "runtime.state.pid-container-hook",
            "runtime.md#state",
            "a startContainer hook (container namespace) gets the pid as the container sees it",
            "For hooks executed in the container namespace, it is the pid as seen by the container.",
            state_pid_container_hook,
        ),
    ]
}

/// A hook that reads the state on its stdin (so the runtime never writes
/// to a closed pipe) and exits with status 1.
fn failing() -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", "cat >/dev/null; exit 1"]})
}

/// Writes a bundle whose probe touches `/ran` and waits, with `hooks`.
fn hooked(lab: &Lab, bundle: &Bundle, hooks: Value) -> Result<String, Failure> {
    let mut config = base_config(&["--touch", "/ran", "--wait-signal", "60"]);
    set(&mut config, &["hooks"], hooks);
    bundle.write_config(&config)?;
    Ok(lab.id("h"))
}

/// Fails unless container `id` is gone (step 12: destroyed).
fn destroyed(lab: &Lab, id: &str) -> Outcome {
    lab.runtime(&["state", id])?
        .require_error("the container should be destroyed")
        .map(drop)
}

/// create with a failing `phase` hook must fail, run nothing, leave nothing.
fn create_phase_failure(lab: &mut Lab, phase: &str) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    let id = hooked(lab, &bundle, json!({phase: [failing()]}))?;
    lab.create(&bundle, &id)?
        .require_error(&format!("the {phase} hook failed"))?;
    destroyed(lab, &id)?;
    ensure(!bundle.host_path("/ran").exists(), "the program ran")
}

fn prestart_failure(lab: &mut Lab) -> Outcome {
    create_phase_failure(lab, "prestart")
}

fn create_container_failure(lab: &mut Lab) -> Outcome {
    create_phase_failure(lab, "createContainer")
}

/// A bundle with busybox, for hooks that run in the container.
fn shell_bundle(lab: &Lab) -> Result<Bundle, Failure> {
    lab.bundle_with_shell("bundle")?.ok_or_else(|| {
        skip("startContainer hooks need a shell in the rootfs: install busybox-static")
    })
}

fn start_container_failure(lab: &mut Lab) -> Outcome {
    let bundle = shell_bundle(lab)?;
    let id = hooked(lab, &bundle, json!({"startContainer": [failing()]}))?;
    lab.create(&bundle, &id)?.require()?;
    lab.runtime(&["start", &id])?
        .require_error("the startContainer hook failed")?;
    std::thread::sleep(Duration::from_millis(300));
    ensure(
        !bundle.host_path("/ran").exists(),
        "the program ran after its startContainer hook failed",
    )?;
    destroyed(lab, &id)
}

fn poststart_failure(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    let log = bundle.dir.join("hooks.log").display().to_string();
    let id = hooked(
        lab,
        &bundle,
        json!({"poststart": [failing(), log_hook("second", &log)]}),
    )?;
    lab.create(&bundle, &id)?.require()?;
    lab.runtime(&["start", &id])?
        .require()
        .map_err(|f| f.with("why", "a failing poststart hook is only a warning"))?;
    wait_ran(&bundle)?;
    ensure_eq(
        log_lines(&log),
        vec!["second".to_owned()],
        "poststart hooks that ran after the failing one",
    )?;
    let status = lab.status(&id)?;
    lab.runtime(&["kill", &id, "KILL"])?.require()?;
    lab.wait_status(&id, "stopped")?;
    lab.runtime(&["delete", &id])?.require()?;
    ensure_eq(status.as_str(), "running", "status after start")?;
    destroyed(lab, &id)
}

fn poststop_failure(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    let log = bundle.dir.join("hooks.log").display().to_string();
    let id = hooked(
        lab,
        &bundle,
        json!({"poststop": [failing(), log_hook("second", &log)]}),
    )?;
    lab.create(&bundle, &id)?.require()?;
    lab.runtime(&["start", &id])?.require()?;
    wait_ran(&bundle)?;
    lab.runtime(&["kill", &id, "KILL"])?.require()?;
    lab.wait_status(&id, "stopped")?;
    lab.runtime(&["delete", &id])?
        .require()
        .map_err(|f| f.with("why", "a failing poststop hook is only a warning"))?;
    ensure_eq(
        log_lines(&log),
        vec!["second".to_owned()],
        "poststop hooks that ran after the failing one",
    )?;
    destroyed(lab, &id)
}

fn timeout(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    let id = hooked(
        lab,
        &bundle,
        json!({"createRuntime": [
            {"path": "/bin/sh", "args": ["sh", "-c", "cat >/dev/null; exec sleep 20"], "timeout": 1}
        ]}),
    )?;
    let started = Instant::now();
    lab.create(&bundle, &id)?
        .require_error("the createRuntime hook ran past its 1 s timeout")?;
    let took = started.elapsed();
    ensure(
        took < Duration::from_secs(15),
        format!(
            "create took {} ms: the 20 s hook was not aborted after 1 s",
            took.as_millis()
        ),
    )
}

fn timeout_zero(lab: &mut Lab) -> Outcome {
    let hook = |c: &mut Value, timeout: u32| {
        set(
            c,
            &["hooks", "createRuntime"],
            json!([
                {"path": "/bin/sh", "args": ["sh", "-c", "cat >/dev/null"], "timeout": timeout}
            ]),
        );
    };
    create_fails_unlike(lab, "a hook timeout is 0", |c| hook(c, 5), |c| hook(c, 0)).map(drop)
}

fn env(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    let out = bundle.dir.join("hook-env");
    let script = format!(
        "cat >/dev/null; echo \"$CONFORMANCE_HOOK\" > {}",
        out.display()
    );
    let id = hooked(
        lab,
        &bundle,
        json!({"createRuntime": [
            {"path": "/bin/sh", "args": ["sh", "-c", script], "env": ["CONFORMANCE_HOOK=env-ok"]}
        ]}),
    )?;
    lab.create(&bundle, &id)?.require()?;
    let got = fs::read_to_string(&out).map_err(|e| fail(format!("the hook wrote nothing: {e}")))?;
    ensure_eq(got.trim(), "env-ok", "$CONFORMANCE_HOOK in the hook")
}

fn path_relative(lab: &mut Lab) -> Outcome {
    let hook = |c: &mut Value, path: &str| {
        set(
            c,
            &["hooks", "createRuntime"],
            json!([{"path": path, "args": ["sh", "-c", "cat >/dev/null"]}]),
        );
    };
    create_fails_unlike(
        lab,
        "the hook path bin/sh is relative",
        |c| hook(c, "/bin/sh"),
        |c| hook(c, "bin/sh"),
    )
    .map(drop)
}

fn state_pid_container_hook(lab: &mut Lab) -> Outcome {
    let bundle = shell_bundle(lab)?;
    let id = hooked(
        lab,
        &bundle,
        json!({"startContainer": [
            {"path": "/bin/sh", "args": ["sh", "-c", "cat > /hook-state.json"]}
        ]}),
    )?;
    lab.create(&bundle, &id)?.require()?;
    lab.runtime(&["start", &id])?.require()?;
    let text = fs::read_to_string(bundle.host_path("/hook-state.json"))
        .map_err(|e| fail(format!("the startContainer hook saved no state: {e}")))?;
    let state: Value = serde_json::from_str(&text).map_err(|e| {
        fail(format!("the hook's stdin was not a JSON state: {e}")).with("stdin", text.clone())
    })?;
    ensure_eq(
        state.get("pid").and_then(Value::as_i64),
        Some(1),
        "state pid in the startContainer hook (the container's init, in a new pid namespace)",
    )
}

/// Writes an executable shell script that reads the state first.
fn script(path: &std::path::Path, body: &str) -> Outcome {
    use std::os::unix::fs::PermissionsExt;
    fs::write(path, format!("#!/bin/sh\ncat >/dev/null\n{body}\n"))
        .and_then(|()| fs::set_permissions(path, fs::Permissions::from_mode(0o755)))
        .map_err(|e| fail(format!("write {}: {e}", path.display())))
}

fn path_namespaces(lab: &mut Lab) -> Outcome {
    let bundle = shell_bundle(lab)?;
    if std::path::Path::new("/conformance-hook").exists() {
        return Err(skip(
            "/conformance-hook exists on the host: the check needs a path only the rootfs has",
        ));
    }
    // Only in the rootfs: /conformance-hook; only on the host: host-hook.
    script(
        &bundle.host_path("/conformance-hook"),
        "echo container > /start-hook-ran",
    )?;
    let host_hook = bundle.dir.join("host-hook");
    let marker = bundle.dir.join("poststart-hook-ran");
    script(&host_hook, &format!("echo host > {}", marker.display()))?;
    let id = hooked(
        lab,
        &bundle,
        json!({
            "startContainer": [{"path": "/conformance-hook"}],
            "poststart": [{"path": host_hook.display().to_string()}]
        }),
    )?;
    lab.create(&bundle, &id)?.require()?;
    lab.runtime(&["start", &id])?.require()?;
    ensure(
        bundle.host_path("/start-hook-ran").exists(),
        "the startContainer hook /conformance-hook (only in the rootfs) did not run",
    )?;
    ensure(
        marker.exists(),
        format!(
            "the poststart hook {} (only on the host) did not run",
            host_hook.display()
        ),
    )
}

//! `runtime.md`: state, lifecycle, operations and their errors; and
//! `runtime-linux.md`: file descriptors and `/dev` symlinks.
#![forbid(unsafe_code)]

use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use serde_json::{Value, json};

use super::{
    MUST, check, create_fails, created, host_namespace, probe_with, running, stopped, wait_ran,
};
use crate::lab::{Lab, base_config};
use crate::suite::{Check, Outcome, ensure, ensure_eq, fail, skip};

pub(super) fn checks() -> Vec<Check> {
    vec![
        check(
            MUST,
            "runtime.state.fields",
            "runtime.md#state",
            "state of a created container has ociVersion, id, status, pid and an absolute bundle",
            "The state of a container includes the following properties: ociVersion (string, REQUIRED) ... id (string, REQUIRED) ... status (string, REQUIRED) ... pid (int, REQUIRED when status is created or running on Linux) ... bundle (string, REQUIRED) is the absolute path to the container's bundle directory.",
            state_fields,
        ),
        check(
            MUST,
            "runtime.state.pid",
            "runtime.md#state",
            "state pid is the container process as seen by the host",
            "pid (int, REQUIRED when status is created or running on Linux ...) is the ID of the container process. For hooks executed in the runtime namespace, it is the pid as seen by the runtime.",
            state_pid,
        ),
        check(
            MUST,
            "runtime.state.annotations",
            "runtime.md#state",
            "annotations of config.json appear in the state",
            "annotations (map, OPTIONAL) contains the list of annotations associated with the container.",
            state_annotations,
        ),
        check(
            MUST,
            "runtime.state.schema",
            "runtime.md#state",
            "state of a created, running and stopped container has the types state-schema.json gives",
            "When serialized in JSON, the format MUST adhere to the JSON Schema schema/state-schema.json.",
            state_schema,
        ),
        check(
            MUST,
            "runtime.state.missing",
            "runtime.md#query-state",
            "state of a container that does not exist fails",
            "Attempting to query a container that does not exist MUST generate an error.",
            state_missing,
        ),
        check(
            MUST,
            "runtime.state.no-id",
            "runtime.md#query-state",
            "state without a container id fails",
            "This operation MUST generate an error if it is not provided the ID of a container.",
            state_no_id,
        ),
        check(
            MUST,
            "runtime.create.status",
            "runtime.md#create",
            "status is created after create",
            "created: the runtime has finished the create operation (after step 2 in the lifecycle), and the container process has neither exited nor executed the user-specified program",
            create_status,
        ),
        check(
            MUST,
            "runtime.create.not-run",
            "runtime.md#create",
            "create does not run the user-specified program",
            "process.args MUST NOT be applied until triggered by the start operation.",
            create_not_run,
        ),
        check(
            MUST,
            "runtime.create.no-id",
            "runtime.md#create",
            "create without a container id fails and creates nothing",
            "This operation MUST generate an error if it is not provided a path to the bundle and the container ID to associate with the container.",
            create_no_id,
        ),
        check(
            MUST,
            "runtime.create.duplicate-id",
            "runtime.md#create",
            "create with an id in use fails and leaves the first container as it was",
            "If the ID provided is not unique across all containers within the scope of the runtime, or is not valid in any other way, the implementation MUST generate an error and a new container MUST NOT be created.",
            create_duplicate_id,
        ),
        check(
            MUST,
            "runtime.create.unappliable",
            "runtime.md#create",
            "create with a root.path that does not exist fails and no container exists",
            "If the runtime cannot apply a property as specified in the configuration, it MUST generate an error and a new container MUST NOT be created.",
            create_unappliable,
        ),
        check(
            MUST,
            "runtime.errors.no-trace",
            "runtime.md#errors",
            "a failed create leaves the state root as if it was never attempted",
            "Unless otherwise stated, generating an error MUST leave the state of the environment as if the operation were never attempted - modulo any possible trivial ancillary changes such as logging.",
            errors_no_trace,
        ),
        check(
            MUST,
            "runtime.create.config-snapshot",
            "runtime.md#lifecycle",
            "changes to config.json after create do not affect the container",
            "Any updates to config.json after this step MUST NOT affect the container.",
            create_config_snapshot,
        ),
        check(
            MUST,
            "runtime.start.runs",
            "runtime.md#start",
            "start runs the user-specified program",
            "This operation MUST run the user-specified program as specified by process.",
            start_runs,
        ),
        check(
            MUST,
            "runtime.start.status",
            "runtime.md#state",
            "status is running after start while the program runs",
            "running: the container process has executed the user-specified program but has not exited (after step 8 in the lifecycle)",
            start_status,
        ),
        check(
            MUST,
            "runtime.start.running",
            "runtime.md#start",
            "start of a running container fails and leaves it running",
            "Attempting to start a container that is not created MUST have no effect on the container and MUST generate an error.",
            start_running,
        ),
        check(
            MUST,
            "runtime.start.stopped",
            "runtime.md#start",
            "start of a stopped container fails and leaves it stopped",
            "Attempting to start a container that is not created MUST have no effect on the container and MUST generate an error.",
            start_stopped,
        ),
        check(
            MUST,
            "runtime.start.missing",
            "runtime.md#start",
            "start of a container that does not exist fails",
            "Attempting to start a container that is not created MUST have no effect on the container and MUST generate an error.",
            start_missing,
        ),
        check(
            MUST,
            "runtime.start.no-id",
            "runtime.md#start",
            "start without a container id fails",
            "This operation MUST generate an error if it is not provided the container ID.",
            start_no_id,
        ),
        check(
            MUST,
            "runtime.start.no-process",
            "runtime.md#start",
            "start of a container whose config has no process fails",
            "This operation MUST generate an error if process was not set.",
            start_no_process,
        ),
        check(
            MUST,
            "runtime.lifecycle.exit",
            "runtime.md#state",
            "status is stopped after the program exits",
            "stopped: the container process has exited (step 10 in the lifecycle)",
            lifecycle_exit,
        ),
        check(
            MUST,
            "runtime.kill.signal",
            "runtime.md#kill",
            "kill delivers the named signal to the container process",
            "This operation MUST send the specified signal to the container process.",
            kill_signal,
        ),
        check(
            MUST,
            "runtime.kill.created",
            "runtime.md#kill",
            "kill of a created container sends the signal (SIGKILL stops it)",
            "Attempting to send a signal to a container that is neither created nor running MUST have no effect on the container and MUST generate an error. This operation MUST send the specified signal to the container process.",
            kill_created,
        ),
        check(
            MUST,
            "runtime.kill.stopped",
            "runtime.md#kill",
            "kill of a stopped container fails",
            "Attempting to send a signal to a container that is neither created nor running MUST have no effect on the container and MUST generate an error.",
            kill_stopped,
        ),
        check(
            MUST,
            "runtime.kill.missing",
            "runtime.md#kill",
            "kill of a container that does not exist fails",
            "Attempting to send a signal to a container that is neither created nor running MUST have no effect on the container and MUST generate an error.",
            kill_missing,
        ),
        check(
            MUST,
            "runtime.kill.no-id",
            "runtime.md#kill",
            "kill without a container id fails",
            "This operation MUST generate an error if it is not provided the container ID.",
            kill_no_id,
        ),
        check(
            MUST,
            "runtime.delete.stopped",
            "runtime.md#delete",
            "delete of a stopped container removes it",
            "Deleting a container MUST delete the resources that were created during the create step.",
            delete_stopped,
        ),
        check(
            MUST,
            "runtime.delete.running",
            "runtime.md#delete",
            "delete of a running container fails and leaves it running",
            "Attempting to delete a container that is not stopped MUST have no effect on the container and MUST generate an error.",
            delete_running,
        ),
        check(
            MUST,
            "runtime.delete.created",
            "runtime.md#delete",
            "delete of a created container fails and leaves it created",
            "Attempting to delete a container that is not stopped MUST have no effect on the container and MUST generate an error.",
            delete_created,
        ),
        check(
            MUST,
            "runtime.delete.missing",
            "runtime.md#delete",
            "delete of a container that does not exist fails",
            "Attempting to delete a container that is not stopped MUST have no effect on the container and MUST generate an error.",
            delete_missing,
        ),
        check(
            MUST,
            "runtime.delete.no-id",
            "runtime.md#delete",
            "delete without a container id fails",
            "This operation MUST generate an error if it is not provided the container ID.",
            delete_no_id,
        ),
        check(
            MUST,
            "runtime.delete.cgroup",
            "runtime.md#delete",
            "delete removes the cgroup create made at cgroupsPath",
            "Deleting a container MUST delete the resources that were created during the create step.",
            delete_cgroup,
        ),
        check(
            MUST,
            "runtime.delete.foreign-cgroup",
            "runtime.md#delete",
            "delete leaves a cgroup that existed before create",
            "Note that resources associated with the container, but not created by this container, MUST NOT be deleted.",
            delete_foreign_cgroup,
        ),
        check(
            MUST,
            "runtime-linux.fds",
            "runtime-linux.md#file-descriptors",
            "only stdin, stdout and stderr are open in the container process",
            "By default, only the stdin, stdout and stderr file descriptors are kept open for the application by the runtime.",
            linux_fds,
        ),
        check(
            MUST,
            "runtime-linux.dev-symlinks",
            "runtime-linux.md#dev-symbolic-links",
            "/dev/fd, /dev/stdin, /dev/stdout and /dev/stderr link to /proc/self/fd",
            "While creating the container (step 2 in the lifecycle), runtimes MUST create the following symlinks if the source file exists after processing mounts: /proc/self/fd -> /dev/fd, /proc/self/fd/0 -> /dev/stdin, /proc/self/fd/1 -> /dev/stdout, /proc/self/fd/2 -> /dev/stderr",
            linux_dev_symlinks,
        ),
    ]
}

fn state_fields(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    let id = created(lab, &bundle)?;
    let state = lab.state(&id)?;
    let show = |m: &str| fail(m.to_owned()).with("state", state.to_string());
    let string = |key: &str| state.get(key).and_then(Value::as_str);
    if string("ociVersion").is_none_or(str::is_empty) {
        return Err(show("ociVersion is missing or not a string"));
    }
    if string("id") != Some(id.as_str()) {
        return Err(show("id is not the container's id"));
    }
    if string("status") != Some("created") {
        return Err(show("status is not \"created\""));
    }
    if state
        .get("pid")
        .and_then(Value::as_i64)
        .is_none_or(|p| p <= 0)
    {
        return Err(show("pid is missing or not a positive integer"));
    }
    let expected = bundle.dir.display().to_string();
    if string("bundle") != Some(expected.as_str()) {
        return Err(show("bundle is not the absolute bundle path").with("expected", expected));
    }
    Ok(())
}

fn state_pid(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    let id = created(lab, &bundle)?;
    let pid = lab
        .state(&id)?
        .get("pid")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let ns = std::fs::metadata(format!("/proc/{pid}/ns/pid"))
        .map_err(|e| fail(format!("no process {pid} on the host: {e}")))?;
    ensure(
        Some(ns.ino()) != host_namespace("pid"),
        format!("process {pid} is in the runtime's pid namespace, not the container's"),
    )
}

fn state_annotations(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    let mut config = base_config(&["--wait-signal", "60"]);
    let annotations = json!({"org.example.conformance": "yes", "com.example.empty": ""});
    config["annotations"] = annotations.clone();
    bundle.write_config(&config)?;
    let id = lab.id("a");
    lab.create(&bundle, &id)?.require()?;
    let state = lab.state(&id)?;
    ensure_eq(
        state.get("annotations"),
        Some(&annotations),
        "state annotations",
    )
}

fn state_missing(lab: &mut Lab) -> Outcome {
    lab.runtime(&["state", &lab.id("nonexistent")])?
        .require_error("the container does not exist")?;
    Ok(())
}

fn state_no_id(lab: &mut Lab) -> Outcome {
    lab.runtime(&["state"])?.require_error("no id was given")?;
    Ok(())
}

fn create_status(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    let id = created(lab, &bundle)?;
    ensure_eq(lab.status(&id)?.as_str(), "created", "status after create")
}

fn create_not_run(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    let id = created(lab, &bundle)?;
    std::thread::sleep(Duration::from_millis(300));
    ensure(
        !bundle.host_path("/ran").exists(),
        "the program ran (it created /ran) before start",
    )?;
    ensure_eq(lab.status(&id)?.as_str(), "created", "status")
}

fn create_no_id(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    bundle.write_config(&base_config(&[]))?;
    let dir = bundle.dir.display().to_string();
    lab.runtime(&["create", "--bundle", &dir])?
        .require_error("no container id was given")?;
    ensure(
        root_is_empty(lab),
        "the state root holds a container after the failed create",
    )
}

fn create_duplicate_id(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    let id = created(lab, &bundle)?;
    let pid = lab.state(&id)?.get("pid").cloned();
    let other = lab.bundle("other")?;
    other.write_config(&base_config(&["--touch", "/ran"]))?;
    lab.create(&other, &id)?
        .require_error("the id is already in use")?;
    unchanged(lab, &id, "created", pid)
}

/// Fails unless container `id` still has `status` and `pid`.
fn unchanged(lab: &Lab, id: &str, status: &str, pid: Option<Value>) -> Outcome {
    let state = lab.state(id)?;
    ensure_eq(
        state.get("status").and_then(Value::as_str),
        Some(status),
        "status",
    )?;
    ensure_eq(state.get("pid").cloned(), pid, "pid")
}

fn create_unappliable(lab: &mut Lab) -> Outcome {
    let id = create_fails(lab, "root.path does not exist", missing_root)?;
    lab.runtime(&["state", &id])?
        .require_error("the failed create left a container behind")?;
    Ok(())
}

fn missing_root(config: &mut Value) {
    config["root"]["path"] = json!("no-such-rootfs");
}

fn errors_no_trace(lab: &mut Lab) -> Outcome {
    create_fails(lab, "root.path does not exist", missing_root)?;
    ensure(
        root_is_empty(lab),
        format!(
            "the state root {} is not empty after a failed create",
            lab.root.display()
        ),
    )
}

/// Whether the runtime's `--root` is absent or holds nothing.
fn root_is_empty(lab: &Lab) -> bool {
    std::fs::read_dir(&lab.root).map_or(true, |mut d| d.next().is_none())
}

fn create_config_snapshot(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    let mut config = base_config(&[]);
    config["process"]["env"] = json!(["PATH=/bin", "CONFORMANCE=before"]);
    bundle.write_config(&config)?;
    let id = lab.id("s");
    lab.create(&bundle, &id)?.require()?;
    config["process"]["env"] = json!(["PATH=/bin", "CONFORMANCE=after"]);
    config["hostname"] = json!("changed");
    bundle.write_config(&config)?;
    lab.runtime(&["start", &id])?.require()?;
    lab.wait_status(&id, "stopped")?;
    let report = lab.report(&id)?;
    ensure(
        report.env.iter().any(|e| e == "CONFORMANCE=before"),
        format!(
            "the process saw env {:?}, not the config at create time",
            report.env
        ),
    )?;
    ensure_eq(report.hostname.as_str(), "conformance", "hostname")
}

fn start_runs(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    let id = created(lab, &bundle)?;
    lab.runtime(&["start", &id])?.require()?;
    wait_ran(&bundle)
}

fn start_status(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    let id = created(lab, &bundle)?;
    lab.runtime(&["start", &id])?.require()?;
    ensure_eq(lab.status(&id)?.as_str(), "running", "status after start")
}

fn start_running(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    let id = running(lab, &bundle)?;
    let pid = lab.state(&id)?.get("pid").cloned();
    lab.runtime(&["start", &id])?
        .require_error("the container is already running")?;
    unchanged(lab, &id, "running", pid)
}

fn start_stopped(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    let id = stopped(lab, &bundle)?;
    std::fs::remove_file(bundle.host_path("/ran"))
        .map_err(|e| fail(format!("remove /ran: {e}")))?;
    lab.runtime(&["start", &id])?
        .require_error("the container is stopped")?;
    std::thread::sleep(Duration::from_millis(200));
    ensure(!bundle.host_path("/ran").exists(), "the program ran again")?;
    ensure_eq(lab.status(&id)?.as_str(), "stopped", "status")
}

fn start_missing(lab: &mut Lab) -> Outcome {
    lab.runtime(&["start", &lab.id("nonexistent")])?
        .require_error("the container does not exist")?;
    Ok(())
}

fn start_no_process(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    let mut config = base_config(&[]);
    if let Some(obj) = config.as_object_mut() {
        obj.remove("process");
    }
    bundle.write_config(&config)?;
    let id = lab.id("np");
    // A runtime may refuse the bundle at create already: that is an error too.
    if lab.create(&bundle, &id)?.ok() {
        lab.runtime(&["start", &id])?
            .require_error("the config has no process")?;
    }
    Ok(())
}

fn lifecycle_exit(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    bundle.write_config(&base_config(&[]))?;
    let id = lab.id("e");
    lab.create(&bundle, &id)?.require()?;
    lab.runtime(&["start", &id])?.require()?;
    lab.wait_status(&id, "stopped")
}

fn kill_signal(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    let id = running(lab, &bundle)?;
    lab.runtime(&["kill", &id, "USR1"])?.require()?;
    lab.wait_status(&id, "stopped")?;
    let report = lab.report(&id)?;
    ensure_eq(
        report.signal.as_deref(),
        Some("SIGUSR1"),
        "signal the process received",
    )
}

fn kill_created(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    let id = created(lab, &bundle)?;
    lab.runtime(&["kill", &id, "KILL"])?.require()?;
    lab.wait_status(&id, "stopped")?;
    ensure(
        !bundle.host_path("/ran").exists(),
        "the program ran after kill",
    )
}

fn kill_stopped(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    let id = stopped(lab, &bundle)?;
    lab.runtime(&["kill", &id, "KILL"])?
        .require_error("the container is stopped")?;
    ensure_eq(lab.status(&id)?.as_str(), "stopped", "status")
}

fn kill_missing(lab: &mut Lab) -> Outcome {
    lab.runtime(&["kill", &lab.id("nonexistent"), "KILL"])?
        .require_error("the container does not exist")?;
    Ok(())
}

fn delete_stopped(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    let id = stopped(lab, &bundle)?;
    lab.runtime(&["delete", &id])?.require()?;
    lab.runtime(&["state", &id])?
        .require_error("the container was deleted")?;
    ensure(
        root_is_empty(lab),
        "the state root still holds the deleted container",
    )
}

fn delete_running(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    let id = running(lab, &bundle)?;
    lab.runtime(&["delete", &id])?
        .require_error("the container is running")?;
    ensure_eq(lab.status(&id)?.as_str(), "running", "status")
}

fn delete_created(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    let id = created(lab, &bundle)?;
    lab.runtime(&["delete", &id])?
        .require_error("the container is created, not stopped")?;
    ensure_eq(lab.status(&id)?.as_str(), "created", "status")
}

/// Runs `verb` without an id; the runtime must refuse.
fn without_id(lab: &Lab, verb: &str) -> Outcome {
    lab.runtime(&[verb])?
        .require_error("no container id was given")?;
    Ok(())
}

fn start_no_id(lab: &mut Lab) -> Outcome {
    without_id(lab, "start")
}

fn kill_no_id(lab: &mut Lab) -> Outcome {
    without_id(lab, "kill")
}

fn delete_no_id(lab: &mut Lab) -> Outcome {
    without_id(lab, "delete")
}

fn delete_cgroup(lab: &mut Lab) -> Outcome {
    let path = lab.cgroups_path();
    let bundle = lab.bundle("bundle")?;
    let mut config = base_config(&[]);
    config["linux"]["cgroupsPath"] = json!(path);
    bundle.write_config(&config)?;
    let id = lab.id("cg");
    lab.create(&bundle, &id)?.require()?;
    let before = cgroup_dirs(&path);
    if before.is_empty() {
        return Err(skip(
            "the runtime made no cgroup at cgroupsPath, nothing to remove (see linux.cgroups-path)",
        ));
    }
    lab.runtime(&["start", &id])?.require()?;
    lab.wait_status(&id, "stopped")?;
    lab.runtime(&["delete", &id])?.require()?;
    let left: Vec<String> = before
        .iter()
        .filter(|d| d.exists())
        .map(|d| d.display().to_string())
        .collect();
    ensure(
        left.is_empty(),
        format!("cgroups left after delete: {left:?}"),
    )
}

/// The directories named `path` in every cgroup hierarchy.
fn cgroup_dirs(path: &str) -> Vec<std::path::PathBuf> {
    let relative = path.trim_start_matches('/');
    std::fs::read_dir("/sys/fs/cgroup")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join(relative))
                .chain(std::iter::once(
                    std::path::Path::new("/sys/fs/cgroup").join(relative),
                ))
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default()
}

fn delete_missing(lab: &mut Lab) -> Outcome {
    lab.runtime(&["delete", &lab.id("nonexistent")])?
        .require_error("the container does not exist")?;
    Ok(())
}

fn linux_fds(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &[], |_, _| {})?;
    ensure_eq(report.fds, vec![0, 1, 2], "open file descriptors")
}

fn linux_dev_symlinks(lab: &mut Lab) -> Outcome {
    let report = probe_with(lab, &[], |_, _| {})?;
    let expected = [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ];
    for (link, target) in expected {
        let node = report.dev.iter().find(|n| n.path == link);
        ensure_eq(
            node.and_then(|n| n.target.as_deref()),
            Some(target),
            &format!("symlink {link}"),
        )?;
    }
    Ok(())
}

/// What `schema/state-schema.json` asks of a state: the four required
/// properties, their types, a status of the four defined, a pid >= 0, and
/// annotations mapping strings to strings. Returns what is wrong.
fn schema_violations(state: &Value) -> Vec<String> {
    let mut wrong = Vec::new();
    let Some(obj) = state.as_object() else {
        return vec!["the state is not a JSON object".to_owned()];
    };
    for key in ["ociVersion", "id", "status", "bundle"] {
        if !obj.get(key).is_some_and(Value::is_string) {
            wrong.push(format!("{key} is missing or not a string"));
        }
    }
    let status = obj.get("status").and_then(Value::as_str).unwrap_or("");
    if !["creating", "created", "running", "stopped"].contains(&status) {
        wrong.push(format!(
            "status {status:?} is none of creating, created, running, stopped"
        ));
    }
    if let Some(pid) = obj.get("pid") {
        if pid.as_i64().is_none_or(|p| p < 0) {
            wrong.push(format!("pid {pid} is not an integer >= 0"));
        }
    }
    if let Some(annotations) = obj.get("annotations") {
        let strings = annotations
            .as_object()
            .is_some_and(|m| m.iter().all(|(k, v)| !k.is_empty() && v.is_string()));
        if !strings {
            wrong.push(format!("annotations {annotations} is not a map of strings"));
        }
    }
    wrong
}

fn state_schema(lab: &mut Lab) -> Outcome {
    let bundle = lab.bundle("bundle")?;
    let mut config = base_config(&["--touch", "/ran", "--wait-signal", "60"]);
    config["annotations"] = json!({"org.example.conformance": "yes"});
    bundle.write_config(&config)?;
    let id = lab.id("c");
    lab.create(&bundle, &id)?.require()?;
    let mut seen = vec![("created", lab.state(&id)?)];
    lab.runtime(&["start", &id])?.require()?;
    wait_ran(&bundle)?;
    seen.push(("running", lab.state(&id)?));
    lab.runtime(&["kill", &id, "KILL"])?.require()?;
    lab.wait_status(&id, "stopped")?;
    seen.push(("stopped", lab.state(&id)?));
    for (when, state) in seen {
        let wrong = schema_violations(&state);
        if !wrong.is_empty() {
            return Err(
                fail(format!("state of a {when} container: {}", wrong.join("; ")))
                    .with("state", state.to_string()),
            );
        }
    }
    Ok(())
}

/// Creates the cgroup at `path` in the pids hierarchy (v1), else in the
/// v2 one, before any container: the suite's, not the container's.
fn precreate_cgroup(path: &str) -> Result<std::path::PathBuf, crate::suite::Failure> {
    let mounts = crate::report::parse_mountinfo(
        &std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default(),
    );
    let root = mounts
        .iter()
        .find(|m| m.fs_type == "cgroup" && m.super_options.iter().any(|o| o == "pids"))
        .or_else(|| mounts.iter().find(|m| m.fs_type == "cgroup2"))
        .ok_or_else(|| skip("no pids cgroup hierarchy nor cgroup v2 mounted"))?;
    let dir = std::path::Path::new(&root.mount_point).join(path.trim_start_matches('/'));
    std::fs::create_dir_all(&dir).map_err(|e| fail(format!("mkdir {}: {e}", dir.display())))?;
    Ok(dir)
}

fn delete_foreign_cgroup(lab: &mut Lab) -> Outcome {
    let path = lab.cgroups_path();
    let dir = precreate_cgroup(&path)?;
    let bundle = lab.bundle("bundle")?;
    let mut config = base_config(&[]);
    config["linux"]["cgroupsPath"] = json!(path);
    bundle.write_config(&config)?;
    let id = lab.id("fc");
    lab.create(&bundle, &id)?.require()?;
    lab.runtime(&["start", &id])?.require()?;
    lab.wait_status(&id, "stopped")?;
    lab.runtime(&["delete", &id])?.require()?;
    ensure(
        dir.is_dir(),
        format!(
            "delete removed {}, which the suite made before create",
            dir.display()
        ),
    )
}

//! `gorae`: the runc-compatible command line of the gorae OCI runtime.
//!
//! Only argument mapping and output live here; everything else is
//! `gorae-core`.
#![forbid(unsafe_code)]

mod exec;
mod log;
mod resources;
mod signal;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gorae_core::{CreateOptions, Runtime};

use crate::log::{Format, Logger};

/// gorae: an OCI container runtime (runc-compatible command line).
#[derive(Parser, Debug)]
#[command(name = "gorae", disable_version_flag = true)]
struct Cli {
    /// Root directory for the containers' state [default: /run/gorae, or
    /// $XDG_RUNTIME_DIR/gorae without root].
    #[arg(long, global = true)]
    root: Option<PathBuf>,
    /// Write log messages to this file instead of stderr.
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long, global = true, default_value = "text")]
    log_format: Format,
    /// Log debug messages too.
    #[arg(long, global = true)]
    debug: bool,
    /// Print the version of gorae and of the OCI runtime spec.
    #[arg(short = 'v', long)]
    version: bool,
    /// Print how long each phase of create, start, exec and delete takes,
    /// as `trace: <phase> <microseconds>us` lines on stderr.
    #[arg(long, global = true)]
    trace: bool,
    /// Use systemd for cgroups (refused on hosts without systemd).
    #[arg(long, global = true)]
    systemd_cgroup: bool,
    /// Accepted for runc compatibility; gorae does not use criu.
    #[arg(long, hide = true)]
    criu: Option<String>,
    /// Accepted for runc compatibility ("auto", "true" or "false").
    #[arg(long = "rootless", hide = true)]
    global_rootless: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Flags `create` and `run` share.
#[derive(clap::Args, Debug)]
struct CreateFlags {
    /// Path to the bundle (the directory holding config.json).
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// File to write the container's init pid to.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Unix socket to send the pty master to (process.terminal).
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// Pass fds 3 .. 3+N of gorae to the container's process.
    #[arg(long, default_value_t = 0)]
    preserve_fds: u32,
    /// Enter the rootfs with MS_MOVE and chroot instead of pivot_root.
    #[arg(long)]
    no_pivot: bool,
    /// Keep the caller's session keyring instead of creating one.
    #[arg(long)]
    no_new_keyring: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a container from a bundle; it waits for `start`.
    Create {
        #[command(flatten)]
        flags: CreateFlags,
        /// The container id.
        id: String,
    },
    /// Start a created container.
    Start {
        /// The container id.
        id: String,
    },
    /// Print the state of a container as JSON.
    State {
        /// The container id.
        id: String,
    },
    /// Send a signal to a container's init (default SIGTERM).
    Kill {
        /// Send the signal to every process of the container.
        #[arg(short, long)]
        all: bool,
        /// The container id.
        id: String,
        /// Signal name (with or without SIG) or number.
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a stopped container (--force: kill it first).
    Delete {
        /// Kill the container if it still runs.
        #[arg(short, long)]
        force: bool,
        /// The container id.
        id: String,
    },
    /// Create, start and wait for a container; exits with its status.
    Run {
        #[command(flatten)]
        flags: CreateFlags,
        /// Leave the container running in the background.
        #[arg(short, long)]
        detach: bool,
        /// Keep the container's state after it exits (delete it later).
        #[arg(long)]
        keep: bool,
        /// Accepted as runc does: gorae run never makes itself a subreaper.
        #[arg(long)]
        no_subreaper: bool,
        /// The container id.
        id: String,
    },
    /// Write a default config.json into the bundle directory.
    Spec {
        /// The bundle directory.
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// A config an unprivileged user can run (user namespace, no network namespace).
        #[arg(long)]
        rootless: bool,
    },
    /// Print the OCI features document: what this gorae supports.
    Features,
    /// Run a process in a running container.
    Exec(Box<exec::ExecArgs>),
    /// Freeze every process of a running container.
    Pause {
        /// The container id.
        id: String,
    },
    /// Thaw a paused container.
    Resume {
        /// The container id.
        id: String,
    },
    /// List the processes of a container (ps -ef, or the ps options after --).
    Ps {
        /// Output format: table or json (the pids).
        #[arg(short, long, default_value = "table")]
        format: String,
        /// The container id.
        id: String,
        /// Options for ps.
        #[arg(last = true)]
        ps_args: Vec<String>,
    },
    /// Change the resource limits of a running container.
    Update {
        #[command(flatten)]
        flags: Box<resources::UpdateFlags>,
        /// The container id.
        id: String,
    },
    /// Print resource usage and OOM events of a container as JSON lines.
    Events {
        /// Print one stats event and exit.
        #[arg(long)]
        stats: bool,
        /// Time between stats events.
        #[arg(long, default_value = "5s")]
        interval: String,
        /// The container id.
        id: String,
    },
    /// List the containers in the state root.
    List {
        /// Print only the ids.
        #[arg(short, long)]
        quiet: bool,
        /// Output format: table or json.
        #[arg(short, long, default_value = "table")]
        format: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let logger = match Logger::open(cli.log.as_deref(), cli.log_format, cli.debug) {
        Ok(logger) => logger,
        Err(e) => {
            eprintln!("gorae: open log file: {e}");
            return ExitCode::FAILURE;
        }
    };
    let logger = std::sync::Arc::new(logger);
    let args: Vec<String> = std::env::args().collect();
    logger.debug(&format!(
        "gorae {}: {}",
        env!("CARGO_PKG_VERSION"),
        args.join(" ")
    ));
    match execute(&cli, &logger) {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            logger.error(&message);
            ExitCode::FAILURE
        }
    }
}

/// Fault injection for the crash tests: when this environment variable
/// names a traced phase (`create.cgroup`, `start.release`, ... as
/// `--trace` prints them), gorae sends itself SIGKILL as that phase ends.
const FAULT_KILL_AT: &str = "GORAE_FAULT_KILL_AT";

/// Runs the command; the error is the one-line message for the user.
fn execute(cli: &Cli, logger: &std::sync::Arc<Logger>) -> Result<u8, String> {
    let sink = std::sync::Arc::clone(logger);
    let root = cli.root.clone().unwrap_or_else(gorae_core::default_root);
    let mut runtime = Runtime::new(root).on_warning(move |w| sink.warn(w));
    let fault = std::env::var(FAULT_KILL_AT).ok();
    if cli.trace || fault.is_some() {
        let trace = cli.trace;
        runtime = runtime.on_trace(move |phase, took| {
            if trace {
                eprintln!("trace: {phase} {}us", took.as_micros());
            }
            if fault.as_deref() == Some(phase) {
                let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
            }
        });
    }
    let text = |e: gorae_core::Error| e.to_string();
    let Some(command) = &cli.command else {
        if cli.version {
            println!(
                "gorae version {}\nspec: {}",
                env!("CARGO_PKG_VERSION"),
                gorae_core::state::OCI_VERSION
            );
            return Ok(0);
        }
        return Err("no command given: see gorae --help".into());
    };
    match command {
        Command::Create { flags, id } => {
            let created = runtime
                .create(id, &create_options(cli, flags))
                .map_err(text)?;
            created.warnings.iter().for_each(|w| logger.warn(w));
        }
        Command::Start { id } => runtime.start(id).map_err(text)?,
        Command::State { id } => {
            let state = runtime.state(id).map_err(text)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&state).map_err(|e| e.to_string())?
            );
        }
        Command::Kill { all, id, signal } => {
            let signal = signal::parse(signal)?;
            runtime.kill(id, signal, *all).map_err(text)?;
        }
        Command::Delete { force, id } => runtime.delete(id, *force).map_err(text)?,
        Command::Run {
            flags,
            detach,
            keep,
            id,
            ..
        } => {
            let opts = create_options(cli, flags);
            if *detach {
                runtime.run_detached(id, &opts).map_err(text)?;
            } else {
                let status = runtime.run(id, &opts, *keep).map_err(text)?;
                return Ok(u8::try_from(status).unwrap_or(255));
            }
        }
        Command::Spec { bundle, rootless } => spec(bundle, *rootless)?,
        Command::Features => {
            let doc = gorae_core::documents::features();
            println!(
                "{}",
                serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?
            );
        }
        Command::List { quiet, format } => list(&runtime, *quiet, format)?,
        Command::Pause { id } => runtime.pause(id).map_err(text)?,
        Command::Exec(args) => return exec::run(&runtime, args, &|w| logger.warn(w)),
        Command::Resume { id } => runtime.resume(id).map_err(text)?,
        Command::Ps {
            format,
            id,
            ps_args,
        } => resources::ps(&runtime, id, format, ps_args)?,
        Command::Update { flags, id } => {
            let r = resources::update_resources(flags)?;
            runtime
                .update(id, &r)
                .map_err(text)?
                .iter()
                .for_each(|w| logger.warn(w));
        }
        Command::Events {
            stats,
            interval,
            id,
        } => {
            resources::events(&runtime, id, *stats, resources::interval(interval)?)?;
        }
    }
    Ok(0)
}

/// The create options of `create` and `run`.
fn create_options(cli: &Cli, flags: &CreateFlags) -> CreateOptions {
    CreateOptions {
        bundle: flags.bundle.clone(),
        pid_file: flags.pid_file.clone(),
        console_socket: flags.console_socket.clone(),
        preserve_fds: flags.preserve_fds,
        listen_fds: listen_fds(),
        no_pivot: flags.no_pivot,
        no_new_keyring: flags.no_new_keyring,
        systemd_cgroup: cli.systemd_cgroup,
    }
}

/// systemd socket activation: `LISTEN_FDS` for this process (a
/// `LISTEN_PID` naming another process means the fds are not ours).
fn listen_fds() -> u32 {
    let ours = std::env::var("LISTEN_PID")
        .map(|p| p == std::process::id().to_string())
        .unwrap_or(true);
    match std::env::var("LISTEN_FDS") {
        Ok(n) if ours => n.parse().unwrap_or(0),
        _ => 0,
    }
}

/// `spec`: writes the default config, refusing to overwrite one.
fn spec(bundle: &std::path::Path, rootless: bool) -> Result<(), String> {
    let path = bundle.join("config.json");
    if path.exists() {
        return Err(format!("{} exists: remove it first", path.display()));
    }
    let ids = rootless.then(|| {
        (
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        )
    });
    let doc = gorae_core::documents::default_config(ids);
    let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    std::fs::write(&path, text + "\n").map_err(|e| format!("write {}: {e}", path.display()))
}

fn list(runtime: &Runtime, quiet: bool, format: &str) -> Result<(), String> {
    let states = runtime.list().map_err(|e| e.to_string())?;
    if quiet {
        states.iter().for_each(|s| println!("{}", s.id));
        return Ok(());
    }
    match format {
        "json" => println!(
            "{}",
            serde_json::to_string(&states).map_err(|e| e.to_string())?
        ),
        "table" => {
            println!(
                "{:<12} {:<8} {:<10} {:<40} {:<30} OWNER",
                "ID", "PID", "STATUS", "BUNDLE", "CREATED"
            );
            for s in &states {
                println!(
                    "{:<12} {:<8} {:<10} {:<40} {:<30} {}",
                    s.id,
                    s.pid,
                    s.status,
                    s.bundle.display(),
                    s.created,
                    if s.owner.is_empty() { "root" } else { &s.owner }
                );
            }
        }
        other => {
            return Err(format!(
                "invalid format option {other:?}: use table or json"
            ));
        }
    }
    Ok(())
}

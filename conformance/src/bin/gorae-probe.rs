//! `gorae-probe`: run as a container's process, prints one JSON document of
//! what the process sees (see `gorae_conformance::report::Report`).
//!
//! ```text
//! gorae-probe [--check-path P]... [--sysctl NAME]... [--touch FILE]... [--wait-signal SECS] [--exit CODE]
//! ```
//!
//! Statically linked, so it runs in a root filesystem holding nothing else.
#![forbid(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use gorae_conformance::probe::{self, Options};

/// Prints what this process sees of its container as one JSON document.
#[derive(Parser, Debug)]
#[command(name = "gorae-probe", version)]
struct Cli {
    /// A path to try reading and writing (repeatable).
    #[arg(long = "check-path")]
    check_paths: Vec<String>,
    /// A sysctl to read, dotted (`net.ipv4.ip_forward`; repeatable).
    #[arg(long = "sysctl")]
    sysctls: Vec<String>,
    /// A file to create first, proof that the program ran (repeatable).
    #[arg(long)]
    touch: Vec<String>,
    /// Wait for SIGTERM, SIGINT, SIGHUP, SIGUSR1 or SIGUSR2 (at most SECS
    /// seconds) and report it.
    #[arg(long, value_name = "SECS")]
    wait_signal: Option<u32>,
    /// Exit with this status after reporting.
    #[arg(long, default_value_t = 0)]
    exit: u8,
}

fn main() -> ExitCode {
    let fds = probe::open_fds();
    let blocked = probe::block_signals();
    let cli = Cli::parse();
    let opts = Options {
        check_paths: cli.check_paths,
        sysctls: cli.sysctls,
        touch: cli.touch,
        wait_signal: cli.wait_signal,
    };
    let mut signal = None;
    let mut early_errors = probe::touch(&opts);
    if let Some(timeout) = opts.wait_signal {
        match blocked.and_then(|set| probe::wait_signal(&set, timeout)) {
            Ok(s) => signal = Some(s.as_str().to_owned()),
            Err(e) => early_errors.push(format!("wait for a signal: {e}")),
        }
    }
    let mut report = probe::gather(&opts, fds);
    report.signal = signal;
    report.errors.extend(early_errors);
    let text = match serde_json::to_string(&report) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("gorae-probe: serialize the report: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{text}").and_then(|()| out.flush()) {
        eprintln!("gorae-probe: write the report: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::from(cli.exit)
}

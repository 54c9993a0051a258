//! `gorae-conformance`: runs the OCI runtime-spec checks against a runtime
//! binary with runc's command line and prints TAP 13 (or JSON).
//!
//! ```text
//! gorae-conformance [--runtime PATH] [--filter SUBSTR] [--format tap|json] [--json-out FILE]
//! gorae-conformance results REPORT.json... > RESULTS.md
//! gorae-conformance table        # the check -> spec statement table
//! ```
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use gorae_conformance::lab::Env;
use gorae_conformance::output::{self, Report};
use gorae_conformance::suite::{self, Status};
use gorae_conformance::{Error, checks};

/// OCI runtime-spec conformance checks for any runtime with runc's CLI.
#[derive(Parser, Debug)]
#[command(name = "gorae-conformance", version)]
struct Cli {
    /// The runtime binary (default: the release build of gorae beside this
    /// program's, `target/<triple>/release/gorae`, else the debug build).
    #[arg(long)]
    runtime: Option<PathBuf>,
    /// The static probe put into every rootfs (default: gorae-probe next to
    /// this program).
    #[arg(long)]
    probe: Option<PathBuf>,
    /// A static busybox for checks that need a shell.
    #[arg(long, default_value = "/bin/busybox")]
    busybox: PathBuf,
    /// Run only the checks whose id, section or description contains this.
    #[arg(long)]
    filter: Option<String>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value = "tap")]
    format: Format,
    /// Also write the JSON report to this file.
    #[arg(long)]
    json_out: Option<PathBuf>,
    /// Scratch directory (default: a new one under the temp dir).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Keep each check's bundles and logs (containers are deleted anyway).
    #[arg(long)]
    keep: bool,
    /// List the checks and exit.
    #[arg(long)]
    list: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the Markdown check × runtime table of JSON reports.
    Results {
        /// JSON reports written with --json-out or --format json.
        reports: Vec<PathBuf>,
    },
    /// Print the Markdown table of the checks and the spec statements they
    /// verify (the one in conformance/README.md).
    Table,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Tap,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Command::Results { reports }) => results(reports),
        Some(Command::Table) => {
            print!("{}", output::checks_markdown(&checks::all()));
            Ok(true)
        }
        None if cli.list => {
            list();
            Ok(true)
        }
        None => run(&cli),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("gorae-conformance: {e}");
            ExitCode::from(2)
        }
    }
}

fn list() {
    for c in checks::all() {
        println!("{}\t[{}] {}", c.id, c.section, c.description);
    }
}

/// Runs the selected checks; true when none failed.
fn run(cli: &Cli) -> Result<bool, Error> {
    let runtime = runtime_path(cli.runtime.as_deref())?;
    let probe = probe_path(cli.probe.as_deref())?;
    if !is_static(&probe)? {
        return Err(Error::ProbeNotStatic(probe));
    }
    let busybox = match is_static(&cli.busybox) {
        Ok(true) => Some(cli.busybox.clone()),
        _ => None,
    };
    let own_work = cli.work_dir.is_none();
    let work = cli.work_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("gorae-conformance-{}", std::process::id()))
    });
    let mut env = Env::new(runtime.clone(), probe, busybox, work.clone())?;
    env.keep = cli.keep;
    let selected = suite::select(&checks::all(), cli.filter.as_deref());
    let tap = matches!(cli.format, Format::Tap);
    let mut stdout = std::io::stdout().lock();
    if tap {
        emit(&mut stdout, &output::tap_header(selected.len()));
    }
    if let Err(e) = gorae_conformance::sys::catch_interrupts() {
        eprintln!("gorae-conformance: catch interrupts: {e}");
    }
    let mut results = Vec::with_capacity(selected.len());
    for (i, check) in selected.iter().enumerate() {
        if gorae_conformance::sys::interrupted() {
            emit(&mut stdout, "Bail out! interrupted\n");
            break;
        }
        let result = suite::run_check(&env, check);
        if tap {
            emit(&mut stdout, &output::tap_line(i + 1, &result));
        }
        results.push(result);
    }
    if tap {
        emit(&mut stdout, &output::summary_line(&results));
    }
    if own_work && !cli.keep {
        let _ = std::fs::remove_dir_all(&work);
    }
    let report = Report::new(&runtime, runtime_version(&runtime), &results);
    let json = serde_json::to_string_pretty(&report).map_err(|source| Error::Json {
        what: "report".into(),
        source,
    })?;
    if !tap {
        emit(&mut stdout, &format!("{json}\n"));
    }
    if let Some(path) = &cli.json_out {
        std::fs::write(path, &json).map_err(|e| Error::io("write", path, e))?;
    }
    let complete = results.len() == selected.len();
    Ok(complete && results.iter().all(|r| r.status != Status::Fail))
}

fn emit(out: &mut impl Write, text: &str) {
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

fn results(paths: &[PathBuf]) -> Result<bool, Error> {
    let mut reports = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
        let report: Report = serde_json::from_str(&text).map_err(|source| Error::Json {
            what: path.display().to_string(),
            source,
        })?;
        reports.push(report);
    }
    let date = command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let kernel = command_line("uname", &["-srm"]);
    print!("{}", output::results_markdown(&reports, &date, &kernel));
    Ok(true)
}

fn command_line(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

fn runtime_version(runtime: &Path) -> String {
    let text = std::process::Command::new(runtime)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    text.lines().next().unwrap_or("").to_owned()
}

fn runtime_path(given: Option<&Path>) -> Result<PathBuf, Error> {
    let candidates: Vec<PathBuf> = match given {
        Some(p) if p.components().count() == 1 => search_path(p).into_iter().collect(),
        Some(p) => vec![p.to_path_buf()],
        None => {
            let profiles = std::env::current_exe()
                .ok()
                .and_then(|exe| Some(exe.parent()?.parent()?.to_path_buf()))
                .unwrap_or_else(|| PathBuf::from("target"));
            ["release", "debug"]
                .iter()
                .map(|profile| profiles.join(profile).join("gorae"))
                .collect()
        }
    };
    let missing = Error::Missing {
        what: "runtime",
        path: given.map_or_else(
            || candidates.first().cloned().unwrap_or_default(),
            Path::to_path_buf,
        ),
    };
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .and_then(|p| std::path::absolute(p).ok())
        .ok_or(missing)
}

fn search_path(name: &Path) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn probe_path(given: Option<&Path>) -> Result<PathBuf, Error> {
    let path = match given {
        Some(p) => p.to_path_buf(),
        None => {
            let exe =
                std::env::current_exe().map_err(|e| Error::io("find", "/proc/self/exe", e))?;
            exe.with_file_name("gorae-probe")
        }
    };
    if !path.is_file() {
        return Err(Error::Missing {
            what: "gorae-probe",
            path,
        });
    }
    Ok(path)
}

/// Whether an ELF file has no program interpreter (`PT_INTERP`).
fn is_static(path: &Path) -> Result<bool, Error> {
    let data = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
    let u16_at = |o: usize| {
        data.get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let u64_at = |o: usize| {
        data.get(o..o + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_le_bytes)
    };
    if data.get(..5) != Some(b"\x7fELF\x02") {
        return Ok(false);
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return Ok(false);
    };
    let phoff = usize::try_from(phoff).unwrap_or(usize::MAX);
    let has_interp = (0..phnum).any(|i| {
        let at = phoff.saturating_add(i * phentsize);
        data.get(at..at + 4) == Some(&3u32.to_le_bytes()[..])
    });
    Ok(!has_interp)
}

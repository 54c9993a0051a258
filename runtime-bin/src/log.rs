//! runc's logging: `--log FILE` with `--log-format text|json`. Shims read
//! the JSON lines (`level`, `msg`, `time`) from the log file to learn why a
//! command failed; without `--log` the entries go to stderr. Errors are also
//! printed plainly on stderr when they go to a file, as runc does.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use gorae_core::state::rfc3339;

/// The format of log entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `time="..." level=error msg="..."`
    Text,
    /// `{"level":"error","msg":"...","time":"..."}`
    Json,
}

/// Where log entries go and how they look.
pub struct Logger {
    file: Option<Mutex<File>>,
    format: Format,
    debug: bool,
}

impl Logger {
    /// Opens the log file (appending) when one is given.
    pub fn open(path: Option<&Path>, format: Format, debug: bool) -> std::io::Result<Self> {
        let file = path
            .map(|p| OpenOptions::new().create(true).append(true).open(p))
            .transpose()?
            .map(Mutex::new);
        Ok(Logger {
            file,
            format,
            debug,
        })
    }

    /// Logs an error; also prints it plainly on stderr when logging to a file.
    pub fn error(&self, msg: &str) {
        self.write("error", msg);
        if self.file.is_some() {
            eprintln!("{msg}");
        }
    }

    /// Logs a warning.
    pub fn warn(&self, msg: &str) {
        self.write("warning", msg);
    }

    /// Logs a debug message when `--debug` was given.
    pub fn debug(&self, msg: &str) {
        if self.debug {
            self.write("debug", msg);
        }
    }

    fn write(&self, level: &str, msg: &str) {
        let line = entry(self.format, level, msg, &now());
        match &self.file {
            Some(file) => {
                if let Ok(mut f) = file.lock() {
                    let _ = f.write_all(line.as_bytes());
                }
            }
            None => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        }
    }
}

fn now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(now.as_secs() as i64, 0)
}

/// One log line in the given format.
fn entry(format: Format, level: &str, msg: &str, time: &str) -> String {
    match format {
        Format::Json => {
            let value = serde_json::json!({ "level": level, "msg": msg, "time": time });
            format!("{value}\n")
        }
        Format::Text => {
            let quoted = serde_json::Value::String(msg.to_owned());
            format!("time=\"{time}\" level={level} msg={quoted}\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_have_runcs_shape() {
        assert_eq!(
            entry(
                Format::Json,
                "error",
                "container \"x\" does not exist",
                "2026-01-01T00:00:00Z"
            ),
            "{\"level\":\"error\",\"msg\":\"container \\\"x\\\" does not exist\",\"time\":\"2026-01-01T00:00:00Z\"}\n"
        );
        assert_eq!(
            entry(Format::Text, "warning", "w", "2026-01-01T00:00:00Z"),
            "time=\"2026-01-01T00:00:00Z\" level=warning msg=\"w\"\n"
        );
    }
}

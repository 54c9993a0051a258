//! `gorae exec`: runc's flags mapped onto `ExecOptions`.

use std::path::PathBuf;

use gorae_core::{ExecOptions, Runtime};

/// runc's `exec` command line.
#[derive(clap::Args, Debug)]
pub struct ExecArgs {
    /// Unix socket to send the pty master to.
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// Working directory in the container.
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// Environment variables to set (NAME=value), repeatable.
    #[arg(short, long)]
    env: Vec<String>,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    tty: bool,
    /// User to run as: uid[:gid].
    #[arg(short, long)]
    user: Option<String>,
    /// Supplementary group ids, repeatable.
    #[arg(short = 'g', long)]
    additional_gids: Vec<u32>,
    /// JSON file with the whole process to run.
    #[arg(short, long)]
    process: Option<PathBuf>,
    /// Return once the process runs, without waiting for it.
    #[arg(short, long)]
    detach: bool,
    /// File to write the process's pid to.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Accepted as runc does; gorae's hosts have no SELinux.
    #[arg(long)]
    process_label: Option<String>,
    /// Accepted as runc does; gorae's hosts have no AppArmor.
    #[arg(long)]
    apparmor: Option<String>,
    /// Set no_new_privs for the process.
    #[arg(long)]
    no_new_privs: bool,
    /// Add a capability, repeatable.
    #[arg(short, long)]
    cap: Vec<String>,
    /// Run even if the container is paused.
    #[arg(long)]
    ignore_paused: bool,
    /// Pass fds 3 .. 3+N of gorae to the process.
    #[arg(long, default_value_t = 0)]
    preserve_fds: u32,
    /// The container id.
    id: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// Parses `uid` or `uid:gid`, both numeric, exactly as given.
pub fn parse_user(raw: &str) -> Result<(u32, Option<u32>), String> {
    let bad = || format!("invalid --user {raw:?}: give a numeric uid[:gid]");
    let (uid, gid) = match raw.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (raw, None),
    };
    let uid = uid.parse::<u32>().map_err(|_| bad())?;
    let gid = gid
        .map(|g| g.parse::<u32>().map_err(|_| bad()))
        .transpose()?;
    Ok((uid, gid))
}

/// Runs the command; returns the exit status gorae exits with.
pub fn run(runtime: &Runtime, args: &ExecArgs, warn: &dyn Fn(&str)) -> Result<u8, String> {
    let process = match &args.process {
        Some(path) => {
            let (process, dropped) =
                gorae_core::bundle::load_process(path).map_err(|e| e.to_string())?;
            for cap in dropped {
                warn(&format!(
                    "ignoring capability {cap}: unknown to this kernel"
                ));
            }
            Some(process)
        }
        None => None,
    };
    let opts = ExecOptions {
        process,
        args: args.command.clone(),
        env: args.env.clone(),
        cwd: args.cwd.clone(),
        user: args.user.as_deref().map(parse_user).transpose()?,
        additional_gids: args.additional_gids.clone(),
        caps: args.cap.clone(),
        no_new_privs: args.no_new_privs,
        tty: args.tty,
        console_socket: args.console_socket.clone(),
        pid_file: args.pid_file.clone(),
        ignore_paused: args.ignore_paused,
        preserve_fds: args.preserve_fds,
    };
    if args.detach {
        runtime.exec(&args.id, &opts).map_err(|e| e.to_string())?;
        return Ok(0);
    }
    let status = runtime
        .exec_and_wait(&args.id, &opts)
        .map_err(|e| e.to_string())?;
    Ok(u8::try_from(status).unwrap_or(255))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_parse_to_exactly_what_was_asked() {
        assert_eq!(parse_user("1"), Ok((1, None)));
        assert_eq!(parse_user("1000:100"), Ok((1000, Some(100))));
        assert_eq!(parse_user("0:0"), Ok((0, Some(0))));
        for bad in ["", "root", "1:", ":1", "1:x", "-1", "1:2:3"] {
            assert!(parse_user(bad).is_err(), "{bad:?} accepted");
        }
    }
}

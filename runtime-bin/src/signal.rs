//! Signal arguments as runc takes them: a number, or a name with or without
//! `SIG`, in any case.

use std::str::FromStr;

use nix::sys::signal::Signal;

/// Parses `TERM`, `SIGTERM`, `sigterm` or `15` into a signal number.
pub fn parse(raw: &str) -> Result<i32, String> {
    if let Ok(n) = raw.parse::<i32>() {
        return if (1..=libc::SIGRTMAX()).contains(&n) {
            Ok(n)
        } else {
            Err(format!("invalid signal {raw:?}: out of range"))
        };
    }
    let upper = raw.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name)
        .map(|s| s as i32)
        .map_err(|_| format!("unknown signal {raw:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_and_without_sig_and_numbers_parse() {
        assert_eq!(parse("TERM"), Ok(15));
        assert_eq!(parse("SIGKILL"), Ok(9));
        assert_eq!(parse("sigusr1"), Ok(10));
        assert_eq!(parse("9"), Ok(9));
        assert!(parse("0").is_err());
        assert!(parse("NOPE").is_err());
        assert!(parse("999").is_err());
    }
}

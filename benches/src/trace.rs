//! gorae's per-phase timings: with `--trace`, gorae prints lines
//! `trace: <phase> <microseconds>us` on stderr. The bench collects them when
//! they exist and skips the section when they do not.
#![forbid(unsafe_code)]

/// The phases of one invocation, in the order they were first printed; a
/// phase printed twice has its times added.
pub fn parse(stderr: &str) -> Vec<(String, f64)> {
    let mut phases: Vec<(String, f64)> = Vec::new();
    for (phase, micros) in stderr.lines().filter_map(parse_line) {
        match phases.iter_mut().find(|(name, _)| *name == phase) {
            Some((_, total)) => *total += micros,
            None => phases.push((phase, micros)),
        }
    }
    phases
}

/// `("clone", 812.0)` from `trace: clone 812us`, anywhere in the line (a
/// logger may prefix it).
fn parse_line(line: &str) -> Option<(String, f64)> {
    let (_, rest) = line.split_once("trace: ")?;
    let (phase, time) = rest.trim().rsplit_once(char::is_whitespace)?;
    let micros: f64 = time.strip_suffix("us")?.parse().ok()?;
    let phase = phase.trim();
    (!phase.is_empty() && micros.is_finite()).then(|| (phase.to_owned(), micros))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_keeps_order_adds_repeats_and_ignores_other_lines() {
        let stderr = "trace: load 120us\nsomething else\ntrace: clone 800us\n\
                      level=debug trace: load 30us\ntrace: bad 12ms\n";
        assert_eq!(
            parse(stderr),
            vec![("load".to_owned(), 150.0), ("clone".to_owned(), 800.0)]
        );
    }

    #[test]
    fn parse_of_output_without_trace_lines_is_empty() {
        assert!(parse("time=\"t\" level=error msg=\"unknown flag\"\n").is_empty());
    }
}

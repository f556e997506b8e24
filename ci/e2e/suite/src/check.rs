//! Running a command and comparing what it printed.

use std::{
    fmt::Debug,
    process::{Command, Stdio},
};

/// What a finished command left behind.
#[derive(Debug)]
pub struct Run {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The exit code, or a description of how it ended otherwise.
    pub fn code(&self) -> Result<i32, String> {
        self.status
            .code()
            .ok_or_else(|| format!("no exit code: {}\nstderr:\n{}", self.status, self.stderr))
    }
}

/// Runs `argv` (found through `PATH`) to completion, capturing its output.
pub fn run(argv: &[&str]) -> Result<Run, String> {
    let (program, args) = argv.split_first().ok_or("empty command")?;
    let mut command = Command::new(program);
    command.args(args);
    run_command(command)
}

/// Runs `command` to completion, capturing its output.
pub fn run_command(mut command: Command) -> Result<Run, String> {
    // A piped stdin, not std's default /dev/null: the image has no null scheme.
    let out = command
        .stdin(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    Ok(Run {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

pub fn equal<T: PartialEq + Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, expected {want:?}"))
    }
}

/// `text` is exactly the lines `want`.
pub fn lines(what: &str, text: &str, want: &[&str]) -> Result<(), String> {
    let got: Vec<&str> = text.lines().collect();
    if got == want {
        return Ok(());
    }
    Err(format!(
        "{what} differs\nexpected:\n{}\ngot:\n{}",
        want.join("\n"),
        text.trim_end()
    ))
}

/// `text` ends with the lines `want`.
pub fn ends_with(what: &str, text: &str, want: &[&str]) -> Result<(), String> {
    let got: Vec<&str> = text.lines().collect();
    if got.ends_with(want) {
        return Ok(());
    }
    Err(format!(
        "{what} does not end with\n{}\ngot:\n{}",
        want.join("\n"),
        text.trim_end()
    ))
}

/// `want` stands in `text` as consecutive lines.
pub fn has_block(what: &str, text: &str, want: &[&str]) -> Result<(), String> {
    let got: Vec<&str> = text.lines().collect();
    if want.is_empty() || got.windows(want.len()).any(|w| w == want) {
        return Ok(());
    }
    Err(format!(
        "{what} lacks the lines\n{}\ngot:\n{}",
        want.join("\n"),
        text.trim_end()
    ))
}

/// A line of `text` that `first` accepts comes before one that `then` accepts; `what` names
/// the order for the message.
pub fn in_order(
    text: &str,
    first: impl Fn(&str) -> bool,
    then: impl Fn(&str) -> bool,
    what: &str,
) -> Result<(), String> {
    let lines: Vec<&str> = text.lines().collect();
    match (
        lines.iter().position(|l| first(l)),
        lines.iter().position(|l| then(l)),
    ) {
        (Some(a), Some(b)) if a < b => Ok(()),
        _ => Err(format!("expected {what}\ngot:\n{}", text.trim_end())),
    }
}

/// `text` with every upper handle number (`UPPER|5`) written `UPPER|_`. relibc puts its own
/// handles in the upper table at the first free slots, and which are free depends on the
/// handles the program's parent left it.
pub fn upper_slots_hidden(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("UPPER|") {
        let (before, after) = rest.split_at(at + "UPPER|".len());
        out.push_str(before);
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        out.push_str(if digits > 0 { "_" } else { "" });
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// The lines of an `strace -f` trace, split by the tracee they are about, in the order each
/// tracee first appears: its label (`pid 7`, `pid 7 thread 1`; `""` for the first process,
/// whose lines have no prefix) and its lines without the prefix.
pub fn by_tracee(trace: &str) -> Vec<(String, Vec<String>)> {
    let mut tracees: Vec<(String, Vec<String>)> = Vec::new();
    for line in trace.lines() {
        let (label, rest) = match line
            .strip_prefix('[')
            .and_then(|l| l.split_once("] "))
            .filter(|(label, _)| label.starts_with("pid "))
        {
            Some((label, rest)) => (label, rest),
            None => ("", line),
        };
        match tracees.iter_mut().find(|(l, _)| l == label) {
            Some((_, lines)) => lines.push(rest.to_string()),
            None => tracees.push((label.to_string(), vec![rest.to_string()])),
        }
    }
    tracees
}

#[cfg(test)]
mod tests {
    use super::{by_tracee, upper_slots_hidden};

    /// Verifies that prefixed lines go to their tracee, unprefixed ones to the first, in order
    /// of appearance.
    #[test]
    fn splits_trace_by_tracee() {
        let trace = "a()\n[pid 8] b()\n[pid 8 thread 1] c()\n[x] d()\n[pid 8] e()\n";
        assert_eq!(
            by_tracee(trace),
            vec![
                (
                    "".to_string(),
                    vec!["a()".to_string(), "[x] d()".to_string()]
                ),
                (
                    "pid 8".to_string(),
                    vec!["b()".to_string(), "e()".to_string()]
                ),
                ("pid 8 thread 1".to_string(), vec!["c()".to_string()]),
            ]
        );
    }

    /// Verifies that upper slot numbers go, everything else stays.
    #[test]
    fn hides_upper_slots_only() {
        assert_eq!(
            upper_slots_hidden("openat_into(UPPER|13, \"a\", 0, UPPER|1) = UPPER|1\nclose(3) = 0"),
            "openat_into(UPPER|_, \"a\", 0, UPPER|_) = UPPER|_\nclose(3) = 0"
        );
        assert_eq!(upper_slots_hidden("UPPER|x UPPER|"), "UPPER|x UPPER|");
    }
}

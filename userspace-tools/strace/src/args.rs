//! Command line: `strace [-cfT] [-ff] [-t[t[t]]] [-e trace=NAME,...] [-e signal=SET] [-o FILE]
//! [-s N] (-p PID | COMMAND...)`.

use redox_ptrace::{
    decode::{lookup_name, signal},
    SignalSet,
};

pub const USAGE: &str = "\
usage: strace [-cfT] [-t|-tt|-ttt] [-e EXPR]... [-o FILE] [-s STRSIZE] COMMAND [ARG...]
       strace [-cfT] [-t|-tt|-ttt] [-e EXPR]... [-o FILE] [-s STRSIZE] -p PID
  -c          count time, calls and errors per syscall; print a summary at exit
  -f          follow forks and threads; lines of all but the first process get [pid N],
              a thread's [pid N thread K]; each exit is reported
  -ff         with -o PREFIX: one file PREFIX.PID per process (implies -f)
  -T          show the time spent in each syscall
  -t          prefix each line with the time of day; -tt with microseconds; -ttt seconds since the epoch
  -e trace=NAME[,NAME...]
              trace only these syscalls (names as printed, e.g. read,write,openat_into)
  -e signal=SET
              show only these signals (all, none, names or numbers such as USR1,SIGCHLD,15,
              RTMIN+1; a leading ! takes the others); the tracee gets every signal either way
  -o FILE     write the trace to FILE instead of stderr
  -s STRSIZE  print at most STRSIZE bytes of each string (default 32)
  -p PID      attach to a running process (root, or the same uid and gid); detach on exit";

/// Which timestamp prefixes each line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Timestamps {
    #[default]
    None,
    /// `-t`: `HH:MM:SS`.
    Seconds,
    /// `-tt`: `HH:MM:SS.uuuuuu`.
    Micros,
    /// `-ttt`: `SECONDS.uuuuuu` since the epoch.
    Epoch,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub follow_forks: bool,
    /// `-ff`: with `-o PREFIX`, one file `PREFIX.PID` per process.
    pub separate_files: bool,
    pub summary: bool,
    pub syscall_times: bool,
    pub timestamps: Timestamps,
    /// Syscall numbers to show; `None` for all.
    pub filter: Option<Vec<usize>>,
    /// Signals whose delivery (or exception) lines are shown.
    pub signals: SignalSet,
    pub output: Option<String>,
    pub string_limit: usize,
    pub pid: Option<usize>,
    pub command: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            follow_forks: false,
            separate_files: false,
            summary: false,
            syscall_times: false,
            timestamps: Timestamps::None,
            filter: None,
            signals: SignalSet::ALL,
            output: None,
            string_limit: 32,
            pid: None,
            command: Vec::new(),
        }
    }
}

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    Run(Options),
    Help,
}

/// Parses the arguments after the program name. Errors are one-line messages.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Parsed, String> {
    let mut opts = Options::default();
    let mut args = args.into_iter();
    let mut t_count = 0u8;
    while let Some(arg) = args.next() {
        if arg == "--" {
            opts.command.extend(args.by_ref());
            break;
        }
        if arg == "-h" || arg == "--help" {
            return Ok(Parsed::Help);
        }
        let Some(cluster) = arg.strip_prefix('-').filter(|c| !c.is_empty()) else {
            opts.command.push(arg);
            opts.command.extend(args.by_ref());
            break;
        };
        for (i, c) in cluster.char_indices() {
            match c {
                'c' => opts.summary = true,
                'f' => {
                    opts.separate_files = opts.follow_forks;
                    opts.follow_forks = true;
                }
                'T' => opts.syscall_times = true,
                't' => t_count = t_count.saturating_add(1),
                'e' | 'o' | 's' | 'p' => {
                    let rest = cluster.get(i + c.len_utf8()..).unwrap_or_default();
                    let value = if rest.is_empty() {
                        args.next()
                            .ok_or_else(|| format!("option -{c} needs an argument"))?
                    } else {
                        rest.to_string()
                    };
                    apply_value(&mut opts, c, &value)?;
                    break;
                }
                other => return Err(format!("unknown option -{other}")),
            }
        }
    }
    opts.timestamps = match t_count {
        0 => Timestamps::None,
        1 => Timestamps::Seconds,
        2 => Timestamps::Micros,
        _ => Timestamps::Epoch,
    };
    match (&opts.pid, opts.command.is_empty()) {
        (None, true) => Err("must have COMMAND or -p PID".to_string()),
        (Some(_), false) => Err("-p and COMMAND are mutually exclusive".to_string()),
        _ => Ok(Parsed::Run(opts)),
    }
}

fn apply_value(opts: &mut Options, option: char, value: &str) -> Result<(), String> {
    match option {
        'e' => apply_expression(opts, value)?,
        'o' => opts.output = Some(value.to_string()),
        's' => {
            opts.string_limit = value
                .parse()
                .map_err(|_| format!("invalid -s value '{value}'"))?
        }
        'p' => {
            opts.pid = Some(
                value
                    .parse()
                    .map_err(|_| format!("invalid process id '{value}'"))?,
            )
        }
        _ => return Err(format!("unknown option -{option}")),
    }
    Ok(())
}

/// `-e trace=read,write` (or just `read,write`; `trace=all`), `-e signal=SET`.
fn apply_expression(opts: &mut Options, expr: &str) -> Result<(), String> {
    match expr.split_once('=') {
        Some(("trace", list)) => opts.filter = parse_filter(list)?,
        Some(("signal" | "signals", set)) => opts.signals = signal::parse_set(set)?,
        Some((qualifier, _)) => {
            return Err(format!(
                "unsupported -e qualifier '{qualifier}' (only trace= and signal=)"
            ))
        }
        None => opts.filter = parse_filter(expr)?,
    }
    Ok(())
}

fn parse_filter(list: &str) -> Result<Option<Vec<usize>>, String> {
    if list == "all" {
        return Ok(None);
    }
    list.split(',')
        .map(|name| {
            lookup_name(name)
                .map(|spec| spec.number)
                .ok_or_else(|| format!("invalid system call '{name}'"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use syscall::number::{SYS_READ, SYS_WRITE};

    use super::*;

    fn run(args: &[&str]) -> Result<Options, String> {
        match parse(args.iter().map(|s| s.to_string()))? {
            Parsed::Run(opts) => Ok(opts),
            Parsed::Help => Err("help".to_string()),
        }
    }

    /// Verifies that the command starts at the first non-option and keeps its own options.
    #[test]
    fn command_keeps_its_options() {
        let opts = run(&["-f", "ls", "-l", "-t"]).expect("valid");
        assert!(opts.follow_forks);
        assert_eq!(opts.command, ["ls", "-l", "-t"]);
        assert_eq!(opts.timestamps, Timestamps::None);
    }

    /// Verifies clustered flags, repeated -t and attached or separate values.
    #[test]
    fn clusters_and_values() {
        let opts = run(&["-cfTtt", "-s64", "-o", "out.txt", "--", "echo", "hi"]).expect("valid");
        assert!(opts.summary && opts.follow_forks && opts.syscall_times);
        assert_eq!(opts.timestamps, Timestamps::Micros);
        assert_eq!(opts.string_limit, 64);
        assert_eq!(opts.output.as_deref(), Some("out.txt"));
        assert_eq!(opts.command, ["echo", "hi"]);
        assert_eq!(
            run(&["-ttt", "x"]).expect("valid").timestamps,
            Timestamps::Epoch
        );
    }

    /// Verifies that -f follows, and a second f (clustered or not) asks for one file per
    /// process.
    #[test]
    fn double_f_separates_files() {
        let opts = run(&["-f", "ls"]).expect("valid");
        assert!(opts.follow_forks && !opts.separate_files);
        let opts = run(&["-ff", "-o", "t", "ls"]).expect("valid");
        assert!(opts.follow_forks && opts.separate_files);
        let opts = run(&["-f", "-f", "ls"]).expect("valid");
        assert!(opts.follow_forks && opts.separate_files);
    }

    /// Verifies -e trace= with names, the short form, and all.
    #[test]
    fn trace_filter_names_syscalls() {
        let opts = run(&["-e", "trace=read,write", "cat"]).expect("valid");
        assert_eq!(opts.filter, Some(vec![SYS_READ, SYS_WRITE]));
        assert_eq!(
            run(&["-eread", "cat"]).expect("valid").filter,
            Some(vec![SYS_READ])
        );
        assert_eq!(
            run(&["-e", "trace=all", "cat"]).expect("valid").filter,
            None
        );
        assert_eq!(
            run(&["-e", "trace=bogus", "cat"]),
            Err("invalid system call 'bogus'".to_string())
        );
        assert!(run(&["-e", "status=failed", "cat"]).is_err());
    }

    /// Verifies -e signal= next to -e trace=, and the error for a word that is no signal.
    #[test]
    fn signal_filter_takes_a_set() {
        let opts = run(&["-e", "signal=none", "-e", "trace=read", "cat"]).expect("valid");
        assert_eq!(opts.signals, SignalSet::EMPTY);
        assert_eq!(opts.filter, Some(vec![SYS_READ]));
        assert_eq!(run(&["cat"]).expect("valid").signals, SignalSet::ALL);
        let usr1 = signal::parse_signal("USR1").expect("a signal");
        let opts = run(&["-esignal=!USR1", "cat"]).expect("valid");
        assert!(!opts.signals.contains(usr1));
        assert_eq!(
            run(&["-e", "signal=USR9", "cat"]),
            Err("invalid signal 'USR9'".to_string())
        );
    }

    /// Verifies -p and the errors for a missing target or both targets.
    #[test]
    fn pid_or_command() {
        assert_eq!(run(&["-p", "42"]).expect("valid").pid, Some(42));
        assert_eq!(run(&["-c"]), Err("must have COMMAND or -p PID".to_string()));
        assert!(run(&["-p", "42", "ls"]).is_err());
        assert!(run(&["-p", "x"]).is_err());
        assert_eq!(run(&["-s"]), Err("option -s needs an argument".to_string()));
        assert_eq!(run(&["-x", "ls"]), Err("unknown option -x".to_string()));
        assert_eq!(parse(["--help".to_string()]), Ok(Parsed::Help));
    }
}

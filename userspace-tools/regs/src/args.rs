//! Command line: `regs [--float] [--env] [--syscall NAME | --count N] (-p PID | COMMAND...)`.

use redox_ptrace::decode::lookup_name;

pub const USAGE: &str = "\
usage: regs [--float] [--env] [--syscall NAME | --count N] COMMAND [ARG...]
       regs [--float] [--env] -p PID
Runs COMMAND traced, stops it at the entry of its first syscall after exec (or of its Nth, or
of its first NAME call), prints its registers like gdb's `info registers`, then lets it run on
untraced and exits with its status.
  --float       also print the x87/SSE registers (regs/float)
  --env         also print fs_base and gs_base (regs/env)
  --syscall N   stop at the first call of syscall N (e.g. write, openat_into)
  --count N     stop at the Nth syscall after exec (default 1)
  -p PID        attach to a running process instead (root, or the same uid and gid)";

/// Where to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopAt {
    /// The Nth syscall entry after exec (1-based).
    Count(usize),
    /// The first entry of this syscall number after exec.
    Syscall(usize),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub float: bool,
    pub env: bool,
    pub stop_at: StopAt,
    pub pid: Option<usize>,
    pub command: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    Run(Options),
    Help,
}

pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Parsed, String> {
    let mut opts = Options {
        float: false,
        env: false,
        stop_at: StopAt::Count(1),
        pid: None,
        command: Vec::new(),
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| format!("option {name} needs an argument"))
        };
        match arg.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--float" => opts.float = true,
            "--env" => opts.env = true,
            "--syscall" => {
                let name = value("--syscall")?;
                let spec =
                    lookup_name(&name).ok_or_else(|| format!("invalid system call '{name}'"))?;
                opts.stop_at = StopAt::Syscall(spec.number);
            }
            "--count" => {
                let n = value("--count")?;
                match n.parse() {
                    Ok(n) if n > 0 => opts.stop_at = StopAt::Count(n),
                    _ => return Err(format!("invalid --count '{n}' (1 or more)")),
                }
            }
            "-p" => {
                let pid = value("-p")?;
                opts.pid = Some(
                    pid.parse()
                        .map_err(|_| format!("invalid process id '{pid}'"))?,
                );
            }
            "--" => {
                opts.command.extend(args);
                break;
            }
            other if other.starts_with('-') => return Err(format!("unknown option {other}")),
            _ => {
                opts.command.push(arg);
                opts.command.extend(args);
                break;
            }
        }
    }
    match (opts.pid, opts.command.is_empty()) {
        (None, true) => Err("must have COMMAND or -p PID".to_string()),
        (Some(_), false) => Err("-p and COMMAND are mutually exclusive".to_string()),
        _ => Ok(Parsed::Run(opts)),
    }
}

#[cfg(test)]
mod tests {
    use syscall::number::SYS_WRITE;

    use super::*;

    fn run(args: &[&str]) -> Result<Options, String> {
        match parse(args.iter().map(|s| s.to_string()))? {
            Parsed::Run(opts) => Ok(opts),
            Parsed::Help => Err("help".to_string()),
        }
    }

    /// Verifies the defaults and that the command keeps its own options.
    #[test]
    fn defaults_and_command() {
        let opts = run(&["ls", "--float"]).expect("valid");
        assert_eq!(
            (opts.float, opts.env, opts.stop_at),
            (false, false, StopAt::Count(1))
        );
        assert_eq!(opts.command, ["ls", "--float"]);
    }

    /// Verifies the register-set switches and the stop selection.
    #[test]
    fn switches_and_stop_selection() {
        let opts =
            run(&["--float", "--env", "--syscall", "write", "--", "echo", "x"]).expect("valid");
        assert!(opts.float && opts.env);
        assert_eq!(opts.stop_at, StopAt::Syscall(SYS_WRITE));
        assert_eq!(opts.command, ["echo", "x"]);
        assert_eq!(
            run(&["--count", "3", "ls"]).expect("valid").stop_at,
            StopAt::Count(3)
        );
    }

    /// Verifies the error messages.
    #[test]
    fn errors() {
        assert_eq!(
            run(&["--count", "0", "ls"]),
            Err("invalid --count '0' (1 or more)".to_string())
        );
        assert_eq!(
            run(&["--syscall", "nope", "ls"]),
            Err("invalid system call 'nope'".to_string())
        );
        assert_eq!(
            run(&["--float"]),
            Err("must have COMMAND or -p PID".to_string())
        );
        assert_eq!(
            run(&["-p", "1", "ls"]),
            Err("-p and COMMAND are mutually exclusive".to_string())
        );
        assert_eq!(
            run(&["--bogus", "ls"]),
            Err("unknown option --bogus".to_string())
        );
        assert_eq!(run(&["-p", "9"]).expect("valid").pid, Some(9));
    }
}

//! `rine [--strace] [--root DIR] PROGRAM [ARGS...]`: runs a static x86_64 Redox program on
//! Linux. Its `/` (the `file` scheme) is DIR, by default the host's `/`.

use std::{os::unix::ffi::OsStrExt, path::PathBuf, process::ExitCode};

use rine::{exit_code, run, Options};

const USAGE: &str = "usage: rine [--strace] [--root DIR] PROGRAM [ARGS...]";

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1).peekable();
    let mut strace = false;
    let mut root = PathBuf::from("/");
    while let Some(a) = args.peek() {
        match a.as_bytes() {
            b"--strace" => strace = true,
            b"--root" => {
                args.next();
                match args.peek() {
                    Some(dir) => root = PathBuf::from(dir),
                    None => {
                        eprintln!("rine: --root needs a directory\n{USAGE}");
                        return ExitCode::from(2);
                    }
                }
            }
            b"-h" | b"--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => break,
        }
        args.next();
    }
    let argv: Vec<Vec<u8>> = args.map(|a| a.as_bytes().to_vec()).collect();
    let Some(program) = argv.first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let program = PathBuf::from(std::ffi::OsStr::from_bytes(program));
    let file = match std::fs::read(&program) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("rine: {}: {e}", program.display());
            return ExitCode::from(127);
        }
    };
    let root = match root.canonicalize() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rine: {}: {e}", root.display());
            return ExitCode::from(2);
        }
    };
    // The working directory carries over when it lies inside the root.
    let cwd = std::env::current_dir()
        .ok()
        .and_then(|d| {
            d.strip_prefix(&root)
                .ok()
                .map(|p| p.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let env = std::env::vars_os()
        .map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat())
        .collect();
    let opts = Options {
        root,
        cwd,
        strace,
        env,
    };
    match run(&file, &argv, &opts) {
        Ok(status) => ExitCode::from(exit_code(status)),
        Err(e) => {
            eprintln!("rine: {}: {e}", program.display());
            ExitCode::from(126)
        }
    }
}

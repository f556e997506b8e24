//! `strace` for Redox: prints the syscalls of a command as it runs.
//!
//! Argument parsing is in `args`, line formatting in `printer` (decoding itself lives in the
//! redox-ptrace library), the tracing loop in `run`.

mod args;
mod printer;
mod run;

use std::{fs::File, io::Write, process::ExitCode};

fn main() -> ExitCode {
    let parsed = match args::parse(std::env::args().skip(1)) {
        Ok(parsed) => parsed,
        Err(msg) => {
            eprintln!("strace: {msg}\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    let opts = match parsed {
        args::Parsed::Help => {
            println!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        args::Parsed::Run(opts) => opts,
    };
    let out: Box<dyn Write> = match &opts.output {
        // -ff -o PREFIX: the trace goes to PREFIX.PID files; stderr keeps strace's own notes
        // (and -c's table).
        Some(_) if opts.separate_files => Box::new(std::io::stderr()),
        Some(path) => match File::create(path) {
            Ok(file) => Box::new(std::io::BufWriter::new(file)),
            Err(e) => {
                eprintln!("strace: {path}: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => Box::new(std::io::stderr()),
    };
    match run::run(&opts, out) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(msg) => {
            eprintln!("strace: {msg}");
            ExitCode::FAILURE
        }
    }
}

//! Three processes in a line, each made by fork + exec (through std): `forktree` runs
//! `forktree middle`, which runs `exitcode 3`. Each reports how its child ended; the first
//! exits with 5, the middle one with 4, so a tracer's exit code tells whose it passed on.

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let middle = std::env::args().nth(1).as_deref() == Some("middle");
    let (name, program, arg, code) = match middle {
        true => ("middle", "exitcode", "3", 4),
        false => ("first", "forktree", "middle", 5),
    };
    match Command::new(program).arg(arg).status() {
        Ok(status) => {
            println!("{name}: {status}");
            ExitCode::from(code)
        }
        Err(e) => {
            eprintln!("forktree: {e}");
            ExitCode::FAILURE
        }
    }
}

//! Runs `exitcode 7` as a child (fork + exec through std), then reports how it ended.

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    match Command::new("exitcode").arg("7").status() {
        Ok(status) => {
            println!("child: {status}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("forkexec: {e}");
            ExitCode::FAILURE
        }
    }
}

//! Copies each file named on the command line to stdout (the image has no coreutils).

use std::{io::Write, process::ExitCode};

fn main() -> ExitCode {
    let mut status = ExitCode::SUCCESS;
    for path in std::env::args().skip(1) {
        match std::fs::read(&path) {
            Ok(bytes) => {
                if std::io::stdout().write_all(&bytes).is_err() {
                    return ExitCode::FAILURE;
                }
            }
            Err(e) => {
                eprintln!("cat: {path}: {e}");
                status = ExitCode::FAILURE;
            }
        }
    }
    status
}

//! Greets, writes a file, reads it back, and fails to open one that does not exist.
//! `files PATH`: the file to create (its directory must exist).

use std::{fs, io::Write, process::ExitCode};

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: files PATH");
        return ExitCode::from(2);
    };
    println!("hello from files");
    let written = fs::File::create(&path).and_then(|mut f| f.write_all(b"tracing works\n"));
    if let Err(e) = written {
        eprintln!("files: {path}: {e}");
        return ExitCode::FAILURE;
    }
    match fs::read_to_string(&path) {
        Ok(text) => print!("read back: {text}"),
        Err(e) => {
            eprintln!("files: {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    match fs::File::open(format!("{path}.missing")) {
        Ok(_) => println!("unexpected: {path}.missing exists"),
        Err(e) => println!("missing: {}", e.kind()),
    }
    ExitCode::SUCCESS
}

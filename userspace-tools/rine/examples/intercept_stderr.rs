//! The seed demo: `cargo run --example intercept_stderr`. A child's write to stderr is
//! caught under ptrace and the child is made to exit with 123 instead.

fn main() {
    match rine::seed::intercept_stderr_write(b"this line never reaches stderr\n") {
        Ok(outcome) => println!(
            "child's stderr write caught: {}; child exited with {}",
            outcome.caught_write, outcome.exit_status
        ),
        Err(e) => eprintln!("intercept_stderr: {e}"),
    }
}

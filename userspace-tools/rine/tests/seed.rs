//! The seed demo as a test.

use rine::seed::{intercept_stderr_write, Outcome, INTERCEPT_STATUS};

/// Verifies that a child's write to stderr is stopped at syscall entry and the child exits
/// with 123 instead of 0.
#[test]
fn seed_stderr_write_becomes_exit_123() {
    let outcome =
        intercept_stderr_write(b"rine seed test: this must not appear\n").expect("ptrace");
    assert_eq!(
        outcome,
        Outcome {
            caught_write: true,
            exit_status: INTERCEPT_STATUS
        }
    );
}

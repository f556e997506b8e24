//! rine's command line and what it refuses.

use std::process::Command;

fn rine(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rine"))
        .args(args)
        .output()
        .expect("rine runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Verifies that a file that is not a static executable is refused with the reason, before
/// anything runs.
#[test]
fn cli_refuses_a_position_independent_elf() {
    // rine's own binary: a Linux PIE (ET_DYN), not a static ET_EXEC Redox program.
    let (code, err) = rine(&[env!("CARGO_BIN_EXE_rine")]);
    assert_eq!(code, Some(126), "stderr: {err}");
    assert!(
        err.contains("not a static executable (ET_EXEC)"),
        "stderr: {err}"
    );
}

/// Verifies that a missing program and a missing argument are reported with their status.
#[test]
fn cli_reports_missing_program_and_usage() {
    let (code, err) = rine(&["/nonexistent/program"]);
    assert_eq!(code, Some(127));
    assert!(
        err.starts_with("rine: /nonexistent/program: "),
        "stderr: {err}"
    );
    let (code, err) = rine(&[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("usage: rine"), "stderr: {err}");
}

//! The image's static relibc std programs (`make userspace`: build/redox-bin) under rine.
//! Skipped, with the reason printed, when they have not been built.

mod common;

use common::{assert_same, fresh_root, redox_bin, rine};

macro_rules! programs_or_skip {
    () => {
        match redox_bin() {
            Ok(dir) => dir,
            Err(why) => {
                println!("skipped: {why}");
                return;
            }
        }
    };
}

/// Verifies that relibc's whole startup (handles, TLS, procmgr calls) runs under rine and
/// `exitcode 3` prints its line and exits 3.
#[test]
fn relibc_exitcode_prints_and_exits_3() {
    let bin = programs_or_skip!();
    let run = rine(&[], &fresh_root("exitcode"), &bin.join("exitcode"), &["3"]);
    assert_same("stdout", &run.stdout, "exiting with 3\n");
    assert_eq!(run.stderr, "", "no rine complaints expected");
    assert_eq!(run.code, Some(3));
}

/// Verifies that `files` creates its file under the root, reads it back and sees ENOENT.
#[test]
fn relibc_files_does_file_io_under_root() {
    let bin = programs_or_skip!();
    let root = fresh_root("files");
    let run = rine(&[], &root, &bin.join("files"), &["/tmp/x"]);
    assert_same(
        "stdout",
        &run.stdout,
        "hello from files\nread back: tracing works\nmissing: entity not found\n",
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(root.join("tmp/x")).expect("file made"),
        "tracing works\n"
    );
}

/// Verifies that `--strace` on `files` prints the lines the Redox strace prints in QEMU (the
/// lines below are from `make demo`'s `strace files /tmp/demo.txt`; addresses differ and
/// are left out).
#[test]
fn relibc_files_strace_matches_qemu_lines() {
    let bin = programs_or_skip!();
    let run = rine(
        &["--strace"],
        &fresh_root("files-strace"),
        &bin.join("files"),
        &["/tmp/demo.txt"],
    );
    let trace: Vec<&str> = run.stderr.lines().collect();
    let expected = [
        "--- exec: address space replaced ---",
        "yield() = 0",
        r#"dup2(UPPER|0, UPPER|0, "refresh") = UPPER|0"#,
        r#"dup_into(UPPER|3, "regs/env", UPPER|1) = UPPER|1"#,
        r#"dup_into(UPPER|3, "sighandler", UPPER|1) = UPPER|1"#,
        r#"call(UPPER|3, "", 0, 0, [0x0]) = 0"#,
        r#"call(UPPER|2, "", 0, 0, [0xa]) = 0"#,
        r#"write(1, "hello from files\n", 17) = 17"#,
        r#"openat_into(UPPER|13, "/tmp/demo.txt", O_CLOEXEC|O_DIRECTORY, 0, UPPER|1) = UPPER|1"#,
        r#"openat_into(UPPER|1, "tmp/demo.txt", O_WRONLY|O_CLOEXEC|O_CREAT|O_TRUNC|0644, 0, 3) = 3"#,
        r#"write(3, "tracing works\n", 14) = 14"#,
        r#"openat_into(UPPER|1, "tmp/demo.txt", O_RDONLY|O_CLOEXEC, 0, 3) = 3"#,
        r#"read(3, "tracing works\n", 14) = 14"#,
        r#"read(3, "", 32) = 0"#,
        r#"write(1, "read back: tracing works\n", 25) = 25"#,
        r#"openat_into(UPPER|1, "tmp/demo.txt.missing", O_RDONLY|O_CLOEXEC, 0, 3) = -1 ENOENT (No such file or directory)"#,
        r#"write(1, "missing: entity not found\n", 26) = 26"#,
        r#"call(UPPER|2, "", 0, 0, [0x2, 0x0]) = ?"#,
        "+++ exited with 0 +++",
    ];
    // In this order, each somewhere after the one before.
    let mut at = 0;
    for want in expected {
        match trace[at..].iter().position(|l| *l == want) {
            Some(i) => at += i + 1,
            None => panic!("missing (in order) {want:?} in\n{}", run.stderr),
        }
    }
    assert_eq!(trace.last(), Some(&"+++ exited with 0 +++"));
}

/// Verifies that `threads` starts three Redox threads as Linux threads of the child, each
/// prints, and joining them (futex waits and wakes between threads) gives their sum.
#[test]
fn relibc_threads_start_print_and_join() {
    let bin = programs_or_skip!();
    let run = rine(&[], &fresh_root("threads"), &bin.join("threads"), &[]);
    let mut lines: Vec<&str> = run.stdout.lines().collect();
    // The threads print in whatever order they run; the join line comes last.
    assert_eq!(lines.pop(), Some("joined, sum 3"), "stdout: {}", run.stdout);
    lines.sort_unstable();
    assert_eq!(lines, ["thread 0", "thread 1", "thread 2"]);
    assert_eq!(run.stderr, "", "no rine complaints expected");
    assert_eq!(run.code, Some(0));
}

/// Verifies that `forkexec` gets its pipe and then stops at procmgr's fork, which rine does
/// not do, with the one `unsupported` line and ENOSYS (the program reports it and exits 1).
#[test]
fn relibc_forkexec_stops_at_fork_with_one_line() {
    let bin = programs_or_skip!();
    let run = rine(&[], &fresh_root("forkexec"), &bin.join("forkexec"), &[]);
    let rine_lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("rine: "))
        .collect();
    assert_eq!(
        rine_lines,
        [r#"rine: unsupported syscall dup_into(UPPER|2, "fork", UPPER|1)"#]
    );
    assert!(
        run.stderr.contains("Function not implemented"),
        "the program should report ENOSYS: {}",
        run.stderr
    );
    assert_eq!(run.code, Some(1));
}

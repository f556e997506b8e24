//! The image's static relibc std programs (`make userspace`: build/redox-bin) under rine.
//! Skipped, with the reason printed, when they have not been built.

mod common;

use common::{assert_same, fresh_root, install_programs, redox_bin, rine, rine_env};

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
/// lines below are from `make demo`'s `strace files $TMPDIR/demo.txt`, with the default
/// `IMAGE_TMPDIR`, `/tmp`; addresses differ and are left out).
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

/// Verifies that `forkexec` forks, its child execs `exitcode 7` (found on `PATH` under the
/// root) and exits 7, and the parent's waitpid reports it: what QEMU prints, and exit 0.
#[test]
fn relibc_forkexec_runs_child_and_waits() {
    let bin = programs_or_skip!();
    let root = fresh_root("forkexec");
    install_programs(&root, &bin);
    let run = rine_env(&[], &root, &bin.join("forkexec"), &[], &[("PATH", "/bin")]);
    assert_same(
        "stdout",
        &run.stdout,
        "exiting with 7\nchild: exit status: 7\n",
    );
    assert_eq!(run.stderr, "", "no rine complaints expected");
    assert_eq!(run.code, Some(0));
}

/// Verifies that when the child's exec fails (no `exitcode` on `PATH`), the child reports
/// the error through std's close-on-exec pipe, which the parent's read waits on while the
/// child runs, and the parent prints it and exits 1.
#[test]
fn relibc_forkexec_reports_failed_exec() {
    let bin = programs_or_skip!();
    let root = fresh_root("forkexec-noexec");
    let run = rine_env(&[], &root, &bin.join("forkexec"), &[], &[("PATH", "/bin")]);
    assert_same("stdout", &run.stdout, "");
    assert_same(
        "stderr",
        &run.stderr,
        "forkexec: No such file or directory (os error 2)\n",
    );
    assert_eq!(run.code, Some(1));
}

/// Verifies that `--strace` on `forkexec` shows the fork in the parent, the child's lines
/// with their pid, its exec, and the parent's waitpid storing the child's status.
#[test]
fn relibc_forkexec_strace_shows_fork_exec_wait() {
    let bin = programs_or_skip!();
    let root = fresh_root("forkexec-strace");
    install_programs(&root, &bin);
    let run = rine_env(
        &["--strace"],
        &root,
        &bin.join("forkexec"),
        &[],
        &[("PATH", "/bin")],
    );
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let trace: Vec<&str> = run.stderr.lines().collect();
    assert!(
        trace.contains(&r#"dup_into(UPPER|2, "fork", UPPER|1) = UPPER|1"#),
        "no fork in\n{}",
        run.stderr
    );
    assert!(
        trace
            .iter()
            .any(|l| l.starts_with("[pid ") && l.ends_with("--- exec: address space replaced ---")),
        "no exec in the child in\n{}",
        run.stderr
    );
    // procmgr's Waitpid on the process handle, `[0x0, pid, flags]`: it returns that pid and
    // stores the status word `7 << 8` (exited, code 7).
    let wait = trace
        .iter()
        .find(|l| l.starts_with("call(UPPER|2, ") && l.contains("[0x0, "))
        .expect("the parent's waitpid");
    let pid = wait
        .split("[0x0, 0x")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .expect("the pid waited for");
    assert!(
        wait.starts_with(r#"call(UPPER|2, "\0\7\0\0\0\0\0\0", 8, READ, "#)
            && wait.ends_with(&format!("= {pid}")),
        "waitpid should store 7 << 8 and return {pid}: {wait}"
    );
    assert_eq!(trace.last(), Some(&"+++ exited with 0 +++"));
}

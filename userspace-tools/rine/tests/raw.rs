//! A no_std static Redox program with raw syscalls (fixtures/raw) under rine: needs no relibc,
//! only a toolchain that builds for x86_64-unknown-redox.

mod common;

use std::{path::PathBuf, process::Command, sync::OnceLock};

use common::{assert_same, fresh_root, rine, Run};

/// Builds the fixture once per test binary; `Err` says why it cannot be built here.
fn raw_program() -> Result<PathBuf, String> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let has_toolchain = std::env::var_os("RUST_ENV").is_some()
                || Command::new("rustup")
                    .args(["run", "debian", "rustc", "--version"])
                    .output()
                    .is_ok_and(|o| o.status.success());
            if !has_toolchain {
                return Err("no Redox-capable toolchain (rustup `debian` or RUST_ENV)".into());
            }
            let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("raw-fixture");
            let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/raw/build.sh");
            let status = Command::new(script)
                .arg(&out)
                .status()
                .expect("run build.sh");
            // A toolchain is there, so a failed build is a failure, not a skip.
            assert!(status.success(), "fixtures/raw/build.sh failed: {status}");
            Ok(out.join("rine-raw"))
        })
        .clone()
}

fn run_raw(flags: &[&str], test: &str) -> Option<Run> {
    match raw_program() {
        Ok(p) => Some(rine(flags, &fresh_root(test), &p, &[])),
        Err(why) => {
            println!("skipped: {why}");
            None
        }
    }
}

/// Verifies that the raw program's writes, anonymous fmap, clock and exit work under rine.
#[test]
fn raw_program_runs_and_exits_42() {
    let Some(run) = run_raw(&[], "raw-runs") else {
        return;
    };
    assert_same(
        "stdout",
        &run.stdout,
        "hello from a raw Redox program\nfmap page ok\nclock ok\nbogus syscall: ENOSYS\n",
    );
    assert_eq!(run.code, Some(42), "stderr: {}", run.stderr);
}

/// Verifies that a syscall rine does not know gets one `rine: unsupported syscall` line and
/// ENOSYS, and rine carries on.
#[test]
fn raw_unknown_syscall_is_one_line_and_enosys() {
    let Some(run) = run_raw(&[], "raw-unknown") else {
        return;
    };
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("rine: "))
        .collect();
    assert_eq!(
        lines,
        ["rine: unsupported syscall syscall_0xbadca11(0x1, 0x2, 0x3, 0x0, 0x0, 0x4000000000000002)"]
    );
    assert_eq!(run.code, Some(42));
}

/// Verifies that `--strace` prints each call as the Redox strace does, the exit last.
#[test]
fn raw_strace_prints_decoded_calls() {
    let Some(run) = run_raw(&["--strace"], "raw-strace") else {
        return;
    };
    let trace: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.starts_with("rine: "))
        .collect();
    assert_eq!(trace.first(), Some(&"--- exec: address space replaced ---"));
    assert_eq!(
        trace.get(1),
        Some(&r#"write(1, "hello from a raw Redox program\n", 31) = 31"#)
    );
    assert!(
        trace.iter().any(|l| l.starts_with(
            "fmap(-1, {offset=0x0, size=4096, flags=PROT_READ|PROT_WRITE|MAP_PRIVATE, address=0x0}, 32) = 0x"
        )),
        "no fmap line in\n{}",
        run.stderr
    );
    assert!(trace
        .iter()
        .any(|l| l.starts_with("clock_gettime(CLOCK_MONOTONIC, {tv_sec=")));
    assert!(trace.contains(&"syscall_0xbadca11(0x1, 0x2, 0x3, 0x0, 0x0, 0x4000000000000002) = -1 ENOSYS (Function not implemented)"));
    assert_eq!(trace.last(), Some(&"+++ exited with 42 +++"));
}

/// Verifies that the benchmark mode (`rine-raw N`: N yields) runs its loop silently and
/// exits 0, so the overhead measurement measures syscalls and nothing else.
#[test]
fn raw_yield_loop_exits_0() {
    let program = match raw_program() {
        Ok(p) => p,
        Err(why) => {
            println!("skipped: {why}");
            return;
        }
    };
    let run = rine(
        &["--strace"],
        &fresh_root("raw-yields"),
        &program,
        &["1000"],
    );
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr.lines().filter(|l| *l == "yield() = 0").count(),
        1000
    );
    assert_eq!(run.code, Some(0));
}

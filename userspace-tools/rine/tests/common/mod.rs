//! Shared steps of rine's program tests: running rine, finding the Redox programs.

#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

/// What a run of rine gave.
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub code: Option<i32>,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Self {
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            code: o.status.code(),
        }
    }
}

/// Runs `rine [flags] program args` with `root` as the program's `/`.
pub fn rine(flags: &[&str], root: &Path, program: &Path, args: &[&str]) -> Run {
    rine_env(flags, root, program, args, &[])
}

/// `rine` with variables added to the environment the program gets.
pub fn rine_env(
    flags: &[&str],
    root: &Path,
    program: &Path,
    args: &[&str],
    envs: &[(&str, &str)],
) -> Run {
    Command::new(env!("CARGO_BIN_EXE_rine"))
        .envs(envs.iter().copied())
        .args(flags)
        .arg("--root")
        .arg(root)
        .arg(program)
        .args(args)
        .output()
        .expect("rine runs")
        .into()
}

/// A fresh directory with `tmp/` in it, to be the program's `/`.
pub fn fresh_root(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("tmp")).expect("mkdir root/tmp");
    root
}

/// Copies the Redox programs of `bin` into `root/bin`, so that a program's exec finds them
/// with `PATH=/bin`, as the image's find theirs in `/scheme/initfs/bin`.
pub fn install_programs(root: &Path, bin: &Path) {
    std::fs::create_dir_all(root.join("bin")).expect("mkdir root/bin");
    for entry in std::fs::read_dir(bin).expect("the programs' directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_file() {
            let to = root
                .join("bin")
                .join(path.file_name().expect("a file name"));
            std::fs::copy(&path, to).expect("copy a program");
        }
    }
}

/// The project's checkout (rine lives in `userspace-tools/rine`).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The image's static relibc programs (`make userspace`), or why there are none.
pub fn redox_bin() -> Result<PathBuf, String> {
    let dir = std::env::var_os("RINE_REDOX_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_root().join("build/redox-bin"));
    if dir.join("exitcode").is_file() && dir.join("files").is_file() {
        Ok(dir)
    } else {
        Err(format!(
            "{}: no exitcode/files (run `make userspace`, or set RINE_REDOX_BIN)",
            dir.display()
        ))
    }
}

/// Checks `actual == expected` and prints both when they differ.
pub fn assert_same(what: &str, actual: &str, expected: &str) {
    assert!(
        actual == expected,
        "{what} differs\n--- actual ---\n{actual}\n--- expected ---\n{expected}"
    );
}

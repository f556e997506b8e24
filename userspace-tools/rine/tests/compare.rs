//! The comparison with QEMU: each command of a `make rine-compare` image log (the Redox
//! image's serial output) is run under rine, which must print exactly what the program
//! printed on Redox and exit with the status init reported. Skipped, with the reason printed,
//! when there is no such log.

mod common;

use std::path::PathBuf;

use common::{assert_same, fresh_root, install_programs, redox_bin, rine_env};

/// One `$ COMMAND` section of the image log.
#[derive(Debug)]
struct Section {
    command: String,
    output: String,
    status: i32,
}

/// Cuts the serial log into command sections: from a `$ ` line to the next one or to the
/// kernel's power-off lines. init prints `[exit status: N]` after a command that failed.
fn sections(log: &str) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for line in log.lines() {
        if let Some(command) = line.strip_prefix("$ ") {
            out.push(Section {
                command: command.to_string(),
                output: String::new(),
                status: 0,
            });
        } else if line.starts_with("kernel::") {
            if !out.is_empty() {
                break;
            }
        } else if let Some(s) = out.last_mut() {
            match line
                .strip_prefix("[exit status: ")
                .and_then(|r| r.strip_suffix(']'))
            {
                Some(n) => s.status = n.parse().expect("exit status number"),
                None => {
                    s.output.push_str(line);
                    s.output.push('\n');
                }
            }
        }
    }
    out
}

/// Verifies that the std hello (`exitcode`), the file-I/O programs (`files`, then `cat` of
/// the file it wrote) and fork + exec + waitpid (`forkexec`) print under rine exactly what
/// they printed in QEMU, and exit the same.
#[test]
fn compare_rine_output_equals_qemu_output() {
    let log_path = std::env::var_os("RINE_QEMU_LOG")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::project_root().join("build/image-rine-compare/serial.log"));
    let Ok(log) = std::fs::read_to_string(&log_path) else {
        println!(
            "skipped: no QEMU log at {} (run `make rine-compare`)",
            log_path.display()
        );
        return;
    };
    let bin = redox_bin().expect("the QEMU log is there, so the programs must be too");
    let sections = sections(&log);
    let names: Vec<&str> = sections
        .iter()
        .map(|s| s.command.split(' ').next().unwrap_or(""))
        .collect();
    for want in ["exitcode", "files", "cat", "forkexec"] {
        assert!(
            names.contains(&want),
            "the log lacks a {want} run: {names:?}"
        );
    }
    // One root for the whole log: as in the image, a command sees the files the ones before
    // it made (`cat` of the file `files` wrote), and finds the programs it runs on PATH. The
    // log shows the commands as they ran, `$TMPDIR` replaced by the image's scratch directory
    // (its etc/tmpdir, the build's IMAGE_TMPDIR), which init made.
    let root = fresh_root("compare");
    install_programs(&root, &bin);
    let etc_tmpdir = log_path.with_file_name("initfs-root/etc/tmpdir");
    let tmpdir = std::fs::read_to_string(&etc_tmpdir).expect("the image's etc/tmpdir");
    let tmpdir = tmpdir.trim();
    std::fs::create_dir_all(root.join(tmpdir.trim_start_matches('/')))
        .expect("mkdir the scratch directory");
    let envs = [("PATH", "/bin"), ("TMPDIR", tmpdir)];
    let start = std::time::Instant::now();
    for section in &sections {
        let mut words = section.command.split_whitespace();
        let program = bin.join(words.next().expect("a command"));
        let args: Vec<&str> = words.collect();
        let run = rine_env(&[], &root, &program, &args, &envs);
        let printed = format!("{}{}", run.stdout, run.stderr);
        assert_same(
            &format!("`{}` output", section.command),
            &printed,
            &section.output,
        );
        assert_eq!(
            run.code,
            Some(section.status),
            "`{}` exit status",
            section.command
        );
        println!(
            "same as QEMU: `{}` ({} lines, status {})",
            section.command,
            section.output.lines().count(),
            section.status
        );
    }
    println!(
        "the same programs under rine (with these checks): {} ms",
        start.elapsed().as_millis()
    );
}

/// Verifies that the log is cut into sections with init's status lines taken out.
#[test]
fn compare_log_sections_parse() {
    let log = "kernel::x:INFO -- boot\nrandd: noise\n$ exitcode 3\nexiting with 3\n[exit status: 3]\n$ files /srv/x\nhello\nkernel::arch::x86_shared::stop:INFO -- Running kstop()\n";
    let s = sections(log);
    assert_eq!(s.len(), 2);
    assert_eq!(
        (s[0].command.as_str(), s[0].output.as_str(), s[0].status),
        ("exitcode 3", "exiting with 3\n", 3)
    );
    assert_eq!(
        (s[1].command.as_str(), s[1].output.as_str(), s[1].status),
        ("files /srv/x", "hello\n", 0)
    );
}

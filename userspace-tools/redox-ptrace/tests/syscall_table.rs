//! The decoder covers every syscall number of the redox_syscall crate we build against.
//!
//! The crate's `number.rs` is found through `cargo metadata` (the exact version in our lock
//! file), its `pub const SYS_*` lines are parsed and evaluated, and each number must have a
//! decoder entry of the same name. A new syscall in a crate update fails here until the
//! decoder learns it.

#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::{collections::BTreeMap, path::PathBuf, process::Command};

use redox_ptrace::decode::{lookup, ALL_SYSCALLS};

/// Constants of `number.rs` that are bit masks for classifying numbers, not syscalls.
const MASKS: &[&str] = &[
    "SYS_CLASS",
    "SYS_CLASS_PATH",
    "SYS_CLASS_FILE",
    "SYS_ARG",
    "SYS_ARG_SLICE",
    "SYS_ARG_MSLICE",
    "SYS_ARG_PATH",
    "SYS_RET",
    "SYS_RET_FILE",
];

/// `src/number.rs` of the redox_syscall package in this workspace's dependency graph.
fn number_rs() -> PathBuf {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let run = |offline: bool| {
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args([
            "metadata",
            "--format-version",
            "1",
            "--manifest-path",
            manifest,
        ]);
        if offline {
            cmd.arg("--offline");
        }
        cmd.output().expect("run cargo metadata")
    };
    // Everything is downloaded already (we are running a test of it); fall back to a normal
    // run in case metadata wants platform-specific packages that were never fetched.
    let mut out = run(true);
    if !out.status.success() {
        out = run(false);
    }
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let package = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .find(|p| p["name"] == "redox_syscall" && p["version"] == "0.9.2")
        .expect("redox_syscall 0.9.2 in the dependency graph");
    let manifest_path = PathBuf::from(package["manifest_path"].as_str().expect("manifest_path"));
    manifest_path
        .parent()
        .expect("package dir")
        .join("src/number.rs")
}

/// `name -> value` for every `pub const SYS_*: usize = expr;`, where `expr` is `|`-joined
/// names and integer literals.
fn parse_numbers() -> BTreeMap<String, usize> {
    let path = number_rs();
    let source =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut values = BTreeMap::new();
    for line in source.lines() {
        let Some(rest) = line.trim().strip_prefix("pub const ") else {
            continue;
        };
        let (name, rest) = rest.split_once(':').expect("const NAME: type");
        let expr = rest
            .split_once('=')
            .expect("= value")
            .1
            .trim()
            .trim_end_matches(';');
        let value = expr
            .split('|')
            .map(|term| eval_term(term.trim(), &values))
            .fold(0, |a, b| a | b);
        values.insert(name.trim().to_string(), value);
    }
    assert!(
        values.len() > MASKS.len(),
        "parsed nothing from {}",
        path.display()
    );
    values
}

fn eval_term(term: &str, known: &BTreeMap<String, usize>) -> usize {
    let digits = term.replace('_', "");
    if let Some(hex) = digits.strip_prefix("0x") {
        usize::from_str_radix(hex, 16).expect("hex literal")
    } else if digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().expect("decimal literal")
    } else {
        *known
            .get(term)
            .unwrap_or_else(|| panic!("unknown name {term}"))
    }
}

mod decode_table {
    use super::*;

    /// Verifies that every SYS_* number of redox_syscall 0.9.2 has a decoder entry of its name.
    #[test]
    fn covers_every_sys_number() {
        let mut missing = Vec::new();
        for (name, value) in parse_numbers() {
            if MASKS.contains(&name.as_str()) {
                continue;
            }
            let expected = name.trim_start_matches("SYS_").to_lowercase();
            match lookup(value) {
                Some(spec) if spec.name == expected => {}
                Some(spec) => missing.push(format!("{name} = {value:#x} decodes as {}", spec.name)),
                None => missing.push(format!("{name} = {value:#x} has no decoder")),
            }
        }
        assert!(missing.is_empty(), "decoder gaps:\n{}", missing.join("\n"));
    }

    /// Verifies that the decoder has no entry for a number the crate does not define.
    #[test]
    fn has_no_stale_entries() {
        let numbers = parse_numbers();
        for spec in ALL_SYSCALLS {
            let name = format!("SYS_{}", spec.name.to_uppercase());
            assert_eq!(numbers.get(&name), Some(&spec.number), "{name}");
        }
        assert_eq!(ALL_SYSCALLS.len() + MASKS.len(), numbers.len());
    }

    /// Verifies that the mask constants are still the ones this test skips.
    #[test]
    fn masks_are_the_known_ones() {
        let numbers = parse_numbers();
        for mask in MASKS {
            assert!(
                numbers.contains_key(*mask),
                "{mask} vanished from number.rs"
            );
        }
    }
}

#!/usr/bin/env bash
# Host unit tests of everything that has them.
source "$(dirname "$0")/lib.sh"

cd "$project_root"
note "host tests: kernel-src/trace-core"
cargo +stable test --manifest-path kernel-src/trace-core/Cargo.toml

note "host tests: userspace-tools (tracing library, decoder, strace, regs)"
cargo +stable test --manifest-path userspace-tools/Cargo.toml

note "host tests: the e2e suite's checks (ci/e2e/suite)"
cargo +stable test --manifest-path ci/e2e/Cargo.toml -p e2e

note "host tests: rine (Redox programs on Linux; the relibc ones need make userspace)"
cargo +stable test --manifest-path userspace-tools/rine/Cargo.toml

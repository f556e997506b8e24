#!/usr/bin/env bash
# make rine-compare: run the image's std hello (exitcode), file-I/O (files, cat) and fork/exec
# (forkexec) programs in QEMU and under rine on Linux, and check
# (userspace-tools/rine/tests/compare.rs, which runs each command of the QEMU log under rine)
# that each prints the same and exits the same. Prints how long each side took.
source "$(dirname "$0")/lib.sh"

start=$(date +%s%N)
"$project_root/ci/run-image.sh" rine-compare "$project_root/ci/rine-compare.commands"
note "image packing, boot and run in QEMU: $(ms_since "$start") ms"

RINE_QEMU_LOG="$BUILD/image-rine-compare/serial.log" RINE_REDOX_BIN="$BUILD/redox-bin" \
    cargo +stable test --release --quiet \
    --manifest-path "$project_root/userspace-tools/rine/Cargo.toml" --test compare -- --nocapture

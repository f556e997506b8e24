#!/usr/bin/env bash
# make rine-compare: run the image's std hello (exitcode), file-I/O (files, cat) and fork/exec
# (forkexec) programs in
# QEMU and under rine on Linux, and check (userspace-tools/rine/tests/compare.rs) that each
# prints the same and exits the same. Prints how long each side took.
source "$(dirname "$0")/lib.sh"

commands="$project_root/ci/rine-compare.commands"
log=$BUILD/image-rine-compare/serial.log
mkdir -p "$BUILD/image-rine-compare"

start=$(date +%s%N)
"$project_root/ci/run-image.sh" rine-compare "$commands"
qemu_ms=$(( ($(date +%s%N) - start) / 1000000 ))

rine_manifest="$project_root/userspace-tools/rine/Cargo.toml"
cargo +stable build --quiet --release --manifest-path "$rine_manifest"
rine_bin="$project_root/userspace-tools/rine/target/release/rine"
root=$(mktemp -d)
# $TMPDIR in the commands is the image's scratch directory, which init makes.
: "${IMAGE_TMPDIR:?IMAGE_TMPDIR is not set (the Makefile sets it)}"
mkdir -p "$root/$IMAGE_TMPDIR" "$root/bin"
# The programs a command runs (forkexec's exitcode) are found on PATH, as the image's are in
# /scheme/initfs/bin.
cp "$BUILD"/redox-bin/* "$root/bin/"
# As in the image, one file system for all the commands.
start=$(date +%s%N)
while read -r prog args; do
    args=${args//\$TMPDIR/$IMAGE_TMPDIR}
    PATH=/bin TMPDIR=$IMAGE_TMPDIR "$rine_bin" --root "$root" "$BUILD/redox-bin/$prog" $args \
        >/dev/null || true
done < "$commands"
rine_ms=$(( ($(date +%s%N) - start) / 1000000 ))
rm -rf "$root"

note "image packing, boot and run in QEMU: ${qemu_ms} ms; the same programs under rine: ${rine_ms} ms"
RINE_QEMU_LOG="$log" RINE_REDOX_BIN="$BUILD/redox-bin" \
    cargo +stable test --quiet --manifest-path "$rine_manifest" --test compare -- --nocapture

#!/usr/bin/env bash
# make runner: build the no_std test runner (ci/runner) into $BUILD/runner/initfs, the flat
# blob the bootloader hands to the kernel as its initfs (see ci/runner/link.ld).
source "$(dirname "$0")/lib.sh"

runner="$project_root/ci/runner"
# RUNNER_FEATURES selects a variant (e.g. `bench`); RUNNER_OUT is where it goes.
out="${RUNNER_OUT:-$BUILD/runner}"
elf="$out/target/x86_64-unknown-none/release/redox-ptrace-tests"
mkdir -p "$out"

cargo +stable fetch --quiet --manifest-path "$runner/Cargo.toml"
# From inside ci/runner, so that cargo reads its .cargo/config.toml (target, build-std).
(cd "$runner" && with_rust_env CARGO_TARGET_DIR="$out/target" cargo build --quiet --release \
    ${RUNNER_FEATURES:+--features "$RUNNER_FEATURES"})

"$OBJCOPY" -O binary "$elf" "$out/initfs.tmp"
# objcopy stops at the last byte with contents; pad up to __blob_end so that everything the
# runner uses (stack, heap) is inside the copy the kernel maps.
end=$("$NM" "$elf" | awk '$3 == "__blob_end" { print $1 }')
[ -n "$end" ] || die "no __blob_end symbol in $elf"
truncate -s $((0x$end - 0x1000)) "$out/initfs.tmp"

[ "$(head -c 8 "$out/initfs.tmp")" = RedoxFtw ] || die "$elf: no RedoxFtw magic at offset 0"
entry=$(od -An -tx8 -j $((0x1a)) -N 8 "$out/initfs.tmp" | tr -d ' ')
[ $((0x$entry)) -ne 0 ] || die "$elf: entry address at offset 0x1a is zero"
mv "$out/initfs.tmp" "$out/initfs"

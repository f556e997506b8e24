#!/usr/bin/env bash
# make kernel: build build/kernel (see ci/apply.sh) with the kernel's own Makefile into
# $BUILD/kernel-out; the bootable kernel is $BUILD/kernel-out/kernel.
source "$(dirname "$0")/lib.sh"

[ -f "$KTREE/Cargo.toml" ] || die "$KTREE is not a kernel tree: run 'make apply' first"
cargo +stable fetch --quiet --manifest-path "$KTREE/Cargo.toml"
# Upstream's own warnings would bury everything else: the full output goes to a log.
log="$BUILD/kernel-build.log"
note "building $KTREE (log: $log)"
with_rust_env CARGO_TARGET_DIR="$BUILD/target" \
    make -C "$KTREE" BUILD="$BUILD/kernel-out" OBJCOPY="$OBJCOPY" > "$log" 2>&1 || {
    grep -E '^error' -A12 "$log" | head -n 60 >&2 || true
    tail -n 20 "$log" >&2
    die "building the kernel failed (log: $log)"
}
note "kernel built: $(grep -c '^warning' "$log" || true) warnings (upstream has its own; see the log)"

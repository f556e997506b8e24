#!/usr/bin/env bash
# make kernel: build build/kernel (see ci/apply.sh) with the kernel's own Makefile into
# $BUILD/kernel-out; the bootable kernel is $BUILD/kernel-out/kernel.
source "$(dirname "$0")/lib.sh"

[ -f "$KTREE/Cargo.toml" ] || die "$KTREE is not a kernel tree: run 'make apply' first"
cargo +stable fetch --quiet --manifest-path "$KTREE/Cargo.toml"
with_rust_env CARGO_TARGET_DIR="$BUILD/target" \
    make -C "$KTREE" BUILD="$BUILD/kernel-out" OBJCOPY="$OBJCOPY"

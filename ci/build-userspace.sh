#!/usr/bin/env bash
# make userspace: the Redox programs of the image, static std programs linked against the relibc
# sysroot (ci/build-relibc.sh) by ci/redox/x86_64-unknown-redox-gcc, into $REDOX_BIN:
#   strace, regs      the tools (userspace-tools/)
#   init, e2e, ...    our init, the end-to-end suite and the programs it traces (ci/e2e/)
source "$(dirname "$0")/lib.sh"

: "${SYSROOT:=$BUILD/sysroot}"
: "${REDOX_BIN:=$BUILD/redox-bin}"
target=x86_64-unknown-redox
target_dir=$BUILD/target-redox
release=$target_dir/$target/release
[ -f "$SYSROOT/lib/libc.a" ] || die "no relibc sysroot at $SYSROOT: run 'make relibc' first"

relink_on_new_sysroot "$release"

log="$BUILD/userspace-build.log"
: > "$log"
for workspace in userspace-tools ci/e2e; do
    note "building $workspace for $target"
    cargo +stable fetch --quiet --manifest-path "$project_root/$workspace/Cargo.toml"
    # One target dir for both workspaces: std (-Zbuild-std) is built once. Unwind tables in
    # std and the programs too, although they abort on panic: gdb's backtrace needs them.
    with_rust_env CARGO_TARGET_DIR="$target_dir" REDOX_SYSROOT="$SYSROOT" \
        RUSTFLAGS=-Cforce-unwind-tables=yes \
        CARGO_TARGET_X86_64_UNKNOWN_REDOX_LINKER="$project_root/ci/redox/$target-gcc" \
        cargo build --release --target "$target" -Zbuild-std=std,panic_abort \
        --manifest-path "$project_root/$workspace/Cargo.toml" >> "$log" 2>&1 || {
        grep -E '^error' -A12 "$log" | head -n 40 >&2 || true
        die "building $workspace for $target failed (log: $log)"
    }
done
sysroot_linked "$release"

mkdir -p "$REDOX_BIN"
for program in $(find "$release" -maxdepth 1 -type f -executable -printf '%f\n'); do
    cmp -s "$release/$program" "$REDOX_BIN/$program" || cp "$release/$program" "$REDOX_BIN/$program"
done
note "Redox programs: $REDOX_BIN"

#!/usr/bin/env bash
# ci/build-kernel-upstream.sh: the unpatched upstream kernel at the pinned commit
# ($KERNEL_COMMIT from $KERNEL_SRC), built once into $BUILD/kernel-upstream-out/kernel, for the
# comparisons of make bench and make acid. Prints the kernel's path.
source "$(dirname "$0")/lib.sh"

: "${KERNEL_SRC:?KERNEL_SRC is not set}"
upstream="$BUILD/kernel-upstream"
if [ ! -f "$upstream-out/kernel" ]; then
    note "building the unpatched kernel at $KERNEL_COMMIT"
    [ -d "$upstream/.git" ] || git clone -q --no-checkout "$KERNEL_SRC" "$upstream"
    git -C "$upstream" checkout -q -f --detach "$KERNEL_COMMIT"
    cargo +stable fetch --quiet --manifest-path "$upstream/Cargo.toml"
    with_rust_env CARGO_TARGET_DIR="$BUILD/target-upstream" \
        make -s -C "$upstream" BUILD="$upstream-out" OBJCOPY="$OBJCOPY" > "$BUILD/kernel-upstream.log" 2>&1 ||
        die "building the unpatched kernel failed, see $BUILD/kernel-upstream.log"
fi
echo "$upstream-out/kernel"

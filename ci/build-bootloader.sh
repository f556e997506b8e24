#!/usr/bin/env bash
# make bootloader: print the path of a BIOS bootloader.bin. That is $BOOTLOADER when set;
# otherwise BOOTLOADER_SRC at BOOTLOADER_COMMIT (patches/bootloader/UPSTREAM) is cloned into
# $BUILD/bootloader and built there with its own Makefile. That build needs nasm and GNU ld,
# and network access the first time (its Cargo.lock has git dependencies).
source "$(dirname "$0")/lib.sh"

if [ -n "${BOOTLOADER:-}" ]; then
    [ -f "$BOOTLOADER" ] || die "BOOTLOADER=$BOOTLOADER does not exist"
    echo "$BOOTLOADER"
    exit 0
fi

: "${BOOTLOADER_SRC:=$(upstream bootloader url)}"
: "${BOOTLOADER_COMMIT:=$(upstream bootloader commit)}"
src="$BUILD/bootloader"
out="$src/bootloader.bin"

if [ ! -d "$src/.git" ]; then
    note "cloning $BOOTLOADER_SRC into $src"
    mkdir -p "$BUILD"
    git clone -q --no-checkout "$BOOTLOADER_SRC" "$src"
fi
if [ ! -f "$out" ] || [ "$(git -C "$src" rev-parse HEAD)" != "$BOOTLOADER_COMMIT" ]; then
    git -C "$src" cat-file -e "$BOOTLOADER_COMMIT^{commit}" 2>/dev/null ||
        git -C "$src" fetch -q "$BOOTLOADER_SRC"
    git -C "$src" checkout -q -f --detach "$BOOTLOADER_COMMIT"
    rm -f "$out"
    note "building the bootloader in $src"
    cargo +stable fetch --quiet --manifest-path "$src/Cargo.toml"
    # Its Makefile links with GNU ld and expects the matching objcopy.
    with_rust_env make -s -C "$src" TARGET=x86-unknown-none OBJCOPY=objcopy >&2
fi
[ -f "$out" ] || die "the bootloader build did not produce $out"
echo "$out"

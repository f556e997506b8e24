#!/usr/bin/env bash
# Can the QEMU suite run here? Silent with status 0 if so; otherwise prints the first reason
# it cannot and exits 1 (`make test` then skips the suite and shows the reason).
source "$(dirname "$0")/lib.sh"

: "${QEMU:=qemu-system-x86_64}"
: "${BOOTLOADER:=}"
: "${KERNEL_SRC:=$(upstream kernel url)}"
: "${BOOTLOADER_SRC:=$(upstream bootloader url)}"
: "${REDOXFS_AR:=$BUILD/tools/bin/redoxfs-ar}"

command -v "$QEMU" > /dev/null || cannot "$QEMU is not installed"

toolchain=$(sed -n 's/^RUSTUP_TOOLCHAIN=//p' <<< "${RUST_ENV// /$'\n'}")
if [ -n "$toolchain" ]; then
    rustup run "$toolchain" rustc --version > /dev/null 2>&1 ||
        cannot "the rustup toolchain '$toolchain' (RUST_ENV) is missing"
fi
sysroot=$(with_rust_env rustc --print sysroot 2>/dev/null) ||
    cannot "rustc does not run with RUST_ENV='$RUST_ENV'"
[ -f "$sysroot/lib/rustlib/src/rust/library/Cargo.toml" ] ||
    cannot "no Rust library source in $sysroot/lib/rustlib/src/rust (needed by -Zbuild-std)"

[ -n "$KERNEL_SRC" ] || cannot "KERNEL_SRC is empty"
reachable "$KERNEL_SRC" || cannot "KERNEL_SRC=$KERNEL_SRC is neither a local path nor reachable"

# ci/mkimage.sh builds redoxfs-ar on first use; its fuser dependency needs fuse2's .pc file.
if [ ! -x "$REDOXFS_AR" ]; then
    pkg-config --exists fuse 2> /dev/null ||
        cannot "redoxfs-ar is not built yet and cannot be: no pkg-config 'fuse' (libfuse-dev)"
fi

if [ -n "$BOOTLOADER" ]; then
    [ -f "$BOOTLOADER" ] || cannot "BOOTLOADER=$BOOTLOADER does not exist"
else
    [ -n "$BOOTLOADER_SRC" ] || cannot "BOOTLOADER and BOOTLOADER_SRC are both empty"
    command -v nasm > /dev/null || cannot "BOOTLOADER is empty and nasm (to build it) is missing"
    reachable "$BOOTLOADER_SRC" ||
        cannot "BOOTLOADER is empty and BOOTLOADER_SRC=$BOOTLOADER_SRC is not reachable"
fi
exit 0

#!/usr/bin/env bash
# Installs what `make test` needs on a fresh Debian machine: the Debian Rust toolchain for
# Redox targets (linked into rustup as `debian`), lld, llvm-objcopy, QEMU, the build
# dependencies of the bootloader and of redoxfs, and for the Redox image gcc (relibc's one C
# file, the unwinder stubs), python3 (ci/redox/x86_64-unknown-redox-gcc) and gdb (make gdb-test).
# Idempotent; apt runs only when something is
# missing.
source "$(dirname "$0")/lib.sh"

packages=(rustc-web cargo-web rust-web-src lld-22 llvm binutils git make qemu-system-x86 gdb nasm libfuse-dev
    pkg-config gcc python3)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    note "installing ${missing[*]}"
    sudo=$([ "$(id -u)" = 0 ] || echo sudo)
    $sudo apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}" >/dev/null
fi

if ! rustup toolchain list | grep -q '^debian'; then
    rustup toolchain link debian /usr
fi

# -Zbuild-std builds the standard library's own dependencies offline: fetch them once.
std_manifest=$(rustc +debian --print sysroot)/lib/rustlib/src/rust/library/Cargo.toml
if [ -f "$std_manifest" ]; then
    RUSTUP_TOOLCHAIN=debian RUSTC_BOOTSTRAP=1 cargo fetch -q --manifest-path "$std_manifest" ||
        note "could not fetch the standard library's dependencies (offline?)"
fi

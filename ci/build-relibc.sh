#!/usr/bin/env bash
# make relibc: build build/relibc (ci/apply.sh relibc) for x86_64-unknown-redox and install the
# sysroot static std programs link against: $SYSROOT/lib/{libc.a,crt0.o,crti.o,crtn.o} plus
# libgcc_eh.a (unwinder stubs, ci/redox/unwind-stub.c) and empty archives for the other
# libraries rustc's redox target names (all of them live in libc.a).
#
# Upstream builds relibc with a Redox C cross compiler; here the Debian toolchain does: math
# comes from the `libm` crate (feature math_libm) instead of openlibm, and relibc's one C file
# builds with the host gcc (it is compiled -nostdinc).
source "$(dirname "$0")/lib.sh"

: "${SYSROOT:=$BUILD/sysroot}"
tree=$BUILD/relibc
target=x86_64-unknown-redox
[ -f "$tree/Cargo.toml" ] || die "$tree is not a relibc tree: run 'make apply-relibc' first"

cargo +stable fetch --quiet --manifest-path "$tree/Cargo.toml"
out=$BUILD/target-relibc/$target/release
common=(--quiet --release --target "$target" -Zbuild-std=core,alloc,compiler_builtins)
# -Cmetadata: relibc's core/alloc/compiler_builtins get symbol hashes of their own, so they
# never collide with the copies inside the programs that link libc.a. Unwind tables although
# relibc aborts on panic: gdb's backtrace needs them to get out of a relibc frame (a program
# stopped in a blocking read).
build() {
    with_rust_env CARGO_TARGET_DIR="$BUILD/target-relibc" \
        RUSTFLAGS="-Cmetadata=redox-ptrace-relibc -Cforce-unwind-tables=yes" \
        CC_x86_64_unknown_redox=gcc AR_x86_64_unknown_redox=ar \
        CFLAGS_x86_64_unknown_redox="-fPIC -fno-stack-protector" cargo "$@"
}
log="$BUILD/relibc-build.log"
note "building relibc (log: $log)"
{
    build build --manifest-path "$tree/Cargo.toml" "${common[@]}" --features math_libm
    # The C runtime objects, each a single object file (as relibc's Makefile makes them).
    for crt in crt0 crti crtn; do
        build rustc --manifest-path "$tree/src/$crt/Cargo.toml" "${common[@]}" \
            -- --emit obj="$out/$crt.o" -C panic=abort
    done
} > "$log" 2>&1 || {
    grep -E '^error' -A12 "$log" | head -n 40 >&2 || true
    die "building relibc failed (log: $log)"
}

# libc.a = librelibc.a with rustc's fixed-name runtime symbols (`__rustc::__rust_alloc` and
# the like, the same in every crate whatever -Cmetadata says) renamed, as upstream's
# renamesyms.sh does: relibc keeps its own allocator shim, the program keeps its own.
if [ ! -e "$out/libc.a" ] || [ "$out/librelibc.a" -nt "$out/libc.a" ]; then
    cp "$out/librelibc.a" "$out/libc.a.tmp"
    "$NM" --format=posix -g "$out/libc.a.tmp" 2> /dev/null | awk '{ print $1 }' |
        grep -E '^_R.*7___rustc' | sort -u | sed 's/.*/& __relibc&/' > "$out/libc.a.syms"
    "$OBJCOPY" --redefine-syms="$out/libc.a.syms" "$out/libc.a.tmp"
    mv "$out/libc.a.tmp" "$out/libc.a"
fi

# Install what changed (a program relinks when the sysroot is newer than it).
mkdir -p "$SYSROOT/lib"
install_changed() { cmp -s "$1" "$2" || cp "$1" "$2"; }
install_changed "$out/libc.a" "$SYSROOT/lib/libc.a"
for crt in crt0 crti crtn; do
    install_changed "$out/$crt.o" "$SYSROOT/lib/$crt.o"
done
for empty in m pthread dl rt gcc gcc_s util; do
    [ -e "$SYSROOT/lib/lib$empty.a" ] || ar rcs "$SYSROOT/lib/lib$empty.a"
done
stub=$project_root/ci/redox/unwind-stub.c
if [ ! -e "$SYSROOT/lib/libgcc_eh.a" ] || [ "$stub" -nt "$SYSROOT/lib/libgcc_eh.a" ]; then
    gcc -c -O2 -fPIC -ffreestanding -fno-stack-protector -nostdinc -o "$out/unwind-stub.o" "$stub"
    rm -f "$SYSROOT/lib/libgcc_eh.a"
    ar rcs "$SYSROOT/lib/libgcc_eh.a" "$out/unwind-stub.o"
fi
note "relibc sysroot: $SYSROOT"

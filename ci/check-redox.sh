#!/usr/bin/env bash
# make check-redox: type-check the userspace tools for x86_64-unknown-redox against std (they
# link only in a Redox cookbook, which has relibc), and the library's no_std core.
source "$(dirname "$0")/lib.sh"

sysroot=$(with_rust_env rustc --print sysroot 2>/dev/null) || {
    echo "Redox check skipped: rustc does not run with RUST_ENV='$RUST_ENV'"
    exit 0
}
[ -f "$sysroot/lib/rustlib/src/rust/library/Cargo.toml" ] || {
    echo "Redox check skipped: no Rust library source in $sysroot (needed by -Zbuild-std)"
    exit 0
}
cd "$project_root/userspace-tools"
# The Redox-only dependencies (libc) are not fetched by the host tests.
cargo +stable fetch --quiet
note "cargo check: userspace tools for x86_64-unknown-redox (std)"
with_rust_env cargo check --quiet --target x86_64-unknown-redox -Zbuild-std=std --workspace --bins
note "cargo check: the library's no_std core for x86_64-unknown-redox"
with_rust_env cargo check --quiet --target x86_64-unknown-redox -Zbuild-std=core,alloc \
    -p redox-ptrace --no-default-features
echo "Redox check passed"

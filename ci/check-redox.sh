#!/usr/bin/env bash
# make check-redox: type-check the userspace tools, and the image's init, suite and programs,
# for x86_64-unknown-redox against std, and the library's no_std core. Needs no relibc: on
# machines without the image's inputs this is what shows they still build (make userspace
# links them).
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
note "cargo check: ci/e2e (init, suite, programs) for x86_64-unknown-redox (std)"
(cd "$project_root/ci/e2e" && cargo +stable fetch --quiet &&
    with_rust_env cargo check --quiet --target x86_64-unknown-redox -Zbuild-std=std,panic_abort \
        --workspace --bins)
note "cargo check: the library's no_std core for x86_64-unknown-redox"
with_rust_env cargo check --quiet --target x86_64-unknown-redox -Zbuild-std=core,alloc \
    -p redox-ptrace --no-default-features
echo "Redox check passed"

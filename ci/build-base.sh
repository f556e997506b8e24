#!/usr/bin/env bash
# make base: from build/base (ci/apply.sh base) build into $BASE_OUT
#   bootstrap         the initfs's first program: procmgr, the initfs scheme, the init namespace
#   redox-initfs-ar   host tool: redox-initfs-ar SOURCE_DIR BOOTSTRAP_ELF -o INITFS
#   ramfs, randd      scheme daemons (x86_64-unknown-redox, against the relibc sysroot)
#
# base's workspace does not resolve offline (some members use git repositories that only
# gitlab has), so the host tool and the daemons build from small manifests generated here
# that point at base's sources; their lockfiles are ours (ci/base/*.lock).
source "$(dirname "$0")/lib.sh"

: "${SYSROOT:=$BUILD/sysroot}"
: "${BASE_OUT:=$BUILD/base-out}"
tree=$BUILD/base
target=x86_64-unknown-redox
[ -f "$tree/bootstrap/Cargo.toml" ] || die "$tree is not a base tree: run 'make apply-base' first"
[ -f "$SYSROOT/lib/libc.a" ] || die "no relibc sysroot at $SYSROOT: run 'make relibc' first"
mkdir -p "$BASE_OUT"
log="$BUILD/base-build.log"
: > "$log"
built() { # NAME COMMAND...: run a build step, its output into the log
    local name=$1
    shift
    "$@" >> "$log" 2>&1 || {
        grep -E '^error' -A12 "$log" | head -n 40 >&2 || true
        die "building $name failed (log: $log)"
    }
}
# write_if_changed FILE: stdin into FILE, untouched when equal (cargo then sees no change).
write_if_changed() {
    local new
    new=$(cat)
    [ "$(cat "$1" 2> /dev/null)" = "$new" ] || printf '%s\n' "$new" > "$1"
}

note "building bootstrap"
# bootstrap brings its own entry point and linker script (bootstrap/.cargo/config.toml,
# build.rs); from inside its folder so that cargo reads that config.
built bootstrap cargo +stable fetch --quiet --manifest-path "$tree/bootstrap/Cargo.toml"
(cd "$tree/bootstrap" && built bootstrap with_rust_env CARGO_TARGET_DIR="$BUILD/target-bootstrap" \
    RUSTFLAGS="-C link-arg=-nostartfiles" cargo build --locked --release --target "$target")
cp -u "$BUILD/target-bootstrap/$target/release/bootstrap" "$BASE_OUT/bootstrap"

note "building redox-initfs-ar"
host=$BUILD/base-host
mkdir -p "$host"
write_if_changed "$host/Cargo.toml" << EOF
[package]
name = "redox-initfs-ar-host"
version = "0.2.0"
edition = "2021"

[[bin]]
name = "redox-initfs-ar"
path = "$tree/initfs/tools/src/bin/archive.rs"

[dependencies]
anyhow = "1"
clap = { version = "4", features = ["cargo"] }
env_logger = "0.8"
redox-initfs-tools = { path = "$tree/initfs/tools" }

[workspace]
EOF
cmp -s "$project_root/ci/base/host.lock" "$host/Cargo.lock" ||
    cp "$project_root/ci/base/host.lock" "$host/Cargo.lock"
built redox-initfs-ar cargo +stable fetch --quiet --locked --manifest-path "$host/Cargo.toml"
built redox-initfs-ar env CARGO_NET_OFFLINE=true cargo +stable build --locked --release \
    --manifest-path "$host/Cargo.toml"
cp -u "$host/target/release/redox-initfs-ar" "$BASE_OUT/redox-initfs-ar"

note "building ramfs and randd"
daemons=$BUILD/base-daemons
mkdir -p "$daemons/ramfs" "$daemons/randd"
# base's own dependency lines, with the versions base's workspace takes after patches/base.
write_if_changed "$daemons/ramfs/Cargo.toml" << EOF
[package]
name = "ramfs"
version = "0.1.0"
edition = "2018"

[[bin]]
name = "ramfs"
path = "$tree/ramfs/src/main.rs"

[dependencies]
daemon = { path = "$tree/daemon" }
redox_syscall = { version = "0.9.2", features = ["std"] }
redox-scheme = "0.11.4"
scheme-utils = { path = "$tree/scheme-utils" }
libredox = { version = "0.1.20", features = ["call"] }
indexmap = "2.5.0"
slab = "0.4.9"
EOF
write_if_changed "$daemons/randd/Cargo.toml" << EOF
[package]
name = "randd"
version = "0.1.0"
edition = "2021"

[[bin]]
name = "randd"
path = "$tree/randd/src/main.rs"

[dependencies]
rand_chacha = "0.2"
rand_core = "0.5"
daemon = { path = "$tree/daemon" }
redox_syscall = { version = "0.9.2", features = ["std"] }
libredox = "0.1.20"
sha2 = "0.8"
redox-scheme = "0.11.4"
scheme-utils = { path = "$tree/scheme-utils" }
raw-cpuid = "11.0.1"
EOF
write_if_changed "$daemons/Cargo.toml" << EOF
[workspace]
resolver = "2"
members = ["ramfs", "randd"]

[profile.release]
panic = "abort"

# As base's workspace has it.
[patch.crates-io]
redox_syscall = { git = "https://gitlab.redox-os.org/redox-os/syscall.git" }
EOF
cmp -s "$project_root/ci/base/daemons.lock" "$daemons/Cargo.lock" ||
    cp "$project_root/ci/base/daemons.lock" "$daemons/Cargo.lock"
built "ramfs and randd" cargo +stable fetch --quiet --locked --manifest-path "$daemons/Cargo.toml"
relink_on_new_sysroot "$daemons/target/$target/release"
(cd "$daemons" && built "ramfs and randd" with_rust_env REDOX_SYSROOT="$SYSROOT" \
    CARGO_TARGET_X86_64_UNKNOWN_REDOX_LINKER="$project_root/ci/redox/$target-gcc" \
    cargo build --locked --release --target "$target" -Zbuild-std=std,panic_abort)
sysroot_linked "$daemons/target/$target/release"
for daemon in ramfs randd; do
    cmp -s "$daemons/target/$target/release/$daemon" "$BASE_OUT/$daemon" ||
        cp "$daemons/target/$target/release/$daemon" "$BASE_OUT/$daemon"
done
note "base programs: $BASE_OUT"

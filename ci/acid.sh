#!/usr/bin/env bash
# make acid: upstream's kernel test suite, redox-os/acid (at the commit in patches/acid/UPSTREAM,
# from $ACID_SRC), built for the Redox image and run one test per boot three ways: on the
# unpatched upstream kernel, on ours, and on ours under `strace -f` (the trace goes to a file).
# Prints one row per test (pass, `exit N`, or `timeout` when the boot did not end within
# $ACID_TIMEOUT seconds), then the checks: our kernel passes every test upstream passes, and
# strace -f changes no outcome (a test passes traced exactly when it passes untraced, and
# none times out traced that ends untraced). Exits 1 when a check fails.
#
# ACID_TESTS="a b": only those tests. ACID_RUNS="ours strace": only those columns.
source "$(dirname "$0")/lib.sh"

: "${ACID_TIMEOUT:=60}"
: "${ACID_RUNS:=upstream ours strace}"
: "${REDOX_BIN:=$BUILD/redox-bin}"
: "${SYSROOT:=$BUILD/sysroot}"
here="$project_root/ci"
src=${ACID_SRC:-$(upstream acid url)}
commit=$(upstream acid commit)
tree=$BUILD/acid
target=x86_64-unknown-redox

[ -d "$tree/.git" ] || git clone -q --no-checkout "$src" "$tree"
if ! git -C "$tree" cat-file -e "$commit^{commit}" 2>/dev/null; then
    git -C "$tree" fetch -q "$src" || true
fi
git -C "$tree" checkout -q -f --detach "$commit" ||
    die "pinned commit $commit (patches/acid/UPSTREAM) is not in $src"

# acid needs crates.io only; built like our programs (ci/build-userspace.sh), in a target dir
# of its own (theirs would copy it into $REDOX_BIN).
note "building acid $commit for $target"
cargo +stable fetch --quiet --manifest-path "$tree/Cargo.toml" ||
    die "cannot fetch acid's dependencies from crates.io"
release=$BUILD/target-acid/$target/release
relink_on_new_sysroot "$release"
with_rust_env CARGO_TARGET_DIR="$BUILD/target-acid" REDOX_SYSROOT="$SYSROOT" \
    RUSTFLAGS=-Cforce-unwind-tables=yes \
    CARGO_TARGET_X86_64_UNKNOWN_REDOX_LINKER="$here/redox/$target-gcc" \
    cargo build --quiet --release --target "$target" -Zbuild-std=std,panic_abort \
    --manifest-path "$tree/Cargo.toml" > "$BUILD/acid-build.log" 2>&1 ||
    die "building acid failed (log: $BUILD/acid-build.log)"
sysroot_linked "$release"
bin=$BUILD/acid-bin
rm -rf "$bin"
mkdir -p "$bin"
cp "$REDOX_BIN"/* "$release/acid" "$bin/"

# The test names acid's main registers (`tests.insert("NAME", ...)`, comments left out).
tests=${ACID_TESTS:-$(sed 's://.*$::' "$tree/src/main.rs" |
    perl -0777 -ne 'print "$1\n" while /tests\.insert\(\s*"([^"]+)"/g')}
[ -n "$tests" ] || die "found no tests in $tree/src/main.rs"

ours=$BUILD/kernel-out/kernel
[ -f "$ours" ] || die "no $ours: run 'make kernel' first"
case " $ACID_RUNS " in *" upstream "*) upstream_kernel=$("$here/build-kernel-upstream.sh") ;; esac

# run KERNEL COMMAND: boot an image whose one command is COMMAND; prints pass, `exit N` or timeout.
run() {
    local out=$BUILD/image-acid log
    log=$out/serial.log
    mkdir -p "$out"
    printf '%s\n' "$2" > "$out/commands"
    REDOX_BIN=$bin KERNEL_BIN=$1 "$here/build-image.sh" acid "$out/commands" > /dev/null
    QEMU_LOG=$log QEMU_TIMEOUT=$ACID_TIMEOUT SUMMARY=optional EXPECTED_FAULTS='.*' \
        "$here/qemu-boot.sh" "$out/disk.img" > "$log.judge" 2>&1 || true
    if grep -q 'timed out after' "$log.judge"; then
        echo timeout
    elif status=$(grep -aoE '^\[exit status: [0-9]+\]' "$log" | grep -oE '[0-9]+'); then
        echo "exit $status"
    elif grep -q '^\$ ' "$log" && grep -q 'kstop' "$log"; then
        echo pass
    else
        echo "no run (see $log)"
    fi
}

row() { printf '%-32s %-10s %-10s %s\n' "$@"; }
row test upstream ours "ours, strace -f"
declare -A got
bad=()
for t in $tests; do
    for r in upstream ours strace; do
        case " $ACID_RUNS " in *" $r "*) ;; *) got[$r]=- && continue ;; esac
        case $r in
            upstream) got[$r]=$(run "$upstream_kernel" "acid $t") ;;
            ours) got[$r]=$(run "$ours" "acid $t") ;;
            strace) got[$r]=$(run "$ours" "strace -f -o \$TMPDIR/acid.trace acid $t") ;;
        esac
    done
    row "$t" "${got[upstream]}" "${got[ours]}" "${got[strace]}"
    if [ "${got[upstream]}" = pass ] && [ "${got[ours]}" != - ] && [ "${got[ours]}" != pass ]; then
        bad+=("$t: passes on upstream, ${got[ours]} on ours")
    fi
    if [ "${got[ours]}" != - ] && [ "${got[strace]}" != - ]; then
        if { [ "${got[ours]}" = pass ] || [ "${got[strace]}" = pass ]; } &&
            [ "${got[ours]}" != "${got[strace]}" ]; then
            bad+=("$t: ${got[ours]} untraced, ${got[strace]} under strace -f")
        elif [ "${got[strace]}" = timeout ] && [ "${got[ours]}" != timeout ]; then
            bad+=("$t: ends untraced (${got[ours]}), times out under strace -f")
        fi
    fi
done
echo "checks: ${#bad[@]} failed"
for b in "${bad[@]}"; do echo "FAIL acid: $b"; done
[ "${#bad[@]}" -eq 0 ]

#!/usr/bin/env bash
# make bench: syscall cost in QEMU, in TSC cycles per call (median of the runner's rounds).
# The bench build of the runner boots on the unpatched upstream kernel (pinned commit) and on
# ours, alternating, BENCH_BOOTS times each; the table shows the median over the boots.
# Untraced patched/upstream is the fast-path overhead; traced/untraced is the cost of a stop
# pair. TCG makes single figures noisy: compare the medians.
source "$(dirname "$0")/lib.sh"

: "${KERNEL_SRC:?KERNEL_SRC is not set}"
: "${BENCH_BOOTS:=5}"
here="$project_root/ci"

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

export RUNNER_FEATURES=bench RUNNER_OUT="$BUILD/runner-bench"
declare -A samples
for boot in $(seq "$BENCH_BOOTS"); do
    for kernel in upstream patched; do
        case $kernel in
            upstream) bin="$upstream-out/kernel" ;;
            patched) bin="$BUILD/kernel-out/kernel" ;;
        esac
        log="$BUILD/bench-$kernel.log"
        # Upstream has no trace sessions: its traced bench fails, the untraced one counts.
        QEMU_LOG="$log" KERNEL_BIN="$bin" "$here/qemu-test.sh" > "$log.out" 2>&1 || true
        while read -r _ name cycles _; do
            samples[$kernel.$name]+="$cycles "
        done < <(grep -E '^bench ' "$log")
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
up=$(median <<< "${samples[upstream.syscall_untraced]:-}")
un=$(median <<< "${samples[patched.syscall_untraced]:-}")
tr=$(median <<< "${samples[patched.syscall_traced]:-}")
[ -n "$up" ] && [ -n "$un" ] && [ -n "$tr" ] || die "missing bench lines, see $BUILD/bench-*.log"

printf '%-34s %10s\n' "syscall (ENOSYS), cycles/call" "median"
printf '%-34s %10s   (boots: %s)\n' "upstream, untraced" "$up" "${samples[upstream.syscall_untraced]}"
printf '%-34s %10s   (boots: %s)\n' "patched, untraced" "$un" "${samples[patched.syscall_untraced]}"
printf '%-34s %10s   (boots: %s)\n' "patched, traced (entry+exit stops)" "$tr" "${samples[patched.syscall_traced]}"
awk -v up="$up" -v un="$un" -v tr="$tr" 'BEGIN {
    printf "patched/upstream untraced: %.3f\ntraced/untraced: %.1f\n", un / up, tr / un }'

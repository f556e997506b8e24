#!/usr/bin/env bash
# make bench: what syscalls and tracing cost, in guest instructions. The bench build of the
# runner (ci/runner/src/bench.rs) boots once on the unpatched upstream kernel (pinned commit)
# and once on ours, under QEMU with -icount shift=0,sleep=off: TCG then runs the vCPUs one at a
# time and the virtual clock, which the guest's TSC reads, advances by exactly 1 ns per guest
# instruction executed, on any vCPU, and skips to the next timer when all vCPUs are halted
# (sleep=off: never by host time). So the figures are deterministic: the same kernel and
# runner give the same numbers on every boot and every host, and one boot per kernel is enough.
# BENCH_BOOTS=N boots each kernel N times and says whether the boots agreed.
source "$(dirname "$0")/lib.sh"

: "${BENCH_BOOTS:=1}"
here="$project_root/ci"
icount="-icount shift=0,sleep=off"

upstream_kernel=$("$here/build-kernel-upstream.sh")

export RUNNER_FEATURES=bench RUNNER_OUT="$BUILD/runner-bench"
# Lines `bench NAME VALUE UNIT...` of each boot; fig[kernel.NAME] is the value (or `n/a (why)`)
# of the first boot, and any other boot that differs is reported.
declare -A fig
for boot in $(seq "$BENCH_BOOTS"); do
    for kernel in upstream patched; do
        case $kernel in
            upstream) bin=$upstream_kernel ;;
            patched) bin="$BUILD/kernel-out/kernel" ;;
        esac
        log="$BUILD/bench-$kernel.log"
        # Upstream has no trace sessions: only its untraced bench passes.
        QEMU_ARGS="$icount" QEMU_LOG="$log" KERNEL_BIN="$bin" SUMMARY=optional \
            "$here/qemu-test.sh" > "$log.out" 2>&1 || [ $kernel = upstream ] ||
            die "the bench run on the $kernel kernel failed, see $log.out and $log"
        while read -r _ name rest; do
            value=${rest%% ticks/*}
            if [ -z "${fig[$kernel.$name]+set}" ]; then
                fig[$kernel.$name]=$value
            elif [ "${fig[$kernel.$name]}" != "$value" ]; then
                echo "boot $boot on $kernel: $name $value, boot 1 had ${fig[$kernel.$name]}" >&2
            fi
        done < <(grep -E '^bench ' "$log")
    done
done

need() { [ -n "${fig[$1]:-}" ] || die "no \`bench ${1#*.}\` line from the $(cut -d. -f1 <<< "$1") kernel, see $BUILD/bench-*.log"; }
for key in upstream.syscall_untraced patched.syscall_untraced patched.syscall_traced \
    patched.syscall_filtered patched.mem_read_1mib patched.memcpy_1mib patched.movsb_1mib \
    patched.event_1 patched.event_4 patched.event_16 patched.interrupt_spinning \
    patched.interrupt_blocked; do
    need "$key"
done

echo "QEMU $icount: 1 tick = 1 guest instruction (a rep-string iteration counts as one),"
echo "on any vCPU; 1e9 ticks = 1 virtual second. Kernel $KERNEL_COMMIT, upstream vs patched."
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
row() { printf '%-44s %12s   %s\n' "$@"; }
up=${fig[upstream.syscall_untraced]}
un=${fig[patched.syscall_untraced]}
tr=${fig[patched.syscall_traced]}
fi=${fig[patched.syscall_filtered]}
row "syscall (ENOSYS), untraced, upstream" "$up" "ticks/call"
row "syscall (ENOSYS), untraced, patched" "$un" "ticks/call; patched/upstream $(ratio "$un" "$up")"
row "traced, entry+exit stops" "$tr" "ticks/call; traced/untraced $(ratio "$tr" "$un") (goal <= 50)"
if [[ $fi == n/a* ]]; then
    row "traced, filtered out (filter: write only)" "n/a" "${fi#n/a }"
else
    row "traced, filtered out (filter: write only)" "$fi" \
        "ticks/call; filtered/untraced $(ratio "$fi" "$un") (goal <= 1.05)"
fi
mem=${fig[patched.mem_read_1mib]}
copy=${fig[patched.memcpy_1mib]}
row "mem read of 1 MiB from a stopped tracee" "$mem" "ticks"
movsb=${fig[patched.movsb_1mib]}
row "in-process copy of 1 MiB (memcpy: rep movsq)" "$copy" "ticks; mem throughput / copy $(ratio "$copy" "$mem") (goal >= 0.5)"
# The kernel's usercopy is rep movsb: one tick per byte where memcpy's rep movsq has one per 8.
row "in-process copy of 1 MiB (rep movsb)" "$movsb" "ticks; mem throughput / copy $(ratio "$movsb" "$mem"), like for like"
for n in 1 4 16; do
    per=${fig[patched.event_$n]}
    row "event: $n tracee(s), entry+exit stops" "$per" \
        "ticks/stop: $(awk -v t="$per" 'BEGIN { printf "%.0f", 1e9 / t }') stops per virtual second"
done
# From the tracer's write to the session's interrupt part to its read of the stop, tracer and
# tracee on one CPU (not across CPUs: see interrupt_round in ci/runner/src/bench.rs).
row "interrupt a spinning tracee (same CPU)" "${fig[patched.interrupt_spinning]}" \
    "ticks from the request to the tracer's read of the stop"
row "interrupt a tracee blocked in a read" "${fig[patched.interrupt_blocked]}" \
    "ticks, the same: the read ends and the tracee stops in it"

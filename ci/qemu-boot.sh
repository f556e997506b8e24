#!/usr/bin/env bash
# ci/qemu-boot.sh DISK: boot DISK under QEMU and judge the run from the serial log.
#
# The run passes when QEMU powers off by itself within $QEMU_TIMEOUT, the log holds a summary
# `<N> passed, 0 failed` (unless SUMMARY=optional), no FAIL line, and no kernel panic or
# unhandled exception (except in programs named by $EXPECTED_FAULTS, a grep -E pattern for the
# kernel's NAME of the context). The full
# log is kept at $QEMU_LOG ($BUILD/qemu.log).
source "$(dirname "$0")/lib.sh"

disk=${1:?usage: ci/qemu-boot.sh DISK}
: "${QEMU:=qemu-system-x86_64}"
: "${QEMU_TIMEOUT:=120}"
: "${QEMU_MACHINE:=q35}"
# -cpu max: the CPU features TCG can emulate, AVX and XSAVE among them (the xsave tests need
# them; QEMU's default qemu64 model has neither).
: "${QEMU_CPU:=max}"
: "${EXPECTED_FAULTS:=}"
# QEMU_SMP: the number of CPUs (make test runs the runner suite at 1, 2 and 4, the e2e suite
# and the gdb test at 2 and 4).
: "${QEMU_SMP:=2}"
: "${SUMMARY:=required}"
# GDB_PORT: also give the guest a second serial port (COM2, where gdbserver listens), as a
# TCP server on 127.0.0.1:GDB_PORT (loopback only), so that the gdb session stays out of the log.
# nodelay: QEMU writes the UART's bytes one by one; with Nagle's algorithm against gdb's
# delayed ACKs every packet exchange would wait ~40 ms.
: "${GDB_PORT:=}"
# QEMU_ARGS: more QEMU options, split at spaces (make bench adds -icount).
: "${QEMU_ARGS:=}"
read -ra extra_args <<< "$QEMU_ARGS"
serial2=()
[ -z "$GDB_PORT" ] || serial2=(-serial "tcp:127.0.0.1:$GDB_PORT,server=on,wait=off,nodelay=on")
log="${QEMU_LOG:-$BUILD/qemu.log}"

# -vga none: with a VGA BIOS the bootloader waits for a key in its video mode menu.
# QEMU's exit status: 0 from a power-off (the image's init always powers off; the runner when
# all passed), or 2 × failed + 1 through the debug-exit device (port 0xf4, see
# ci/runner/src/sys.rs).
rm -f "$log"
t1=$(date +%s%N)
timeout "$QEMU_TIMEOUT" "$QEMU" \
    -machine "$QEMU_MACHINE" -cpu "$QEMU_CPU" -smp "$QEMU_SMP" -m 1024 \
    -vga none -display none -monitor none -no-reboot \
    -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
    -serial "file:$log" "${serial2[@]}" "${extra_args[@]}" \
    -drive "file=$disk,format=raw" &
qemu=$!
trap 'kill "$qemu" 2> /dev/null || true' EXIT
# After a kernel panic, or a fault in the runner itself, the kernel only idles: stop QEMU
# then (once the backtrace is out) instead of waiting for the timeout.
fatal='KERNEL PANIC|UNHANDLED EXCEPTION.*NAME \[bootstrap\]'
stopped=
while kill -0 "$qemu" 2> /dev/null; do
    if [ -z "$stopped" ] && grep -qE "$fatal" "$log" 2> /dev/null; then
        sleep 0.5
        kill "$qemu" 2> /dev/null || true
        stopped=1
    fi
    sleep 0.05
done
rc=0
wait "$qemu" || rc=$?
boot_ms=$(ms_since "$t1")

[ -f "$log" ] || die "QEMU wrote no serial log (exit status $rc)"
tr -d '\r' < "$log" > "$log.tmp" && mv "$log.tmp" "$log"

problems=()
if [ -n "$stopped" ]; then
    problems+=("stopped QEMU after a fatal error")
else
    case $rc in
        0) ;; # powered off: the summary line alone tells
        124) problems+=("timed out after ${QEMU_TIMEOUT}s") ;;
        *[13579]) reported=$(( (rc - 1) / 2 )) ;;
        *) problems+=("QEMU exited with status $rc") ;;
    esac
fi
grep -q 'KERNEL PANIC' "$log" && problems+=("kernel panic")
grep -v 'KERNEL PANIC' "$log" | grep -q 'panicked at' && problems+=("a panic (see the log)")
faults=$(grep 'UNHANDLED EXCEPTION' "$log" || true)
[ -z "$EXPECTED_FAULTS" ] || faults=$(grep -vE "NAME ($EXPECTED_FAULTS), " <<< "$faults" || true)
[ -z "$faults" ] || problems+=("an unhandled exception")

grep -E '^(ok|FAIL|skip) ' "$log" || true
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)
if [ -z "$summary" ]; then
    [ "$SUMMARY" = optional ] || problems+=("no summary line from the runner")
else
    grep -E '^# (not run|skipped): [0-9]+$|^# cpus: ' "$log" || true
    echo "$summary"
    failed=${summary#*passed, }
    failed=${failed% failed}
    [ "$failed" -eq 0 ] || problems+=("$failed failed")
    [ -z "${reported:-}" ] || [ "$reported" -eq $((failed > 127 ? 127 : failed)) ] ||
        problems+=("QEMU exit status $rc does not match the summary")
fi
grep -q '^FAIL ' "$log" && [ -n "$summary" ] && [ "${failed:-0}" -eq 0 ] &&
    problems+=("FAIL lines despite the summary")

echo "boot + run ${boot_ms} ms at -smp $QEMU_SMP (log: $log)"
if [ ${#problems[@]} -gt 0 ]; then
    echo "---- last 30 lines of $log"
    tail -n 30 "$log"
    echo "----"
    msg=$(printf '%s; ' "${problems[@]}")
    die "QEMU suite failed: ${msg%; }"
fi

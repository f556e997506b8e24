#!/usr/bin/env bash
# ci/gdb.sh [--test]: boot the Redox image with `gdbserver gdbdemo 20` as its one command and
# connect Debian's gdb to it through QEMU's second serial port (COM2 in the guest, a TCP
# server on 127.0.0.1 here), with build/redox-bin/gdbdemo as gdb's `file`.
#
#   make gdb        an interactive gdb session (QEMU powers off when the program is done)
#   make gdb-test   gdb in batch mode runs ci/gdb/session.gdb; its output must hold the lines
#                   of ci/gdb/expected in order, and the program must print and exit with
#                   what gdb made it compute. One line per check, then `N passed, N failed`.
source "$(dirname "$0")/lib.sh"

mode=interactive
[ "${1:-}" = --test ] && mode=test
out=$BUILD/image-gdb
program=$BUILD/redox-bin/gdbdemo
: "${GDB:=gdb}"
command -v "$GDB" > /dev/null || die "no $GDB (Debian package gdb; ci/setup.sh installs it)"
[ -x "$program" ] || die "no $program: run 'make userspace' first"

mkdir -p "$out"
echo "gdbserver gdbdemo 20" > "$out/commands"
disk=$("$project_root/ci/build-image.sh" gdb "$out/commands")

# A free loopback port for COM2 (QEMU listens on it).
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$out/serial.log
rm -f "$log"
timeout=$([ "$mode" = test ] && echo "${QEMU_TIMEOUT:-120}" || echo 3600)
GDB_PORT=$port QEMU_LOG=$log QEMU_TIMEOUT=$timeout SUMMARY=optional \
    "$project_root/ci/qemu-boot.sh" "$disk" > "$out/boot.out" 2>&1 &
boot=$!
trap 'kill "$boot" 2> /dev/null || true' EXIT

# gdbserver says when the program is held at its first instruction and COM2 is its.
for _ in $(seq 600); do
    grep -qa '^gdbserver: .* gdb on COM2' "$log" 2> /dev/null && break
    kill -0 "$boot" 2> /dev/null || break
    sleep 0.1
done
if ! grep -qa '^gdbserver: .* gdb on COM2' "$log" 2> /dev/null; then
    cat "$out/boot.out" >&2
    tail -n 20 "$log" >&2 2> /dev/null || true
    die "gdbserver did not come up in the image (log: $log)"
fi
connect=(-nx -ex "file $program" -ex "target remote 127.0.0.1:$port")

if [ "$mode" = interactive ]; then
    "$GDB" "${connect[@]}" || true
    wait "$boot" || true
    exit 0
fi

gdb_log=$out/gdb.log
timeout 300 "$GDB" -batch "${connect[@]}" -x "$project_root/ci/gdb/session.gdb" \
    > "$gdb_log" 2>&1 || true
boot_rc=0
wait "$boot" || boot_rc=$?
trap - EXIT
tr -d '\r' < "$log" > "$log.tmp" && mv "$log.tmp" "$log"

passed=0
failed=0
check() { # check NAME OK
    if [ "$2" = 0 ]; then
        echo "ok gdb: $1"
        passed=$((passed + 1))
    else
        echo "FAIL gdb: $1"
        failed=$((failed + 1))
    fi
}
# The expected lines, in order: each must come after the previous one's match.
rest=$(cat "$gdb_log")
while IFS= read -r pattern; do
    case $pattern in '#'* | '') continue ;; esac
    line=$(grep -nE -m1 -- "$pattern" <<< "$rest" | cut -d: -f1 || true)
    if [ -n "$line" ]; then
        check "$pattern" 0
        rest=$(tail -n +"$((line + 1))" <<< "$rest")
    else
        check "$pattern (not in gdb's output after the previous line)" 1
    fi
done < "$project_root/ci/gdb/expected"
# What the program itself printed (COM1), after gdb changed `factor` from 2 to 3.
grep -qxF 'gdbdemo: compute(20) = 61' "$log"; check "the program printed compute(20) = 61" $?
grep -qE '^gdbserver: pid [0-9]+ exited with 61$' "$log"; check "gdbserver saw exit code 61" $?
check "the image ran to its power-off (qemu-boot.sh: $(tail -n 1 "$out/boot.out"))" "$boot_rc"

echo "---- gdb session (ci/gdb/session.gdb; $gdb_log)"
grep -v 'auto-load' "$gdb_log"
echo "----"
grep -m1 '^stepi round trip' "$gdb_log" || true
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] || die "gdb test failed (gdb: $gdb_log, serial: $log)"

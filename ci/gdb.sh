#!/usr/bin/env bash
# ci/gdb.sh [--test]: boot the Redox image with `gdbserver gdbdemo N` as its command(s) and
# connect Debian's gdb to it through QEMU's second serial port (COM2 in the guest, a TCP
# server on 127.0.0.1 here), with build/redox-bin/gdbdemo as gdb's `file`.
#
#   make gdb        an interactive gdb session (QEMU powers off when the program is done)
#   make gdb-test   eight gdbserver runs, one after the other, each with gdb in batch mode:
#                   ci/gdb/session.gdb (break, bt, registers, print, set var, step, memory,
#                   watch, AVX's $ymm0, exit), detach.gdb, kill.gdb, interrupt.gdb (Ctrl-C),
#                   spin.gdb (Ctrl-C in a loop without syscalls, bt), blocked.gdb (Ctrl-C in
#                   a read that never returns, bt), sigdrop.gdb (a SIGUSR1
#                   stops the program, `signal 0` drops it) and sigpass.gdb (`handle SIGUSR1
#                   nostop noprint pass`). gdb's output must hold the lines of the matching .expected file
#                   in order, and the programs must print and end as gdb made them. One line
#                   per check, then `N passed, N failed`.
source "$(dirname "$0")/lib.sh"

mode=interactive
[ "${1:-}" = --test ] && mode=test
out=$BUILD/image-gdb
program=$BUILD/redox-bin/gdbdemo
: "${GDB:=gdb}"
command -v "$GDB" > /dev/null || die "no $GDB (Debian package gdb; ci/setup.sh installs it)"
[ -x "$program" ] || die "no $program: run 'make userspace' first"

# Session name:program:argument, in the order the image runs them.
sessions=(session:gdbdemo:20)
[ "$mode" = test ] &&
    sessions+=(detach:gdbdemo:5 kill:gdbdemo:7 interrupt:ticker:1000 spin:spin:0 blocked:blockread:0 sigdrop:sigusr:0 sigpass:sigusr:0)
mkdir -p "$out"
for s in "${sessions[@]}"; do
    IFS=: read -r _ prog arg <<< "$s"
    echo "gdbserver $prog $arg"
done > "$out/commands"
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

# up N: wait until gdbserver has said N times that a program is held at its first instruction
# and COM2 is its (QEMU accepts the next gdb once the last one has gone).
up() {
    for _ in $(seq 600); do
        count=$(grep -ca '^gdbserver: .* gdb on COM2' "$log" 2> /dev/null || true)
        [ "${count:-0}" -ge "$1" ] && return 0
        kill -0 "$boot" 2> /dev/null || break
        sleep 0.1
    done
    cat "$out/boot.out" >&2
    tail -n 20 "$log" >&2 2> /dev/null || true
    die "gdbserver did not come up in the image (log: $log)"
}

if [ "$mode" = interactive ]; then
    up 1
    "$GDB" -nx -ex "file $program" -ex "target remote 127.0.0.1:$port" || true
    wait "$boot" || true
    exit 0
fi

n=0
for s in "${sessions[@]}"; do
    IFS=: read -r name prog _ <<< "$s"
    n=$((n + 1))
    up "$n"
    timeout 300 "$GDB" -batch -nx -ex "file $BUILD/redox-bin/$prog" \
        -ex "target remote 127.0.0.1:$port" -x "$project_root/ci/gdb/$name.gdb" \
        > "$out/$name.log" 2>&1 || true
done
boot_rc=0
wait "$boot" || boot_rc=$?
trap - EXIT

passed=0
failed=0
check() { # check NAME STATUS
    if [ "$2" = 0 ]; then
        echo "ok gdb: $1"
        passed=$((passed + 1))
    else
        echo "FAIL gdb: $1"
        failed=$((failed + 1))
    fi
}
# The expected lines of each session, in order: each must come after the previous one's match.
for s in "${sessions[@]}"; do
    name=${s%%:*}
    rest=$(cat "$out/$name.log")
    while IFS= read -r pattern; do
        case $pattern in '#'* | '') continue ;; esac
        line=$(grep -nE -m1 -- "$pattern" <<< "$rest" | cut -d: -f1 || true)
        if [ -n "$line" ]; then
            check "$name: $pattern" 0
            rest=$(tail -n +"$((line + 1))" <<< "$rest")
        else
            check "$name: $pattern (not in gdb's output after the previous line)" 1
        fi
    done < "$project_root/ci/gdb/$name.expected"
done
# What the programs printed (COM1): the first after gdb changed `factor` from 2 to 3; the
# detached one ran on untraced; the killed one printed nothing.
in_log() { grep -qa "$@" "$log" && echo 0 || echo 1; }
check "session: the program printed compute(20) = 61" "$(in_log -xF 'gdbdemo: compute(20) = 61')"
# gdb set lane 0 (in xmm0) and lane 7 (in ymm0's upper half) of ymm0 (the image's QEMU has AVX).
check "session: the program stored ymm0 as gdb set it" \
    "$(in_log -xF 'gdbdemo: ymm0 = 0xf00d 0x2002 0x3003 0x4004 0x5005 0x6006 0x7007 0x600d')"
check "session: gdbserver saw exit code 61" "$(in_log -E '^gdbserver: pid [0-9]+ exited with 61$')"
check "detach: the program ran on and printed compute(5) = 11" \
    "$(in_log -xF 'gdbdemo: compute(5) = 11')"
check "detach: the program stored ymm0 as it loaded it" \
    "$(in_log -xF 'gdbdemo: ymm0 = 0x1001 0x2002 0x3003 0x4004 0x5005 0x6006 0x7007 0x8008')"
check "detach: gdbserver detached" "$(in_log -E '^gdbserver: detached from pid [0-9]+$')"
check "kill: gdbserver killed the program" "$(in_log -E '^gdbserver: killed pid [0-9]+$')"
check "kill: the killed program printed nothing" "$((1 - $(in_log -F 'gdbdemo: compute(7)')))"
kills=$(grep -caE '^gdbserver: killed pid [0-9]+$' "$log" || true)
check "interrupt, spin, blocked: gdbserver killed ticker, spin and blockread too" \
    "$([ "${kills:-0}" -eq 4 ] && echo 0 || echo 1)"
check "spin: the program was running when gdb interrupted it" "$(in_log -xF 'spin: spinning')"
check "blocked: the program was reading when gdb interrupted it" \
    "$(in_log -xF 'blockread: reading')"
check "blocked: the read never returned" "$((1 - $(in_log -F 'blockread: read returned')))"
ticks=$(grep -caE '^tick [0-9]+$' "$log" || true)
check "interrupt: ticker stopped early ($ticks of 1000 lines)" \
    "$([ "${ticks:-0}" -gt 0 ] && [ "${ticks:-0}" -lt 1000 ] && echo 0 || echo 1)"
check "sigdrop: the handler never ran, the program gave up" "$(in_log -xF 'sigusr: no signal')"
check "sigdrop: gdbserver saw exit code 3" "$(in_log -E '^gdbserver: pid [0-9]+ exited with 3$')"
check "sigpass: the handler ran" "$(in_log -xF 'sigusr: handled')"
check "sigpass: gdbserver saw exit code 0" "$(in_log -E '^gdbserver: pid [0-9]+ exited with 0$')"
check "the image ran to its power-off (qemu-boot.sh: $(tail -n 1 "$out/boot.out"))" "$boot_rc"

echo "---- gdb session (ci/gdb/session.gdb; $out/session.log)"
grep -v 'auto-load' "$out/session.log"
echo "----"
grep -m1 '^stepi round trip' "$out/session.log" || true
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] || die "gdb test failed (gdb: $out/*.log, serial: $log)"

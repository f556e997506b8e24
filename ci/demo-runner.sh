#!/usr/bin/env bash
# make demo-runner: boot the patched kernel with the runner's demo build and show what it prints: a
# child context traced by the userspace library, as strace and regs print it, and the
# strace -c summary.
source "$(dirname "$0")/lib.sh"

export RUNNER_FEATURES=demo RUNNER_OUT="$BUILD/runner-demo" QEMU_LOG="$BUILD/demo.log"
"$(dirname "$0")/qemu-test.sh" > "$BUILD/demo.out" 2>&1 || {
    cat "$BUILD/demo.out" >&2
    die "the demo did not run (log: $QEMU_LOG)"
}
sed -n '/^=== demo: strace/,/^=== demo: end ===/p' "$QEMU_LOG" | grep -v '^=== demo: end ===$'

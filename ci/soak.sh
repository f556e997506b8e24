#!/usr/bin/env bash
# make soak SEED=… OPS=…: boot the patched kernel with the runner's soak build, which runs only
# the fuzzer (ci/runner/src/tests/fuzz.rs) for OPS operations from SEED, and judge the run as
# qemu-test does (0 failures, no panic, no unhandled exception, no hang).
source "$(dirname "$0")/lib.sh"

: "${SEED:=0x5eed0f7ace}"
: "${OPS:=1000000}"
# The seed and count are compiled in (the runner has no arguments); cargo rebuilds on change.
export FUZZ_SEED="$SEED" FUZZ_OPS="$OPS"
export RUNNER_FEATURES=soak RUNNER_OUT="$BUILD/runner-soak" QEMU_LOG="$BUILD/soak.log"
# Longer than the suite's QEMU_TIMEOUT: SOAK_TIMEOUT seconds.
export QEMU_TIMEOUT="${SOAK_TIMEOUT:-3600}"
"$(dirname "$0")/qemu-test.sh"
grep -E '^# fuzz' "$QEMU_LOG" | tail -n 2

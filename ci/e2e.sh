#!/usr/bin/env bash
# make e2e: boot the image whose init runs the end-to-end suite (ci/e2e/suite) and judge it like
# the runner suite: one line per test, `N passed, N failed`, no panic, and no unhandled
# exception but the one the `fault` program exists for. E2E_TESTS="NAME..." runs only the
# tests whose names contain one of the words.
source "$(dirname "$0")/lib.sh"

out=$BUILD/image-e2e
commands=$project_root/ci/e2e/commands
if [ -n "${E2E_TESTS:-}" ]; then
    mkdir -p "$out"
    commands=$out/commands.some
    echo "e2e $E2E_TESTS" > "$commands"
fi
disk=$("$project_root/ci/build-image.sh" e2e "$commands")
QEMU_LOG=$out/serial.log EXPECTED_FAULTS=/scheme/initfs/bin/fault \
    "$project_root/ci/qemu-boot.sh" "$disk"

#!/usr/bin/env bash
# ci/run-image.sh NAME COMMANDS (make demo, make run-image): build the image NAME whose init
# runs the lines of the file COMMANDS, boot it, and print what the commands printed, each
# after its `$ COMMAND` line (the kernel's own log lines left out; the whole serial log is
# $BUILD/image-NAME/serial.log).
source "$(dirname "$0")/lib.sh"

name=${1:?usage: ci/run-image.sh NAME COMMANDS}
commands=${2:?usage: ci/run-image.sh NAME COMMANDS}
log=$BUILD/image-$name/serial.log
disk=$("$project_root/ci/build-image.sh" "$name" "$commands")
QEMU_LOG=$log SUMMARY=optional EXPECTED_FAULTS="${EXPECTED_FAULTS:-.*}" \
    "$project_root/ci/qemu-boot.sh" "$disk" > "$log.judge" 2>&1 || {
    cat "$log.judge" >&2
    die "the image did not run to its power-off (log: $log)"
}
# From init's first command to its power-off.
sed -n '/^\$ /,/^kernel::arch::x86_shared::stop/p' "$log" | grep -v '^kernel::'

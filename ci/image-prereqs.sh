#!/usr/bin/env bash
# Can the Redox image (make e2e, demo, run-image) be built here, on top of what the QEMU suite
# needs (ci/qemu-prereqs.sh)? Silent with status 0 if so; otherwise prints the first reason it
# cannot and exits 1.
source "$(dirname "$0")/lib.sh"

: "${RELIBC_SRC:=$(upstream relibc url)}"
: "${BASE_SRC:=$(upstream base url)}"
# base's daemons take redox_syscall from git, as base's own workspace does.
syscall_git=https://gitlab.redox-os.org/redox-os/syscall.git

# gdb: make gdb-test, part of make e2e.
for tool in gcc ar python3 gdb "$OBJCOPY" "$NM"; do
    command -v "$tool" > /dev/null || cannot "$tool is not installed"
done
command -v ld.lld-22 > /dev/null || command -v ld.lld > /dev/null || cannot "ld.lld is not installed"
reachable "$RELIBC_SRC" || cannot "RELIBC_SRC=$RELIBC_SRC is neither a local path nor reachable"
reachable "$BASE_SRC" || cannot "BASE_SRC=$BASE_SRC is neither a local path nor reachable"
reachable "$syscall_git" || cannot "$syscall_git (a git dependency of base's daemons) is not reachable"
exit 0

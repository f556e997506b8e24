#!/usr/bin/env bash
# make qemu-test / make qemu-run: boot $KERNEL_BIN (default: the `make kernel` output) with the
# test runner as its initfs, under QEMU, and judge the run from the serial log (ci/qemu-boot.sh).
source "$(dirname "$0")/lib.sh"

: "${KERNEL_BIN:=$BUILD/kernel-out/kernel}"
here="$project_root/ci"

t0=$(date +%s%N)
"$here/build-runner.sh"
bootloader=$("$here/build-bootloader.sh")
disk=$(KERNEL_BIN="$KERNEL_BIN" "$here/mkimage.sh" "$bootloader")
echo "image build $(ms_since "$t0") ms"
"$here/qemu-boot.sh" "$disk"

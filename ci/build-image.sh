#!/usr/bin/env bash
# ci/build-image.sh NAME COMMANDS: the Redox image $BUILD/image-NAME/disk.img, whose init runs
# the lines of the file COMMANDS (see ci/e2e/init). Its initfs holds base's bootstrap (which
# execs bin/init), our programs ($REDOX_BIN: init, the tools, the suite and its programs),
# base's ramfs and randd, etc/commands, and etc/tmpdir (the commands' scratch directory,
# $IMAGE_TMPDIR). Prints the disk's path.
source "$(dirname "$0")/lib.sh"

name=${1:?usage: ci/build-image.sh NAME COMMANDS}
commands=${2:?usage: ci/build-image.sh NAME COMMANDS}
: "${REDOX_BIN:=$BUILD/redox-bin}"
: "${BASE_OUT:=$BUILD/base-out}"
: "${KERNEL_BIN:=$BUILD/kernel-out/kernel}"
: "${IMAGE_TMPDIR:?IMAGE_TMPDIR is not set (the Makefile sets it)}"
out=$BUILD/image-$name
root=$out/initfs-root

rm -rf "$root"
mkdir -p "$root/bin" "$root/etc"
cp "$REDOX_BIN"/* "$BASE_OUT/ramfs" "$BASE_OUT/randd" "$root/bin/"
cp "$commands" "$root/etc/commands"
printf '%s\n' "$IMAGE_TMPDIR" > "$root/etc/tmpdir"
"$BASE_OUT/redox-initfs-ar" "$root" "$BASE_OUT/bootstrap" -o "$out/initfs" > /dev/null
INITFS="$out/initfs" DISK="$out/disk.img" KERNEL_BIN="$KERNEL_BIN" \
    "$project_root/ci/mkimage.sh" "$("$project_root/ci/build-bootloader.sh")"

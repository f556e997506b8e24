#!/usr/bin/env bash
# Build the BIOS disk image $DISK ($BUILD/disk.img) that `ci/qemu-boot.sh` boots:
#
#   offset 0      the bootloader ($1, or $BOOTLOADER): MBR, stage 2, stage 3
#   offset 2 MiB  a RedoxFS holding usr/lib/boot/kernel ($KERNEL_BIN) and
#                 usr/lib/boot/initfs ($INITFS: by default the runner's, from
#                 ci/build-runner.sh; the image's from ci/build-image.sh)
#
# The BIOS bootloader reads the filesystem at exactly 2 MiB (it does not look at the
# partition table), so the filesystem is a plain redoxfs-ar image written there.
#
# redoxfs-ar comes from the redoxfs crate at the version the bootloader reads (0.8.0),
# installed into $BUILD/tools on first use. Its build needs fuse2's pkg-config file; on
# Debian/Ubuntu (for .ci/run): apt-get install -y libfuse-dev pkg-config
# (and for the rest of the QEMU suite: qemu-system-x86 nasm llvm, plus git).
source "$(dirname "$0")/lib.sh"

bootloader=${1:-${BOOTLOADER:-}}
: "${KERNEL_BIN:=$BUILD/kernel-out/kernel}"
: "${REDOXFS_VERSION:=0.8.0}"
: "${REDOXFS_AR:=$BUILD/tools/bin/redoxfs-ar}"
: "${FS_SIZE:=64M}" # redoxfs-ar shrinks the image to what it uses
: "${INITFS:=${RUNNER_OUT:-$BUILD/runner}/initfs}"
: "${DISK:=$BUILD/disk.img}"
initfs=$INITFS

[ -n "$bootloader" ] || die "no bootloader: pass its path or set BOOTLOADER"
for f in "$bootloader" "$KERNEL_BIN" "$initfs"; do
    [ -f "$f" ] || die "$f does not exist"
done

if [ ! -x "$REDOXFS_AR" ]; then
    note "installing redoxfs $REDOXFS_VERSION into $BUILD/tools"
    cargo +stable install --quiet --locked --root "$BUILD/tools" redoxfs --version "$REDOXFS_VERSION"
fi

stage="$DISK.stage"
rm -rf "$stage"
mkdir -p "$stage/root/usr/lib/boot"
cp "$KERNEL_BIN" "$stage/root/usr/lib/boot/kernel"
cp "$initfs" "$stage/root/usr/lib/boot/initfs"

truncate -s "$FS_SIZE" "$stage/fs.img"
"$REDOXFS_AR" "$stage/fs.img" "$stage/root" > /dev/null

disk=$DISK
rm -f "$disk"
dd if="$bootloader" of="$disk" bs=512 conv=notrunc status=none
dd if="$stage/fs.img" of="$disk" bs=1M seek=2 conv=notrunc status=none
echo "$disk"

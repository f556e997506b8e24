# redox-ptrace: process tracing for the Redox kernel, as a patch series plus kernel sources.
#
# Inputs (set them on the command line, in the environment, or once per machine in
# $(CONFIG), which is included when present):
#   KERNEL_SRC  upstream kernel: a URL, a local checkout or a bare git dir
#   BOOTLOADER  a built BIOS bootloader.bin; empty means "build it from BOOTLOADER_SRC"
#   BOOTLOADER_SRC  upstream bootloader, used only when BOOTLOADER is empty
#   KERNEL_BIN  a built kernel to boot in qemu-test; empty means "build/kernel-out/kernel,
#               built by `make kernel`". Given, qemu-test skips the kernel build.

CONFIG ?= $(or $(XDG_CONFIG_HOME),$(HOME)/.config)/redox-ptrace/config.mk
-include $(CONFIG)

upstream = $(shell sed -n 's/^$(2) //p' patches/$(1)/UPSTREAM)
KERNEL_SRC ?= $(call upstream,kernel,url)
KERNEL_COMMIT := $(call upstream,kernel,commit)
BOOTLOADER_SRC ?= $(call upstream,bootloader,url)
BOOTLOADER_COMMIT := $(call upstream,bootloader,commit)
BOOTLOADER ?=
KERNEL_BIN ?=

BUILD := $(CURDIR)/build
KTREE := $(BUILD)/kernel

# The Debian Rust toolchain (see README): nightly features through RUSTC_BOOTSTRAP, std
# source from rust-web-src, crates resolved offline after `cargo +stable fetch`.
RUST_ENV ?= RUSTUP_TOOLCHAIN=debian RUSTC_BOOTSTRAP=1 CARGO_NET_OFFLINE=true
OBJCOPY ?= llvm-objcopy
QEMU ?= qemu-system-x86_64
QEMU_TIMEOUT ?= 120

export KERNEL_SRC KERNEL_COMMIT BOOTLOADER BOOTLOADER_SRC BOOTLOADER_COMMIT KERNEL_BIN
export BUILD KTREE RUST_ENV OBJCOPY QEMU QEMU_TIMEOUT

KERNEL_INPUTS := $(shell find kernel-src -type f -not -path '*/target/*' 2>/dev/null) \
	$(wildcard patches/kernel/*)

.PHONY: all apply kernel refresh bootloader runner qemu-test qemu-run demo bench host-test check-redox test clean

all: kernel

## apply: build/kernel = upstream at the pinned commit + kernel-src/ + patches/kernel/ (one commit each)
apply: $(BUILD)/kernel.applied
$(BUILD)/kernel.applied: $(KERNEL_INPUTS)
	ci/apply.sh kernel
	touch $@

## kernel: build build/kernel with its own Makefile
kernel: $(BUILD)/kernel.applied
	ci/build-kernel.sh

## refresh: regenerate patches/kernel/ and kernel-src/ from the commits in build/kernel
refresh:
	ci/refresh.sh kernel
	touch $(BUILD)/kernel.applied

bootloader:
	ci/build-bootloader.sh

runner:
	ci/build-runner.sh

## qemu-test: boot the patched kernel with our test runner as the first userspace program
qemu-test: $(if $(KERNEL_BIN),,kernel)
	ci/qemu-test.sh

## qemu-run: the same, without building the kernel first (boots KERNEL_BIN or the last build)
qemu-run:
	ci/qemu-test.sh

## demo: the main job, a child traced by the userspace library, shown on the terminal
demo: $(if $(KERNEL_BIN),,kernel)
	@ci/demo.sh

## bench: syscall cost on the unpatched and the patched kernel (needs KERNEL_SRC)
bench: kernel
	ci/bench.sh

host-test:
	ci/host-test.sh

## check-redox: the userspace tools type-check for x86_64-unknown-redox
check-redox:
	ci/check-redox.sh

## test: host tests, the Redox check, then the QEMU suite when the upstream inputs can be had
test: host-test check-redox
	@if why=$$(ci/qemu-prereqs.sh); then $(MAKE) --no-print-directory qemu-test; \
	else echo "QEMU suite skipped: $$why"; fi

clean:
	rm -rf $(BUILD)

# redox-ptrace: process tracing for the Redox kernel, as a patch series plus kernel sources.
#
# Inputs (set them on the command line, in the environment, or once per machine in
# $(CONFIG), which is included when present):
#   KERNEL_SRC  upstream kernel: a URL, a local checkout or a bare git dir
#   BOOTLOADER  a built BIOS bootloader.bin; empty means "build it from BOOTLOADER_SRC"
#   BOOTLOADER_SRC  upstream bootloader, used only when BOOTLOADER is empty
#   KERNEL_BIN  a built kernel to boot in qemu-test; empty means "build/kernel-out/kernel,
#               built by `make kernel`". Given, qemu-test skips the kernel build.
#   RELIBC_SRC  upstream relibc (URL, checkout or git dir), for the Redox image
#   BASE_SRC    upstream base (bootstrap, ramfs, randd), for the Redox image
#   ACID_SRC    upstream acid (the kernel's test suite), for make acid
#   IMAGE_TMPDIR  the Redox image's scratch directory (in its ramfs): init makes it and gives
#               it to the commands as $TMPDIR (in the commands' words, and in the environment)
#   QEMU_SMP    CPUs of the QEMU machine (default 2; `make test` runs the runner suite at 1
#               and at 4)

CONFIG ?= $(or $(XDG_CONFIG_HOME),$(HOME)/.config)/redox-ptrace/config.mk
-include $(CONFIG)

upstream = $(shell sed -n 's/^$(2) //p' patches/$(1)/UPSTREAM)
KERNEL_SRC ?= $(call upstream,kernel,url)
KERNEL_COMMIT := $(call upstream,kernel,commit)
BOOTLOADER_SRC ?= $(call upstream,bootloader,url)
BOOTLOADER_COMMIT := $(call upstream,bootloader,commit)
BOOTLOADER ?=
KERNEL_BIN ?=
RELIBC_SRC ?= $(call upstream,relibc,url)
BASE_SRC ?= $(call upstream,base,url)
ACID_SRC ?= $(call upstream,acid,url)
IMAGE_TMPDIR ?= /tmp

BUILD := $(CURDIR)/build
KTREE := $(BUILD)/kernel

# The Debian Rust toolchain (see README): nightly features through RUSTC_BOOTSTRAP, std
# source from rust-web-src, crates resolved offline after `cargo +stable fetch`.
RUST_ENV ?= RUSTUP_TOOLCHAIN=debian RUSTC_BOOTSTRAP=1 CARGO_NET_OFFLINE=true
OBJCOPY ?= llvm-objcopy
QEMU ?= qemu-system-x86_64
QEMU_TIMEOUT ?= 120
# 4 CPUs under TCG on 2 host cores run the suite about three times slower.
QEMU_SMP4_TIMEOUT ?= 300

export KERNEL_SRC KERNEL_COMMIT BOOTLOADER BOOTLOADER_SRC BOOTLOADER_COMMIT KERNEL_BIN
export RELIBC_SRC BASE_SRC ACID_SRC IMAGE_TMPDIR
export BUILD KTREE RUST_ENV OBJCOPY QEMU QEMU_TIMEOUT

KERNEL_INPUTS := $(shell find kernel-src -type f -not -path '*/target/*' 2>/dev/null) \
	$(wildcard patches/kernel/*)

.PHONY: all apply kernel refresh bootloader runner qemu-test qemu-run demo-runner bench host-test soak \
	check-redox test clean apply-relibc apply-base refresh-relibc refresh-base relibc base \
	userspace image e2e demo run-image rine-compare gdb gdb-test acid

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

## soak: the fuzzer alone, longer: make soak SEED=0x1234 OPS=1000000 (see ci/soak.sh)
soak: $(if $(KERNEL_BIN),,kernel)
	SEED="$(SEED)" OPS="$(OPS)" ci/soak.sh

## demo-runner: a child of the no_std runner traced by the library (needs no relibc or base)
demo-runner: $(if $(KERNEL_BIN),,kernel)
	@ci/demo-runner.sh

## bench: syscall cost on the unpatched and the patched kernel (needs KERNEL_SRC)
bench: kernel
	ci/bench.sh

host-test:
	ci/host-test.sh

## check-redox: the userspace tools type-check for x86_64-unknown-redox
check-redox:
	ci/check-redox.sh

## The Redox image: relibc and base from upstream with patches/relibc and patches/base applied
## (build/relibc, build/base; `make refresh-relibc` / `refresh-base` write edits back).
apply-relibc: $(BUILD)/relibc.applied
$(BUILD)/relibc.applied: $(wildcard patches/relibc/*)
	ci/apply.sh relibc
	touch $@
apply-base: $(BUILD)/base.applied
$(BUILD)/base.applied: $(wildcard patches/base/*)
	ci/apply.sh base
	touch $@
refresh-relibc:
	ci/refresh.sh relibc
	touch $(BUILD)/relibc.applied
refresh-base:
	ci/refresh.sh base
	touch $(BUILD)/base.applied

## relibc: build/sysroot, what static std programs for Redox link against
relibc: apply-relibc
	ci/build-relibc.sh
## base: bootstrap (procmgr, initfs, init namespace), redox-initfs-ar, ramfs, randd
base: apply-base relibc
	ci/build-base.sh
## userspace: the tools, our init, the e2e suite and its programs, for x86_64-unknown-redox
userspace: relibc
	ci/build-userspace.sh
## image: the Redox image whose init runs the e2e suite (build/image-e2e/disk.img)
image: $(if $(KERNEL_BIN),,kernel) base userspace
	ci/build-image.sh e2e ci/e2e/commands
## e2e: boot the image and run the end-to-end suite (E2E_TESTS="NAME..." for some tests), then
## the gdb test (left out when E2E_TESTS names tests but not gdb)
e2e: $(if $(KERNEL_BIN),,kernel) base userspace
	ci/e2e.sh
	@case " $(E2E_TESTS) " in "  "|*gdb*) ci/gdb.sh --test ;; *) echo "gdb test skipped: E2E_TESTS" ;; esac
## gdb: Debian's gdb on gdbdemo under gdbserver in the image (interactive)
gdb: $(if $(KERNEL_BIN),,kernel) base userspace
	@ci/gdb.sh
## gdb-test: gdb in batch mode: break, bt, registers, print, set var, step, memory, watch, ymm,
## exit; then detach, kill, Ctrl-C (a program making syscalls, a busy loop, a blocked read) and
## signal (dropped, passed) sessions
gdb-test: $(if $(KERNEL_BIN),,kernel) base userspace
	ci/gdb.sh --test
## demo: the main job: real programs under strace and regs in the Redox image
demo: $(if $(KERNEL_BIN),,kernel) base userspace
	@ci/run-image.sh demo ci/e2e/demo.commands
## run-image: boot the image with your commands, e.g. CMDS='strace exitcode 3; regs files $TMPDIR/x'
run-image: $(if $(KERNEL_BIN),,kernel) base userspace
	@[ -n "$(CMDS)" ] || { echo "usage: make run-image CMDS='COMMAND; COMMAND...'" >&2; exit 2; }
	@mkdir -p $(BUILD)/image-run && echo '$(value CMDS)' | tr ';' '\n' > $(BUILD)/image-run/commands
	@ci/run-image.sh run $(BUILD)/image-run/commands

## acid: upstream's kernel suite, a boot per test, on the upstream kernel, ours, and ours under
## strace -f; the table and its checks (ACID_TESTS="NAME..." for some tests; see ci/acid.sh)
acid: kernel base userspace
	ci/acid.sh

## rine-compare: the std hello, file-I/O and fork/exec programs in QEMU and under rine (Linux): same output
rine-compare: $(if $(KERNEL_BIN),,kernel) base userspace
	@ci/rine-compare.sh

## test: host tests, the Redox check, then the QEMU suite on 1, 2 and 4 CPUs (the SMP race
## tests skip on one), the e2e suite and gdb test on 2 and 4, and the rine comparison, when
## their upstream inputs can be had
test: host-test check-redox
	@if why=$$(ci/qemu-prereqs.sh); then QEMU_SMP=1 $(MAKE) --no-print-directory qemu-test && \
	QEMU_SMP=2 $(MAKE) --no-print-directory qemu-run && \
	QEMU_SMP=4 QEMU_TIMEOUT=$(QEMU_SMP4_TIMEOUT) $(MAKE) --no-print-directory qemu-run; \
	else echo "QEMU suite skipped: $$why"; fi
	@if why=$$(ci/qemu-prereqs.sh) && why=$$(ci/image-prereqs.sh); then \
	QEMU_SMP=2 $(MAKE) --no-print-directory e2e && \
	QEMU_SMP=4 QEMU_TIMEOUT=$(QEMU_SMP4_TIMEOUT) $(MAKE) --no-print-directory e2e && \
	$(MAKE) --no-print-directory rine-compare; \
	else echo "e2e suite and rine comparison skipped: $$why"; fi

clean:
	rm -rf $(BUILD)

# Shared helpers for the ci/ scripts. Sourced, not run.
set -euo pipefail

die() { echo "error: $*" >&2; exit 1; }
note() { echo "==> $*" >&2; }
# For the *-prereqs.sh scripts: print why a suite cannot run here, and exit 1.
cannot() { echo "$*"; exit 1; }
# Milliseconds since START (a `date +%s%N` reading).
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

project_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# upstream NAME KEY: KEY (url, commit) of patches/NAME/UPSTREAM.
upstream() { sed -n "s/^$2 //p" "$project_root/patches/$1/UPSTREAM"; }

: "${BUILD:=$project_root/build}"
: "${KTREE:=$BUILD/kernel}"
: "${KERNEL_COMMIT:=$(upstream kernel commit)}"
: "${RUST_ENV:=RUSTUP_TOOLCHAIN=debian RUSTC_BOOTSTRAP=1 CARGO_NET_OFFLINE=true}"
: "${OBJCOPY:=llvm-objcopy}"
# nm from the same binutils as $OBJCOPY (llvm-objcopy-14 -> llvm-nm-14, objcopy -> nm).
: "${NM:=${OBJCOPY/objcopy/nm}}"

# Commits made in the applied trees (build/kernel, build/relibc, build/base) carry a fixed identity, so that `make refresh` output only
# changes when the code does.
export GIT_AUTHOR_NAME="redox-ptrace" GIT_AUTHOR_EMAIL="redox-ptrace@localhost"
export GIT_COMMITTER_NAME="redox-ptrace" GIT_COMMITTER_EMAIL="redox-ptrace@localhost"

IMPORT_SUBJECT="redox-ptrace: add kernel sources"
APPLIED_MARK=redox-ptrace-applied

# A local path that exists, or a git remote that answers within 10 s.
reachable() {
    [ -e "$1" ] || timeout 10 git ls-remote -q "$1" HEAD > /dev/null 2>&1
}
# Run a command with the Redox toolchain environment ($RUST_ENV).
with_rust_env() { env $RUST_ENV "$@"; }

# Cargo does not see the linker's inputs: when the relibc sysroot ($SYSROOT) changed since the
# last link of the programs in RELEASE_DIR, delete them so that cargo links them again. Call
# before the build, and sysroot_linked RELEASE_DIR after it. The copies in deps/ go too: with
# them left, cargo only copies the old links back.
relink_on_new_sysroot() {
    local stamp=$1/.sysroot-stamp
    if [ -e "$stamp" ] && [ -n "$(find "$SYSROOT/lib" -newer "$stamp" -print -quit)" ]; then
        find "$1" "$1/deps" -maxdepth 1 -type f -executable -delete 2>/dev/null || true
    fi
}
sysroot_linked() { mkdir -p "$1" && touch "$1/.sysroot-stamp"; }

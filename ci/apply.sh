#!/usr/bin/env bash
# make apply: build/kernel = upstream kernel at the pinned commit, then one commit adding
# kernel-src/, then one commit per patch in patches/series (git am).
source "$(dirname "$0")/lib.sh"

: "${KERNEL_SRC:?KERNEL_SRC is not set (an upstream kernel URL, checkout or git dir)}"

if [ -d "$KTREE/.git" ]; then
    [ -z "$(kgit status --porcelain --untracked-files=no)" ] ||
        die "$KTREE has uncommitted changes: commit them and run 'make refresh', or remove $KTREE"
    applied=$(cat "$KTREE/.git/$APPLIED_MARK" 2>/dev/null || true)
    [ -z "$applied" ] || [ "$applied" = "$(kgit rev-parse HEAD)" ] ||
        die "$KTREE has commits that are not in patches/ yet: run 'make refresh' first, or remove $KTREE"
else
    note "cloning $KERNEL_SRC into $KTREE"
    mkdir -p "$BUILD"
    git clone -q --no-checkout "$KERNEL_SRC" "$KTREE"
fi

if ! kgit cat-file -e "$KERNEL_COMMIT^{commit}" 2>/dev/null; then
    kgit fetch -q "$KERNEL_SRC" || true
    kgit cat-file -e "$KERNEL_COMMIT^{commit}" 2>/dev/null ||
        die "pinned commit $KERNEL_COMMIT (patches/UPSTREAM) is not in $KERNEL_SRC"
fi

kgit checkout -q -f --detach "$KERNEL_COMMIT"
kgit clean -q -fdx

note "copying kernel-src/ into $KTREE"
(cd "$project_root/kernel-src" && git ls-files -z -co --exclude-standard . |
    tar --null -T - -cf -) | tar -C "$KTREE" -xf -
kgit add -A
kgit commit -q -m "$IMPORT_SUBJECT"

while read -r patch; do
    case "$patch" in ''|'#'*) continue ;; esac
    kgit am -q --whitespace=nowarn "$project_root/patches/$patch" || {
        kgit am --abort || true
        die "patches/$patch does not apply to $KERNEL_COMMIT"
    }
done < "$project_root/patches/series"

kgit rev-parse HEAD > "$KTREE/.git/$APPLIED_MARK"
note "applied: $(kgit rev-list --count "$KERNEL_COMMIT"..HEAD) commits on $KERNEL_COMMIT"

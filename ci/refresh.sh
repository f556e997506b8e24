#!/usr/bin/env bash
# make refresh: the way back from build/kernel. Files that upstream lacks (or that
# kernel-src/ already overrides) go to kernel-src/; every other change becomes a patch in
# patches/, one per commit after the import commit.
source "$(dirname "$0")/lib.sh"

[ -d "$KTREE/.git" ] || die "$KTREE does not exist: run 'make apply' first"
[ -z "$(kgit status --porcelain --untracked-files=no)" ] ||
    die "$KTREE has uncommitted changes: commit them first"

import=$(kgit rev-list --reverse "$KERNEL_COMMIT"..HEAD | head -n 1)
[ -n "$import" ] && [ "$(kgit log -1 --format=%s "$import")" = "$IMPORT_SUBJECT" ] ||
    die "the first commit after $KERNEL_COMMIT in $KTREE is not '$IMPORT_SUBJECT'"

mapfile -t ours < <({
    kgit diff --name-only "$KERNEL_COMMIT" "$import"
    kgit diff --name-only --diff-filter=A "$KERNEL_COMMIT" HEAD
} | sort -u)

# kernel-src/ = our files as they are at HEAD (a file deleted since is dropped).
git -C "$project_root" ls-files -z kernel-src | (cd "$project_root" && xargs -0 -r rm -f)
present=()
for f in "${ours[@]}"; do
    if kgit cat-file -e "HEAD:$f" 2>/dev/null; then present+=("$f"); fi
done
kgit archive HEAD -- "${present[@]}" | tar -C "$project_root/kernel-src" -xf -

# patches/ = the remaining changes, commit by commit.
rm -f "$project_root"/patches/*.patch
excludes=()
for f in "${ours[@]}"; do excludes+=(":(exclude)$f"); done
kgit format-patch -q --zero-commit --no-signature -o "$project_root/patches" \
    "$import"..HEAD -- . "${excludes[@]}"
(cd "$project_root/patches" && ls *.patch 2>/dev/null || true) > "$project_root/patches/series"

kgit rev-parse HEAD > "$KTREE/.git/$APPLIED_MARK"
note "kernel-src/: ${#present[@]} files; patches/: $(wc -l < "$project_root/patches/series") patches"

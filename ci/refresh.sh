#!/usr/bin/env bash
# ci/refresh.sh NAME (make refresh, refresh-relibc, refresh-base): the way back from build/NAME.
# Every commit after the pinned one becomes a patch in patches/NAME, listed in its series.
# For the kernel, files that upstream lacks (or that kernel-src/ already overrides) go to
# kernel-src/ instead, and the first commit must be the one adding them.
source "$(dirname "$0")/lib.sh"

name=${1:?usage: ci/refresh.sh kernel|relibc|base}
dir="$project_root/patches/$name"
commit=$(upstream "$name" commit)
tree=$BUILD/$name
[ "$name" != kernel ] || tree=$KTREE
tgit() { git -C "$tree" "$@"; }

[ -d "$tree/.git" ] || die "$tree does not exist: apply it first"
[ -z "$(tgit status --porcelain --untracked-files=no)" ] ||
    die "$tree has uncommitted changes: commit them first"

base=$commit
excludes=()
if [ "$name" = kernel ]; then
    import=$(tgit rev-list --reverse "$commit"..HEAD | sed -n 1p)
    [ -n "$import" ] && [ "$(tgit log -1 --format=%s "$import")" = "$IMPORT_SUBJECT" ] ||
        die "the first commit after $commit in $tree is not '$IMPORT_SUBJECT'"

    mapfile -t ours < <({
        tgit diff --name-only "$commit" "$import"
        tgit diff --name-only --diff-filter=A "$commit" HEAD
    } | sort -u)

    # kernel-src/ = our files as they are at HEAD (a file deleted since is dropped).
    git -C "$project_root" ls-files -z kernel-src | (cd "$project_root" && xargs -0 -r rm -f)
    present=()
    for f in "${ours[@]}"; do
        if tgit cat-file -e "HEAD:$f" 2>/dev/null; then present+=("$f"); fi
    done
    tgit archive HEAD -- "${present[@]}" | tar -C "$project_root/kernel-src" -xf -
    note "kernel-src/: ${#present[@]} files"

    base=$import
    for f in "${ours[@]}"; do excludes+=(":(exclude)$f"); done
fi

# patches/NAME = the remaining changes, commit by commit.
rm -f "$dir"/*.patch
tgit format-patch -q --zero-commit --no-signature -o "$dir" "$base"..HEAD -- . "${excludes[@]}"
(cd "$dir" && ls *.patch 2> /dev/null || true) > "$dir/series"

tgit rev-parse HEAD > "$tree/.git/$APPLIED_MARK"
note "patches/$name: $(wc -l < "$dir/series") patches"

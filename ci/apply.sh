#!/usr/bin/env bash
# ci/apply.sh NAME (make apply, apply-relibc, apply-base): build/NAME = upstream NAME at the
# commit pinned in patches/NAME/UPSTREAM, then one commit per patch in patches/NAME/series
# (git am). For the kernel, a commit adding kernel-src/ comes before the patches.
#
# The upstream comes from $<NAME>_SRC (KERNEL_SRC, RELIBC_SRC, BASE_SRC): a URL, a local
# checkout or a bare git dir; the URL in UPSTREAM when unset.
source "$(dirname "$0")/lib.sh"

name=${1:?usage: ci/apply.sh kernel|relibc|base}
dir="$project_root/patches/$name"
[ -f "$dir/UPSTREAM" ] || die "no patches/$name/UPSTREAM"
src_var="${name^^}_SRC"
src=${!src_var:-$(upstream "$name" url)}
commit=$(upstream "$name" commit)
tree=$BUILD/$name
[ "$name" != kernel ] || tree=$KTREE
tgit() { git -C "$tree" "$@"; }
refresh="make refresh-$name"
[ "$name" != kernel ] || refresh="make refresh"

if [ -d "$tree/.git" ]; then
    [ -z "$(tgit status --porcelain --untracked-files=no)" ] ||
        die "$tree has uncommitted changes: commit them and run '$refresh', or remove $tree"
    applied=$(cat "$tree/.git/$APPLIED_MARK" 2>/dev/null || true)
    [ -z "$applied" ] || [ "$applied" = "$(tgit rev-parse HEAD)" ] ||
        die "$tree has commits that are not in patches/$name yet: run '$refresh' first, or remove $tree"
else
    note "cloning $src into $tree"
    mkdir -p "$BUILD"
    git clone -q --no-checkout "$src" "$tree"
fi

if ! tgit cat-file -e "$commit^{commit}" 2>/dev/null; then
    tgit fetch -q "$src" || true
    tgit cat-file -e "$commit^{commit}" 2>/dev/null ||
        die "pinned commit $commit (patches/$name/UPSTREAM) is not in $src"
fi

tgit checkout -q -f --detach "$commit"
tgit clean -q -fdx

if [ "$name" = kernel ]; then
    note "copying kernel-src/ into $tree"
    (cd "$project_root/kernel-src" && git ls-files -z -co --exclude-standard . |
        tar --null -T - -cf -) | tar -C "$tree" -xf -
    tgit add -A
    tgit commit -q -m "$IMPORT_SUBJECT"
fi

while read -r patch; do
    case "$patch" in '' | '#'*) continue ;; esac
    tgit am -q --whitespace=nowarn "$dir/$patch" || {
        tgit am --abort || true
        die "patches/$name/$patch does not apply to $commit"
    }
done < "$dir/series"

tgit rev-parse HEAD > "$tree/.git/$APPLIED_MARK"
note "applied: $(tgit rev-list --count "$commit"..HEAD) commits on $name $commit"

#!/usr/bin/env bash
# Installs cmpc-video under PREFIX:
#   PREFIX/bin/cmpc-video                                  the tool (release build, Swift runtime linked in)
#   PREFIX/share/cmpc-video/default/                       the shipped model: model.safetensors, config.json,
#                                                          vocabulary.txt (the installed tool finds it there)
#   PREFIX/share/cmpc-video/sample.mp4, sample-sentences.txt
#   PREFIX/share/bash-completion/completions/cmpc-video    shell completions (swift-argument-parser's
#   PREFIX/share/zsh/site-functions/_cmpc-video             --generate-completion-script)
#   PREFIX/share/fish/vendor_completions.d/cmpc-video.fish
#   PREFIX/share/man/man1/cmpc-video.1                     the man page (swift-argument-parser's generate-manual)
#
# Usage: Tools/install.sh PREFIX            e.g. Tools/install.sh ~/.local, or sudo Tools/install.sh /usr/local
# CMPC_VIDEO_BINARY=FILE installs that binary instead of building the release one; CMPC_VIDEO_NO_MANUAL=1 skips
# the man page (building generate-manual needs the package's build folder, which a running `swift test` holds).
# Works offline: swift-argument-parser's generate-manual is built from the package's checkout.
set -euo pipefail

if [ $# -ne 1 ] || [ -z "$1" ] || [ "${1#-}" != "$1" ]; then
    echo "usage: Tools/install.sh PREFIX   (e.g. Tools/install.sh ~/.local)" >&2
    exit 64
fi
prefix=$1
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fail() { echo "install.sh: $*" >&2; exit 1; }

if [ -n "${CMPC_VIDEO_BINARY:-}" ]; then
    binary=$CMPC_VIDEO_BINARY
    [ -f "$binary" ] && [ -x "$binary" ] || fail "CMPC_VIDEO_BINARY=$binary is not an executable file"
else
    # The Swift runtime is linked in, so the installed tool runs without the toolchain.
    (cd "$root" && swift build -c release --static-swift-stdlib --product cmpc-video) \
        || fail "the release build failed: run 'bash .ci/setup' for the Debian packages, then retry"
    binary=$(cd "$root" && swift build -c release --static-swift-stdlib --show-bin-path)/cmpc-video
fi
[ -f "$root/data/default/model.safetensors" ] || fail "$root/data/default/model.safetensors is missing: run from a full clone"

share=$prefix/share/cmpc-video
mkdir -p "$prefix/bin" "$share" || fail "cannot create $prefix/bin and $share: choose a PREFIX you can write to"
# Each file is copied beside its place and renamed over it, so a running copy is never overwritten in place.
install -m 755 "$binary" "$prefix/bin/.cmpc-video.new" || fail "cannot copy $binary into $prefix/bin"
mv -f "$prefix/bin/.cmpc-video.new" "$prefix/bin/cmpc-video"
rm -rf "$share/.default.new"
cp -R "$root/data/default" "$share/.default.new" || fail "cannot copy $root/data/default into $share"
rm -rf "$share/default"
mv "$share/.default.new" "$share/default"
install -m 644 "$root/data/sample.mp4" "$root/data/sample-sentences.txt" "$share/" || fail "cannot copy the sample into $share"
echo "installed $prefix/bin/cmpc-video and its model in $share/default"

# Shell completions and the man page, made by swift-argument-parser from the installed tool itself.
tool=$prefix/bin/cmpc-video
completions() {   # SHELL FILE
    mkdir -p "$(dirname "$2")"
    "$tool" --generate-completion-script "$1" > "$2.new" || { rm -f "$2.new"; return 1; }
    mv -f "$2.new" "$2"
}
completions bash "$prefix/share/bash-completion/completions/cmpc-video" \
    && completions zsh "$prefix/share/zsh/site-functions/_cmpc-video" \
    && completions fish "$prefix/share/fish/vendor_completions.d/cmpc-video.fish" \
    || fail "$tool --generate-completion-script failed (see above)"

if [ -n "${CMPC_VIDEO_NO_MANUAL:-}" ]; then
    echo "installed completions (bash, zsh, fish); no man page (CMPC_VIDEO_NO_MANUAL is set)"
    exit 0
fi
(cd "$root" && swift build --product generate-manual >/dev/null) \
    || fail "cannot build swift-argument-parser's generate-manual (swift build --product generate-manual)"
manual=$(cd "$root" && swift build --show-bin-path)/generate-manual
man1=$prefix/share/man/man1
mkdir -p "$man1"
"$manual" "$tool" --output-directory "$man1" || fail "generate-manual could not describe $tool (see above)"
echo "installed completions (bash, zsh, fish) and $man1/cmpc-video.1"

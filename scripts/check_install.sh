#!/usr/bin/env bash
# Checks the installed library the way its users meet it: installs a built xtc into a temporary
# prefix, checks that every installed header compiles on its own, then builds
# examples/next_token.c against the installation three ways and runs each on models/tiny-char:
#   1. CMake, find_package(xtc) and xtc::xtc (the shared library)
#   2. CMake, find_package(xtc) and xtc::xtc_static (the static archive and its dependencies)
#   3. pkg-config (cc $(pkg-config --cflags --libs xtc))
# and runs the installed xtc tool. Needs cmake, a C compiler and pkg-config (CI: .ci/run).
#   scripts/check_install.sh [BUILD_DIR]     (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
cc=${CC:-$(command -v cc || command -v gcc)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
model=$PWD/models/tiny-char

echo "== cmake --install $build --prefix $prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null
pc_file=$(find "$prefix" -name xtc.pc)
libdir=$(dirname "$(dirname "$pc_file")")

echo "== each installed header compiles on its own"
for h in "$prefix"/include/xtc/*.h; do
    printf '#include <xtc/%s>\ntypedef int not_empty;\n' "$(basename "$h")" |
        "$cc" -std=c11 -Wall -Wextra -Werror -pedantic -fsyntax-only -I"$prefix/include" -x c -
done

# run NAME BINARY: the example must print the greedy continuation x-transformers gives
run() {
    local out
    out=$("$2" "$model")
    if ! grep -qF 'and/or mod[ify' <<<"$out"; then
        echo "$1: unexpected output:"
        echo "$out"
        exit 1
    fi
    echo "$1: ok ($(head -1 <<<"$out"))"
}

# uses_installed_so BINARY: it loads libxtc.so from the installation (not from the build tree)
uses_installed_so() {
    local so
    so=$(ldd "$1" | awk '/libxtc\.so/ {print $3}')
    if [ -z "$so" ] || [ "$(readlink -f "$(dirname "$so")")" != "$(readlink -f "$libdir")" ]; then
        echo "$1 loads libxtc from '$so', not from $libdir"
        exit 1
    fi
}

echo "== find_package(xtc): xtc::xtc"
cmake -S examples -B "$work/shared" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/shared" >/dev/null
uses_installed_so "$work/shared/next_token"
run "find_package, shared" "$work/shared/next_token"

echo "== find_package(xtc COMPONENTS static): xtc::xtc_static"
cmake -S examples -B "$work/static" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
    -DXTC_EXAMPLES_STATIC=ON >/dev/null
cmake --build "$work/static" >/dev/null
if ldd "$work/static/next_token" | grep -q libxtc; then
    echo "the static example links libxtc.so"
    exit 1
fi
run "find_package, static" "$work/static/next_token"

echo "== pkg-config"
export PKG_CONFIG_PATH="$(dirname "$pc_file")"
echo "pkg-config --cflags --libs xtc: $(pkg-config --cflags --libs xtc)"
"$cc" -std=c11 -Wall -Wextra -Werror examples/next_token.c $(pkg-config --cflags --libs xtc) -lm \
    -Wl,-rpath,"$(pkg-config --variable=libdir xtc)" -o "$work/next_token_pc"
uses_installed_so "$work/next_token_pc"
run "pkg-config" "$work/next_token_pc"

echo "== the installed tool"
uses_installed_so "$prefix/bin/xtc"
"$prefix/bin/xtc" --version
echo "installed library, headers, CMake package and pkg-config file work"

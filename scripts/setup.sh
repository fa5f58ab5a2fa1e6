#!/usr/bin/env bash
# One command on a fresh Debian (12+) machine: installs the build dependencies,
# builds xtc and runs the demo (the bundled byte-level model predicts the next
# characters of a sentence). Re-running it only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
if ! dpkg -s gcc make cmake libopenblas-openmp-dev libcjson-dev >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        gcc libc6-dev make cmake libopenblas-openmp-dev libcjson-dev >/dev/null
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"

echo
./build/xtc info models/tiny-char
echo
./build/xtc forward models/tiny-char --text "This program is free software; you can redistribute it and/or mod"

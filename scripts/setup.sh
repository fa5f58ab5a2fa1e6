#!/usr/bin/env bash
# One command on a fresh Debian (12+) machine: installs the build dependencies
# and the demo corpus (Debian's fortunes), builds xtc, shows a bundled
# x-transformers checkpoint running in C, then trains a small byte-level GPT for
# a couple of minutes (validation loss, bits per byte, a text sample, a loss plot
# in run-demo/loss.svg). Re-running it only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
PACKAGES="gcc libc6-dev make cmake libopenblas-openmp-dev libcjson-dev libdnnl-dev openmpi-bin libopenmpi-dev iproute2 fortunes"
if ! dpkg -s $PACKAGES >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"

echo "== a model trained with x-transformers, run by xtc"
./build/xtc info models/tiny-char
./build/xtc forward models/tiny-char --text "This program is free software; you can redistribute it and/or mod"

echo
echo "== training a small byte-level GPT on the fortunes corpus (xtc train --help for the options)"
rm -rf run-demo
./build/xtc train --out run-demo --steps "${XTC_DEMO_STEPS:-1200}" --eval-every 200 --log-every 100

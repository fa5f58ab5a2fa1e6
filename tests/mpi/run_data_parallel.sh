#!/bin/sh
# Runs test_data_parallel on NP ranks (oversubscribed) in a fresh scratch directory.
#   run_data_parallel.sh MPIEXEC NP TEST_BINARY
# Exit 77 (skipped) when xtc was built without MPI: MPIEXEC is then empty.
set -eu
mpiexec=$1 np=$2 bin=$3
if [ -z "$mpiexec" ]; then
    echo "skipped: xtc was built without MPI"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
OMP_NUM_THREADS=1 "$mpiexec" -n "$np" "$bin" "$tmp"

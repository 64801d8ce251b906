#!/usr/bin/env bash
# Run every built benchmark (build/bench/bench_*) in turn.
set -euo pipefail
build=${1:-build}
shopt -s nullglob
ran=0
for b in "$build"/bench/bench_*; do
    [[ -x $b && -f $b ]] || continue
    echo "== $(basename "$b")"
    "$b"
    ran=$((ran + 1))
done
((ran > 0)) || { echo "no benchmarks built" >&2; exit 1; }

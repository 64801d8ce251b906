#!/usr/bin/env bash
# Run each libFuzzer target in build-fuzz/fuzz for N seconds.
set -euo pipefail
build=${1:-build-fuzz}
secs=${2:-60}
shopt -s nullglob
ran=0
for f in "$build"/fuzz/fuzz_*; do
    [[ -x $f && -f $f ]] || continue
    name=$(basename "$f")
    corpus="$build/fuzz/corpus-$name"
    mkdir -p "$corpus"
    seeds="fuzz/seeds/${name#fuzz_}"
    [[ -d $seeds ]] || seeds=""
    echo "== $name for ${secs}s"
    "$f" -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 "$corpus" $seeds
    ran=$((ran + 1))
done
((ran > 0)) || { echo "no fuzz targets built" >&2; exit 1; }

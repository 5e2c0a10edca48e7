#!/usr/bin/env bash
# Run libFuzzer targets for a while each, quietly.
#
#   tests/fuzz/run.sh SECONDS BIN...
#
# BIN's seed corpus is tests/fuzz/corpus/<basename of BIN>/ (and its
# dictionary tests/fuzz/<name>.dict, when there is one); the corpus is copied
# to <dir of BIN>/corpus-run/<name>/ first, so the fuzzer grows the copy and
# the corpus in git stays as it is.  Each target's output goes to
# <dir of BIN>/<name>.log; one line per target is printed.  Exits non-zero,
# with the tail of the log, when a target fails (crash, leak, timeout).

set -u

if [ $# -lt 2 ]; then
    echo "usage: $0 SECONDS BIN..." >&2
    exit 2
fi

secs=$1
shift

root=$(cd "$(dirname "$0")/../.." && pwd)
rc=0

for bin in "$@"; do
    name=$(basename "$bin")
    dir=$(cd "$(dirname "$bin")" && pwd)
    seeds=$root/tests/fuzz/corpus/$name
    run=$dir/corpus-run/$name
    log=$dir/$name.log
    artifacts=$dir/artifacts/$name/

    if [ ! -x "$bin" ]; then
        echo "$name: no such fuzz binary: $bin" >&2
        rc=1
        continue
    fi

    # Keep what earlier runs found; add the seeds.
    mkdir -p "$run" "$artifacts"
    if [ -d "$seeds" ]; then
        cp -r "$seeds"/. "$run"/
    fi

    dict=()
    if [ -f "$root/tests/fuzz/$name.dict" ]; then
        dict=(-dict="$root/tests/fuzz/$name.dict")
    fi

    before=$(ls "$artifacts" | wc -l)

    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts" "${dict[@]}" \
        "$run" \
        > "$log" 2>&1
    status=$?

    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    # crash-*, leak-*, timeout-*, oom-* files written by this run
    crashes=$(( $(ls "$artifacts" | wc -l) - before ))

    if [ "$status" -ne 0 ] && [ "$crashes" -le 0 ]; then
        crashes=1
    fi

    echo "$name: ${runs:-?} runs, $crashes crashes"

    if [ "$status" -ne 0 ]; then
        echo "---- $log (tail) ----"
        tail -40 "$log"
        echo "----"
        grep -h -o "Test unit written to .*" "$log" || true
        rc=1
    fi
done

exit $rc

#!/usr/bin/env bash
# raw -> 5m downsampling speed and memory on generated blocks (run by hand, not in CI).
#
#   scripts/bench-downsample.sh [--skip-build]        SERIES=500 by default
#
# Generates (once, under $BENCH_DIR, never in the repository) two raw blocks of SERIES
# series at 15 s: one of 54 h (long enough for Thanos' 40 h rule) and one of 6 h, with
# scripts/gen-bench-openmetrics.py and promtool (--max-block-duration). Then:
#   1. the package benchmark Downsample.raw5m on the 54 h block: raw samples per second on
#      one core for decoding, aggregating and encoding (target >= 40 M/s);
#   2. `blockyard block downsample` of each block pinned to one core: wall time, raw
#      samples per second, peak RSS and peak anonymous memory (RssAnon; mapped input files
#      are not counted there), which must not grow with the block's length.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="${BENCH_DIR:-/tmp/blockyard-bench}"
SERIES="${SERIES:-500}"
PROMTOOL="${PROMTOOL:-promtool}"
BUILD=1
[[ "${1:-}" == "--skip-build" ]] && BUILD=0
command -v "$PROMTOOL" >/dev/null || { echo "needs promtool (apt-get install prometheus)" >&2; exit 1; }
command -v taskset >/dev/null || { echo "needs taskset (util-linux)" >&2; exit 1; }

# start: a multiple of both 54 h and 6 h, so each block is aligned to its own duration.
START=1700028000
make_block() {  # hours -> block directory
    local hours=$1 dir="$BENCH_DIR/data/downsample-s$SERIES-${1}h-seed20230415"
    if ! ls -d "$dir"/db/*/ >/dev/null 2>&1; then
        mkdir -p "$dir"
        echo "generating $SERIES series x ${hours} h at 15 s" >&2
        python3 "$ROOT/scripts/gen-bench-openmetrics.py" --profile dump --series "$SERIES" --hours "$hours" \
            --start "$START" -o "$dir/input.om"
        "$PROMTOOL" tsdb create-blocks-from openmetrics -q --max-block-duration="${hours}h" "$dir/input.om" "$dir/db" >&2
        rm -f "$dir/input.om"
    fi
    local blocks=("$dir"/db/*/)
    [[ ${#blocks[@]} -eq 1 ]] || { echo "expected one block in $dir/db, found ${#blocks[@]}" >&2; exit 1; }
    echo "${blocks[0]%/}"
}
LONG=$(make_block 54)
SHORT=$(make_block 6)

if [[ $BUILD == 1 ]]; then
    bash "$ROOT/scripts/lib/build-bench-binary.sh"
fi
BIN="$ROOT/.build-bench/release/blockyard"

echo "== package benchmark Downsample.raw5m on $(basename "$LONG") (one core) =="
(cd "$ROOT/Benchmarks" && BENCH_BLOCKS="$(dirname "$LONG")" swift package benchmark --filter 'Downsample.raw5m' \
    --no-progress 2>&1 | sed -n '/^Downsample.raw5m/,/╘/p')

# Wall and CPU seconds, peak RSS and peak RssAnon of a command (memory sampled every 5 ms).
peak() {
    python3 - "$@" <<'PY'
import os, subprocess, sys, time
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
rss = anon = 0
t0 = time.monotonic()
while True:
    pid, status, ru = os.wait4(p.pid, os.WNOHANG)
    if pid:
        break
    try:
        for line in open(f"/proc/{p.pid}/status"):
            k, _, v = line.partition(":")
            if k == "VmRSS": rss = max(rss, int(v.split()[0]))
            if k == "RssAnon": anon = max(anon, int(v.split()[0]))
    except FileNotFoundError:
        pass
    time.sleep(0.005)
print(f"{time.monotonic() - t0:.3f} {ru.ru_utime + ru.ru_stime:.3f} {rss} {anon} {os.waitstatus_to_exitcode(status)}")
PY
}

echo "== blockyard block downsample --resolution 5m, pinned to one core =="
printf '%-6s %11s %5s %8s %8s %12s %12s %10s %10s\n' block samples MB wall_s cpu_s 'M/s (wall)' 'M/s (cpu)' 'peak RSS' 'peak anon'
for b in "$LONG" "$SHORT"; do
    samples=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/meta.json"))["stats"]["numSamples"])' "$b")
    mb=$(du -sm "$b" | cut -f1)
    out=$(mktemp -d "$BENCH_DIR/downsample-out.XXXXXX")
    cat "$b"/index "$b"/chunks/* >/dev/null  # warm the page cache
    best=""
    for run in 1 2 3; do
        read -r secs cpu rss anon rc < <(peak taskset -c 0 "$BIN" block downsample "$b" --resolution 5m --out "$out")
        [[ $rc == 0 ]] || { echo "blockyard failed on $b" >&2; exit 1; }
        rm -rf "${out:?}"/*
        if [[ -z $best ]] || python3 -c "import sys; sys.exit(0 if $cpu < $(cut -d' ' -f2 <<<"$best") else 1)"; then best="$secs $cpu $rss $anon"; fi
    done
    rm -rf "$out"
    read -r secs cpu rss anon <<<"$best"
    python3 - "$(basename "$(dirname "$(dirname "$b")")")" "$samples" "$mb" "$secs" "$cpu" "$rss" "$anon" <<'PY'
import sys
name, n, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s, c, rss, anon = float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
print(f"{name.split('-')[2]:<6} {n:11,} {mb:5} {s:8.3f} {c:8.3f} {n / s / 1e6:12.1f} {n / c / 1e6:12.1f} {rss/1024:8.1f}Mi {anon/1024:8.1f}Mi")
PY
done
echo "best of 3 runs each (least CPU); whole command: process start, reading, downsampling, writing, fsync"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"

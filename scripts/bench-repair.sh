#!/usr/bin/env bash
# Repair and rewrite side by side with a plain compaction of the same block (the floor: a
# one-block compaction copies every chunk as bytes). Run by hand, not in CI; generated data
# stays in $BENCH_DIR (never in the repo).
#
#   scripts/bench-repair.sh [--runs N] [--skip-build]
#
# Blocks: one 2h block of 10,000 series x 480 samples (dump profile), and one of 400,000
# series with a few samples each (analyze profile: the index dominates). Each is broken by
# one flipped byte in its first chunk segment (one chunk fails its CRC). Measured, with GNU
# time (wall seconds, peak RSS):
#   compact   `blockyard block compact CLEAN --out`
#   repair    `blockyard block repair BROKEN --out` (every chunk decoded, series re-sorted,
#             the result verified with --deep)
#   rewrite   `blockyard rewrite DIR --id ULID --rewrite.to-relabel-config=... --no-dry-run`
#             (a label added to every series: every series relabelled; upload to a local
#             FILESYSTEM bucket, meta.json last, re-read)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="${BENCH_DIR:-/tmp/blockyard-bench}"
RUNS=3
BUILD=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) RUNS="$2"; shift 2 ;;
        --skip-build) BUILD=0; shift ;;
        *) echo "unknown argument $1" >&2; exit 64 ;;
    esac
done
PROMTOOL="${PROMTOOL:-/usr/bin/promtool}"
START=1700006400  # a 2h boundary
[[ -x /usr/bin/time ]] || { echo "needs GNU time (apt-get install time)" >&2; exit 1; }
if [[ $BUILD == 1 ]]; then
    bash "$ROOT/scripts/lib/build-bench-binary.sh"
fi
BIN="$ROOT/.build-bench/release/blockyard"
SCRATCH="$BENCH_DIR/repair"
mkdir -p "$SCRATCH"
log() { echo "bench-repair: $*" >&2; }
die() { log "$*"; exit 1; }
SEED=20230415
# shellcheck source=lib/bench-blocks.sh
source "$ROOT/scripts/lib/bench-blocks.sh"

# timed OUT -- CMD...: runs CMD, prints "wall_seconds peak_rss_kib".
timed() {
    local tf; tf="$(mktemp "$SCRATCH/time.XXXXXX")"
    /usr/bin/time -f "%e %M" -o "$tf" "$@" >/dev/null 2>&1 || { local rc=$?; [[ $rc == 1 || $rc == 4 ]] || { echo "failed ($rc): $*" >&2; exit 1; }; }
    tail -1 "$tf"  # GNU time puts "Command exited with non-zero status N" first
    rm -f "$tf"
}

median() { python3 -c 'import sys, statistics; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

bench() {
    local title="$1" src="$2" id; id="$(basename "$src")"
    local c_w=() c_r=() r_w=() r_r=() w_w=() w_r=()
    for ((i = 0; i < RUNS; i++)); do
        local work; work="$(mktemp -d "$SCRATCH/run.XXXXXX")"
        mkdir -p "$work/clean" "$work/broken" "$work/bucket"
        cp -r "$src" "$work/clean/"; cp -r "$src" "$work/broken/"; cp -r "$src" "$work/bucket/"
        python3 - "$work/broken/$id/chunks/000001" <<'PY'
import sys
p = sys.argv[1]
d = bytearray(open(p, "rb").read())
d[1000] ^= 0x40
open(p, "wb").write(d)
PY
        read -r cw cr < <(timed "$BIN" block compact "$work/clean/$id" --out "$work/out-compact")
        read -r rw rr < <(timed "$BIN" block repair "$work/broken/$id" --out "$work/out-repair")
        read -r ww wr < <(timed "$BIN" rewrite "$work/bucket" --id "$id" --tmp.dir "$work/tmp" --no-dry-run \
            "--rewrite.to-relabel-config=- {target_label: rewritten, replacement: 'yes'}")
        c_w+=("$cw"); c_r+=("$cr"); r_w+=("$rw"); r_r+=("$rr"); w_w+=("$ww"); w_r+=("$wr")
        log "$title run $((i + 1)): compact ${cw}s ${cr}KiB, repair ${rw}s ${rr}KiB, rewrite ${ww}s ${wr}KiB"
        rm -rf "$work"
    done
    python3 - "$title" "$(median "${c_w[@]}")" "$(median "${c_r[@]}")" "$(median "${r_w[@]}")" "$(median "${r_r[@]}")" \
        "$(median "${w_w[@]}")" "$(median "${w_r[@]}")" <<'PY'
import sys
t, cw, cr, rw, rr, ww, wr = sys.argv[1], *map(float, sys.argv[2:])
print(f"{t}: compact {cw:.2f} s / {cr / 1024:.0f} MiB; repair {rw:.2f} s / {rr / 1024:.0f} MiB ({rw / cw:.2f}x the compaction); "
      f"rewrite {ww:.2f} s / {wr / 1024:.0f} MiB ({ww / cw:.2f}x)")
PY
}

bench "10,000 series x 480 samples" "$(find_or_make "dump-s10000-n480-seed$SEED" dump 10000 --samples 480)"
bench "400,000 series, index-heavy" "$(find_or_make "analyze-s400000-seed$SEED" analyze 400000)"

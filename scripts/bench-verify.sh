#!/usr/bin/env bash
# verify's speed and memory, side by side with `cat > /dev/null` of the same files (page cache
# warm), on real promtool blocks and one large block made from them.
#
# Run by hand (not part of CI):
#   scripts/bench-verify.sh              full run (see "Blocks"); a first run generates ~1.2 GB of
#                                        blocks under $BENCH_DIR/data (tens of minutes, promtool)
#   scripts/bench-verify.sh --smoke      tiny blocks, one timed run each (well under a minute once built)
# Options:
#   --smoke        tiny blocks; the targets are reported but do not fail the run
#   --skip-build   use the existing .build-bench release binary
#   --no-remote    skip the bucket runs
#   -h, --help     this text
# Environment:
#   BENCH_DIR      scratch directory (default /tmp/blockyard-bench), outside the repository
#   RUNS           timed runs per command (default 5; 1 with --smoke)
#   COPIES         how many 2h copies the large block holds (default 5)
#
# Blocks (made once, reused; the same data sets as scripts/bench-vs-promtool.sh):
#   analyze-400000   400,000 series, 4-8 samples each: the index is most of the block (92 MB)
#   dump-10000       10,000 series x 480 samples (2h at 15s), promtool's chunks (21 MB)
#   big              dump-100000 (100,000 series x 2h) repeated COPIES times by
#                    scripts/bench-multiply-block.py: 100,000 series x 10h, 2M chunks (~1 GB),
#                    the size where process start-up (~20 ms) stops mattering
#
# Per block: cat, verify and verify --deep timed by hyperfine (warm cache, alternating, RUNS
# runs, means); ratio = cat time / verify time (target >= 0.8: verify at 80% of cat's speed
# or better); floor_s = scripts/lib/read-crc-floor.c on two threads, which only reads every
# byte and CRCs it once (no structure); left_ms = cat time / 0.8 - floor - process start-up
# (`blockyard --version`, measured first): the wall time the target leaves for every
# structural check (series entries, order, postings, counts) on two cores; CPU = user+system seconds of each; --deep in ns per sample (wall clock / samples
# in meta.json; compare with `cd Benchmarks && swift package benchmark --filter 'XOR.*'`);
# peak RSS (GNU time) of verify and --deep. Then process start-up (`blockyard --version`). Remote: the same block through an objstore
# FILESYSTEM config (the bucket code path: ranged reads into heap windows, the index read into
# memory) and through the Azure emulator (Tests/emulator, one Python process: slow, so only
# RSS and correctness mean much there).
#
# The machine is shared: wall-clock figures vary by tens of percent between runs; the ratios
# measured side by side in one run, and the CPU seconds, are the reliable part.
#
# Exit status: 0 ok; 1 setup error or a finding on a clean block; 3 a target missed (full runs).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="${BENCH_DIR:-/tmp/blockyard-bench}"
MODE=full
SKIP_BUILD=0
REMOTE=1
for arg in "$@"; do
    case "$arg" in
        --smoke) MODE=smoke ;;
        --skip-build) SKIP_BUILD=1 ;;
        --no-remote) REMOTE=0 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $arg (try --help)" >&2; exit 1 ;;
    esac
done
die() { printf 'bench-verify: %s\n' "$*" >&2; exit 1; }
log() { printf '\n==> %s\n' "$*" >&2; }
PROMTOOL="${PROMTOOL:-/usr/bin/promtool}"
for tool in hyperfine python3; do command -v "$tool" >/dev/null || die "$tool is required"; done
[[ -x /usr/bin/time ]] || die "GNU time (/usr/bin/time, package 'time') is required"

if [[ $MODE == smoke ]]; then
    ANALYZE_SERIES=2000; DUMP_SERIES=2000; DUMP_SAMPLES=240; BIG_SERIES=2000; RUNS="${RUNS:-1}"; COPIES="${COPIES:-2}"
else
    ANALYZE_SERIES=400000; DUMP_SERIES=10000; DUMP_SAMPLES=480; BIG_SERIES=100000; RUNS="${RUNS:-5}"; COPIES="${COPIES:-5}"
fi
mkdir -p "$BENCH_DIR"
BENCH_DIR="$(cd "$BENCH_DIR" && pwd -P)"
case "$BENCH_DIR/" in "$(cd "$ROOT" && pwd -P)"/*) die "BENCH_DIR is inside the repository" ;; esac
SEED=20230415
START=1700006400
# shellcheck source=lib/bench-blocks.sh
source "$ROOT/scripts/lib/bench-blocks.sh"

ANALYZE="$(find_or_make "analyze-s$ANALYZE_SERIES-seed$SEED" analyze "$ANALYZE_SERIES")"
DUMP="$(find_or_make "dump-s$DUMP_SERIES-n$DUMP_SAMPLES-seed$SEED" dump "$DUMP_SERIES" --samples "$DUMP_SAMPLES")"
BIG_SRC="$(find_or_make "dump-s$BIG_SERIES-n$DUMP_SAMPLES-seed$SEED" dump "$BIG_SERIES" --samples "$DUMP_SAMPLES")"
BIG_DIR="$DATA/big-x$COPIES-s$BIG_SERIES"
if [[ ! -f "$BIG_DIR/.complete" ]]; then
    rm -rf "$BIG_DIR"
    mkdir -p "$BIG_DIR/db"
    python3 "$ROOT/scripts/bench-multiply-block.py" "$BIG_SRC" "$COPIES" "$BIG_DIR/db/$(basename "$BIG_SRC")"
    touch "$BIG_DIR/.complete"
fi
BIG="$BIG_DIR/db/$(basename "$BIG_SRC")"

if [[ $SKIP_BUILD == 0 ]]; then
    bash "$ROOT/scripts/lib/build-bench-binary.sh"
fi
BIN="$ROOT/.build-bench/release/blockyard"
[[ -x "$BIN" ]] || die "no blockyard binary at $BIN"
OUT="$BENCH_DIR/verify-$MODE"
rm -rf "$OUT"
mkdir -p "$OUT"
# The floor: read and CRC every byte once on two threads, no structure (scripts/lib/read-crc-floor.c).
FLOOR="$OUT/read-crc-floor"
CC="${CC:-$(command -v cc || command -v clang)}" || die "a C compiler (cc or clang) is required"
"$CC" -O2 -pthread -I "$ROOT/Sources/CCRC32C/include" -o "$FLOOR" "$ROOT/scripts/lib/read-crc-floor.c" "$ROOT/Sources/CCRC32C/crc32c.c" || die "building read-crc-floor failed"

# Process start-up, which the small blocks' times are mostly made of.
hyperfine --warmup 3 --runs $((RUNS * 3)) -N --export-json "$OUT/startup.json" "$BIN --version" >/dev/null 2>&1 \
    || die "hyperfine failed on $BIN --version"
python3 -c 'import json,sys; m = json.load(open(sys.argv[1]))["results"][0]["mean"]; print("start-up (blockyard --version): %.1f ms" % (m * 1e3))' \
    "$OUT/startup.json" >"$OUT/startup.txt"
STARTUP=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["mean"])' "$OUT/startup.json")
rss() { /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -1; }
samples() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["stats"]["numSamples"])' "$1/meta.json"; }
FAILED=0
MISSED=0

cat "$OUT/startup.txt" | tee "$OUT/summary.txt"
printf '\n%-14s %8s %8s %9s %8s %8s %8s %10s %9s %9s %10s %10s  %s\n' block MB cat_s verify_s ratio floor_s left_ms deep_s ns/sample \
    cpu_v/cat RSS_MiB deep_RSS result | tee -a "$OUT/summary.txt"
for entry in "analyze-s$ANALYZE_SERIES:$ANALYZE" "dump-s$DUMP_SERIES:$DUMP" "big-x$COPIES:$BIG"; do
    name="${entry%%:*}"
    b="${entry#*:}"
    files=("$b/index" "$b"/chunks/*)
    bytes=$(cat "${files[@]}" | wc -c)
    "$BIN" verify "$b" >"$OUT/$name.verify.txt" || { echo "$name: verify found problems in a clean block:" >&2; tail "$OUT/$name.verify.txt" >&2; FAILED=1; }
    "$BIN" verify --deep "$b" >/dev/null || { echo "$name: verify --deep found problems in a clean block" >&2; FAILED=1; }
    hyperfine --warmup 1 --runs "$RUNS" --export-json "$OUT/$name.json" -N \
        -n cat "cat ${files[*]}" -n verify "$BIN verify $b" -n deep "$BIN verify --deep $b" -n floor "$FLOOR 2 ${files[*]}" \
        >"$OUT/$name.hyperfine.txt" 2>&1 \
        || { cat "$OUT/$name.hyperfine.txt" >&2; die "hyperfine failed"; }
    rv=$(rss "$BIN" verify "$b")
    rd=$(rss "$BIN" verify --deep "$b")
    rc=0
    python3 - "$name" "$bytes" "$OUT/$name.json" "$rv" "$rd" "$(samples "$b")" "$MODE" "$STARTUP" <<'PY' | tee -a "$OUT/summary.txt" || rc=$?
import json, sys
name, n, path, rv, rd, samples, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
startup = float(sys.argv[8])
r = {x["command"]: x for x in json.load(open(path))["results"]}
c, v, d, f = (r[k]["mean"] for k in ("cat", "verify", "deep", "floor"))
cpu = lambda k: r[k]["user"] + r[k]["system"]
ratio = c / v
ok = ratio >= 0.8
# The time verify may take at 0.8x, less the floor and process start-up: what is left for
# every structural check (decoding series entries, order, postings, counts) on two cores.
left = (c / 0.8 - f - startup) * 1e3
print(f"{name:<14} {n/1e6:8.1f} {c:8.3f} {v:9.3f} {ratio:8.2f} {f:8.3f} {left:8.1f} {d:10.3f} {d*1e9/samples:9.1f} {cpu('verify')/cpu('cat'):9.1f}x"
      f" {rv/1024:10.1f} {rd/1024:10.1f}  {'PASS' if ok else 'MISS'} (verify at >= 0.8x cat's speed)")
sys.exit(0 if ok or mode == "smoke" else 3)
PY
    [[ $rc -eq 3 ]] && MISSED=1
    [[ $rc -eq 0 || $rc -eq 3 ]] || die "summary failed"
done


if [[ $REMOTE == 1 ]]; then
    # The same blocks through the bucket code path: an objstore FILESYSTEM config (ranged reads
    # into memory, nothing mapped), then the Azure emulator.
    printf '\n%-14s %-11s %9s %10s  %s\n' block bucket verify_s RSS_MiB result | tee -a "$OUT/summary.txt"
    for entry in "analyze-s$ANALYZE_SERIES:$ANALYZE" "dump-s$DUMP_SERIES:$DUMP" "big-x$COPIES:$BIG"; do
        name="${entry%%:*}"
        b="${entry#*:}"
        cfg="type: FILESYSTEM
config:
  directory: $(dirname "$b")"
        id="$(basename "$b")"
        start=$(date +%s.%N)
        rv=$(rss "$BIN" verify --cache-dir none --objstore.config "$cfg" --id "$id")
        end=$(date +%s.%N)
        "$BIN" verify --cache-dir none --objstore.config "$cfg" --id "$id" >"$OUT/$name.fs.txt" && res=clean || { res=FINDINGS; FAILED=1; }
        printf '%-14s %-11s %9.3f %10.1f  %s\n' "$name" filesystem "$(echo "$end - $start" | bc)" "$(echo "$rv / 1024" | bc -l)" "$res" | tee -a "$OUT/summary.txt"
    done
    # shellcheck source=lib/emulator.sh
    source "$ROOT/scripts/lib/emulator.sh"
    start_emulator "$OUT" --quiet || die "the emulator did not start"
    KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
    python3 "$ROOT/scripts/bench/populate_container.py" --endpoint "$ENDPOINT" mkcontainer verify-bench
    acfg="type: AZURE
config:
  storage_account: devstoreaccount1
  storage_connection_string: \"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$KEY;BlobEndpoint=$ENDPOINT;\"
  container: verify-bench"
    for entry in "analyze-s$ANALYZE_SERIES:$ANALYZE" "dump-s$DUMP_SERIES:$DUMP"; do
        name="${entry%%:*}"
        b="${entry#*:}"
        "$BIN" upload "$b" --label bench=verify --objstore.config "$acfg" >"$OUT/$name.upload.txt" 2>&1 || { cat "$OUT/$name.upload.txt" >&2; die "upload to the emulator failed"; }
        start=$(date +%s.%N)
        rv=$(rss "$BIN" verify --cache-dir none --objstore.config "$acfg" --id "$(basename "$b")")
        end=$(date +%s.%N)
        "$BIN" verify --cache-dir none --objstore.config "$acfg" --id "$(basename "$b")" >"$OUT/$name.azure.txt" && res=clean || { res=FINDINGS; FAILED=1; }
        printf '%-14s %-11s %9.3f %10.1f  %s\n' "$name" azure-emu "$(echo "$end - $start" | bc)" "$(echo "$rv / 1024" | bc -l)" "$res" | tee -a "$OUT/summary.txt"
    done
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs; results in $OUT" | tee -a "$OUT/summary.txt"
[[ $FAILED == 0 ]] || exit 1
[[ $MISSED == 0 || $MODE == smoke ]] || exit 3

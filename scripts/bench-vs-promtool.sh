#!/usr/bin/env bash
# Benchmarks `blockyard block dump|analyze` against Prometheus' `promtool tsdb dump|analyze`
# on real blocks written by promtool itself, after checking that both print the same thing.
#
# Run by hand (not part of CI, except `--smoke`):
#   scripts/bench-vs-promtool.sh            full run: 400k-series analyze block, 10k-series x 2h dump block
#   scripts/bench-vs-promtool.sh --smoke    tiny data sets, 1 timed run each (CI smoke; well under a minute
#                                           once blockyard is built)
# Options:
#   --smoke        tiny data sets; performance targets are reported but do not fail the run
#   --skip-build   use the existing .build-bench release binary instead of running swift build
#   -h, --help     this text
# Environment:
#   BENCH_DIR      scratch directory (default /tmp/blockyard-bench); must be outside the repository.
#                  Generated blocks are kept under $BENCH_DIR/data and reused by later runs.
#   PROMTOOL       promtool binary (default /usr/bin/promtool, Debian's 2.42)
#   ANALYZE_SERIES, DUMP_SERIES, DUMP_SAMPLES, RUNS, WARMUP   override the data set sizes / run counts
#   KEEP_DUMPS=1   keep the sorted dump outputs even when they match (they are large)
#
# Steps: generate OpenMetrics (scripts/gen-bench-openmetrics.py, fixed seed) -> promtool tsdb
# create-blocks-from openmetrics -> check one block with the expected series count -> build blockyard
# (release, scratch path .build-bench) -> correctness (sorted dumps byte-identical; analyze headers
# identical and per-section count multisets equal) -> hyperfine timings + peak RSS (GNU time -v) ->
# summary table with the targets (dump >= 10x, analyze >= 3x faster than promtool).
#
# promtool 2.42 opens the directory as a DB: it needs a wal/ subdirectory and may leave chunks_head/
# behind, so it always runs on its own copy under $BENCH_DIR; blockyard reads the pristine blocks.
#
# Exit status: 0 ok; 1 correctness failure or setup error; 3 a performance target missed (full runs only).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GEN="$ROOT/scripts/gen-bench-openmetrics.py"
PROMTOOL="${PROMTOOL:-/usr/bin/promtool}"
BENCH_DIR="${BENCH_DIR:-/tmp/blockyard-bench}"
SEED=20230415
START=1700006400   # 2023-11-15T00:00:00Z, aligned to 2h so each data set is one block
DUMP_TARGET=10
ANALYZE_TARGET=3

MODE=full
SKIP_BUILD=0
for arg in "$@"; do
    case "$arg" in
        --smoke) MODE=smoke ;;
        --skip-build) SKIP_BUILD=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $arg (try --help)" >&2; exit 1 ;;
    esac
done

if [[ "$MODE" == smoke ]]; then
    ANALYZE_SERIES="${ANALYZE_SERIES:-2000}"
    DUMP_SERIES="${DUMP_SERIES:-2000}"
    DUMP_SAMPLES="${DUMP_SAMPLES:-240}"   # 1h at 15s
    RUNS="${RUNS:-1}"
    WARMUP="${WARMUP:-0}"
else
    ANALYZE_SERIES="${ANALYZE_SERIES:-400000}"
    DUMP_SERIES="${DUMP_SERIES:-10000}"
    DUMP_SAMPLES="${DUMP_SAMPLES:-480}"   # 2h at 15s -> 4.8M samples, promtool dump ~30 s
    RUNS="${RUNS:-3}"
    WARMUP="${WARMUP:-1}"
fi

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'bench-vs-promtool: %s\n' "$*" >&2; exit 1; }

# --- preflight -----------------------------------------------------------------------------------
command -v python3 >/dev/null 2>&1 || die "python3 is required"
command -v hyperfine >/dev/null 2>&1 || die "hyperfine is required (apt-get install hyperfine)"
[[ -x "$PROMTOOL" ]] || die "promtool not found at $PROMTOOL (set PROMTOOL=...)"

mkdir -p "$BENCH_DIR"
BENCH_DIR="$(cd "$BENCH_DIR" && pwd -P)"
ROOT_REAL="$(cd "$ROOT" && pwd -P)"
case "$BENCH_DIR/" in
    "$ROOT_REAL"/*) die "BENCH_DIR ($BENCH_DIR) is inside the repository; use a directory outside it" ;;
esac

HAVE_TIME=1
if ! command -v /usr/bin/time >/dev/null 2>&1 || ! /usr/bin/time -v true >/dev/null 2>&1; then
    echo "GNU time (/usr/bin/time -v) is missing; installing the 'time' package with apt-get" >&2
    if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        apt-get install -y time >&2 || HAVE_TIME=0
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo apt-get install -y time >&2 || HAVE_TIME=0
    else
        HAVE_TIME=0
    fi
    if [[ $HAVE_TIME -eq 0 ]]; then
        echo "warning: could not install GNU time; peak RSS will be reported as n/a" >&2
    fi
fi

echo "promtool:  $("$PROMTOOL" --version 2>&1 | head -1)" >&2
echo "hyperfine: $(hyperfine --version)" >&2
echo "cpus: $(nproc), mode: $MODE, BENCH_DIR: $BENCH_DIR" >&2

# --- data sets -------------------------------------------------------------------------------------
GEN_HASH="$(sha256sum "$GEN" | cut -c1-12)"
DATA="$BENCH_DIR/data"
mkdir -p "$DATA"

# make_dataset NAME PROFILE SERIES EXPECTED_SAMPLES(or -) [extra generator args...]
# Prints the DB directory (containing exactly one block) on stdout.
make_dataset() {
    local name="$1" profile="$2" series="$3" expect_samples="$4"
    shift 4
    local dir="$DATA/$name-$GEN_HASH"
    if [[ -f "$dir/.complete" ]]; then
        echo "reusing $dir" >&2
        echo "$dir/db"
        return
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    log "generating $name ($profile profile, $series series)"
    python3 "$GEN" --profile "$profile" --series "$series" --seed "$SEED" --start "$START" "$@" \
        -o "$dir/input.om"
    log "promtool tsdb create-blocks-from openmetrics ($name, $(du -h "$dir/input.om" | cut -f1) input)"
    "$PROMTOOL" tsdb create-blocks-from openmetrics -q "$dir/input.om" "$dir/db" >&2
    rm -f "$dir/input.om"
    # One block, with exactly the series (and samples) we generated.
    local listing n_blocks got_series got_samples
    listing="$("$PROMTOOL" tsdb list "$dir/db")"
    echo "$listing" >&2
    n_blocks="$(echo "$listing" | awk 'NR > 1 && NF > 0' | wc -l)"
    [[ "$n_blocks" -eq 1 ]] || die "$name: expected 1 block, promtool tsdb list shows $n_blocks"
    got_samples="$(echo "$listing" | awk 'NR == 2 { print $5 }')"
    got_series="$(echo "$listing" | awk 'NR == 2 { print $7 }')"
    [[ "$got_series" -eq "$series" ]] || die "$name: expected $series series, block has $got_series"
    if [[ "$expect_samples" != - ]]; then
        [[ "$got_samples" -eq "$expect_samples" ]] ||
            die "$name: expected $expect_samples samples, block has $got_samples"
    fi
    touch "$dir/.complete"
    echo "$dir/db"
}

ANALYZE_DB="$(make_dataset "analyze-s$ANALYZE_SERIES-seed$SEED" analyze "$ANALYZE_SERIES" -)"
DUMP_DB="$(make_dataset "dump-s$DUMP_SERIES-n$DUMP_SAMPLES-seed$SEED" dump "$DUMP_SERIES" \
    "$((DUMP_SERIES * DUMP_SAMPLES))" --samples "$DUMP_SAMPLES")"

# --- build -----------------------------------------------------------------------------------------
if [[ $SKIP_BUILD -eq 0 ]]; then
    bash "$ROOT/scripts/lib/build-bench-binary.sh"
fi
BLOCKYARD="$ROOT/.build-bench/release/blockyard"
[[ -x "$BLOCKYARD" ]] || die "no blockyard binary at $BLOCKYARD (build failed or --skip-build without a build)"

# --- scratch work area (recreated every run) --------------------------------------------------------
WORK="$BENCH_DIR/results-$MODE"
rm -rf "$WORK"
mkdir -p "$WORK"
P_DUMP_DB="$WORK/promtool-dump-db"
P_ANALYZE_DB="$WORK/promtool-analyze-db"
cp -r "$DUMP_DB" "$P_DUMP_DB" && mkdir -p "$P_DUMP_DB/wal"
cp -r "$ANALYZE_DB" "$P_ANALYZE_DB" && mkdir -p "$P_ANALYZE_DB/wal"

FAILED=0

# --- correctness: dump -----------------------------------------------------------------------------
log "correctness: promtool tsdb dump vs blockyard block dump (sorted, byte-identical)"
sorted() { LC_ALL=C sort -S 512M -T "$WORK" "$@"; }
"$PROMTOOL" tsdb dump "$P_DUMP_DB" | sorted >"$WORK/promtool.dump.sorted"
"$BLOCKYARD" block dump "$DUMP_DB" | sorted >"$WORK/blockyard.dump.sorted"
echo "promtool: $(wc -l <"$WORK/promtool.dump.sorted") lines, blockyard: $(wc -l <"$WORK/blockyard.dump.sorted") lines" >&2
if cmp -s "$WORK/promtool.dump.sorted" "$WORK/blockyard.dump.sorted"; then
    echo "dump: identical" >&2
    [[ "${KEEP_DUMPS:-0}" == 1 ]] || rm -f "$WORK"/*.dump.sorted
else
    echo "dump: DIFFERENT (files kept in $WORK); first differences:" >&2
    diff "$WORK/promtool.dump.sorted" "$WORK/blockyard.dump.sorted" | head -20 >&2 || true
    FAILED=1
fi

# Same again with a selector and a time range (both bounds inclusive in promtool).
MATCH='{__name__=~"http_requests_total|node_cpu_seconds_total",code!="200"}'
MIN_T=$(((START + 1800) * 1000))
MAX_T=$(((START + 2700) * 1000))
"$PROMTOOL" tsdb dump --match="$MATCH" --min-time="$MIN_T" --max-time="$MAX_T" "$P_DUMP_DB" |
    sorted >"$WORK/promtool.filtered.sorted"
"$BLOCKYARD" block dump --match "$MATCH" --min-time "$MIN_T" --max-time "$MAX_T" "$DUMP_DB" |
    sorted >"$WORK/blockyard.filtered.sorted"
if cmp -s "$WORK/promtool.filtered.sorted" "$WORK/blockyard.filtered.sorted"; then
    echo "filtered dump ($(wc -l <"$WORK/promtool.filtered.sorted") lines): identical" >&2
else
    echo "filtered dump ($MATCH, $MIN_T..$MAX_T): DIFFERENT; first differences:" >&2
    diff "$WORK/promtool.filtered.sorted" "$WORK/blockyard.filtered.sorted" | head -20 >&2 || true
    FAILED=1
fi

# --- correctness: analyze --------------------------------------------------------------------------
log "correctness: promtool tsdb analyze vs blockyard block analyze"
"$PROMTOOL" tsdb analyze "$P_ANALYZE_DB" >"$WORK/promtool.analyze"
"$BLOCKYARD" block analyze "$ANALYZE_DB" >"$WORK/blockyard.analyze"
if ! python3 - "$WORK/promtool.analyze" "$WORK/blockyard.analyze" <<'PY'
import sys
from collections import Counter

LIMIT = 20  # the --limit default of both tools

def sections(path):
    with open(path) as f:
        text = f.read()
    blocks = [b.splitlines() for b in text.strip("\n").split("\n\n")]
    return blocks[0], blocks[1:]

(p_head, p_secs), (b_head, b_secs) = sections(sys.argv[1]), sections(sys.argv[2])
ok = True
print("promtool header: " + " | ".join(p_head), file=sys.stderr)
if len(p_head) != 6 or p_head != b_head:
    ok = False
    print("header differs:\n  promtool:  %r\n  blockyard: %r" % (p_head, b_head), file=sys.stderr)
if [s[0] for s in p_secs] != [s[0] for s in b_secs]:
    ok = False
    print("section titles differ:\n  promtool:  %r\n  blockyard: %r"
          % ([s[0] for s in p_secs], [s[0] for s in b_secs]), file=sys.stderr)
for ps, bs in zip(p_secs, b_secs):
    title = ps[0]
    pe = [tuple(l.split(" ", 1)) for l in ps[1:]]
    be = [tuple(l.split(" ", 1)) for l in bs[1:]]
    if Counter(c for c, _ in pe) != Counter(c for c, _ in be):
        ok = False
        print("%s counts differ:\n  promtool:  %s\n  blockyard: %s"
              % (title, [c for c, _ in pe], [c for c, _ in be]), file=sys.stderr)
        continue
    # Only entries tied with the last shown count may legitimately differ (the cut-off among
    # equal counts); everything above it must be the same (count, name) pairs.
    if pe:
        cut = min(int(c) for c, _ in pe) if len(pe) >= LIMIT else -1
        p_strict = Counter(e for e in pe if int(e[0]) > cut)
        b_strict = Counter(e for e in be if int(e[0]) > cut)
        if p_strict != b_strict:
            ok = False
            print("%s entries differ:\n  only promtool:  %s\n  only blockyard: %s"
                  % (title, sorted(p_strict - b_strict), sorted(b_strict - p_strict)), file=sys.stderr)
print("analyze: %s (%d sections)" % ("equivalent" if ok else "DIFFERENT", len(p_secs)), file=sys.stderr)
sys.exit(0 if ok else 1)
PY
then
    echo "analyze outputs kept in $WORK; diff:" >&2
    diff "$WORK/promtool.analyze" "$WORK/blockyard.analyze" | head -20 >&2 || true
    FAILED=1
fi

if [[ $FAILED -ne 0 ]]; then
    die "correctness check FAILED: blockyard output differs from promtool (see above); not timing"
fi

# --- timing ----------------------------------------------------------------------------------------
q() { printf '%q' "$1"; }
P_DUMP_CMD="$(q "$PROMTOOL") tsdb dump $(q "$P_DUMP_DB")"
B_DUMP_CMD="$(q "$BLOCKYARD") block dump $(q "$DUMP_DB")"
P_ANALYZE_CMD="$(q "$PROMTOOL") tsdb analyze $(q "$P_ANALYZE_DB")"
B_ANALYZE_CMD="$(q "$BLOCKYARD") block analyze $(q "$ANALYZE_DB")"

log "timing dump (hyperfine --warmup $WARMUP --runs $RUNS)"
hyperfine --warmup "$WARMUP" --runs "$RUNS" --output=null --export-json "$WORK/hyperfine-dump.json" \
    -n "promtool tsdb dump" "$P_DUMP_CMD" -n "blockyard block dump" "$B_DUMP_CMD" >&2
log "timing analyze (hyperfine --warmup $WARMUP --runs $RUNS)"
hyperfine --warmup "$WARMUP" --runs "$RUNS" --output=null --export-json "$WORK/hyperfine-analyze.json" \
    -n "promtool tsdb analyze" "$P_ANALYZE_CMD" -n "blockyard block analyze" "$B_ANALYZE_CMD" >&2

# peak_rss NAME COMMAND... : one run under GNU time -v, peak RSS (KiB) into $WORK/rss-NAME
peak_rss() {
    local name="$1"
    shift
    if [[ $HAVE_TIME -eq 1 ]]; then
        /usr/bin/time -v -o "$WORK/time-$name.txt" "$@" >/dev/null
        awk -F': ' '/Maximum resident set size/ { print $2 }' "$WORK/time-$name.txt" >"$WORK/rss-$name"
    else
        echo "n/a" >"$WORK/rss-$name"
    fi
}
log "peak RSS (/usr/bin/time -v)"
peak_rss promtool-dump "$PROMTOOL" tsdb dump "$P_DUMP_DB"
peak_rss blockyard-dump "$BLOCKYARD" block dump "$DUMP_DB"
peak_rss promtool-analyze "$PROMTOOL" tsdb analyze "$P_ANALYZE_DB"
peak_rss blockyard-analyze "$BLOCKYARD" block analyze "$ANALYZE_DB"

# --- summary ---------------------------------------------------------------------------------------
set +e
python3 - "$WORK" "$MODE" "$DUMP_TARGET" "$ANALYZE_TARGET" <<'PY' | tee "$WORK/summary.txt"
import json, os, sys

work, mode, dump_target, analyze_target = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])

def means(name):
    with open(os.path.join(work, "hyperfine-%s.json" % name)) as f:
        res = json.load(f)["results"]
    return res[0]["mean"], res[1]["mean"]

def rss(name):
    with open(os.path.join(work, "rss-" + name)) as f:
        v = f.read().strip()
    return "n/a" if not v.isdigit() else "%.1f MiB" % (int(v) / 1024)

rows, missed = [], False
for cmd, target in (("dump", dump_target), ("analyze", analyze_target)):
    p, b = means(cmd)
    ratio = p / b
    ok = round(ratio, 1) >= target
    missed |= not ok
    rows.append((cmd, "%.3f" % p, "%.3f" % b, "%.1fx" % ratio, rss("promtool-" + cmd),
                 rss("blockyard-" + cmd), ">= %gx" % target, "PASS" if ok else "FAIL"))
hdr = ("command", "promtool mean s", "blockyard mean s", "ratio", "promtool peak RSS",
       "blockyard peak RSS", "target", "result")
widths = [max(len(r[i]) for r in rows + [hdr]) for i in range(len(hdr))]
print()
print("blockyard vs promtool (%s run, %d CPUs)" % (mode, os.cpu_count()))
for r in [hdr] + rows:
    print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
if mode == "smoke":
    print("(smoke data sets are tiny: targets are informational only)")
    sys.exit(0)
sys.exit(3 if missed else 0)
PY
status=${PIPESTATUS[0]}
set -e
echo "results: $WORK" >&2
exit "$status"

#!/usr/bin/env bash
# Benchmarks `blockyard upload|download` against `rclone copy` on real Prometheus blocks, both
# talking to the Azure Blob emulator (Tests/emulator/azblob_emulator.py) on loopback.
#
# Run by hand (not part of CI):
#   scripts/bench-transfer-vs-rclone.sh            full run: the analyze-400000 and dump-10000 blocks
#                                                  of scripts/bench-vs-promtool.sh (~110 MB)
#   scripts/bench-transfer-vs-rclone.sh --smoke    the tiny smoke blocks (~3 MB), 1 timed run each
# Options:
#   --smoke        tiny blocks; the target is reported but does not fail the run
#   --skip-build   use the existing .build-bench release binary instead of running swift build
#   -h, --help     this text
# Environment:
#   BENCH_DIR      scratch directory (default /tmp/blockyard-bench); must be outside the repository.
#                  Blocks are taken from $BENCH_DIR/data/*/db/<ULID>/ as left there by
#                  scripts/bench-vs-promtool.sh, or generated the same way when missing.
#   PROMTOOL       promtool binary, only needed to generate missing blocks (default /usr/bin/promtool)
#   RUNS           timed runs per command (default 5; 1 with --smoke)
#   RCLONE_FLAGS   extra rclone flags (default none: rclone's defaults, --transfers 4)
#
# What is timed (hyperfine, one emulator for the whole run, started here on a free port):
#   upload:   rclone copy SRC emu:rclone-up          vs  blockyard upload SRC --label ... (container bench)
#             --prepare resets the emulator (POST /__control/reset) and recreates both containers,
#             so every run really uploads everything.
#   download: rclone copy emu:rclone-up DEST --include /<ULID>/** ...  vs  blockyard download ULID...
#             --prepare empties that command's destination directory.
# SRC is $BENCH_DIR/transfer-<mode>/src, hard links to the blocks, one <ULID>/ per block.
#
# Correctness (untimed, before timing, with the emulator's counters recorded for each step):
#   blockyard upload, rclone upload, then `rclone check --download` of both containers against SRC
#   (blockyard rewrites meta.json with the Thanos section and does not upload tombstones, as Thanos;
#   its meta.json is checked separately); blockyard download and rclone download, each compared
#   file by file with cmp. The downloads of the last timed runs are compared again at the end.
#
# The emulator is single-process Python: it may well be the bottleneck for both tools, so the
# ratio says more than the absolute MB/s.
#
# Exit status: 0 ok; 1 correctness failure or setup error; 3 the target (blockyard at least as fast
# as rclone) missed (full runs only).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HELPER="$ROOT/scripts/bench/populate_container.py"
EMULATOR="$ROOT/Tests/emulator/azblob_emulator.py"
PROMTOOL="${PROMTOOL:-/usr/bin/promtool}"
BENCH_DIR="${BENCH_DIR:-/tmp/blockyard-bench}"
ACCOUNT=devstoreaccount1
KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
SEED=20230415      # same data sets as scripts/bench-vs-promtool.sh
START=1700006400
BY_CONTAINER=bench
RC_CONTAINER=rclone-up
LABEL="bench=transfer"

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
    ANALYZE_SERIES=2000; DUMP_SERIES=2000; DUMP_SAMPLES=240
    RUNS="${RUNS:-1}"
else
    ANALYZE_SERIES=400000; DUMP_SERIES=10000; DUMP_SAMPLES=480
    RUNS="${RUNS:-5}"
fi
read -r -a RCLONE_EXTRA <<<"${RCLONE_FLAGS:-}"

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'bench-transfer-vs-rclone: %s\n' "$*" >&2; exit 1; }

# --- preflight -----------------------------------------------------------------------------------
for tool in python3 hyperfine rclone curl cmp; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is required"
done
mkdir -p "$BENCH_DIR"
BENCH_DIR="$(cd "$BENCH_DIR" && pwd -P)"
case "$BENCH_DIR/" in
    "$(cd "$ROOT" && pwd -P)"/*) die "BENCH_DIR ($BENCH_DIR) is inside the repository; use a directory outside it" ;;
esac
echo "rclone:    $(rclone version 2>/dev/null | head -1)" >&2
echo "hyperfine: $(hyperfine --version)" >&2
echo "cpus: $(nproc), mode: $MODE, runs: $RUNS, BENCH_DIR: $BENCH_DIR" >&2

# --- blocks ----------------------------------------------------------------------------------------
DATA="$BENCH_DIR/data"
mkdir -p "$DATA"
# shellcheck source=lib/bench-data.sh
source "$ROOT/scripts/lib/bench-data.sh"

ANALYZE_BLOCK="$(find_or_make "analyze-s$ANALYZE_SERIES-seed$SEED" analyze "$ANALYZE_SERIES")"
DUMP_BLOCK="$(find_or_make "dump-s$DUMP_SERIES-n$DUMP_SAMPLES-seed$SEED" dump "$DUMP_SERIES" --samples "$DUMP_SAMPLES")"

# --- build -----------------------------------------------------------------------------------------
if [[ $SKIP_BUILD -eq 0 ]]; then
    log "building: swift build -c release --scratch-path .build-bench --product blockyard"
    (cd "$ROOT" && swift build -c release --scratch-path .build-bench --product blockyard >&2)
fi
BLOCKYARD="$ROOT/.build-bench/release/blockyard"
[[ -x "$BLOCKYARD" ]] || die "no blockyard binary at $BLOCKYARD (build failed or --skip-build without a build)"

# --- work area -------------------------------------------------------------------------------------
WORK="$BENCH_DIR/transfer-$MODE"
rm -rf "$WORK"
mkdir -p "$WORK/src"
SRC="$WORK/src"
ULIDS=()
for b in "$ANALYZE_BLOCK" "$DUMP_BLOCK"; do
    id="$(basename "$b")"
    cp -al "$b" "$SRC/$id"    # hard links: no copy, same bytes for both tools
    ULIDS+=("$id")
done
SRC_BYTES="$(find "$SRC" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')"
echo "blocks: ${ULIDS[*]} ($SRC_BYTES bytes, $(find "$SRC" -type f | wc -l) files)" >&2

# --- emulator --------------------------------------------------------------------------------------
# shellcheck source=scripts/lib/emulator.sh
source "$ROOT/scripts/lib/emulator.sh"
start_emulator "$WORK" --quiet || die "the emulator did not start"

CFG="$WORK/objstore.yaml"
cat >"$CFG" <<EOF
type: AZURE
config:
  storage_account: $ACCOUNT
  storage_connection_string: "DefaultEndpointsProtocol=http;AccountName=$ACCOUNT;AccountKey=$KEY;BlobEndpoint=$ENDPOINT;"
  container: $BY_CONTAINER
EOF
RCONF="$WORK/rclone.conf"
cat >"$RCONF" <<EOF
[emu]
type = azureblob
use_emulator = true
endpoint = $ENDPOINT
EOF

reset_emulator() {
    curl -sf -X POST "$CONTROL/reset" >/dev/null
    python3 "$HELPER" --endpoint "$ENDPOINT" mkcontainer "$BY_CONTAINER" "$RC_CONTAINER"
}
CLK_TCK="$(getconf CLK_TCK)"
# The emulator's CPU time so far (user + system, seconds), from /proc.
emu_cpu() { awk -v hz="$CLK_TCK" '{ printf "%.3f\n", ($14 + $15) / hz }' "/proc/$EMU_PID/stat"; }
now() { date +%s.%N; }
# zero_stats / save_stats NAME: the emulator's counters around one step, plus that step's wall
# time and the emulator's CPU time during it ("wall_s emu_cpu_s" in cpu-NAME).
zero_stats() {
    curl -sf -X DELETE "$CONTROL/stats" >/dev/null
    STEP_CPU0="$(emu_cpu)"
    STEP_T0="$(now)"
}
save_stats() {
    local t1 cpu1
    t1="$(now)"
    cpu1="$(emu_cpu)"
    curl -sf "$CONTROL/stats" >"$WORK/stats-$1.json"
    awk -v a="$STEP_T0" -v b="$t1" -v c="$STEP_CPU0" -v d="$cpu1" 'BEGIN { printf "%.3f %.3f\n", b - a, d - c }' \
        >"$WORK/cpu-$1"
}

q() { printf '%q' "$1"; }
RC_ARGS=(rclone --config "$RCONF" "${RCLONE_EXTRA[@]}")
RC="$(printf '%q ' "${RC_ARGS[@]}")"
RC="${RC% }"
INCLUDES=""
for id in "${ULIDS[@]}"; do INCLUDES+=" --include $(q "/$id/**")"; done
DOWN_RC="$WORK/down-rclone"
DOWN_BY="$WORK/down-blockyard"

UP_RC_CMD="$RC copy $(q "$SRC") emu:$RC_CONTAINER"
UP_BY_CMD="$(q "$BLOCKYARD") upload $(q "$SRC") --label $LABEL --objstore.config-file $(q "$CFG")"
DOWN_RC_CMD="$RC copy emu:$RC_CONTAINER $(q "$DOWN_RC")$INCLUDES"
DOWN_BY_CMD="$(q "$BLOCKYARD") download ${ULIDS[*]} --to $(q "$DOWN_BY") --objstore.config-file $(q "$CFG")"
RESET_CMD="curl -sf -X POST $(q "$CONTROL/reset") >/dev/null && python3 $(q "$HELPER") --endpoint $(q "$ENDPOINT") mkcontainer $BY_CONTAINER $RC_CONTAINER"
CLEAN_RC_CMD="rm -rf $(q "$DOWN_RC")"
CLEAN_BY_CMD="rm -rf $(q "$DOWN_BY")"
{
    echo "upload   rclone:    $UP_RC_CMD"
    echo "upload   blockyard: $UP_BY_CMD"
    echo "download rclone:    $DOWN_RC_CMD"
    echo "download blockyard: $DOWN_BY_CMD"
    echo "upload prepare:     $RESET_CMD"
    echo "download prepare:   $CLEAN_RC_CMD (rclone), $CLEAN_BY_CMD (blockyard)"
} | tee "$WORK/commands.txt" >&2

# --- correctness checks ----------------------------------------------------------------------------
FAILED=0
fail() { echo "FAIL: $*" >&2; FAILED=1; }

# check_rclone_tree DIR: every file of SRC is in DIR with the same bytes, and nothing else.
check_rclone_tree() {
    local dir="$1" f n=0
    [[ -d "$dir" ]] || { fail "rclone download: $dir does not exist"; return; }
    while IFS= read -r -d '' f; do
        f="${f#"$SRC"/}"
        cmp -s "$SRC/$f" "$dir/$f" || { fail "rclone download: $f differs or is missing"; continue; }
        n=$((n + 1))
    done < <(find "$SRC" -type f -print0)
    local extra
    extra="$(cd "$dir" && find . -type f | sed 's|^\./||' | while read -r f; do [[ -f "$SRC/$f" ]] || echo "$f"; done)"
    [[ -z "$extra" ]] || fail "rclone download: unexpected files: $extra"
    echo "rclone download: $n files identical to the originals" >&2
}

# check_blockyard_tree DIR: chunks and index identical; meta.json = original + the Thanos section;
# no tombstones (not uploaded, as Thanos); nothing else.
check_blockyard_tree() {
    local dir="$1" id f n=0
    [[ -d "$dir" ]] || { fail "blockyard download: $dir does not exist"; return; }
    for id in "${ULIDS[@]}"; do
        while IFS= read -r -d '' f; do
            f="${f#"$SRC"/}"
            case "$f" in */meta.json|*/tombstones) continue ;; esac
            cmp -s "$SRC/$f" "$dir/$f" || { fail "blockyard download: $f differs or is missing"; continue; }
            n=$((n + 1))
        done < <(find "$SRC/$id" -type f -print0)
        [[ ! -e "$dir/$id/tombstones" ]] || fail "blockyard download: $id/tombstones present (was not uploaded)"
        check_meta "$SRC/$id" "$dir/$id/meta.json" "blockyard download" || FAILED=1
        n=$((n + 1))
    done
    local extra
    extra="$(cd "$dir" && find . -mindepth 1 | sed 's|^\./||' | while read -r f; do
        [[ -e "$SRC/$f" ]] || echo "$f"; done)"
    [[ -z "$extra" ]] || fail "blockyard download: unexpected entries: $extra"
    echo "blockyard download: $n files checked (data files byte-identical, meta.json equivalent)" >&2
}

# check_meta BLOCKDIR METAFILE WHAT: METAFILE is BLOCKDIR/meta.json plus a thanos section with our
# label, resolution 0, source bucket.upload and the sizes of the block's files.
check_meta() {
    python3 - "$1" "$2" "$3" "$LABEL" <<'PY'
import json, os, sys
block, got_path, what, label = sys.argv[1:5]
orig = json.load(open(os.path.join(block, "meta.json")))
got = json.load(open(got_path))
errs = []
th = got.pop("thanos", None)
if got != orig:
    errs.append("meta.json differs from the original outside the thanos section")
if not isinstance(th, dict):
    errs.append("no thanos section")
else:
    k, v = label.split("=", 1)
    if th.get("labels") != {k: v}:
        errs.append("thanos.labels = %r" % th.get("labels"))
    if th.get("source") != "bucket.upload":
        errs.append("thanos.source = %r" % th.get("source"))
    if (th.get("downsample") or {}).get("resolution", 0) != 0:
        errs.append("thanos.downsample = %r" % th.get("downsample"))
    want = {}
    for d, _, fs in os.walk(block):
        for f in fs:
            rel = os.path.relpath(os.path.join(d, f), block)
            if rel not in ("meta.json", "tombstones"):
                want[rel] = os.path.getsize(os.path.join(block, rel))
    files = {f["rel_path"]: f.get("size_bytes") for f in th.get("files", [])}
    if files.pop("meta.json", "absent") == "absent":
        errs.append("thanos.files has no meta.json entry")
    if files != want:
        errs.append("thanos.files %r != local sizes %r" % (files, want))
for e in errs:
    print("FAIL: %s %s: %s" % (what, got_path, e), file=sys.stderr)
sys.exit(1 if errs else 0)
PY
}

log "correctness pass (untimed; emulator counters recorded per step)"
reset_emulator
zero_stats
"$BLOCKYARD" upload "$SRC" --label "$LABEL" --objstore.config-file "$CFG" >&2
save_stats blockyard-upload
zero_stats
"${RC_ARGS[@]}" copy "$SRC" "emu:$RC_CONTAINER" >&2
save_stats rclone-upload

# The uploads, read back with rclone --download (byte comparison, not just hashes).
rclone --config "$RCONF" check --one-way --download "$SRC" "emu:$RC_CONTAINER" 2>"$WORK/check-rclone-up.txt" \
    || { cat "$WORK/check-rclone-up.txt" >&2; fail "rclone upload: rclone check found differences"; }
rclone --config "$RCONF" check --one-way --download --exclude meta.json --exclude tombstones \
    "$SRC" "emu:$BY_CONTAINER" 2>"$WORK/check-blockyard-up.txt" \
    || { cat "$WORK/check-blockyard-up.txt" >&2; fail "blockyard upload: rclone check found differences"; }
for id in "${ULIDS[@]}"; do
    rclone --config "$RCONF" cat "emu:$BY_CONTAINER/$id/meta.json" >"$WORK/uploaded-$id-meta.json"
    check_meta "$SRC/$id" "$WORK/uploaded-$id-meta.json" "blockyard upload" || FAILED=1
done
tail -n 3 "$WORK/check-rclone-up.txt" "$WORK/check-blockyard-up.txt" >&2 || true

zero_stats
"$BLOCKYARD" download "${ULIDS[@]}" --to "$DOWN_BY" --objstore.config-file "$CFG" >&2
save_stats blockyard-download
zero_stats
# shellcheck disable=SC2086  # $INCLUDES is built with printf %q
eval "$DOWN_RC_CMD" >&2
save_stats rclone-download
check_rclone_tree "$DOWN_RC"
check_blockyard_tree "$DOWN_BY"
[[ $FAILED -eq 0 ]] || die "correctness check FAILED (see above); not timing"

# --- timing ----------------------------------------------------------------------------------------
cat /proc/loadavg >"$WORK/loadavg"
log "timing upload (hyperfine --runs $RUNS; --prepare resets the emulator and recreates the containers)"
hyperfine --runs "$RUNS" --output=null --prepare "$RESET_CMD" --export-json "$WORK/hyperfine-upload.json" \
    -n "rclone copy (upload)" "$UP_RC_CMD" -n "blockyard upload" "$UP_BY_CMD" >&2

log "restoring both containers for the download timing"
reset_emulator
"$BLOCKYARD" upload "$SRC" --label "$LABEL" --objstore.config-file "$CFG" >/dev/null
"${RC_ARGS[@]}" copy "$SRC" "emu:$RC_CONTAINER" >&2

log "timing download (hyperfine --runs $RUNS; --prepare empties the destination of each command)"
hyperfine --runs "$RUNS" --output=null --export-json "$WORK/hyperfine-download.json" \
    --prepare "$CLEAN_RC_CMD" -n "rclone copy (download)" "$DOWN_RC_CMD" \
    --prepare "$CLEAN_BY_CMD" -n "blockyard download" "$DOWN_BY_CMD" >&2

cat /proc/loadavg >>"$WORK/loadavg"
log "checking the downloads of the last timed runs"
check_rclone_tree "$DOWN_RC"
check_blockyard_tree "$DOWN_BY"
[[ $FAILED -eq 0 ]] || die "correctness check of the timed downloads FAILED (see above)"

# --- summary ---------------------------------------------------------------------------------------
set +e
python3 - "$WORK" "$MODE" "$SRC_BYTES" "$RUNS" <<'PY' | tee "$WORK/summary.txt"
import json, os, sys

work, mode, nbytes, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def results(name):
    with open(os.path.join(work, "hyperfine-%s.json" % name)) as f:
        r = json.load(f)["results"]
    return r[0], r[1]

def stats(name):
    with open(os.path.join(work, "stats-%s.json" % name)) as f:
        s = json.load(f)
    with open(os.path.join(work, "cpu-%s" % name)) as f:
        s["wall_s"], s["emu_cpu_s"] = (float(x) for x in f.read().split())
    return s

rows, missed = [], False
for op in ("upload", "download"):
    rc, by = results(op)
    ratio = rc["mean"] / by["mean"]
    ok = round(ratio, 2) >= 1.0
    missed |= not ok
    rows.append((op, "%.3f ± %.3f" % (rc["mean"], rc["stddev"] or 0), "%.3f ± %.3f" % (by["mean"], by["stddev"] or 0),
                 "%.2fx" % ratio, "%d" % nbytes, "%.1f" % (nbytes / rc["mean"] / 1e6),
                 "%.1f" % (nbytes / by["mean"] / 1e6), ">= 1.00x", "PASS" if ok else "FAIL"))
hdr = ("operation", "rclone mean s", "blockyard mean s", "ratio rclone/blockyard", "bytes",
       "rclone MB/s", "blockyard MB/s", "target", "result")
widths = [max(len(r[i]) for r in rows + [hdr]) for i in range(len(hdr))]
print()
print("blockyard vs rclone through the Azure Blob emulator (%s run, %d runs each, %d CPUs)"
      % (mode, runs, os.cpu_count()))
for r in [hdr] + rows:
    print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
print("target: blockyard at least as fast as rclone (ratio >= 1.00)")
print()
print("emulator counters per single (untimed) run:")
for name in ("blockyard-upload", "rclone-upload", "blockyard-download", "rclone-download"):
    s = stats(name)
    ops = ", ".join("%s %d" % kv for kv in sorted(s["requests"].items()))
    st = ", ".join("%s: %d" % kv for kv in sorted(s["statuses"].items()))
    print("  %-19s %6.3f s wall, emulator CPU %6.3f s; bytes_received %11d  bytes_sent %11d  requests %4d"
          % (name, s["wall_s"], s["emu_cpu_s"], s["bytes_received"], s["bytes_sent"], s["requests_total"]))
    print("  %-19s (%s; status %s)" % ("", ops, st))
print("(payload: %d bytes of block files; blockyard leaves out the 9-byte tombstones and rewrites meta.json)" % nbytes)
print("note: the emulator is one Python process (ThreadingHTTPServer, GIL); it may be the bottleneck")
print("      for both tools, so compare the ratio rather than the absolute MB/s. Its CPU time per run is")
print("      above (it verifies every Content-MD5 it is sent: blockyard sends one per block, rclone does not).")
la = [l.split()[:3] for l in open(os.path.join(work, "loadavg")).read().splitlines()]
print("load average (1/5/15 min) before timing: %s, after: %s on %d CPUs%s"
      % ("/".join(la[0]), "/".join(la[-1]), os.cpu_count(),
         "  <- busy machine: timings are noisy" if max(float(l[0]) for l in la) > 0.5 * os.cpu_count() else ""))
if mode == "smoke":
    print("(smoke blocks are tiny: the target is informational only)")
    sys.exit(0)
sys.exit(3 if missed else 0)
PY
status=${PIPESTATUS[0]}
set -e
echo "results: $WORK" >&2
exit "$status"

#!/usr/bin/env bash
# Benchmarks `blockyard inspect` on an Azure container with many blocks, cold (empty meta.json
# cache) and warm (every meta.json served from the cache), against the Azure Blob emulator
# (Tests/emulator/azblob_emulator.py) on loopback.
#
# Run by hand (not part of CI):
#   scripts/bench-inspect-many.sh            2,000 blocks
#   scripts/bench-inspect-many.sh --smoke    200 blocks, 1 timed run each
# Options:
#   --smoke        200 blocks
#   --skip-build   use the existing .build-bench release binary instead of running swift build
#   -h, --help     this text
# Environment:
#   BENCH_DIR      scratch directory (default /tmp/blockyard-bench); must be outside the repository
#   BLOCKS         number of blocks (default 2000; 200 with --smoke)
#   RUNS           hyperfine runs per case (default 5; 1 with --smoke)
#   CONCURRENCY    --block-meta-fetch-concurrency (default: blockyard's own, 32)
#
# Steps: start the emulator on a free port (request log kept, to count requests per path) ->
# populate container "bench" with scripts/bench/populate_container.py: per block <ULID>/meta.json
# (a Thanos meta.json with labels, downsample, source, files with sizes, index_stats; distinct
# ULIDs and 2h time ranges) plus small <ULID>/index and <ULID>/chunks/000001, 32 writers in
# parallel -> one cold and one warm `blockyard inspect -o json` with the emulator's counters
# zeroed before and read after each, plus the request log between them (Get Blob of meta.json,
# List Blobs, Get Blob Properties) -> hyperfine of both cases (cold: --prepare empties the cache) ->
# checks: the output has exactly one row per block with the right ULIDs, labels and sizes;
# cold fetches every meta.json once, warm fetches none -> summary.
#
# The emulator is one Python process; it could bottleneck 2,000 small GETs, so the summary shows
# its CPU time during the counted cold run next to the wall time.
#
# Exit status: 0 ok; 1 a check failed or a setup error.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HELPER="$ROOT/scripts/bench/populate_container.py"
EMULATOR="$ROOT/Tests/emulator/azblob_emulator.py"
BENCH_DIR="${BENCH_DIR:-/tmp/blockyard-bench}"
ACCOUNT=devstoreaccount1
KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
CONTAINER=bench

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
    BLOCKS="${BLOCKS:-200}"
    RUNS="${RUNS:-1}"
else
    BLOCKS="${BLOCKS:-2000}"
    RUNS="${RUNS:-5}"
fi
CONC_ARGS=()
[[ -z "${CONCURRENCY:-}" ]] || CONC_ARGS=(--block-meta-fetch-concurrency "$CONCURRENCY")

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'bench-inspect-many: %s\n' "$*" >&2; exit 1; }

# --- preflight -----------------------------------------------------------------------------------
for tool in python3 hyperfine curl; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is required"
done
mkdir -p "$BENCH_DIR"
BENCH_DIR="$(cd "$BENCH_DIR" && pwd -P)"
case "$BENCH_DIR/" in
    "$(cd "$ROOT" && pwd -P)"/*) die "BENCH_DIR ($BENCH_DIR) is inside the repository; use a directory outside it" ;;
esac
echo "hyperfine: $(hyperfine --version)" >&2
echo "cpus: $(nproc), mode: $MODE, blocks: $BLOCKS, runs: $RUNS, BENCH_DIR: $BENCH_DIR" >&2

if [[ $SKIP_BUILD -eq 0 ]]; then
    bash "$ROOT/scripts/lib/build-bench-binary.sh"
fi
BLOCKYARD="$ROOT/.build-bench/release/blockyard"
[[ -x "$BLOCKYARD" ]] || die "no blockyard binary at $BLOCKYARD (build failed or --skip-build without a build)"

WORK="$BENCH_DIR/inspect-$MODE"
rm -rf "$WORK"
mkdir -p "$WORK"
CACHE="$WORK/cache"

# --- emulator (request log on, to count requests per path) ---------------------------------------
# shellcheck source=scripts/lib/emulator.sh
source "$ROOT/scripts/lib/emulator.sh"
start_emulator "$WORK" || die "the emulator did not start"
EMU_LOG="$WORK/emulator.err"  # its request log: one line per request

CFG="$WORK/objstore.yaml"
cat >"$CFG" <<EOF
type: AZURE
config:
  storage_account: $ACCOUNT
  storage_connection_string: "DefaultEndpointsProtocol=http;AccountName=$ACCOUNT;AccountKey=$KEY;BlobEndpoint=$ENDPOINT;"
  container: $CONTAINER
EOF

# --- populate --------------------------------------------------------------------------------------
log "populating $CONTAINER with $BLOCKS blocks (meta.json + index + chunks/000001 each)"
python3 "$HELPER" --endpoint "$ENDPOINT" populate --container "$CONTAINER" --blocks "$BLOCKS" \
    --workers 32 --ulids-out "$WORK/ulids.txt"
[[ "$(wc -l <"$WORK/ulids.txt")" -eq "$BLOCKS" ]] || die "populate wrote $(wc -l <"$WORK/ulids.txt") ULIDs"

q() { printf '%q' "$1"; }
INSPECT=("$BLOCKYARD" inspect --objstore.config-file "$CFG" --cache-dir "$CACHE" "${CONC_ARGS[@]}")
INSPECT_CMD="$(printf '%q ' "${INSPECT[@]}")"
INSPECT_CMD="${INSPECT_CMD% }"
echo "inspect command: $INSPECT_CMD [-o json]" | tee "$WORK/commands.txt" >&2

CLK_TCK="$(getconf CLK_TCK)"
# The emulator's CPU time so far (user + system, seconds), from /proc.
emu_cpu() { awk -v hz="$CLK_TCK" '{ printf "%.3f\n", ($14 + $15) / hz }' "/proc/$EMU_PID/stat"; }

# measured NAME: one `inspect -o json` run with the counters zeroed before and read after;
# writes NAME.json (output), NAME.stats.json, NAME.log (request log lines of this run), NAME.secs,
# NAME.emucpu (the emulator's CPU seconds during the run).
measured() {
    local name="$1" before t0 t1 cpu0 cpu1
    curl -sf -X DELETE "$CONTROL/stats" >/dev/null
    before="$(wc -l <"$EMU_LOG")"
    cpu0="$(emu_cpu)"
    t0="$(date +%s.%N)"
    "${INSPECT[@]}" -o json >"$WORK/$name.json"
    t1="$(date +%s.%N)"
    cpu1="$(emu_cpu)"
    python3 -c 'import sys; print("%.3f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$cpu0" "$cpu1" >"$WORK/$name.emucpu"
    curl -sf "$CONTROL/stats" >"$WORK/$name.stats.json"
    sleep 0.2   # let the emulator's last log lines land
    tail -n +"$((before + 1))" "$EMU_LOG" >"$WORK/$name.log"
    python3 -c 'import sys; print("%.3f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$t0" "$t1" >"$WORK/$name.secs"
    echo "$name: $(cat "$WORK/$name.secs") s" >&2
}

log "cold run (empty cache dir), counters and request log recorded"
rm -rf "$CACHE"
measured cold
log "warm run (cache filled by the cold run)"
measured warm
log "table output (warm)"
"${INSPECT[@]}" >"$WORK/warm.table"
head -n 3 "$WORK/warm.table" >&2

cat /proc/loadavg >"$WORK/loadavg"
log "timing (hyperfine --runs $RUNS): cold (--prepare rm -rf the cache) and warm"
hyperfine --runs "$RUNS" --output=null --export-json "$WORK/hyperfine.json" \
    --prepare "rm -rf $(q "$CACHE")" -n "inspect cold (empty cache)" "$INSPECT_CMD" \
    --prepare "true" -n "inspect warm (cached meta.json)" "$INSPECT_CMD" >&2
cat /proc/loadavg >>"$WORK/loadavg"

# --- checks and summary ----------------------------------------------------------------------------
set +e
python3 - "$WORK" "$MODE" "$BLOCKS" "$CONTAINER" "$ACCOUNT" <<'PY' | tee "$WORK/summary.txt"
import json, os, re, sys

work, mode, n, container, account = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
want = [l.strip() for l in open(os.path.join(work, "ulids.txt")) if l.strip()]
ok = True

def check(cond, msg):
    global ok
    if not cond:
        ok = False
        print("FAIL: " + msg)

meta_re = re.compile(r'"GET /%s/%s/[0-9A-HJKMNP-TV-Z]{26}/meta\.json HTTP' % (re.escape(account), re.escape(container)))

def run_facts(name):
    stats = json.load(open(os.path.join(work, name + ".stats.json")))
    lines = open(os.path.join(work, name + ".log")).read().splitlines()
    meta_gets = sum(1 for l in lines if meta_re.search(l))
    rows = json.load(open(os.path.join(work, name + ".json")))
    secs = float(open(os.path.join(work, name + ".secs")).read())
    stats["emu_cpu_s"] = float(open(os.path.join(work, name + ".emucpu")).read())
    return stats, meta_gets, rows, secs

hf = {r["command"]: r for r in json.load(open(os.path.join(work, "hyperfine.json")))["results"]}
hf_list = list(hf.values())
table_rows = open(os.path.join(work, "warm.table")).read().splitlines()
summary = []
for i, name in enumerate(("cold", "warm")):
    stats, meta_gets, rows, secs = run_facts(name)
    req = stats["requests"]
    ids = [r.get("ulid") for r in rows]
    check(len(rows) == n, "%s: %d rows in the inspect output, want %d" % (name, len(rows), n))
    check(sorted(ids) == want, "%s: the ULIDs in the output are not the populated ones" % name)
    check(all(r.get("labels", {}).get("tenant_id") == "default-tenant" for r in rows),
          "%s: rows without the populated external labels" % name)
    check(all(isinstance(r.get("size_bytes"), int) and r["size_bytes"] > 0 for r in rows),
          "%s: rows without size_bytes" % name)
    expect_meta = n if name == "cold" else 0
    check(meta_gets == expect_meta, "%s: %d Get Blob requests for meta.json, want %d" % (name, meta_gets, expect_meta))
    check(req.get("GetBlob", 0) == meta_gets, "%s: %d Get Blob requests in total but %d for meta.json"
          % (name, req.get("GetBlob", 0), meta_gets))
    h = hf_list[i]
    summary.append((name, "%.3f" % secs, "%.3f" % stats["emu_cpu_s"], "%.3f ± %.3f" % (h["mean"], h["stddev"] or 0), str(len(rows)),
                    str(meta_gets), str(req.get("ListBlobs", 0)), str(req.get("GetBlobProperties", 0)),
                    str(stats["requests_total"]), str(stats["bytes_sent"])))
    other = {k: v for k, v in req.items() if k not in ("GetBlob", "ListBlobs", "GetBlobProperties")}
    summary_other = ", ".join("%s %d" % kv for kv in sorted(other.items())) or "none"
    print("%s run: other requests: %s; statuses: %s" % (name, summary_other, stats["statuses"]))

cold = json.load(open(os.path.join(work, "cold.json")))
warm = json.load(open(os.path.join(work, "warm.json")))
check(cold == warm, "cold and warm outputs differ")
# table: a header line plus one line per block
check(len(table_rows) == n + 1, "table output has %d lines, want %d (header + rows)" % (len(table_rows), n + 1))
cache_files = sum(len([f for f in fs if f == "meta.json"]) for _, _, fs in os.walk(os.path.join(work, "cache")))
check(cache_files == n, "cache holds %d meta.json files, want %d" % (cache_files, n))

hdr = ("run", "wall s (counted run)", "emulator CPU s", "hyperfine mean s", "rows", "GetBlob meta.json", "ListBlobs",
       "GetBlobProperties", "requests", "bytes_sent")
widths = [max(len(r[k]) for r in summary + [hdr]) for k in range(len(hdr))]
print()
print("blockyard inspect on %d blocks through the Azure Blob emulator (%s run, %d CPUs, %d hyperfine runs)"
      % (n, mode, os.cpu_count(), hf_list[0].get("times") and len(hf_list[0]["times"]) or 0))
for r in [hdr] + summary:
    print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
print("expected: cold %d meta.json GETs, warm 0; %d rows; cache holds %d meta.json files: %s"
      % (n, n, cache_files, "OK" if ok else "FAILED"))
cold_stats, _, _, cold_secs = run_facts("cold")
share = cold_stats["emu_cpu_s"] / cold_secs if cold_secs > 0 else 0
print("note: the emulator is one Python process (GIL) and may bottleneck many small GETs; in the counted")
print("      cold run it used %.3f s CPU in %.3f s wall (%.0f%% of one core)%s"
      % (cold_stats["emu_cpu_s"], cold_secs, 100 * share,
         ", so it was busy most of the time" if share > 0.8 else ", so most of the time went elsewhere (client)"))
la = [l.split()[:3] for l in open(os.path.join(work, "loadavg")).read().splitlines()]
print("load average (1/5/15 min) before timing: %s, after: %s on %d CPUs%s"
      % ("/".join(la[0]), "/".join(la[-1]), os.cpu_count(),
         "  <- busy machine: timings are noisy" if max(float(l[0]) for l in la) > 0.5 * os.cpu_count() else ""))
sys.exit(0 if ok else 1)
PY
status=${PIPESTATUS[0]}
set -e
echo "results: $WORK" >&2
exit "$status"

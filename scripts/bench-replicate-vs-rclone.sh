#!/usr/bin/env bash
# Benchmarks `blockyard replicate` container -> container against `rclone copy` remote -> remote
# of the same data, both through the Azure Blob emulator (Tests/emulator) on loopback, and shows
# with the emulator's byte counters that a server-side copy moves no block bytes through blockyard.
#
# Run by hand (not part of CI):
#   scripts/bench-replicate-vs-rclone.sh            full run: the analyze-400000 and dump-10000 blocks
#                                                   of scripts/bench-vs-promtool.sh (~118 MB)
#   scripts/bench-replicate-vs-rclone.sh --smoke    tiny blocks (~3 MB), 1 timed run each
# Options:
#   --smoke        tiny blocks; the target is reported but does not fail the run
#   --skip-build   use the existing .build-bench release binary instead of running swift build
#   -h, --help     this text
# Environment:
#   BENCH_DIR      scratch directory (default /tmp/blockyard-bench), outside the repository
#   PROMTOOL       promtool, only to generate missing blocks (default /usr/bin/promtool)
#   RUNS           timed runs per command (default 5; 1 with --smoke)
#   RCLONE_FLAGS   extra rclone flags (default none: rclone's defaults, --transfers 4)
#
# What is timed (hyperfine; one emulator; the source container is filled once):
#   streamed:    rclone copy src:source dst:rclone-dst   (two remotes on the same emulator, so rclone
#                streams every object down and up again; it has no server-side copy between remotes)
#            vs  blockyard replicate --no-server-side-copy (source -> blockyard-dst)
#   server-side: blockyard replicate (source -> server-side-dst), Put Block From URL
#   without MD5: the same pair of streamed copies from source-nomd5, a second copy of the blocks
#                whose data objects have no stored MD5 (as Thanos' uploader leaves blobs it commits
#                as block lists): blockyard then streams each object in one read and one write with
#                nothing to check it against but its size, as rclone does (--checked-reads, not
#                timed here, reads 4 MiB ranges the source hashes instead)
#   --prepare deletes and recreates the destination container, so every run copies everything.
# Counters (untimed single runs): the emulator's per-container body bytes. Bytes through the
# copying process = source container's bytes_sent + destination container's bytes_received.
# Correctness: rclone check --download of every destination against the source container, and
# blockyard block dump of each destination's downloaded blocks against the originals.
#
# Exit status: 0 ok; 1 correctness failure or setup error; 3 the target (blockyard streaming at
# least as fast as rclone, with and without source MD5s) missed (full runs only).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROMTOOL="${PROMTOOL:-/usr/bin/promtool}"
BENCH_DIR="${BENCH_DIR:-/tmp/blockyard-bench}"
SEED=20230415
START=1700006400

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
    ANALYZE_SERIES=2000; DUMP_SERIES=2000; DUMP_SAMPLES=240; RUNS="${RUNS:-1}"
else
    ANALYZE_SERIES=400000; DUMP_SERIES=10000; DUMP_SAMPLES=480; RUNS="${RUNS:-5}"
fi
read -r -a RCLONE_EXTRA <<<"${RCLONE_FLAGS:-}"

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'bench-replicate-vs-rclone: %s\n' "$*" >&2; exit 1; }
for tool in python3 hyperfine rclone curl; do command -v "$tool" >/dev/null 2>&1 || die "$tool is required"; done
mkdir -p "$BENCH_DIR"
BENCH_DIR="$(cd "$BENCH_DIR" && pwd -P)"
case "$BENCH_DIR/" in "$(cd "$ROOT" && pwd -P)"/*) die "BENCH_DIR ($BENCH_DIR) is inside the repository" ;; esac
echo "rclone: $(rclone version 2>/dev/null | head -1); cpus: $(nproc); mode: $MODE; runs: $RUNS" >&2

# shellcheck source=scripts/lib/bench-blocks.sh
source "$ROOT/scripts/lib/bench-blocks.sh"
bench_blocks

bench_build "$ROOT"

WORK="$BENCH_DIR/replicate-$MODE"
rm -rf "$WORK"
mkdir -p "$WORK/src"
for b in "$ANALYZE_BLOCK" "$DUMP_BLOCK"; do cp -al "$b" "$WORK/src/$(basename "$b")"; done
# shellcheck source=scripts/lib/emulator.sh
source "$ROOT/scripts/lib/emulator.sh"
start_emulator "$WORK" --quiet || die "the emulator did not start"

emulator_config "$WORK/source.yaml" source
emulator_config "$WORK/streamed.yaml" blockyard-dst
emulator_config "$WORK/server.yaml" server-side-dst
emulator_config "$WORK/source-nomd5.yaml" source-nomd5
emulator_config "$WORK/streamed-nomd5.yaml" blockyard-nomd5-dst
cat >"$WORK/rclone.conf" <<EOF
[src]
type = azureblob
use_emulator = true
endpoint = $ENDPOINT

[dst]
type = azureblob
use_emulator = true
endpoint = $ENDPOINT
EOF
RC=(rclone --config "$WORK/rclone.conf" "${RCLONE_EXTRA[@]}")

log "filling the source container (blockyard upload: the blocks get external labels, as Thanos ships them)"
"$BLOCKYARD" upload "$WORK/src" --label bench=replicate --objstore.config-file "$WORK/source.yaml" >&2
[[ "$("$BLOCKYARD" ls --objstore.config-file "$WORK/source.yaml" --cache-dir none | wc -l)" -eq 2 ]] || die "the source container does not hold the 2 blocks"
"$BLOCKYARD" upload "$WORK/src" --label bench=replicate --objstore.config-file "$WORK/source-nomd5.yaml" >&2
python3 "$ROOT/scripts/bench/populate_container.py" --endpoint "$ENDPOINT" clearmd5 --container source-nomd5 --keep-suffix meta.json
SRC_BYTES="$(find "$WORK/src" -type f ! -name tombstones ! -name meta.json -printf '%s\n' | awk '{ s += $1 } END { print s }')"

q() { printf '%q' "$1"; }
RCS="$(printf '%q ' "${RC[@]}")"
CMD_RCLONE="${RCS}copy src:source dst:rclone-dst"
CMD_STREAM="$(q "$BLOCKYARD") replicate --objstore.config-file $(q "$WORK/source.yaml") --objstore-to.config-file $(q "$WORK/streamed.yaml") --no-server-side-copy --cache-dir none"
CMD_SERVER="$(q "$BLOCKYARD") replicate --objstore.config-file $(q "$WORK/source.yaml") --objstore-to.config-file $(q "$WORK/server.yaml") --cache-dir none"
CMD_RCLONE_NOMD5="${RCS}copy src:source-nomd5 dst:rclone-nomd5-dst"
CMD_STREAM_NOMD5="$(q "$BLOCKYARD") replicate --objstore.config-file $(q "$WORK/source-nomd5.yaml") --objstore-to.config-file $(q "$WORK/streamed-nomd5.yaml") --no-server-side-copy --cache-dir none"
PREP_RCLONE="${RCS}purge dst:rclone-dst >/dev/null 2>&1 || true"
PREP_STREAM="${RCS}purge dst:blockyard-dst >/dev/null 2>&1 || true"
PREP_SERVER="${RCS}purge dst:server-side-dst >/dev/null 2>&1 || true"
PREP_RCLONE_NOMD5="${RCS}purge dst:rclone-nomd5-dst >/dev/null 2>&1 || true"
PREP_STREAM_NOMD5="${RCS}purge dst:blockyard-nomd5-dst >/dev/null 2>&1 || true"
printf '%s\n' "rclone:      $CMD_RCLONE" "streamed:    $CMD_STREAM" "server-side: $CMD_SERVER" \
    "rclone (no MD5):   $CMD_RCLONE_NOMD5" "streamed (no MD5): $CMD_STREAM_NOMD5" | tee "$WORK/commands.txt" >&2

# counted NAME CMD: one untimed run with the emulator's counters saved, and peak RSS.
counted() {
    curl -sf -X DELETE "$CONTROL/stats" >/dev/null
    /usr/bin/time -f '%M' -o "$WORK/rss-$1" bash -c "$2" >"$WORK/out-$1" 2>&1 || { cat "$WORK/out-$1" >&2; die "$1 failed"; }
    curl -sf "$CONTROL/stats" >"$WORK/stats-$1.json"
}
log "correctness and counters (untimed)"
bash -c "$PREP_RCLONE; $PREP_STREAM; $PREP_SERVER; $PREP_RCLONE_NOMD5; $PREP_STREAM_NOMD5"
counted rclone "$CMD_RCLONE"
counted streamed "$CMD_STREAM"
counted server "$CMD_SERVER"
counted rclone-nomd5 "$CMD_RCLONE_NOMD5"
counted streamed-nomd5 "$CMD_STREAM_NOMD5"
FAILED=0
for c in source:rclone-dst source:blockyard-dst source:server-side-dst source-nomd5:rclone-nomd5-dst source-nomd5:blockyard-nomd5-dst; do
    if ! "${RC[@]}" check --download "src:${c%%:*}" "dst:${c#*:}" >"$WORK/check-${c#*:}.txt" 2>&1; then
        tail -5 "$WORK/check-${c#*:}.txt" >&2; echo "FAIL: ${c#*:} differs from the ${c%%:*} container" >&2; FAILED=1
    fi
done
for y in streamed server streamed-nomd5; do
    rm -rf "$WORK/down-$y"
    ids="$(ls "$WORK/src")"
    # shellcheck disable=SC2086
    "$BLOCKYARD" download $ids --to "$WORK/down-$y" --objstore.config-file "$WORK/$y.yaml" >/dev/null
    cmp -s <("$BLOCKYARD" block dump "$WORK/down-$y") <("$BLOCKYARD" block dump "$WORK/src") \
        || { echo "FAIL: block dump of the $y copy differs" >&2; FAILED=1; }
done
[[ $FAILED -eq 0 ]] || die "correctness check failed; not timing"

log "timing (hyperfine --runs $RUNS)"
hyperfine --runs "$RUNS" --output=null --export-json "$WORK/hyperfine.json" \
    --prepare "$PREP_RCLONE" -n "rclone copy (streamed)" "$CMD_RCLONE" \
    --prepare "$PREP_STREAM" -n "blockyard replicate (streamed)" "$CMD_STREAM" \
    --prepare "$PREP_SERVER" -n "blockyard replicate (server-side)" "$CMD_SERVER" \
    --prepare "$PREP_RCLONE_NOMD5" -n "rclone copy (streamed, source without MD5)" "$CMD_RCLONE_NOMD5" \
    --prepare "$PREP_STREAM_NOMD5" -n "blockyard replicate (streamed, source without MD5)" "$CMD_STREAM_NOMD5" >&2

set +e
python3 - "$WORK" "$MODE" "$SRC_BYTES" "$RUNS" <<'PY' | tee "$WORK/summary.txt"
import json, os, sys
work, mode, nbytes, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
r = json.load(open(os.path.join(work, "hyperfine.json")))["results"]
rc, st, ss, rcn, stn = r
ratio = rc["mean"] / st["mean"]
nratio = rcn["mean"] / stn["mean"]
ok = round(ratio, 2) >= 1.0 and round(nratio, 2) >= 1.0
print()
print("container -> container through the Azure Blob emulator (%s run, %d runs each, %d CPUs, %d bytes of blocks)"
      % (mode, runs, os.cpu_count(), nbytes))
for name, x in (("rclone copy (streamed)", rc), ("blockyard replicate (streamed)", st), ("blockyard replicate (server-side)", ss),
                ("rclone copy (source without MD5)", rcn), ("blockyard streamed (source without MD5)", stn)):
    print("  %-40s %7.3f s ± %.3f  (%6.1f MB/s)" % (name, x["mean"], x["stddev"] or 0, nbytes / x["mean"] / 1e6))
print("  ratio rclone / blockyard streamed: %.2fx (target >= 1.00x: %s)" % (ratio, "PASS" if round(ratio, 2) >= 1.0 else "FAIL"))
print("  ratio rclone / blockyard streamed, source without MD5: %.2fx (target >= 1.00x: %s)"
      % (nratio, "PASS" if round(nratio, 2) >= 1.0 else "FAIL"))
print("  ratio rclone / blockyard server-side: %.2fx" % (rc["mean"] / ss["mean"]))
print()
print("bytes through the copying process (emulator counters, one untimed run each):")
for name, sname, dst in (("rclone", "source", "rclone-dst"), ("streamed", "source", "blockyard-dst"),
                         ("server", "source", "server-side-dst"), ("rclone-nomd5", "source-nomd5", "rclone-nomd5-dst"),
                         ("streamed-nomd5", "source-nomd5", "blockyard-nomd5-dst")):
    s = json.load(open(os.path.join(work, "stats-%s.json" % name)))
    c = s.get("containers", {})
    src = c.get("devstoreaccount1/" + sname, {})
    d = c.get("devstoreaccount1/" + dst, {})
    through = src.get("bytes_sent", 0) + d.get("bytes_received", 0)
    rss = open(os.path.join(work, "rss-" + name)).read().strip()
    print("  %-14s source sent %11d, destination received %11d, copied inside the service %11d; "
          "through the process %11d (%.3f%% of the blocks); requests %d; peak RSS %s KiB"
          % (name, src.get("bytes_sent", 0), d.get("bytes_received", 0), d.get("bytes_copied_in", 0),
             through, 100.0 * through / nbytes, s["requests_total"], rss))
    print("  %-14s %s" % ("", ", ".join("%s %d" % kv for kv in sorted(s["requests"].items()))))
print("(server-side: what passes through is meta.json files, listings and block lists; no block bytes)")
if mode == "smoke":
    print("(smoke blocks are tiny: the target is informational only)")
    sys.exit(0)
sys.exit(0 if ok else 3)
PY
status=${PIPESTATUS[0]}
set -e
echo "results: $WORK" >&2
exit "$status"

#!/usr/bin/env bash
# Compaction side by side with Prometheus 2.42 (Debian's /usr/bin/prometheus) on the same
# blocks. Run by hand, not in CI; generated data stays in $BENCH_DIR (never in the repo).
#
#   scripts/bench-compact-vs-prometheus.sh [--series N] [--runs N] [--only horizontal|vertical|memory] [--skip-build]
#
# 1. horizontal: four consecutive 2h blocks of N series (480 samples per series per block);
#    Prometheus compacts the first three into a 6h block (it leaves the newest out), and so
#    does `blockyard block compact` given those three.
# 2. vertical: two replicas of the same 2h window (same series, other values and timestamp
#    jitter); both tools merge them into one block, one sample per timestamp.
# 3. memory: three 2h blocks of 400,000 series (few samples each, the index dominates), and
#    the same series with about 5x the samples (32 each): peak RSS must stay under 256 MiB and not grow with
#    the samples.
#
# Prometheus' time is the duration in its "compact blocks" log line (start it on a copy of
# the data dir; the first compaction runs about a minute after start). blockyard's is the
# time it prints for the merge; its wall time (process start to exit) is shown too.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="${BENCH_DIR:-/tmp/blockyard-bench}"
SERIES=10000
RUNS=3
BUILD=1
ONLY=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --only) ONLY="$2"; shift 2 ;;
        --series) SERIES="$2"; shift 2 ;;
        --runs) RUNS="$2"; shift 2 ;;
        --skip-build) BUILD=0; shift ;;
        *) echo "unknown argument $1" >&2; exit 64 ;;
    esac
done
PROMETHEUS="${PROMETHEUS:-/usr/bin/prometheus}"
PROMTOOL="${PROMTOOL:-/usr/bin/promtool}"
GEN="$ROOT/scripts/gen-bench-openmetrics.py"
START=1700006400  # a 2h boundary
[[ -x "$PROMETHEUS" ]] || { echo "needs prometheus (apt-get install prometheus)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "needs GNU time (apt-get install time)" >&2; exit 1; }
if [[ $BUILD == 1 ]]; then
    bash "$ROOT/scripts/lib/build-bench-binary.sh"
fi
BIN="$ROOT/.build-bench/release/blockyard"
DATA="$BENCH_DIR/compact"
mkdir -p "$DATA"
log() { echo "bench-compact: $*" >&2; }

# block NAME PROFILE SERIES START VALUE_SEED [generator args...]: one 2h block, cached.
block() {
    local name="$1" profile="$2" series="$3" start="$4" vseed="$5"
    shift 5
    local dir="$DATA/blocks/$name"
    if [[ ! -f "$dir/.complete" ]]; then
        rm -rf "$dir"; mkdir -p "$dir"
        log "generating $name ($profile, $series series)"
        python3 "$GEN" --profile "$profile" --series "$series" --start "$start" --value-seed "$vseed" "$@" -o "$dir/in.om" 2>/dev/null
        "$PROMTOOL" tsdb create-blocks-from openmetrics -q "$dir/in.om" "$dir/db" >/dev/null
        rm -f "$dir/in.om"
        # Align the block to its 2h window, as head blocks are (promtool starts it at the first
        # sample); Prometheus' planner only merges blocks that fill a range exactly.
        python3 - "$(ls -d "$dir"/db/*/ | head -1)meta.json" "$start" <<'PY'
import json, sys
p, start = sys.argv[1], int(sys.argv[2])
m = json.load(open(p))
m["minTime"], m["maxTime"] = start * 1000, (start + 7200) * 1000
json.dump(m, open(p, "w"), indent="\t")
PY
        touch "$dir/.complete"
    fi
    ls -d "$dir"/db/*/ | head -1 | sed 's:/$::'
}

# prometheus_compact DIR...: copies the blocks (and $PROM_EXTRA, the newer block Prometheus
# needs to see before it compacts the others) into a fresh data dir, starts Prometheus on it
# and prints the duration (seconds) and block count of its first "compact blocks" line.
PROM_EXTRA=""
prometheus_compact() {
    local db; db="$(mktemp -d "$DATA/prom.XXXXXX")"
    for b in "$@" $PROM_EXTRA; do cp -r "$b" "$db/"; done
    local cfg="$db.yml" logf="$db.log"
    echo "global: {scrape_interval: 1h}" >"$cfg"
    local port=$((20000 + RANDOM % 20000))
    "$PROMETHEUS" --config.file="$cfg" --storage.tsdb.path="$db" --storage.tsdb.retention.time=100y \
        --web.listen-address="127.0.0.1:$port" >"$logf" 2>&1 &
    local pid=$!
    local deadline=$((SECONDS + 240))
    until grep -q 'msg="compact blocks"' "$logf" 2>/dev/null; do
        if (( SECONDS > deadline )) || ! kill -0 $pid 2>/dev/null; then
            kill -9 $pid 2>/dev/null || true
            echo "prometheus did not compact; log: $logf" >&2; tail -5 "$logf" >&2; return 1
        fi
        sleep 0.5
    done
    local rss; rss=$(awk '/VmHWM/{print $2}' /proc/$pid/status 2>/dev/null || echo 0)
    kill -9 $pid 2>/dev/null || true
    wait $pid 2>/dev/null || true
    grep -m1 'msg="compact blocks"' "$logf" | python3 -c '
import re, sys
line = sys.stdin.read()
d = re.search(r"duration=(\S+)", line).group(1)
n = re.search(r"count=(\d+)", line).group(1)
secs = 0.0
for v, u in re.findall(r"([0-9.]+)(ms|µs|us|ns|h|m|s)", d):
    secs += float(v) * {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "µs": 1e-6, "us": 1e-6, "ns": 1e-9}[u]
print(f"{secs:.4f} {n} '"$rss"'")'
    rm -rf "$db" "$cfg" "$logf"
}

# blockyard_compact [flags --] DIR...: prints merge seconds, wall seconds, peak RSS KiB.
blockyard_compact() {
    local out; out="$(mktemp -d "$DATA/by.XXXXXX")"
    local tf="$out.time"
    /usr/bin/time -f "%e %M" -o "$tf" "$BIN" block compact "$@" --out "$out" >"$out.log"
    local merge; merge=$(grep -o 'in [0-9.]* s' "$out.log" | awk '{print $2}')
    echo "$merge $(cat "$tf")"
    rm -rf "$out" "$out.log" "$tf"
}

median() { python3 -c 'import sys, statistics; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

compare() {
    local title="$1"; shift
    local p_times=() b_times=() b_walls=() b_rss=() p_rss=0 count=0
    for ((i = 0; i < RUNS; i++)); do
        read -r pt count p_rss < <(prometheus_compact "$@")
        read -r bt bw br < <(blockyard_compact "$@")
        p_times+=("$pt"); b_times+=("$bt"); b_walls+=("$bw"); b_rss+=("$br")
        log "$title run $((i + 1)): prometheus ${pt}s ($count blocks), blockyard ${bt}s (wall ${bw}s, ${br} KiB)"
    done
    local pm bm bwm brm
    pm=$(median "${p_times[@]}"); bm=$(median "${b_times[@]}"); bwm=$(median "${b_walls[@]}"); brm=$(median "${b_rss[@]}")
    python3 - "$title" "$pm" "$bm" "$bwm" "$brm" "$p_rss" <<'PY'
import sys
t, p, b, bw, br, pr = sys.argv[1], *map(float, sys.argv[2:])
print(f"{t}: prometheus {p:.3f} s, blockyard {b:.3f} s (wall {bw:.3f} s): {p / b:.2f}x "
      f"{'PASS' if b <= p else 'FAIL'} (target: no slower); peak RSS blockyard {br / 1024:.0f} MiB, prometheus process {pr / 1024:.0f} MiB")
PY
}

want() { [[ -z "$ONLY" || "$ONLY" == "$1" ]]; }

# 1. horizontal
if want horizontal; then
h=()
for i in 0 1 2 3; do h+=("$(block "h$SERIES-$i" dump "$SERIES" $((START + i * 7200)) 1)"); done
PROM_EXTRA="${h[3]}"
compare "horizontal, 3 x 2h blocks of $SERIES series" "${h[@]:0:3}"
PROM_EXTRA=""
fi

# 2. vertical
if want vertical; then
v1="$(block "v$SERIES-a" dump "$SERIES" "$START" 1)"
v2="$(block "v$SERIES-b" dump "$SERIES" "$START" 2)"
compare "vertical, 2 overlapping replicas of $SERIES series" "$v1" "$v2"
fi

# 3. memory at 400,000 series (blockyard only, one run each)
if want memory; then
m=() m4=()
for i in 0 1 2; do
    m+=("$(block "m400k-$i" analyze 400000 $((START + i * 7200)) 1)")
    m4+=("$(block "m400k-x5-$i" analyze 400000 $((START + i * 7200)) 1 --samples 32)")
done
for set in m m4; do
    declare -n dirs=$set
    read -r bt bw br < <(blockyard_compact "${dirs[@]}")
    samples=$(for d in "${dirs[@]}"; do python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["stats"]["numSamples"])' "$d/meta.json"; done | paste -sd+ | bc)
    python3 - "$set" "$bt" "$bw" "$br" "$samples" <<'PY'
import sys
name, b, bw, rss, n = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
print(f"memory, 3 x 400,000 series, {n:,} samples: blockyard {b:.2f} s (wall {bw:.2f} s), peak RSS {rss / 1024:.0f} MiB "
      f"{'PASS' if rss <= 256 * 1024 else 'FAIL'} (target: <= 256 MiB, flat in samples)")
PY
done
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"

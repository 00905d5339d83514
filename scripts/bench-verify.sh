#!/usr/bin/env bash
# verify's speed and memory against reading the same files with cat (page cache warm),
# on the large blocks scripts/bench-vs-promtool.sh generates (run that first; its data
# stays in $BENCH_DIR, never in the repository). Run by hand, not in CI.
#
#   scripts/bench-verify.sh [--skip-build]
#
# Prints, per block: bytes, cat time, verify time, verify --deep time, the ratio
# cat/verify (target >= 0.8 for the default checks) and peak RSS of each verify.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_DIR="${BENCH_DIR:-/tmp/blockyard-bench}"
BUILD=1
[[ "${1:-}" == "--skip-build" ]] && BUILD=0
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "needs GNU time (apt-get install time)" >&2; exit 1; }

if [[ $BUILD == 1 ]]; then
    (cd "$ROOT" && swift build -c release --scratch-path .build-bench --product blockyard >&2)
fi
BIN="$ROOT/.build-bench/release/blockyard"

mapfile -t BLOCKS < <(ls -d "$BENCH_DIR"/data/analyze-s400000-*/db/*/ "$BENCH_DIR"/data/dump-s10000-*/db/*/ 2>/dev/null | sed 's:/$::')
if [[ ${#BLOCKS[@]} -eq 0 ]]; then
    echo "no benchmark blocks in $BENCH_DIR/data: run scripts/bench-vs-promtool.sh first" >&2
    exit 1
fi

OUT="$BENCH_DIR/verify"
mkdir -p "$OUT"
printf '%-28s %10s %9s %10s %10s %9s %12s %12s %s\n' block MB cat_s verify_s deep_s ratio verify_RSS deep_RSS result
for b in "${BLOCKS[@]}"; do
    id="$(basename "$b")"
    files=("$b/index" "$b"/chunks/*)
    bytes=$(cat "${files[@]}" | wc -c)
    cat "${files[@]}" >/dev/null  # warm the page cache
    hyperfine --warmup 1 --runs 5 --export-json "$OUT/$id.json" \
        -n cat "cat ${files[*]} > /dev/null" \
        -n verify "$BIN verify $b > /dev/null" \
        -n deep "$BIN verify --deep $b > /dev/null" >/dev/null
    read -r t_cat t_verify t_deep < <(python3 -c '
import json, sys
r = {x["command"]: x["mean"] for x in json.load(open(sys.argv[1]))["results"]}
print(r["cat"], r["verify"], r["deep"])' "$OUT/$id.json")
    rss_v=$(/usr/bin/time -v "$BIN" verify "$b" 2>&1 >/dev/null | awk -F: '/Maximum resident/{gsub(/ /,"",$2); print $2}')
    rss_d=$(/usr/bin/time -v "$BIN" verify --deep "$b" 2>&1 >/dev/null | awk -F: '/Maximum resident/{gsub(/ /,"",$2); print $2}')
    python3 - "$id" "$bytes" "$t_cat" "$t_verify" "$t_deep" "$rss_v" "$rss_d" <<'PY'
import sys
id, n, c, v, d, rv, rd = sys.argv[1], int(sys.argv[2]), *map(float, sys.argv[3:6]), int(sys.argv[6]), int(sys.argv[7])
ratio = c / v
print(f"{id:<28} {n/1e6:10.1f} {c:9.3f} {v:10.3f} {d:10.3f} {ratio:9.2f} {rv/1024:10.1f}Mi {rd/1024:10.1f}Mi {'PASS' if ratio >= 0.8 else 'FAIL'} (target: verify at >= 0.8x cat's speed)")
PY
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs; results in $OUT"

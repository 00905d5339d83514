#!/usr/bin/env bash
# Regenerates fixtures/native-histograms/: a TSDB block whose chunks were written by a real
# Prometheus (Debian's 2.42, /usr/bin/prometheus) from native histograms we send it.
#
# Loopback only: Prometheus listens on 127.0.0.1, has no scrape jobs, and receives the
# histograms through its remote-write endpoint (scripts/nh/remote_write.py, stdlib only).
# The head is then written out as a block with the admin snapshot API.
#
# Output (replacing the previous fixture):
#   fixtures/native-histograms/<ULID>/        the block (meta.json, index, chunks/000001)
#   fixtures/native-histograms/expected.json  every histogram sent (labels, t, layout, counts)
#   fixtures/native-histograms/api-query.json the same series as Prometheus' query API returns
#                                             them (Go's bucket bounds), for cross-checks
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/fixtures/native-histograms"
PROMETHEUS="${PROMETHEUS:-/usr/bin/prometheus}"
PORT="${PORT:-19091}"
URL="http://127.0.0.1:$PORT"

WORK="$(mktemp -d /tmp/nh-fixture.XXXXXX)"
PROM_PID=""
cleanup() {
    if [[ -n "$PROM_PID" ]] && kill -0 "$PROM_PID" 2>/dev/null; then
        kill "$PROM_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$PROM_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$PROM_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

cat > "$WORK/prometheus.yml" <<'YAML'
global:
  scrape_interval: 1h
scrape_configs: []
YAML

"$PROMETHEUS" --version 2>&1 | head -1

"$PROMETHEUS" \
    --config.file="$WORK/prometheus.yml" \
    --storage.tsdb.path="$WORK/data" \
    --web.listen-address="127.0.0.1:$PORT" \
    --enable-feature=native-histograms \
    --web.enable-remote-write-receiver \
    --web.enable-admin-api \
    --log.level=warn \
    >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!

# Bounded wait for readiness (30 s).
ready=0
for _ in $(seq 1 150); do
    if curl -fsS --max-time 1 "$URL/-/ready" >/dev/null 2>&1; then ready=1; break; fi
    if ! kill -0 "$PROM_PID" 2>/dev/null; then break; fi
    sleep 0.2
done
if [[ $ready -ne 1 ]]; then
    echo "Prometheus did not become ready:" >&2
    cat "$WORK/prometheus.log" >&2
    exit 1
fi

python3 "$ROOT/scripts/nh/remote_write.py" --url "$URL" \
    --expected "$WORK/expected.json" --api-out "$WORK/api-query.json"

snap="$(curl -fsS --max-time 30 -X POST "$URL/api/v1/admin/tsdb/snapshot?skip_head=false")"
name="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["name"])' <<<"$snap")"
snapdir="$WORK/data/snapshots/$name"
blocks=("$snapdir"/*/)
if [[ ${#blocks[@]} -ne 1 || ! -f "${blocks[0]}meta.json" ]]; then
    echo "expected exactly one block in the snapshot, found: ${blocks[*]}" >&2
    exit 1
fi
ulid="$(basename "${blocks[0]}")"

rm -rf "$OUT"
mkdir -p "$OUT"
cp -r "${blocks[0]}" "$OUT/$ulid"
cp "$WORK/expected.json" "$WORK/api-query.json" "$OUT/"

if [[ -s "$WORK/prometheus.log" ]]; then
    echo "--- prometheus log (warnings and errors) ---"
    cat "$WORK/prometheus.log"
fi
echo "fixture: $OUT/$ulid"
du -sh "$OUT"

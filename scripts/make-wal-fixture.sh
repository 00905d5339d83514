#!/usr/bin/env bash
# Makes fixtures/wal/: a real write-ahead log written by Debian's Prometheus 2.42, and a zstd
# re-encoding of the same records in Prometheus >= 2.46's framing. Run by hand (about 12 minutes);
# CI only reads what it leaves in fixtures/wal/.
#
# 1. A scrape target on loopback (scripts/wal-fixture/exporter.py): series that come and go,
#    exemplars, awkward floats and label text, native histograms (integer, gauge, float).
# 2. Prometheus 2.42 scrapes it and itself with 6-minute head blocks (the hidden
#    --storage.tsdb.min-block-duration flag): the head is compacted once it spans 9 minutes,
#    which starts a new WAL segment and, with four segments or more, writes a checkpoint of the
#    older ones. (2.42 refuses WAL segment sizes under 10 MB, so size never cuts one here.)
#    Prometheus restarts three times on the same directory (each start opens a new segment):
#    after kill -9 (a segment that ends mid-page), after SIGTERM (flushed head chunk files),
#    after kill -9. It then deletes one series over a time range through the admin API (a
#    tombstone record), waits for the checkpoint, and is killed with -9, so the last segment
#    ends in a torn page. Six-minute ranges with one-second scrapes make the head cut three
#    chunks per range, so live m-mapped chunks are on disk when it dies.
# 3. wal/ and chunks_head/ are copied (head chunk files cut to their written length), the oracle
#    is `promtool tsdb dump` of a copy of that (promtool replays the WAL and writes into the
#    directory, hence the copy), and the records are re-encoded with zstd.
#
# Needs: prometheus, promtool (Debian package prometheus), zstd, python3 with venv; the Python
# venv (zstandard, cramjam, crc32c from PyPI) is made under $BENCH_DIR.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT="$ROOT/fixtures/wal"
BENCH_DIR=${BENCH_DIR:-/tmp/blockyard-bench}
WORK="$BENCH_DIR/wal-fixture"
PROMETHEUS=${PROMETHEUS:-/usr/bin/prometheus}
PROMTOOL=${PROMTOOL:-/usr/bin/promtool}
RESTART_EVERY=${RESTART_EVERY_SECONDS:-120}
AFTER_CHECKPOINT=${AFTER_CHECKPOINT_SECONDS:-75}
CHECKPOINT_WAIT=${CHECKPOINT_WAIT_SECONDS:-900}
HERE="$ROOT/scripts/wal-fixture"

rm -rf "$WORK"
mkdir -p "$WORK/data"
VENV="$BENCH_DIR/wal-fixture-venv"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q zstandard==0.25.0 cramjam==2.14.0 crc32c==2.9.post0
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PROM_PORT=$(free_port)
EXPORTER_PORT=$(free_port)

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

python3 "$HERE/exporter.py" "$EXPORTER_PORT" &
pids+=($!)

cat > "$WORK/prometheus.yml" <<YAML
global:
  scrape_interval: 2s
  scrape_timeout: 1s
scrape_configs:
  - job_name: prometheus
    scrape_interval: 1s
    scrape_timeout: 900ms
    static_configs: [{targets: ['127.0.0.1:$PROM_PORT']}]
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'prometheus_tsdb_head_series|prometheus_tsdb_wal_segment_current|prometheus_tsdb_head_samples_appended_total'
        action: keep
  - job_name: churn
    metrics_path: /om
    static_configs: [{targets: ['127.0.0.1:$EXPORTER_PORT']}]
  - job_name: native
    metrics_path: /pb
    static_configs: [{targets: ['127.0.0.1:$EXPORTER_PORT']}]
YAML

start_prometheus() {
    "$PROMETHEUS" --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/data" \
        --web.listen-address="127.0.0.1:$PROM_PORT" --web.enable-admin-api \
        --storage.tsdb.min-block-duration=6m --storage.tsdb.max-block-duration=6m \
        --storage.tsdb.retention.time=2h --enable-feature=native-histograms,exemplar-storage \
        >>"$WORK/prometheus.log" 2>&1 &
    PROM_PID=$!
    pids+=($PROM_PID)
    for _ in $(seq 100); do
        curl -fs "127.0.0.1:$PROM_PORT/-/ready" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "prometheus did not become ready; see $WORK/prometheus.log" >&2
    exit 1
}

stop_prometheus() {  # SIGNAL
    kill -"$1" "$PROM_PID"
    wait "$PROM_PID" 2>/dev/null || true
}

start_prometheus; sleep "$RESTART_EVERY"; stop_prometheus KILL
echo "restart 1 (after kill -9)"
start_prometheus; sleep "$RESTART_EVERY"; stop_prometheus TERM
echo "restart 2 (after SIGTERM)"
start_prometheus; sleep "$RESTART_EVERY"; stop_prometheus KILL
echo "restart 3 (after kill -9)"
start_prometheus
sleep 20
# A tombstone record: delete one churn series over the 15 s before now.
now=$(date +%s)
curl -fs -X POST -g "127.0.0.1:$PROM_PORT/api/v1/admin/tsdb/delete_series?match[]=fixture_churn_total{shard=\"1\"}&start=$((now - 15))&end=$now"
waited=0
until ls -d "$WORK/data/wal/checkpoint."* >/dev/null 2>&1; do
    if [ "$waited" -ge "$CHECKPOINT_WAIT" ]; then echo "warning: no checkpoint after ${waited}s" >&2; break; fi
    sleep 5; waited=$((waited + 5))
done
echo "checkpoint after ${waited}s more; ${AFTER_CHECKPOINT}s to go"
sleep "$AFTER_CHECKPOINT.5"   # part-way through a scrape interval
stop_prometheus KILL

echo "copying wal/ and chunks_head/"
rm -rf "$OUT"
mkdir -p "$OUT/snappy" "$OUT/zstd"
cp -a "$WORK/data/wal" "$OUT/snappy/wal"
rm -rf "$OUT/snappy/wal/"*.tmp "$OUT/snappy/wal/checkpoint."*.tmp
cp -a "$WORK/data/chunks_head" "$OUT/snappy/chunks_head"
"$VENV/bin/python" "$HERE/trim_head_chunks.py" "$OUT/snappy/chunks_head"

echo "oracle: promtool tsdb dump of a copy"
rm -rf "$WORK/oracle-copy"
cp -a "$OUT/snappy" "$WORK/oracle-copy"
"$PROMTOOL" tsdb dump "$WORK/oracle-copy" > "$WORK/promtool-dump.txt"
zstd -q -19 -f "$WORK/promtool-dump.txt" -o "$OUT/promtool-dump.txt.zst"
"$PROMTOOL" --version 2>&1 | head -1 > "$OUT/promtool-version"

echo "zstd re-encoding"
"$VENV/bin/python" "$HERE/reencode_zstd.py" "$OUT/snappy/wal" "$OUT/zstd/wal" | tee "$WORK/reencode.txt"
cp -a "$OUT/snappy/chunks_head" "$OUT/zstd/chunks_head"

{
    echo "# fixtures/wal"
    echo
    echo "Made by \`scripts/make-wal-fixture.sh\` on $(date -u +%Y-%m-%d) with $("$PROMETHEUS" --version 2>&1 | head -1)."
    echo
    echo "- \`snappy/\`: \`wal/\` and \`chunks_head/\` as Prometheus left them after \`kill -9\` (head chunk files cut"
    echo "  to their written length)."
    echo "- \`zstd/\`: the same records re-encoded with zstd in Prometheus >= 2.46's framing by"
    echo "  \`scripts/wal-fixture/reencode_zstd.py\` (Python \`zstandard\`), same \`chunks_head/\`."
    echo "- \`promtool-dump.txt.zst\`: \`promtool tsdb dump\` of a copy of \`snappy/\` ($(wc -l < "$WORK/promtool-dump.txt") lines)."
    echo
    echo "Files:"
    echo '```'
    (cd "$OUT" && find snappy zstd -type f | sort | xargs ls -l | awk '{print $5, $9}')
    echo '```'
    echo "Re-encoding report:"
    echo '```'
    cat "$WORK/reencode.txt"
    echo '```'
} > "$OUT/README.md"
du -sh "$OUT"

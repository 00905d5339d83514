#!/usr/bin/env bash
# The main job on the bundled bucket: builds blockyard (release) and runs the scheduled
# compaction job on a scratch copy of fixtures/demo-bucket, a FILESYSTEM bucket of real
# Prometheus 2.42 blocks with Thanos meta sections (cluster="demo"): inspect, compact
# (plan, merge, upload meta.json last, mark sources), inspect again, verify.
# Give a directory of blocks to run on it instead (it is changed in place).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release --static-swift-stdlib --product blockyard >&2
bin="$(swift build -c release --static-swift-stdlib --show-bin-path)/blockyard"

if [ $# -gt 0 ]; then
  bucket="$1"
  data="${TMPDIR:-/tmp}/blockyard-demo-data"
else
  scratch="$(mktemp -d "${TMPDIR:-/tmp}/blockyard-demo.XXXXXX")"
  cp -r fixtures/demo-bucket "$scratch/bucket"
  bucket="$scratch/bucket"
  data="$scratch/data"
  echo "== working on a copy of fixtures/demo-bucket: $bucket"
fi

echo "== blockyard inspect $bucket"
"$bin" inspect "$bucket"
echo
echo "== blockyard compact $bucket --dry-run"
"$bin" compact "$bucket" --data-dir "$data" --dry-run
echo
echo "== blockyard compact $bucket"
"$bin" compact "$bucket" --data-dir "$data"
echo
echo "== blockyard inspect $bucket (the 2h blocks of 00:00-08:00 are now one 8h block; their sources are marked for deletion)"
"$bin" inspect "$bucket"
echo
echo "== blockyard verify $bucket"
"$bin" verify "$bucket" || [ $? -eq 1 ]  # 1 = findings: the sources' deletion marks are reported

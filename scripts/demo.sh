#!/usr/bin/env bash
# The main job on the bundled bucket: builds blockyard (release) and inspects and
# verifies fixtures/demo-bucket, a FILESYSTEM bucket of real Prometheus 2.42 blocks with
# Thanos meta sections (cluster="demo"). Until compaction lands this is inspect + verify.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release --product blockyard >&2
bin="$(swift build -c release --show-bin-path)/blockyard"
bucket="${1:-fixtures/demo-bucket}"

echo "== blockyard inspect $bucket"
"$bin" inspect "$bucket"
echo
echo "== blockyard verify $bucket"
"$bin" verify "$bucket"
echo
echo "== blockyard block analyze $bucket --limit 5 (newest block)"
"$bin" block analyze "$bucket" --limit 5

#!/usr/bin/env bash
# Smoke run of the package benchmarks: builds them and runs each a few times. Not a measurement.
set -euo pipefail
cd "$(dirname "$0")/../Benchmarks"
BLOCKYARD_BENCH_SMOKE=1 swift package benchmark --no-progress 2>&1 | tail -40

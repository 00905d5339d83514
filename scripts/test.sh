#!/usr/bin/env bash
# Installs what the tests need and runs them all: unit tests, promtool oracle tests,
# damaged-file tests, the Azure emulator's conformance suite, then a smoke run of the
# benchmarks. .ci/run calls this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

swift build --build-tests
swift test 2>&1 | tee .build/test.log
grep -q "Test run with .* passed" .build/test.log || { echo "test.sh: swift test did not report a passing run" >&2; exit 1; }

# The Azure emulator speaks the protocol: Microsoft's azure-storage-blob (pinned, in a venv
# under Tests/emulator/.venv) and Debian's rclone run against it.
bash Tests/emulator/run-conformance.sh

# replicate killed at several points (the real binary against the emulator), then re-run:
# the destination must end up dumping exactly as the source.
bash scripts/test-replicate-kill.sh

# Benchmarks: a short run proves they build and run; figures come from full runs by hand.
bash scripts/bench-smoke.sh

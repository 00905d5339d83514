#!/usr/bin/env bash
# Builds the binary every benchmark script times, .build-bench/release/blockyard: release, with the
# Swift runtime linked in, as it ships. The flags live here only, so every benchmark times the same build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
cmd=(swift build -c release --static-swift-stdlib --scratch-path .build-bench --product blockyard)
printf '\n==> building: %s\n' "${cmd[*]}" >&2
"${cmd[@]}" >&2

#!/usr/bin/env bash
# Installs what blockyard needs on a fresh Debian machine. Idempotent: installs only
# what is missing. Swift itself is expected on PATH (the toolchain is not an apt package).
set -euo pipefail

need=(pkg-config libsnappy-dev libzstd-dev libcurl4-openssl-dev prometheus rclone python3-venv)
missing=()
for p in "${need[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  # The prometheus package brings promtool 2.42, the oracle for the tests; its service
  # is not started here (no init system runs it in containers or CI).
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v swift >/dev/null || { echo "setup: swift is not on PATH (install Swift 6.1 or newer)" >&2; exit 1; }
command -v promtool >/dev/null || { echo "setup: promtool missing after install" >&2; exit 1; }
command -v python3 >/dev/null || { echo "setup: python3 is needed for the Azure emulator" >&2; exit 1; }

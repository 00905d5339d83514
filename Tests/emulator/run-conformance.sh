#!/usr/bin/env bash
# Conformance suite for the Azure Blob emulator: Microsoft's Python SDK (pytest) + Debian's rclone.
# Creates/reuses Tests/emulator/.venv; prints "N passed, M failed" last; non-zero exit on any failure.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CONF_DIR="$HERE/conformance"
VENV="$HERE/.venv"

if ! command -v rclone >/dev/null 2>&1; then
  echo "# installing rclone via apt" >&2
  if [[ $(id -u) -eq 0 ]]; then apt-get install -y -q rclone >&2; else sudo apt-get install -y -q rclone >&2; fi
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
fi
# only (re)install when the pinned requirements changed
STAMP="$VENV/.requirements.sha256"
WANT="$(sha256sum "$CONF_DIR/requirements.txt" | cut -d' ' -f1)"
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$WANT" ]]; then
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$CONF_DIR/requirements.txt"
  echo "$WANT" >"$STAMP"
fi

passed=0
failed=0
LOGDIR="$(mktemp -d)"
trap 'rm -rf "$LOGDIR"' EXIT

echo "== pytest (azure-storage-blob $("$VENV/bin/python" -c 'import azure.storage.blob as b; print(b.__version__)'))"
set +e
(cd "$CONF_DIR" && EMULATOR_LOG_DIR="$LOGDIR" timeout 150 "$VENV/bin/python" -m pytest -q -p no:cacheprovider \
   test_sdk.py test_faults.py) 2>&1 | tee "$LOGDIR/pytest.out"
py_rc=${PIPESTATUS[0]}
set -e
summary="$(grep -E '[0-9]+ (passed|failed|error)' "$LOGDIR/pytest.out" | tail -1 || true)"
p="$(grep -oE '[0-9]+ passed' <<<"$summary" | grep -oE '[0-9]+' || echo 0)"
f="$(grep -oE '[0-9]+ failed' <<<"$summary" | grep -oE '[0-9]+' || echo 0)"
e="$(grep -oE '[0-9]+ errors?' <<<"$summary" | grep -oE '[0-9]+' || echo 0)"
passed=$((passed + p)); failed=$((failed + f + e))
if [[ $py_rc -ne 0 && $((f + e)) -eq 0 ]]; then failed=$((failed + 1)); echo "pytest exited $py_rc"; fi

echo "== rclone ($(rclone version 2>/dev/null | head -1))"
set +e
PYTHON=python3 timeout 120 bash "$CONF_DIR/test_rclone.sh" 2>&1 | tee "$LOGDIR/rclone.out"
rc_rc=${PIPESTATUS[0]}
set -e
line="$(grep -E '^RCLONE_RESULT ' "$LOGDIR/rclone.out" | tail -1 || true)"
if [[ -n "$line" ]]; then
  p="$(sed -E 's/.*passed=([0-9]+).*/\1/' <<<"$line")"
  f="$(sed -E 's/.*failed=([0-9]+).*/\1/' <<<"$line")"
  passed=$((passed + p)); failed=$((failed + f))
  if [[ $rc_rc -ne 0 && $f -eq 0 ]]; then failed=$((failed + 1)); fi
else
  failed=$((failed + 1)); echo "rclone script exited $rc_rc without a result line"
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]

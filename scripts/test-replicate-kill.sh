#!/usr/bin/env bash
# Kill tests for `blockyard replicate`: the real binary copies fixtures/demo-bucket between the
# Azure emulator's containers and a local directory, and is SIGKILLed at several points (the
# emulator stalls the Nth request of an operation; the script waits until that request has
# arrived, then kills). After each kill: every block the destination shows as whole (it has a
# meta.json) is byte-identical to the source. Then a re-run must exit 0, and the destination's
# blocks, downloaded, must dump exactly as the source does (blockyard block dump and promtool
# tsdb dump) with every file identical.
#
#   scripts/test-replicate-kill.sh            (scripts/test.sh runs it; about a minute)
# Environment: BLOCKYARD (default .build/debug/blockyard), PROMTOOL (default /usr/bin/promtool).
# Prints "N passed, M failed" last; exit status 1 when anything failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BLOCKYARD="${BLOCKYARD:-$ROOT/.build/debug/blockyard}"
PROMTOOL="${PROMTOOL:-/usr/bin/promtool}"
DEMO="$ROOT/fixtures/demo-bucket"
[[ -x "$BLOCKYARD" ]] || { echo "no blockyard binary at $BLOCKYARD (swift build first)" >&2; exit 1; }

WORK="$(mktemp -d)"
# shellcheck source=scripts/lib/emulator.sh
source "$ROOT/scripts/lib/emulator.sh"
start_emulator "$WORK" --quiet
trap 'stop_emulator; rm -rf "$WORK"' EXIT

config() { emulator_config "$WORK/$1.yaml" "$2"; }  # config NAME CONTAINER
config source source-cluster
"$BLOCKYARD" replicate "$DEMO" --objstore-to.config-file "$WORK/source.yaml" >/dev/null

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }

faults_injected() { curl -sf "$CONTROL/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["faults_injected"])'; }

# fetch_dest KIND NAME DIR: the destination's blocks into DIR (downloads for Azure, a copy for a directory).
fetch_dest() {
    local kind="$1" name="$2" dir="$3"
    rm -rf "$dir"
    mkdir -p "$dir"
    if [[ "$kind" == dir ]]; then
        for b in "$WORK/$name"/*/; do
            [[ -f "$b/meta.json" ]] && cp -r "$b" "$dir/"
        done
        return 0
    fi
    local ids
    ids="$("$BLOCKYARD" ls --objstore.config-file "$WORK/$name.yaml" --cache-dir none | awk '!/partial/ { print $1 }')"
    [[ -z "$ids" ]] || "$BLOCKYARD" download $ids --to "$dir" --objstore.config-file "$WORK/$name.yaml" >/dev/null
}

# same_blocks DIR: every block in DIR is byte-identical to the source block of that ULID.
same_blocks() {
    local dir="$1" b id
    for b in "$dir"/*/; do
        [[ -d "$b" ]] || continue
        id="$(basename "$b")"
        # A kill can leave the FILESYSTEM bucket's temporary files (.blockyard-tmp-*) behind; listings ignore them.
        diff -r -x ".blockyard-tmp-*" "$DEMO/$id" "$b" >"$WORK/diff.out" || { echo "  $id differs from the source:"; sed "s/^/    /" "$WORK/diff.out"; return 1; }
    done
}

# scenario NAME KIND DEST OPERATION N ARGS...: replicate with ARGS, killed when the (N+1)th
# OPERATION request arrives; check; re-run; check everything.
scenario() {
    local name="$1" kind="$2" dest="$3" op="$4" n="$5"
    shift 5
    curl -sf -X DELETE "$CONTROL/stats" >/dev/null
    curl -sf -X POST "$CONTROL/faults" -d "[
        {\"operation\": \"$op\", \"times\": $n, \"action\": {\"stall_ms\": 0}},
        {\"operation\": \"$op\", \"times\": -1, \"action\": {\"stall_ms\": 20000}}]" >/dev/null
    "$BLOCKYARD" replicate "$@" >"$WORK/$name.run1" 2>&1 &
    local pid=$! waited=0
    while [[ "$(faults_injected)" -le "$n" ]]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid" || true
            bad "$name: finished before request $((n + 1)) of $op (kill point never reached)"
            curl -sf -X DELETE "$CONTROL/faults" >/dev/null
            return
        fi
        sleep 0.05
        waited=$((waited + 1))
        [[ $waited -lt 600 ]] || { kill -9 "$pid"; bad "$name: timed out waiting for the kill point"; return; }
    done
    kill -9 "$pid"
    wait "$pid" 2>/dev/null || true
    curl -sf -X DELETE "$CONTROL/faults" >/dev/null
    fetch_dest "$kind" "$dest" "$WORK/$name.killed"
    local whole
    whole="$(find "$WORK/$name.killed" -mindepth 1 -maxdepth 1 -type d | wc -l)"
    if same_blocks "$WORK/$name.killed"; then
        ok "$name: killed at $op #$((n + 1)); the $whole block(s) that look whole are whole"
    else
        bad "$name: after the kill a block looks whole but is not"
    fi
    if "$BLOCKYARD" replicate "$@" >"$WORK/$name.run2" 2>&1; then
        ok "$name: re-run exits 0 ($(tail -1 "$WORK/$name.run2" | cut -d';' -f1-2))"
    else
        bad "$name: re-run failed: $(tail -3 "$WORK/$name.run2")"
        return
    fi
    fetch_dest "$kind" "$dest" "$WORK/$name.final"
    if [[ "$(find "$WORK/$name.final" -mindepth 1 -maxdepth 1 -type d | wc -l)" -eq 6 ]] && same_blocks "$WORK/$name.final"; then
        ok "$name: all 6 blocks in the destination, every file identical"
    else
        bad "$name: the destination does not hold the 6 source blocks"
    fi
    if cmp -s <("$BLOCKYARD" block dump "$WORK/$name.final") <("$BLOCKYARD" block dump "$DEMO"); then
        ok "$name: blockyard block dump of the destination equals the source's"
    else
        bad "$name: blockyard block dump differs"
    fi
    if [[ -x "$PROMTOOL" ]]; then
        # promtool writes into the directory it dumps: give it copies.
        local a="$WORK/$name.p-src" b="$WORK/$name.p-dst"
        cp -r "$DEMO" "$a"
        cp -r "$WORK/$name.final" "$b"
        if cmp -s <("$PROMTOOL" tsdb dump "$a" 2>/dev/null | sort) <("$PROMTOOL" tsdb dump "$b" 2>/dev/null | sort); then
            ok "$name: promtool tsdb dump of the destination equals the source's"
        else
            bad "$name: promtool tsdb dump differs"
        fi
    fi
}

SRC=(--objstore.config-file "$WORK/source.yaml" --cache-dir none)
n=0
# Azure to Azure, server-side: killed before the first copy, in the middle, near the end, and
# while committing a meta.json.
for point in "PutBlockFromURL 0" "PutBlockFromURL 7" "PutBlockFromURL 16" "PutBlob 2" "PutBlockList 11"; do
    read -r op k <<<"$point"
    n=$((n + 1))
    config "dest$n" "dest-$n"
    scenario "server-side-$op-$k" azure "dest$n" "$op" "$k" "${SRC[@]}" --objstore-to.config-file "$WORK/dest$n.yaml" --concurrency 2
done
# Azure to Azure, streamed (--no-server-side-copy: one Get Blob into one Put Blob per object):
# killed while an object streams through, mid-run.
config streamed dest-streamed
scenario "streamed-PutBlob-9" azure streamed PutBlob 9 "${SRC[@]}" --objstore-to.config-file "$WORK/streamed.yaml" --no-server-side-copy --concurrency 2
# Azure to a local directory, streamed: killed while reading the source.
for k in 8 14; do
    scenario "streamed-to-dir-GetBlob-$k" dir "dir$k" GetBlob "$k" "${SRC[@]}" --to "$WORK/dir$k" --concurrency 3 --object-concurrency 2
done
# A local directory to Azure, streamed: killed while writing.
config up up-cluster
scenario "streamed-from-dir-PutBlob-5" azure up PutBlob 5 "$DEMO" --objstore-to.config-file "$WORK/up.yaml"

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]

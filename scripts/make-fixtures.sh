#!/usr/bin/env bash
# Rebuild the TSDB block fixtures under fixtures/ from the committed
# OpenMetrics inputs in fixtures/openmetrics/, using promtool 2.42.
#
#   scripts/make-fixtures.sh                      rebuild blocks and buckets
#   scripts/make-fixtures.sh --regenerate-inputs  also rerun generate.py first
#
# Environment:
#   PROMTOOL=/path/to/promtool   promtool binary (default: promtool on PATH)
#   ALLOW_ANY_PROMTOOL=1         continue with a promtool that is not 2.42
#
# Output (everything below is deleted and rebuilt on each run):
#   fixtures/blocks/<set>/<ULID>/...          one directory of blocks per input
#   fixtures/blocks/<set>.promtool-version    first line of `promtool --version`
#   fixtures/demo-bucket/<ULID>/...           Thanos-style filesystem bucket
#   fixtures/partial-bucket/<ULID>/...        a block without meta.json
#
# Block ULIDs are random (promtool makes them), so every run produces new
# directory names and meta.json files even though index/chunks bytes repeat.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FIX="$ROOT/fixtures"
INPUTS="$FIX/openmetrics"
PROMTOOL="${PROMTOOL:-promtool}"

# Input sets that become fixtures/blocks/<set>. <set>.om or <set>.om.xz.
SETS=(values timing types labels bulk)
DEMO_INPUT=demo

# External labels and source for the demo bucket's Thanos meta section.
DEMO_CLUSTER=demo
DEMO_REPLICA=0

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

regenerate=0
for arg in "$@"; do
    case "$arg" in
        --regenerate-inputs) regenerate=1 ;;
        -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument: $arg" ;;
    esac
done

command -v "$PROMTOOL" >/dev/null 2>&1 || die "promtool not found (set PROMTOOL=...)"
command -v python3 >/dev/null 2>&1 || die "python3 not found"

version_output="$("$PROMTOOL" --version 2>&1)"
PROMTOOL_VERSION="$(printf '%s\n' "$version_output" | head -n 1)"
if [[ "$PROMTOOL_VERSION" =~ version\ 2\.42\. ]]; then
    log "using $PROMTOOL_VERSION"
else
    printf 'warning: expected promtool 2.42.x, got: %s\n' "$PROMTOOL_VERSION" >&2
    if [[ "${ALLOW_ANY_PROMTOOL:-0}" != 1 ]]; then
        die "refusing to build fixtures with another promtool version (set ALLOW_ANY_PROMTOOL=1 to override)"
    fi
fi

if [[ $regenerate == 1 ]]; then
    log "regenerating OpenMetrics inputs"
    python3 "$INPUTS/generate.py"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/blockyard-fixtures.XXXXXX")"
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT

# Prints the path of a plain-text copy of input <name>.
input_file() {
    local name="$1"
    if [[ -f "$INPUTS/$name.om" ]]; then
        printf '%s\n' "$INPUTS/$name.om"
    elif [[ -f "$INPUTS/$name.om.xz" ]]; then
        python3 -c 'import lzma, sys; sys.stdout.buffer.write(lzma.open(sys.argv[1]).read())' \
            "$INPUTS/$name.om.xz" > "$WORK/$name.om"
        printf '%s\n' "$WORK/$name.om"
    else
        die "no input $INPUTS/$name.om or $INPUTS/$name.om.xz"
    fi
}

# create_blocks <input name> <output dir>
create_blocks() {
    local name="$1" out="$2" in
    in="$(input_file "$name")"
    mkdir -p "$out"
    "$PROMTOOL" tsdb create-blocks-from openmetrics "$in" "$out" > "$WORK/$name.create.log" 2>&1 \
        || { cat "$WORK/$name.create.log" >&2; die "promtool failed on $name"; }
    local n
    n="$(find "$out" -mindepth 2 -maxdepth 2 -name meta.json | wc -l)"
    [[ $n -ge 1 ]] || die "promtool wrote no blocks for $name"
    # promtool opens the output as a read-only DB; make sure it left nothing else.
    local entry
    for entry in "$out"/*; do
        [[ "$(basename "$entry")" =~ ^[0-9A-HJKMNP-TV-Z]{26}$ && -d "$entry" ]] \
            || die "unexpected entry in promtool output: $entry"
    done
}

# --------------------------------------------------------------------------
# 1. fixtures/blocks/<set>

mkdir -p "$WORK/new/blocks"
for set in "${SETS[@]}"; do
    log "building blocks/$set"
    create_blocks "$set" "$WORK/new/blocks/$set"
    printf '%s\n' "$PROMTOOL_VERSION" > "$WORK/new/blocks/$set.promtool-version"
done

# --------------------------------------------------------------------------
# 2. fixtures/demo-bucket: promtool blocks plus the Thanos meta section

log "building demo-bucket"
create_blocks "$DEMO_INPUT" "$WORK/new/demo-bucket"

# Thanos (pkg/block/metadata/meta.go) wraps tsdb.BlockMeta and appends a
# "thanos" object. A sidecar upload (pkg/shipper + pkg/block.upload) fills:
#   labels         external labels (Go encodes map keys sorted)
#   downsample     {"resolution": 0}
#   source         "sidecar"
#   segment_files  names in chunks/ (deprecated field, the shipper still sets it)
#   files          chunks/*, index with size_bytes; meta.json without a size;
#                  sorted by rel_path; no hash with the default hash func
#   index_stats    a struct, so `omitempty` never drops it: {} for sidecar
#   upload_time    time.Time, likewise always present; RFC 3339 with
#                  nanoseconds and trailing zeros trimmed, UTC "Z"
# version/rewrites/extensions are omitted (zero values with omitempty).
# It is written by json.Encoder with SetIndent("", "\t"): tab indent, a
# trailing newline, and the Prometheus part byte-identical to promtool's.
python3 - "$WORK/new/demo-bucket" "$DEMO_CLUSTER" "$DEMO_REPLICA" <<'PY'
import datetime
import json
import os
import sys
import zlib

bucket, cluster, replica = sys.argv[1:4]
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid_ms(ulid):
    n = 0
    for ch in ulid[:10]:
        n = n * 32 + CROCKFORD.index(ch)
    return n


def rfc3339nano(ns):
    secs, frac = divmod(ns, 10**9)
    dt = datetime.datetime.fromtimestamp(secs, tz=datetime.timezone.utc)
    s = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        s += ("." + "%09d" % frac).rstrip("0")
    return s + "Z"


for ulid in sorted(os.listdir(bucket)):
    bdir = os.path.join(bucket, ulid)
    path = os.path.join(bdir, "meta.json")
    with open(path, encoding="utf-8") as f:
        raw = f.read()
    meta = json.loads(raw)
    if "thanos" in meta:
        raise SystemExit("%s already has a thanos section" % path)

    chunk_names = sorted(os.listdir(os.path.join(bdir, "chunks")))
    files = [{"rel_path": "chunks/" + n,
              "size_bytes": os.path.getsize(os.path.join(bdir, "chunks", n))}
             for n in chunk_names]
    files.append({"rel_path": "index", "size_bytes": os.path.getsize(os.path.join(bdir, "index"))})
    files.append({"rel_path": "meta.json"})
    files.sort(key=lambda f: f["rel_path"].encode())

    # Deterministic stand-in for time.Now() at upload: a few seconds after the
    # block was created (the ULID time), with a nanosecond part.
    upload_ns = ulid_ms(ulid) * 10**6 + 4 * 10**9 + zlib.crc32(ulid.encode()) % 10**9

    meta["thanos"] = {
        "labels": dict(sorted({"cluster": cluster, "replica": replica}.items())),
        "downsample": {"resolution": 0},
        "source": "sidecar",
        "segment_files": chunk_names,
        "files": files,
        "index_stats": {},
        "upload_time": rfc3339nano(upload_ns),
    }
    out = json.dumps(meta, indent="\t", ensure_ascii=False) + "\n"

    # The Prometheus part must stay exactly as promtool wrote it.
    head = raw.rstrip()
    assert head.endswith("}"), path
    head = head[:-1].rstrip()
    if not out.startswith(head + ",\n\t\"thanos\": {"):
        raise SystemExit("%s: re-encoding changed the Prometheus part" % path)

    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(out)
PY
printf '%s\n' "$PROMTOOL_VERSION" > "$WORK/new/demo-bucket.promtool-version"

# --------------------------------------------------------------------------
# 3. fixtures/partial-bucket: an interrupted upload. Thanos uploads chunks/,
#    then index, then meta.json last, and never uploads tombstones, so a
#    partial block is chunks/ + index with no meta.json. It comes from a second
#    promtool run over the demo input, so its ULID is not in demo-bucket.

log "building partial-bucket"
create_blocks "$DEMO_INPUT" "$WORK/partial-src"
last="$(find "$WORK/partial-src" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort | tail -n 1)"
mkdir -p "$WORK/new/partial-bucket/$last"
cp -R "$WORK/partial-src/$last/chunks" "$WORK/partial-src/$last/index" "$WORK/new/partial-bucket/$last/"

# --------------------------------------------------------------------------
# 4. Verify with promtool on throw-away copies. `promtool tsdb dump` (2.42)
#    opens the directory as a DB: it creates chunks_head/ and fails unless a
#    wal/ directory exists, so never point it at fixtures/ directly.

verify_db() {
    local label="$1" dir="$2" copy="$WORK/verify/$1"
    rm -rf "$copy"
    mkdir -p "$(dirname "$copy")"
    cp -R "$dir" "$copy"
    "$PROMTOOL" tsdb list "$copy" > "$WORK/verify/$label.list" \
        || die "promtool tsdb list failed on $label"
    mkdir -p "$copy/wal"
    "$PROMTOOL" tsdb dump "$copy" > "$WORK/verify/$label.dump" \
        || die "promtool tsdb dump failed on $label"
    local want got
    want="$(python3 -c 'import glob, json, sys
print(sum(json.load(open(p))["stats"]["numSamples"] for p in glob.glob(sys.argv[1] + "/*/meta.json")))' "$dir")"
    got="$(wc -l < "$WORK/verify/$label.dump")"
    [[ "$want" == "$got" ]] || die "$label: meta.json says $want samples, dump printed $got lines"
}

for set in "${SETS[@]}"; do
    verify_db "$set" "$WORK/new/blocks/$set"
done
verify_db demo-bucket "$WORK/new/demo-bucket"

# --------------------------------------------------------------------------
# 5. Swap the new output into place.

log "installing into $FIX"
rm -rf "$FIX/blocks" "$FIX/demo-bucket" "$FIX/demo-bucket.promtool-version" "$FIX/partial-bucket"
mv "$WORK/new/blocks" "$FIX/blocks"
mv "$WORK/new/demo-bucket" "$FIX/demo-bucket"
mv "$WORK/new/demo-bucket.promtool-version" "$FIX/demo-bucket.promtool-version"
mv "$WORK/new/partial-bucket" "$FIX/partial-bucket"

leftovers="$(find "$FIX" \( -name wal -o -name chunks_head -o -name lock -o -name '*.tmp' \) -print)"
[[ -z "$leftovers" ]] || die "unexpected leftovers in fixtures: $leftovers"

# --------------------------------------------------------------------------
# 6. Summary: blocks, series, samples, chunks, samples per chunk.

python3 - "$FIX" "${SETS[@]}" <<'PY'
import glob
import json
import os
import sys

fix, sets = sys.argv[1], sys.argv[2:]


def uvarint(b, i):
    x = s = 0
    while True:
        c = b[i]
        i += 1
        x |= (c & 0x7F) << s
        if c < 0x80:
            return x, i
        s += 7


def chunk_sample_counts(block):
    """Samples per chunk, read from the chunk segment files."""
    counts = []
    for seg in sorted(glob.glob(os.path.join(block, "chunks", "*"))):
        b = open(seg, "rb").read()
        assert b[:4] == b"\x85\xbd\x40\xdd", seg
        i = 8
        while i < len(b):
            n, j = uvarint(b, i)
            if n == 0:
                break
            enc = b[j]
            data = b[j + 1:j + 1 + n]
            counts.append((enc, int.from_bytes(data[:2], "big")))
            i = j + 1 + n + 4
    return counts


def summarize(name, root):
    blocks = sorted(d for d in glob.glob(os.path.join(root, "*")) if os.path.isdir(d))
    tot = {"series": 0, "samples": 0, "chunks": 0}
    per_chunk = []
    for b in blocks:
        st = json.load(open(os.path.join(b, "meta.json")))["stats"]
        for k, m in (("series", "numSeries"), ("samples", "numSamples"), ("chunks", "numChunks")):
            tot[k] += st.get(m, 0)
        per_chunk += [n for _, n in chunk_sample_counts(b)]
    size = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(root) for f in fs)
    print("%-12s blocks=%d series(sum over blocks)=%d samples=%d chunks=%d "
          "samples/chunk min=%d max=%d bytes=%d"
          % (name, len(blocks), tot["series"], tot["samples"], tot["chunks"],
             min(per_chunk), max(per_chunk), size))


for s in sets:
    summarize(s, os.path.join(fix, "blocks", s))
summarize("demo-bucket", os.path.join(fix, "demo-bucket"))
PY
du -sh "$FIX" >&2
log "done"

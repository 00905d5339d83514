# Sourced by the benchmark scripts that need real Prometheus blocks.
# find_or_make NAME PROFILE SERIES [generator args...] prints the block directory <db>/<ULID> of
# a one-block TSDB made by promtool from scripts/gen-bench-openmetrics.py's output. It reuses
# $BENCH_DIR/data/NAME-<any hash>/db when complete (preferring the current generator's), as
# scripts/bench-vs-promtool.sh leaves it, and otherwise generates it the same way.
# Needs BENCH_DIR, SEED, START, PROMTOOL and the functions log and die from the caller.
BENCH_GEN="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/gen-bench-openmetrics.py"
DATA="$BENCH_DIR/data"
mkdir -p "$DATA"
GEN_HASH="$(sha256sum "$BENCH_GEN" | cut -c1-12)"

find_or_make() {
    local name="$1" profile="$2" series="$3"
    shift 3
    local dir="" cand
    if [[ -f "$DATA/$name-$GEN_HASH/.complete" ]]; then
        dir="$DATA/$name-$GEN_HASH"
    else
        for cand in "$DATA/$name"-*/; do
            [[ -f "$cand/.complete" ]] && { dir="${cand%/}"; break; }
        done
    fi
    if [[ -z "$dir" ]]; then
        [[ -x "$PROMTOOL" ]] || die "no $name blocks under $DATA and promtool not found at $PROMTOOL"
        dir="$DATA/$name-$GEN_HASH"
        rm -rf "$dir"
        mkdir -p "$dir"
        log "generating $name ($profile profile, $series series)"
        python3 "$BENCH_GEN" --profile "$profile" --series "$series" --seed "$SEED" --start "$START" "$@" \
            -o "$dir/input.om"
        "$PROMTOOL" tsdb create-blocks-from openmetrics -q "$dir/input.om" "$dir/db" >&2
        rm -f "$dir/input.om"
        local n
        n="$("$PROMTOOL" tsdb list "$dir/db" | awk 'NR > 1 && NF > 0' | wc -l)"
        [[ "$n" -eq 1 ]] || die "$name: expected 1 block, promtool tsdb list shows $n"
        touch "$dir/.complete"
    else
        echo "reusing $dir" >&2
    fi
    local blocks=("$dir"/db/*/meta.json)
    [[ ${#blocks[@]} -eq 1 && -f "${blocks[0]}" ]] || die "$dir/db: expected exactly one block"
    dirname "${blocks[0]}"
}

# bench_blocks: ANALYZE_BLOCK and DUMP_BLOCK, the two blocks the transfer and replicate
# benchmarks move (sizes from ANALYZE_SERIES, DUMP_SERIES, DUMP_SAMPLES).
bench_blocks() {
    ANALYZE_BLOCK="$(find_or_make "analyze-s$ANALYZE_SERIES-seed$SEED" analyze "$ANALYZE_SERIES")"
    DUMP_BLOCK="$(find_or_make "dump-s$DUMP_SERIES-n$DUMP_SAMPLES-seed$SEED" dump "$DUMP_SERIES" --samples "$DUMP_SAMPLES")"
}

# bench_build ROOT: the release binary in ROOT/.build-bench as BLOCKYARD (built unless SKIP_BUILD=1).
bench_build() {
    if [[ "${SKIP_BUILD:-0}" -eq 0 ]]; then
        bash "$1/scripts/lib/build-bench-binary.sh"
    fi
    BLOCKYARD="$1/.build-bench/release/blockyard"
    [[ -x "$BLOCKYARD" ]] || die "no blockyard binary at $BLOCKYARD (build failed or --skip-build without a build)"
}

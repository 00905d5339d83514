# Sourced by the benchmark scripts: the generated benchmark blocks under $BENCH_DIR/data.
#
# find_or_make NAME PROFILE SERIES [generator args...] prints the block directory <db>/<ULID>.
# It reuses $DATA/NAME-<any hash>/db when complete (preferring the current generator's), as
# scripts/bench-vs-promtool.sh leaves it; otherwise it generates it the same way
# (scripts/gen-bench-openmetrics.py, then promtool tsdb create-blocks-from openmetrics).
# Needs DATA (the data directory); uses PROMTOOL, SEED and START when set.
_BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
_BENCH_GEN="$_BENCH_ROOT/scripts/gen-bench-openmetrics.py"
_BENCH_GEN_HASH="$(sha256sum "$_BENCH_GEN" | cut -c1-12)"

find_or_make() {
    local name="$1" profile="$2" series="$3"
    shift 3
    local promtool="${PROMTOOL:-/usr/bin/promtool}" dir="" cand
    if [[ -f "$DATA/$name-$_BENCH_GEN_HASH/.complete" ]]; then
        dir="$DATA/$name-$_BENCH_GEN_HASH"
    else
        for cand in "$DATA/$name"-*/; do
            [[ -f "$cand/.complete" ]] && { dir="${cand%/}"; break; }
        done
    fi
    if [[ -z "$dir" ]]; then
        [[ -x "$promtool" ]] || { echo "no $name blocks under $DATA and promtool not found at $promtool" >&2; return 1; }
        dir="$DATA/$name-$_BENCH_GEN_HASH"
        rm -rf "$dir"
        mkdir -p "$dir"
        printf '\n==> generating %s (%s profile, %s series)\n' "$name" "$profile" "$series" >&2
        python3 "$_BENCH_GEN" --profile "$profile" --series "$series" --seed "${SEED:-20230415}" \
            --start "${START:-1700006400}" "$@" -o "$dir/input.om"
        "$promtool" tsdb create-blocks-from openmetrics -q "$dir/input.om" "$dir/db" >&2
        rm -f "$dir/input.om"
        local n
        n="$("$promtool" tsdb list "$dir/db" | awk 'NR > 1 && NF > 0' | wc -l)"
        [[ "$n" -eq 1 ]] || { echo "$name: expected 1 block, promtool tsdb list shows $n" >&2; return 1; }
        touch "$dir/.complete"
    else
        echo "reusing $dir" >&2
    fi
    local blocks=("$dir"/db/*/meta.json)
    [[ ${#blocks[@]} -eq 1 && -f "${blocks[0]}" ]] || { echo "$dir/db: expected exactly one block" >&2; return 1; }
    dirname "${blocks[0]}"
}

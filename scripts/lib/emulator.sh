# Sourced by the benchmark scripts: start_emulator WORKDIR [ARGS...] starts the Azure Blob
# emulator (Tests/emulator) on a free loopback port in the background and sets EMU_PID, PORT,
# CONTROL (its fault/stats API) and ENDPOINT (the devstoreaccount1 base URL). It installs an
# EXIT trap that stops the emulator (and makes INT/TERM exit, so the trap runs).
stop_emulator() {
    if [[ -n "${EMU_PID:-}" ]]; then
        kill "$EMU_PID" 2>/dev/null || true
        wait "$EMU_PID" 2>/dev/null || true
    fi
}

start_emulator() {
    trap stop_emulator EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    local work="$1"
    shift
    local root
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
    python3 "$root/Tests/emulator/azblob_emulator.py" --port 0 "$@" >"$work/emulator.out" 2>"$work/emulator.err" &
    EMU_PID=$!
    for _ in $(seq 1 200); do
        grep -q '^LISTENING ' "$work/emulator.out" 2>/dev/null && break
        kill -0 "$EMU_PID" 2>/dev/null || break
        sleep 0.05
    done
    PORT="$(awk '/^LISTENING /{ print $2 }' "$work/emulator.out")"
    if [[ -z "$PORT" ]]; then
        cat "$work/emulator.err" >&2
        echo "the emulator did not start" >&2
        return 1
    fi
    CONTROL="http://127.0.0.1:$PORT/__control"
    ENDPOINT="http://127.0.0.1:$PORT/devstoreaccount1"
    echo "emulator: pid $EMU_PID, $ENDPOINT" >&2
}

# emulator_config FILE CONTAINER [PREFIX]: an objstore YAML for one container of the running
# emulator's devstoreaccount1 (Shared Key, the endpoint-URL extension).
emulator_config() {
    cat >"$1" <<EOF
type: AZURE
config:
  storage_account: devstoreaccount1
  storage_account_key: "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
  endpoint: http://127.0.0.1:$PORT
  container: $2
prefix: "${3:-}"
EOF
}

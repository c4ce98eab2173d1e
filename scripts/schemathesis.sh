#!/usr/bin/env bash
# Runs Schemathesis (every check) against a real `serve` on the bundled simulator, so
# `/openapi.json` cannot drift from what the server does: any finding fails.
# Needs `schemathesis` on PATH (`pip install schemathesis==4.32.5`) and a built binary.
# EXAMPLES (30) and SEED (1) bound and fix the run.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-target/debug/iiko-bridge}
work=$(mktemp -d)
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_for() {
  python3 - "$1" <<'PY'
import sys, time, urllib.request
for _ in range(150):
    try:
        urllib.request.urlopen(sys.argv[1], timeout=1)
        sys.exit(0)
    except Exception:
        time.sleep(0.2)
sys.exit(f"{sys.argv[1]} did not answer")
PY
}
sim_port=$(free_port)
api_port=$(free_port)
token=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
"$bin" sim --listen "127.0.0.1:$sim_port" >"$work/sim.log" 2>&1 &
sed -e "s#http://127.0.0.1:9900#http://127.0.0.1:$sim_port#" \
    -e "s#sqlite://data/bridge.db#sqlite://$work/bridge.db#" \
    -e "s#export_dir = \"export\"#export_dir = \"$work/export\"#" \
    -e "s#listen = \"0.0.0.0:8080\"#listen = \"127.0.0.1:$api_port\"#" \
    config/bridge.example.toml >"$work/bridge.toml"
export IIKO_BRIDGE__SITE__TOKEN="$token"
wait_for "http://127.0.0.1:$sim_port/sim/requests"
"$bin" --config "$work/bridge.toml" menu sync >/dev/null
"$bin" --config "$work/bridge.toml" serve >"$work/serve.log" 2>&1 &
wait_for "http://127.0.0.1:$api_port/healthz"
schemathesis --config-file scripts/schemathesis.toml run \
  "http://127.0.0.1:$api_port/openapi.json" \
  -H "Authorization: Bearer $token" \
  --exclude-path /iiko/webhook \
  --max-examples "${EXAMPLES:-30}" --seed "${SEED:-1}" --no-color \
  || { echo "--- serve log"; tail -50 "$work/serve.log"; exit 1; }

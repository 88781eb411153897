#!/usr/bin/env bash
# Property-based fuzzing of the query API from its own OpenAPI document (schemathesis, from
# PyPI): a `flowmart demo` on a free loopback port, fuzzed once with a tenant key (every tenant
# route but the streams, which never end; the tests cover those) and once with the admin token
# (the admin routes). Every check schemathesis has must pass: no server error, no response
# outside the document, every schema-valid request accepted, every schema-violating one refused.
#
# Usage: scripts/api-fuzz.sh [MAX_EXAMPLES]   (default 100 per operation)
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
VENV=target/schemathesis
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

cargo build --locked --quiet -p flowmart
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
ADMIN_TOKEN="api-fuzz-admin-$RANDOM$RANDOM"
LOG=target/api-fuzz-demo.log
FLOWMART_ADMIN_TOKEN="$ADMIN_TOKEN" target/debug/flowmart demo --listen "127.0.0.1:$PORT" --rate 2000 --tenants 3 \
  >"$LOG" 2>&1 &
DEMO=$!
trap 'kill "$DEMO" 2>/dev/null; wait "$DEMO" 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.2; done

# A key of a tenant with data (the demo's first), once the pipeline has seen it.
for _ in $(seq 100); do
  TENANT=$(curl -sf -H "Authorization: Bearer $ADMIN_TOKEN" "$URL/v1/admin/tenants" \
    | python3 -c 'import json, sys; tenants = json.load(sys.stdin)["tenants"]; print(tenants[0]["tenant_id"] if tenants else "")')
  [ -n "$TENANT" ] && break
  sleep 0.2
done
KEY=$(curl -sf -X POST -H "Authorization: Bearer $ADMIN_TOKEN" "$URL/v1/admin/tenants/$TENANT/api-keys" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["api_key"])')

fuzz() {
  "$VENV/bin/schemathesis" run "$URL/openapi.json" --checks all --max-examples "${1:-100}" --seed 19 \
    --request-timeout 10 --rate-limit 150/s --workers 2 --no-color --suppress-health-check all "${@:2}"
}
echo "==> tenant routes, as $TENANT"
fuzz "${1:-100}" -H "Authorization: Bearer $KEY" --exclude-path-regex '^/v1/admin/|/stream$'
echo "==> admin routes"
fuzz "${1:-100}" -H "Authorization: Bearer $ADMIN_TOKEN" --include-path-regex '^/v1/admin/'

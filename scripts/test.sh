#!/usr/bin/env bash
# The one test command (README, .ci/run): starts what the tests need, then runs every check and
# every test of the workspace. Safe to run on a fresh machine and to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# Kafka tests start their own Tansu broker (a Kafka-protocol broker) per test on a free port;
# install it once. The first install compiles for about 10 minutes.
TANSU_VERSION=0.6.0
if ! tansu --version 2>/dev/null | grep -q "$TANSU_VERSION"; then
  step "installing tansu $TANSU_VERSION (cargo install, once)"
  cargo install tansu --locked --version "$TANSU_VERSION" --features dynostore
fi
export PATH="$HOME/.cargo/bin:$PATH"

# Kafka over TLS is tested through stunnel in front of Tansu (Tansu 0.6 cannot be given both its
# --cert and --key): Debian's stunnel4.
if ! command -v stunnel >/dev/null 2>&1; then
  step "installing stunnel4 (apt, once)"
  as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get install -y --no-install-recommends stunnel4 \
    || { as_root apt-get update && as_root apt-get install -y --no-install-recommends stunnel4; }
fi

# The dashboard test drives headless Chromium (Debian's package).
if ! command -v chromium >/dev/null 2>&1; then
  step "installing chromium (apt, once)"
  as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get install -y --no-install-recommends chromium \
    || { as_root apt-get update && as_root apt-get install -y --no-install-recommends chromium; }
fi

# The API is fuzzed from its OpenAPI document by schemathesis (api/tests/openapi_fuzz.rs), from
# PyPI, in a virtualenv of its own under target/.
SCHEMATHESIS_VERSION=4.32.5
if ! target/schemathesis/bin/schemathesis --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  step "installing schemathesis $SCHEMATHESIS_VERSION (pip, once)"
  python3 -m venv target/schemathesis
  target/schemathesis/bin/pip install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

# Postgres tests each create a database of their own on this server.
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  step "starting postgres"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi

step "formatting (cargo fmt --check)"
cargo fmt --all --check

step "lints (cargo clippy, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests (cargo test --workspace)"
cargo test --workspace --locked

step "fuzzing: each target for 60 s, no crash, OOM or hang (scripts/fuzz.sh)"
bash scripts/fuzz.sh "${FUZZ_SECONDS:-60}"

step "deploy files: chart, compose and health checks (scripts/check-deploy.sh)"
bash scripts/check-deploy.sh


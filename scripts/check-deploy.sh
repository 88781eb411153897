#!/usr/bin/env bash
# Checks the deploy files (deploy/, Dockerfile, .dockerignore, docker-compose.yml) against what
# they deploy: scripts/check_deploy.py says what each check does. This script installs its tools
# (safe to run on a fresh machine and to run again), builds flowmart, and runs it.
#   bash scripts/check-deploy.sh
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

TOOLS="${CARGO_TARGET_DIR:-target}/deploy-tools"
mkdir -p "$TOOLS"

# Python tools, pinned, in a virtualenv of their own. helm-python-sdk carries Helm's Go engine
# (Helm v4.2.3, as a C library): the chart renders as `helm install` would render it, with no helm
# binary. kubernetes-validate holds the Kubernetes OpenAPI schemas (offline). compose-spec is the
# Compose specification's parser (Rust). PyYAML reads the YAML.
PYTHON_TOOLS=(helm-python-sdk==0.2.2 kubernetes-validate==1.37.0 compose-spec==0.2.1 PyYAML==6.0.3)
if [ ! -x "$TOOLS/venv/bin/python" ]; then
  step "creating a Python virtualenv for the deploy checks (once)"
  python3 -m venv "$TOOLS/venv"
fi
"$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check "${PYTHON_TOOLS[@]}"

# promtool, from Debian's prometheus package: unpacked, not installed, so that no Prometheus
# server is set up or started on this machine.
if [ ! -x "$TOOLS/promtool" ]; then
  step "unpacking promtool from Debian's prometheus package (once)"
  download="$(mktemp -d)"
  chown _apt "$download" 2>/dev/null || true  # apt fetches as its own user where it can
  if ! (cd "$download" && apt-get download -qq prometheus); then
    as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
    as_root apt-get update -qq
    (cd "$download" && apt-get download -qq prometheus)
  fi
  dpkg-deb --fsys-tarfile "$download"/prometheus_*.deb | tar -x -C "$download" ./usr/bin/promtool
  mv "$download/usr/bin/promtool" "$TOOLS/promtool"
  rm -rf "$download"
fi

# The health checks run against a live `flowmart demo` (a no-op after `cargo test`).
step "building flowmart for the deploy checks"
cargo build --quiet --locked -p flowmart
FLOWMART="${CARGO_TARGET_DIR:-target}/debug/flowmart"

step "deploy checks (scripts/check_deploy.py)"
"$TOOLS/venv/bin/python" scripts/check_deploy.py --flowmart "$FLOWMART" --promtool "$TOOLS/promtool"

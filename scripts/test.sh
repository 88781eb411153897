#!/usr/bin/env bash
# The one test command (README, .ci/run): starts what the tests need, then runs every check and
# every test of the workspace. Safe to run on a fresh machine and to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# The spine's tests need no outside service: the generator, the pipeline and the API all run
# in-process on loopback. (The Kafka broker and Postgres are set up here as their sinks land.)

step "formatting (cargo fmt --check)"
cargo fmt --all --check

step "lints (cargo clippy, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests (cargo test --workspace)"
cargo test --workspace --locked

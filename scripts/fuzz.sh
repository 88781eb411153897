#!/usr/bin/env bash
# Fuzzes everything that reads bytes from outside the process (fuzz/README.md): builds the
# fuzz targets once, then runs each for SECONDS (default 60) from its checked-in seed corpus,
# two at a time, and fails on any crash, OOM (over 2 GiB) or hang (an input over 10 s). Inputs
# are at most 16 KiB: under AddressSanitizer every realloc copies, so apache-avro's growing an
# array block by block turns quadratic past that (8 ms without ASan, 13 s with it, for 34 KiB).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      (targets: decode_record cursor peers_file config)
#
# New inputs go to fuzz/target/corpus/<target>/, never into the checked-in corpus; a failing
# input is written to fuzz/artifacts/<target>/ (reproduce: cargo +nightly fuzz run TARGET FILE).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(decode_record cursor peers_file config)
parallel="${FUZZ_PARALLEL:-2}"

export PATH="$HOME/.cargo/bin:$PATH"
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz.sh: cargo fuzz needs the nightly toolchain (rustup toolchain install nightly)" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz (cargo install, once)"
  cargo install cargo-fuzz --locked
fi

# The pipeline-file target must see only its file: drop the variables config::load reads.
for variable in $(compgen -e | grep -E '^(FLOWMART_|DATABASE_URL$)' || true); do unset "$variable"; done

# zstd-sys compiles its C with AddressSanitizer when the build does; librdkafka's configure then
# links its test programs against that library, and they need the sanitizer's runtime too.
export LDFLAGS="${LDFLAGS:-} -fsanitize=address"

cd fuzz
started=$SECONDS
cargo +nightly fuzz build --release
echo "fuzz.sh: built the targets in $((SECONDS - started)) s"

run() {
  local target=$1
  mkdir -p "target/corpus/$target" "artifacts/$target"
  cargo +nightly fuzz run --release "$target" "target/corpus/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -max_len=16384 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    >"target/fuzz-$target.log" 2>&1
}

failed=()
pids=()
names=()
finish() {
  local i
  for i in "${!pids[@]}"; do
    if wait "${pids[$i]}"; then
      local execs
      execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "target/fuzz-${names[$i]}.log" | grep -o '[0-9]*$' || echo '?')
      echo "fuzz.sh: ${names[$i]}: no crash in ${seconds} s ($execs executions)"
    else
      failed+=("${names[$i]}")
      echo "fuzz.sh: ${names[$i]} FAILED; the end of its log:" >&2
      tail -n 60 "target/fuzz-${names[$i]}.log" >&2
    fi
  done
  pids=()
  names=()
}
for target in "${targets[@]}"; do
  run "$target" &
  pids+=($!)
  names+=("$target")
  [ ${#pids[@]} -lt "$parallel" ] || finish
done
finish

echo "fuzz.sh: build and runs took $((SECONDS - started)) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: ${failed[*]} failed; inputs in fuzz/artifacts/" >&2
  exit 1
fi

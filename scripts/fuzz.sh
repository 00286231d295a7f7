#!/usr/bin/env bash
# Runs every libFuzzer target of a VMIC_FUZZ build for a bounded time, from a
# seed corpus cut from the real-guest fixture (fuzz/seeds.py), after the
# inputs in fuzz/regress/TARGET/ that once found a bug.
#   scripts/fuzz.sh BUILD_DIR [SECONDS_PER_TARGET] [FIXTURE_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

build=${1:?usage: scripts/fuzz.sh BUILD_DIR [SECONDS] [FIXTURE_DIR]}
seconds=${2:-30}
fixture=${3:-build/fixtures/6.1}
corpus=$build/fuzz-corpus

scripts/make-fixture.sh --kernel 6.1 --out "$fixture" >/dev/null
python3 fuzz/seeds.py "$fixture" "$corpus"

status=0
for target in "$build"/fuzz/fuzz_*; do
  [ -x "$target" ] || continue
  name=$(basename "$target")
  mkdir -p "$corpus/$name" "$build/fuzz-crashes/$name"
  # Inputs that once crashed or hung a target run first, every time.
  if [ -d "fuzz/regress/$name" ]; then
    if ! "$target" -timeout=10 -rss_limit_mb=2048 fuzz/regress/"$name"/* \
         >"$build/fuzz-$name-regress.log" 2>&1; then
      echo "fuzz: $name FAILED on a regression input:"
      tail -40 "$build/fuzz-$name-regress.log"
      status=1
      continue
    fi
  fi
  echo "fuzz: $name for ${seconds}s"
  if ! "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="$build/fuzz-crashes/$name/" -print_final_stats=1 \
       "$corpus/$name" 2>"$build/fuzz-$name.log"; then
    echo "fuzz: $name FAILED; last lines of $build/fuzz-$name.log:"
    tail -40 "$build/fuzz-$name.log"
    status=1
  else
    grep -E "stat::number_of_executed_units|cov:" "$build/fuzz-$name.log" | tail -2 | sed 's/^/  /'
  fi
done
exit $status

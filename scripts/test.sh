#!/usr/bin/env bash
# Runs the whole test suite: a normal build and an AddressSanitizer + UBSan
# build, each with every unit test and every test on real-guest dumps (the
# fixtures are built once by scripts/make-fixture.sh and cached under
# build/fixtures), a Release build and a clang build with the unit tests
# (each compiler, each optimization level warns differently), then each
# fuzzer for a bounded time. Every build treats warnings as errors.
#   scripts/test.sh [--quick]   --quick: normal build, unit tests only
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=$(nproc 2>/dev/null || echo 2)
quick=0
[ "${1:-}" = "--quick" ] && quick=1

build() {  # build DIR [cmake args...]
  local dir=$1; shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVMIC_WERROR=ON -DVMIC_REQUIRE_YARA=ON "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
}

build build/release
if [ $quick -eq 1 ]; then
  ctest --test-dir build/release -L unit --output-on-failure -j "$jobs"
  exit 0
fi
ctest --test-dir build/release --output-on-failure -j "$jobs"

# -O2 without -g (gcc's -Wformat-truncation sees more) and clang: the unit
# tests only: ~25 s each on 2 idle cores (2-2.5 min on a loaded machine).
build build/release-O2 -DCMAKE_BUILD_TYPE=Release
ctest --test-dir build/release-O2 -L unit --output-on-failure -j "$jobs"
if command -v clang >/dev/null; then
  CC=clang build build/clang
  ctest --test-dir build/clang -L unit --output-on-failure -j "$jobs"
fi

# Under the sanitizers: everything but the wider fixture matrix (one fixture
# of each paging mode, 6.1 4-level and 6.12 5-level with PTI, stays in; the
# distribution guest runs in the normal build only).
build build/asan -DVMIC_SANITIZE=ON
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/asan --output-on-failure -j "$jobs" -LE "matrix|distro"

if command -v clang >/dev/null; then
  CC=clang build build/fuzz -DVMIC_FUZZ=ON
  scripts/fuzz.sh build/fuzz "${VMIC_FUZZ_SECONDS:-30}"
fi
echo "test.sh: all green"

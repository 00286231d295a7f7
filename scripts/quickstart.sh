#!/usr/bin/env bash
# From nothing to looking into a real Linux guest: installs the Debian
# packages, builds vmic, boots a Debian kernel under QEMU to take a memory
# dump of it (cached), and shows what vmic sees in that dump.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/release -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
scripts/make-fixture.sh --kernel 6.1 --out build/fixtures/6.1

dump=build/fixtures/6.1/dump.elf
text=$(awk '$3 == "_text" { print "0x" $1; exit }' build/fixtures/6.1/truth/kallsyms.txt)

run() { echo; echo "\$ $*"; "$@"; }
run build/release/vmic info "$dump"
run build/release/vmic translate "$dump" "$text"
run build/release/vmic read "$dump" "$text" 64

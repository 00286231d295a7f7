#!/usr/bin/env bash
# From nothing to looking into a real Linux guest: installs the Debian
# packages, builds vmic, boots a Debian kernel under QEMU to take a memory
# dump of it (cached), and shows what vmic sees in that dump. Only what that
# needs: no debug packages (--no-dwarf; those serve the tests' DWARF
# cross-checks), no sanitizer or fuzzing toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh --main
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/release -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
guest=build/quickstart/6.1
scripts/make-fixture.sh --kernel 6.1 --no-dwarf --out "$guest"

dump=$guest/dump.elf
text=$(awk '$3 == "_text" { print "0x" $1; exit }' "$guest/truth/kallsyms.txt")

run() { echo; echo "\$ $*"; "$@"; }
run build/release/vmic info "$dump"
run build/release/vmic translate "$dump" "$text"
run build/release/vmic read "$dump" "$text" 64

# The main job: a live guest under QEMU, traced from outside. The fixture's
# /init runs its workload (tests/fixtures/workload.c) when asked on ttyS2.
# mktemp -d: a new 0700 directory of ours, which vmic boot --dir accepts; a
# name only (mktemp -u) would let anyone create that directory first.
dir=$(mktemp -d /dev/shm/vmic-quickstart.XXXXXX 2>/dev/null || mktemp -d)
vmic=build/release/vmic
$vmic boot --quiet --dir "$dir" --kernel "$guest/vmlinuz" --initrd "$guest/initrd.gz" \
	--append "console=ttyS0 panic=-1 vmic.workload=1" \
	--wait-serial "=== VMIC-FIXTURE-READY ===" -- -serial "unix:$dir/ttyS2.sock,server=on,wait=off" >/dev/null
trap 'rm -f "$dir/ttyS2.sock"; $vmic boot --stop "qemu:$dir" >/dev/null' EXIT
echo
echo "\$ $vmic ps qemu:$dir | tail -3"
$vmic ps "qemu:$dir" | tail -3
echo
echo "\$ $vmic trace --comm vmic-workload --syscall openat,execve,exit_group qemu:$dir"
$vmic trace --comm vmic-workload --syscall openat,execve,exit_group "qemu:$dir" &
tracer=$!
sleep 2
python3 - "$dir" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1] + "/ttyS2.sock")
s.sendall(b"run demo\n")
log = sys.argv[1] + "/serial1.log"
deadline = time.time() + 120
while time.time() < deadline and "VMIC-WORKLOAD-IDLE run demo" not in open(log, errors="replace").read():
    time.sleep(0.2)
PY
kill -INT $tracer
wait $tracer

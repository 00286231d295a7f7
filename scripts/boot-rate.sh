#!/usr/bin/env bash
# How often a fixture's guest kernel dies while it boots: boots it N times
# through `vmic boot` as the live tests do (the fixture's shape.txt: CPU
# model, PTI, RAM, vCPUs; vmic.workload; --wait-serial READY), one at a time,
# stops each QEMU once the guest is READY, and counts the boots whose kernel
# panicked first (and of those, the "Oops: int3" ones). docs/DESIGN.md
# ("Facts about KVM and QEMU") has what it measured.
#
#   scripts/boot-rate.sh [OPTIONS] N FIXTURE_DIR [VMIC]
#     --append ARGS    more kernel command line (e.g. tsc=unstable)
#     --no-plugin      boot without vmic's QEMU plugin
#     --accel ACCEL    QEMU's accelerator (e.g. tcg,thread=single; then no plugin)
#     --stress K       not the fixture's /init: one that flips a hot static key
#                      (kernel.sched_schedstats) 2K times while both vCPUs run
#                      scheduler code, then says so on ttyS1 (the same class
#                      of cross-vCPU text patching as the boot's, on demand)
# Exit 0 when no boot panicked, 1 when one did, 2 on bad usage.
set -uo pipefail

append="" plugin=() accel=() stress=0
while [ $# -gt 0 ]; do
	case $1 in
	--append) append=$2; shift 2 ;;
	--no-plugin) plugin=(--no-plugin); shift ;;
	--accel) accel=(--accel "$2"); plugin=(--no-plugin); shift 2 ;;
	--stress) stress=$2; shift 2 ;;
	-*) echo "boot-rate.sh: unknown option $1" >&2; exit 2 ;;
	*) break ;;
	esac
done
[ $# -ge 2 ] || { sed -n '2,/^# Exit/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
n=$1 fixture=$2
vmic=${3:-$(dirname "$0")/../build/release/vmic}
ready="=== VMIC-FIXTURE-READY ==="

shape() { tr ' ' '\n' <"$fixture/shape.txt" | sed -n "s/^$1=//p"; }
cpu=$(shape cpu) pti=$(shape pti) ram=$(shape ram) smp=$(shape smp)
line="console=ttyS0 panic=-1 vmic.workload=1"
[ -n "$pti" ] && [ "$pti" != auto ] && line+=" pti=$pti"
[ -n "$append" ] && line+=" $append"

base=/dev/shm
[ -w /dev/shm ] || base=/tmp
work=$(mktemp -d "$base/vmic-boot-rate.XXXXXX")
trap 'rm -rf "$work"' EXIT
initrd=$fixture/initrd.gz
if [ "$stress" -gt 0 ]; then
	# The fixture's initramfs with one more file after it (the kernel
	# unpacks concatenated archives in order): /stress, run as rdinit.
	mkdir "$work/root"
	cat >"$work/root/stress" <<-EOF
	#!/bin/sh
	/bin/busybox mount -t proc proc /proc
	/bin/busybox mount -t devtmpfs dev /dev
	(while :; do echo x; done | while read l; do :; done) &
	(while :; do echo y; done | cat >/dev/null) &
	i=0
	while [ \$i -lt $stress ]; do
		echo 1 >/proc/sys/kernel/sched_schedstats
		echo 0 >/proc/sys/kernel/sched_schedstats
		i=\$((i + 1))
	done
	echo "$ready" >/dev/ttyS1
	while :; do sleep 60; done
	EOF
	chmod +x "$work/root/stress"
	(cd "$work/root" && echo ./stress | cpio -o -H newc 2>/dev/null | gzip) >"$work/extra.gz"
	cat "$fixture/initrd.gz" "$work/extra.gz" >"$work/initrd.gz"
	initrd=$work/initrd.gz
	line+=" rdinit=/stress"
fi

echo "boot-rate: $n boots of $fixture (-cpu ${cpu:-qemu64}, ${smp:-1} vCPUs${plugin:+, ${plugin[*]}}${accel:+, ${accel[*]}})"
echo "boot-rate: kernel command line: $line"
ok=0 panics=0 int3=0 other=0
for i in $(seq 1 "$n"); do
	dir=$(mktemp -d "$work/vm.XXXXXX")
	t0=$(date +%s)
	"$vmic" boot --quiet --dir "$dir" --kernel "$fixture/vmlinuz" --initrd "$initrd" \
		--smp "${smp:-1}" --cpu "${cpu:-qemu64}" -m "${ram:-256}" "${accel[@]}" "${plugin[@]}" \
		--append "$line" --wait-serial "$ready" --timeout 300 >"$work/out" 2>"$work/err"
	rc=$?
	secs=$(($(date +%s) - t0))
	if [ $rc -eq 0 ]; then
		ok=$((ok + 1)) what=ok
		"$vmic" boot --stop "$(cat "$work/out")" >/dev/null 2>&1
	elif grep -q "Kernel panic" "$work/err"; then
		panics=$((panics + 1)) what=PANIC
		grep -q "int3" "$work/err" && { int3=$((int3 + 1)) what="PANIC (int3)"; }
		keep=${TMPDIR:-/tmp}/vmic-boot-rate.$$.$i.log
		cp "$work/err" "$keep" && what+=": $keep"
	else
		other=$((other + 1)) what="failed (exit $rc): $(tail -1 "$work/err")"
	fi
	rm -rf "$dir"
	echo "boot-rate: $i/$n ${secs}s $what"
done
echo "boot-rate: N=$n ready=$ok panicked=$panics (int3: $int3) other=$other"
[ $panics -eq 0 ]

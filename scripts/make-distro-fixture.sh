#!/bin/bash
# make-distro-fixture.sh - build a test fixture from a real Debian distribution.
#
# Usage: scripts/make-distro-fixture.sh [--out DIR] [--force]
#
# Where make-fixture.sh boots a bare kernel with a busybox initramfs, this
# boots what people run: Debian bookworm made with debootstrap (systemd,
# udev, journald, dbus, cron, rsyslog), the same Debian 6.1 kernel as the
# 6.1 fixture installed with dpkg inside the chroot, so initramfs-tools
# makes the guest's own initramfs there, on an ext4 image made without loop
# devices (mkfs.ext4 -d). A systemd unit (tests/fixtures/distro/) writes the
# guest's own view of itself to ttyS1 once the boot is over; the host then
# freezes the VM under TCG (2 vCPUs, 1 GiB) and dumps its memory.
#
# Output DIR (default build/fixtures/distro under the repo root):
#   kernel.txt       exact Debian kernel package, version and release
#   vmlinuz, initrd.img   the guest's kernel and the initramfs made inside it
#   config, System.map    from the package (System.map is Debian's stub)
#   disk.img         the root file system (ext4, raw); never booted itself:
#                    every boot uses snapshot=on, so it stays as built
#   packages.txt     the guest's installed packages (dpkg-query)
#   qemu.txt         QEMU version and command line used
#   console.log      first serial port (kernel console, systemd's status)
#   truth.txt        second serial port, raw; truth/<section>.txt split from it
#   dump.elf, dump.raw, registers.txt
#   timings.txt      seconds each step of this build took
#   DONE             written last; holds "<package> <version> key=<hash>"
#
# The result is cached: a DIR whose DONE stamp carries the hash of this
# script and the guest files in tests/fixtures/distro/ is reused unless
# --force. Debian packages are cached in build/fixtures/debs/ (the kernel
# .deb shared with make-fixture.sh, debootstrap's in debootstrap/).
# Needs root (debootstrap and chroot; without it: exit 77, skipped) and the
# network to the Debian mirror, only while building; the guest has none.
# Environment: VMIC_FIXTURE_TIMEOUT (seconds to wait for the guest, default
# 600), VMIC_FIXTURE_KEEP_WORK=1 (keep the work dir), VMIC_DEBIAN_MIRROR
# (default http://deb.debian.org/debian).

set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
GUEST_DIR="$REPO_ROOT/tests/fixtures/distro"
GUEST_FILES=("$GUEST_DIR/vmic-truth.sh" "$GUEST_DIR/vmic-truth.service" "$GUEST_DIR/vmic-work.sh")
HMP="$SCRIPT_DIR/qemu-hmp.py"
# Everything the fixture's content depends on; its hash keys the cache.
KEY=$(cat "${BASH_SOURCE[0]}" "${GUEST_FILES[@]}" | sha256sum | cut -c1-16)

SUITE=bookworm
MIRROR=${VMIC_DEBIAN_MIRROR:-http://deb.debian.org/debian}
RAM_MB=1024
SMP=2
DISK_SIZE=2G
BOOT_TIMEOUT=${VMIC_FIXTURE_TIMEOUT:-600}
READY_LINE='=== VMIC-FIXTURE-READY ==='
APPEND='root=/dev/vda rw console=ttyS0 panic=-1'

# What debootstrap installs on top of minbase: an init system with its
# usual company (udev, journald comes with systemd, dbus for logind), the
# tools the truth script uses (procps, iproute2, kmod), two small services
# that run real long-lived daemons and install in seconds (cron, rsyslog),
# and what the kernel package needs to install (linux-base, initramfs-tools;
# zstd compresses the initramfs as Debian's default configuration asks).
INCLUDE=systemd,systemd-sysv,udev,dbus,procps,iproute2,kmod,cron,rsyslog,initramfs-tools,linux-base,zstd

# The initramfs holds only the modules that mount the root file system.
# Debian's default (MODULES=most) makes a 30 MB archive; MODULES=dep, the
# other choice, looks at the build host's root device, which is wrong in a
# chroot. Dependencies (crc16, jbd2, mbcache, ...) are added by mkinitramfs.
INITRAMFS_MODULES=(virtio_pci virtio_blk ext4)

log() { printf 'make-distro-fixture: %s\n' "$*" >&2; }
die() { printf 'make-distro-fixture: error: %s\n' "$*" >&2; exit 1; }

usage() {
	sed -n '4p' "$0" | sed 's/^# //' >&2
	exit 2
}

# ---------------------------------------------------------------- arguments

OUT=
FORCE=0
while [ $# -gt 0 ]; do
	case $1 in
	--out) [ $# -ge 2 ] || usage; OUT=$2; shift 2 ;;
	--out=*) OUT=${1#*=}; shift ;;
	--force) FORCE=1; shift ;;
	-h | --help) usage ;;
	*) log "unknown argument: $1"; usage ;;
	esac
done
OUT=${OUT:-$REPO_ROOT/build/fixtures/distro}
mkdir -p "$(dirname "$OUT")"
OUT="$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")"
# The path is handed to QEMU's monitor inside double quotes.
case $OUT in *'"'* | *'\'* | *,*) die "--out must not contain quotes, backslashes or commas" ;; esac

cached() { [ -s "$OUT/DONE" ] && grep -q " key=$KEY\$" "$OUT/DONE"; }

# Checked before anything else so a cached run needs no tools and no network.
if [ "$FORCE" = 0 ] && cached; then
	log "cached: $OUT ($(cat "$OUT/DONE"))"
	exit 0
fi

START=$SECONDS

need() { # need COMMAND DEBIAN-PACKAGE
	command -v "$1" >/dev/null 2>&1 ||
		die "'$1' not found: install the Debian package '$2' (apt-get install $2)"
}
need flock util-linux
exec 9>"$OUT.lock"
if ! flock -n 9; then
	log "waiting for another build of $OUT"
	flock 9
fi
if [ "$FORCE" = 0 ] && cached; then
	log "cached: $OUT ($(cat "$OUT/DONE")), built meanwhile"
	exit 0
fi

# -------------------------------------------------------------------- tools

# Not a failure of vmic's: exit 77, which ctest counts as skipped (and the
# tests that need this fixture then skip too).
if [ "$(id -u)" != 0 ]; then
	log "SKIP: debootstrap and chroot need root: run as root (or under sudo)"
	exit 77
fi
need debootstrap debootstrap
need mkfs.ext4 e2fsprogs
need chroot coreutils
need qemu-system-x86_64 qemu-system-x86
need python3 python3
need apt-get apt
need apt-cache apt
need dpkg-deb dpkg
need sha256sum coreutils
# mkfs.ext4 -d (populate from a directory) came with e2fsprogs 1.43.
{ mkfs.ext4 2>&1 || true; } | grep -q -- '-d ' || die "this mkfs.ext4 has no -d: e2fsprogs 1.43 or newer needed"

# ------------------------------------------------------------- work + cleanup

DEBS="$REPO_ROOT/build/fixtures/debs"
PARTIAL="$OUT.partial"
mkdir -p "$DEBS/debootstrap"
# In TMPDIR: unix socket paths are limited to 108 bytes.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vmic-distro.XXXXXX")
# The chroot (~0.8 GB, 30,000 files) goes to /dev/shm when that tmpfs may
# hold devices and programs and has room: deleting it from this machine's
# disk took 30-60 s, from tmpfs 0.4 s. Else next to the rest of WORK.
ROOT="$WORK/root"
shm_ok() {
	local opts
	opts=$(awk '$2 == "/dev/shm" { o = $4 } END { print o }' /proc/mounts)
	[ -n "$opts" ] && [ -w /dev/shm ] || return 1
	case ",$opts," in *,nodev,* | *,noexec,*) return 1 ;; esac
	[ "$(df --output=avail -k /dev/shm | tail -n 1)" -gt $((3 << 20)) ]
}
if shm_ok; then
	ROOT=$(mktemp -d /dev/shm/vmic-distro-root.XXXXXX)
	# It becomes / of the guest (mkfs.ext4 -d copies its mode): not mktemp's 0700.
	chmod 755 "$ROOT"
fi
QEMU_PID=

# debootstrap and dpkg mount nothing here (no /proc in the chroot is
# needed by these packages); unmount anything left mounted all the same,
# before the rm, so a failure can never delete through a bind mount.
unmount_root() {
	local m
	for m in $(awk -v r="$ROOT" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/mounts | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
}

cleanup() {
	local rc=$?
	if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null; then
		kill "$QEMU_PID" 2>/dev/null || true
		wait "$QEMU_PID" 2>/dev/null || true
	fi
	unmount_root
	if [ "${VMIC_FIXTURE_KEEP_WORK:-0}" = 1 ]; then
		log "work dir kept: $WORK (chroot: $ROOT)"
	else
		rm -rf --one-file-system "$ROOT" "$WORK"
	fi
	[ $rc = 0 ] || log "failed; partial output left in $PARTIAL"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$PARTIAL"
mkdir -p "$PARTIAL/truth"

# Each step's duration, for the README and for whoever makes it faster.
STEP_START=$SECONDS
step() { # step NAME: closes the step that ran since the last call
	echo "$1 $((SECONDS - STEP_START))" >>"$PARTIAL/timings.txt"
	log "$1: $((SECONDS - STEP_START)) s"
	STEP_START=$SECONDS
}

# ------------------------------------------------------------------- kernel

# The 6.1 fixture's kernel, resolved as make-fixture.sh does it (package
# names change with every ABI bump) and sharing its .deb cache.
PKG=$(apt-cache depends linux-image-amd64 2>/dev/null |
	awk '$1 == "Depends:" && $2 ~ /^linux-image-6\.1\.[0-9]+-[0-9]+-amd64$/ { print $2; exit }')
[ -n "$PKG" ] || die "apt-cache depends linux-image-amd64 names no 6.1 kernel (not Debian 12? run apt-get update?)"
VERSION=$(apt-cache policy "$PKG" | awk '$1 == "Candidate:" { print $2 }')
[ -n "$VERSION" ] && [ "$VERSION" != "(none)" ] || die "apt has no installable version of $PKG"
log "kernel package: $PKG $VERSION"

find_deb() {
	local f
	DEB=
	for f in "$DEBS/${PKG}"_*.deb; do
		[ -e "$f" ] && [ "$(dpkg-deb -f "$f" Version)" = "$VERSION" ] && DEB=$f
	done
	return 0
}
find_deb
if [ -z "$DEB" ]; then
	log "downloading $PKG $VERSION into $DEBS"
	# Locked: the fixtures share this download cache.
	(cd "$DEBS" && flock .lock apt-get download -q -o APT::Sandbox::User=root "$PKG=$VERSION" >&2) ||
		die "apt-get download $PKG=$VERSION failed (stale package lists? try apt-get update)"
	find_deb
	[ -n "$DEB" ] || die "downloaded $PKG but found no matching .deb in $DEBS"
fi
step kernel-deb

# --------------------------------------------------------------- the system

log "debootstrap $SUITE ($MIRROR) into $ROOT"
# --cache-dir keeps the ~140 .debs between builds (locked: shared). Its log
# goes to a file: hundreds of lines that matter only when it fails.
if ! flock "$DEBS/.lock" debootstrap --variant=minbase --include="$INCLUDE" \
	--cache-dir="$DEBS/debootstrap" "$SUITE" "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
	tail -n 30 "$WORK/debootstrap.log" >&2
	[ -f "$ROOT/debootstrap/debootstrap.log" ] && tail -n 30 "$ROOT/debootstrap/debootstrap.log" >&2
	die "debootstrap failed (network to $MIRROR?)"
fi
step debootstrap

# Configuration a fresh install would get from the installer.
echo vmic-distro >"$ROOT/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tvmic-distro\n' >"$ROOT/etc/hosts"
printf '/dev/vda\t/\text4\trw,errors=remount-ro\t0\t1\n' >"$ROOT/etc/fstab"
# Timers (apt, dpkg backup, fstrim, e2scrub) would start processes at
# moments no test can predict, some right after boot (Persistent=).
rm -f "$ROOT"/etc/systemd/system/timers.target.wants/*.timer
printf 'MODULES=list\n' >"$ROOT/etc/initramfs-tools/conf.d/vmic"
printf '%s\n' "${INITRAMFS_MODULES[@]}" >>"$ROOT/etc/initramfs-tools/modules"

install -m 755 "$GUEST_DIR/vmic-truth.sh" "$ROOT/usr/local/sbin/vmic-truth"
install -m 755 "$GUEST_DIR/vmic-work.sh" "$ROOT/usr/local/bin/vmic-work"
install -m 644 "$GUEST_DIR/vmic-truth.service" "$ROOT/etc/systemd/system/vmic-truth.service"
# What 'systemctl enable' does, without running systemctl in the chroot.
ln -s ../vmic-truth.service "$ROOT/etc/systemd/system/multi-user.target.wants/vmic-truth.service"

# dpkg inside the chroot runs the package's own hooks: depmod and
# update-initramfs, which makes the guest's initramfs with its own tools.
cp "$DEB" "$ROOT/tmp/kernel.deb"
chroot "$ROOT" dpkg -i /tmp/kernel.deb >"$WORK/kernel-install.log" 2>&1 ||
	{ tail -n 30 "$WORK/kernel-install.log" >&2; die "dpkg -i $(basename "$DEB") failed in the chroot"; }
rm -f "$ROOT/tmp/kernel.deb"
chroot "$ROOT" apt-get clean
RELEASE=$(dpkg-deb -f "$DEB" Package)
RELEASE=${RELEASE#linux-image-}
[ -s "$ROOT/boot/vmlinuz-$RELEASE" ] && [ -s "$ROOT/boot/initrd.img-$RELEASE" ] ||
	die "no /boot/vmlinuz-$RELEASE and initrd.img-$RELEASE in the chroot after dpkg -i"
cp "$ROOT/boot/vmlinuz-$RELEASE" "$PARTIAL/vmlinuz"
cp "$ROOT/boot/initrd.img-$RELEASE" "$PARTIAL/initrd.img"
cp "$ROOT/boot/config-$RELEASE" "$PARTIAL/config"
cp "$ROOT/boot/System.map-$RELEASE" "$PARTIAL/System.map"
chroot "$ROOT" dpkg-query -W -f '${Package} ${Version}\n' >"$PARTIAL/packages.txt"
{
	echo "package=$PKG"
	echo "version=$VERSION"
	echo "release=$RELEASE"
	echo "deb=$(basename "$DEB")"
	echo "sha256=$(sha256sum "$DEB" | awk '{ print $1 }')"
	echo "suite=$SUITE"
	echo "packages=$(wc -l <"$PARTIAL/packages.txt")"
} >"$PARTIAL/kernel.txt"
step kernel-install

# No loop device, no mount: mke2fs writes the tree into the image itself.
# The file is sparse: ~0.8 GB of 2 GB are used.
unmount_root
mkfs.ext4 -q -F -L vmic-root -d "$ROOT" "$PARTIAL/disk.img" "$DISK_SIZE" >/dev/null ||
	die "mkfs.ext4 -d $ROOT failed"
step mkfs

# --------------------------------------------------------------------- boot

SOCK="$WORK/monitor.sock"
QEMU_CMD=(
	qemu-system-x86_64
	-accel tcg
	-machine pc
	-cpu qemu64
	-m "$RAM_MB"
	-smp "$SMP"
	# No default NIC, VGA, floppy or CD: the guest has no network.
	-nodefaults
	-display none
	-no-reboot
	-kernel "$PARTIAL/vmlinuz"
	-initrd "$PARTIAL/initrd.img"
	-append "$APPEND"
	# snapshot=on: the guest's writes go to a temporary overlay, so
	# disk.img stays as built and the live tests boot the same system.
	-drive "file=$PARTIAL/disk.img,if=virtio,format=raw,snapshot=on"
	-serial "file:$PARTIAL/console.log"
	-serial "file:$PARTIAL/truth.txt"
	# ttyS2: the live tests' command port; nothing arrives here.
	-serial null
	-monitor "unix:$SOCK,server=on,wait=off"
)
{
	qemu-system-x86_64 --version | head -n 1
	echo "# run with DIR = $PARTIAL, renamed to $OUT when complete"
	printf '%q ' "${QEMU_CMD[@]}"
	echo
} >"$PARTIAL/qemu.txt"

log "booting $RELEASE with systemd under TCG (timeout ${BOOT_TIMEOUT}s)"
"${QEMU_CMD[@]}" </dev/null >"$WORK/qemu.out" 2>&1 9>&- &
QEMU_PID=$!

fail_boot() {
	log "$1"
	log "--- last lines of console.log ---"
	tail -n 30 "$PARTIAL/console.log" >&2 2>/dev/null || true
	log "--- QEMU output ---"
	cat "$WORK/qemu.out" >&2 || true
	exit 1
}

BOOT_START=$SECONDS
while ! grep -qF "$READY_LINE" "$PARTIAL/truth.txt" 2>/dev/null; do
	kill -0 "$QEMU_PID" 2>/dev/null || fail_boot "QEMU exited before the guest was ready (kernel panic?)"
	[ $((SECONDS - BOOT_START)) -lt "$BOOT_TIMEOUT" ] ||
		fail_boot "guest not ready after ${BOOT_TIMEOUT}s"
	sleep 0.5
done
step boot

hmp() { python3 "$HMP" --timeout 300 "$SOCK" "$@"; }

# Plain ELF (no -p): physical memory only. 1 GiB lies below the PCI hole,
# so one pmemsave from 0 reads only RAM.
hmp stop >/dev/null
hmp dump-guest-memory "\"$PARTIAL/dump.elf\"" >&2
hmp pmemsave 0 $((RAM_MB << 20)) "\"$PARTIAL/dump.raw\"" >&2
hmp info registers -a >"$PARTIAL/registers.txt"
hmp quit >/dev/null || true
wait "$QEMU_PID" 2>/dev/null || true
QEMU_PID=

chmod 644 "$PARTIAL/dump.elf" "$PARTIAL/dump.raw"
raw_size=$(stat -c %s "$PARTIAL/dump.raw" 2>/dev/null || echo 0)
elf_size=$(stat -c %s "$PARTIAL/dump.elf" 2>/dev/null || echo 0)
[ "$raw_size" = $((RAM_MB << 20)) ] || die "dump.raw is $raw_size bytes, expected $((RAM_MB << 20))"
[ "$elf_size" -gt $((RAM_MB << 20)) ] || die "dump.elf is only $elf_size bytes"
grep -q 'CR3=' "$PARTIAL/registers.txt" ||
	die "registers.txt has no CR3: $(head -c 300 "$PARTIAL/registers.txt")"
step dump

# ------------------------------------------------------------------- truth

# One file per "=== BEGIN name ===" ... "=== END name ===" block, as in
# make-fixture.sh.
awk -v dir="$PARTIAL/truth" '
	{ sub(/\r$/, "") }
	/^=== BEGIN [A-Za-z0-9_.-]+ ===$/ { file = dir "/" $3 ".txt"; printf "" > file; next }
	/^=== END [A-Za-z0-9_.-]+ ===$/ { if (file != "") close(file); file = ""; next }
	file != "" { print > file }
' "$PARTIAL/truth.txt"

for s in uname version ps procs services modules kallsyms dmesg mountinfo-1 net-unix fds-all; do
	[ -s "$PARTIAL/truth/$s.txt" ] || die "guest truth lacks section '$s' (see $PARTIAL/truth.txt)"
done
for s in systemd-journald rsyslogd cron dbus-daemon; do
	grep -q "^$s [0-9][0-9]*\$" "$PARTIAL/truth/services.txt" || die "service $s not running in the guest"
	for k in maps threads fds fdinfo; do
		[ -s "$PARTIAL/truth/$k-$s.txt" ] || die "guest truth lacks section '$k-$s'"
	done
done
state=$(cat "$PARTIAL/truth/system-state.txt")
case $state in
running) ;;
*) log "warning: the guest's systemd says '$state' (a unit failed?); see console.log" ;;
esac
step truth

echo "$PKG $VERSION key=$KEY" >"$PARTIAL/DONE"

# Swap the finished fixture into place, but never delete a directory we did
# not make: ours always has kernel.txt (or is empty).
if [ -e "$OUT" ]; then
	if [ -f "$OUT/kernel.txt" ] || [ -z "$(ls -A "$OUT")" ]; then
		rm -rf "$OUT"
	else
		die "$OUT exists and is not a fixture; not replacing it (result is in $PARTIAL)"
	fi
fi
mv "$PARTIAL" "$OUT"
log "fixture ready in $OUT ($((SECONDS - START)) s: $(tr '\n' ' ' <"$OUT/timings.txt"))"

#!/bin/bash
# make-fixture.sh - build a test fixture from a real Debian Linux guest.
#
# Usage: scripts/make-fixture.sh [--kernel 6.1|6.12] [--flavour amd64|cloud-amd64|rt-amd64] [--cpu MODEL] [--pti on|off|auto] [--ram MB] [--smp N] [--no-dwarf] [--out DIR] [--force]
#
# The options make the guests users run: --cpu max gives 5-level paging
# (LA57) under TCG, --pti on page-table isolation, --ram above ~3.5 GiB puts
# RAM above the 4 GiB PCI hole (the raw dump is then made range by range,
# never across the hole, which is MMIO), --smp more vCPUs, --flavour Debian's
# cloud and PREEMPT_RT kernels. --no-dwarf skips the ~1 GB -dbg package (the
# DWARF cross-checks then have nothing to compare with and say so); fixtures
# of the same kernel package share one DWARF cache anyway.
#
# Boots an unmodified Debian kernel under QEMU (TCG, so it works without KVM
# and behaves the same on every machine) with a tiny busybox initramfs.  The
# guest starts a few known processes, loads a few modules and writes its OWN
# view of itself (ps, kallsyms, modules, maps, ...) to a second serial port.
# The host then freezes the VM and saves physical memory twice: as QEMU's ELF
# core (dump.elf) and as a flat image (dump.raw).  Tests run vmic on the dumps
# and compare with the guest's own view in DIR/truth/.
#
# Output DIR (default build/fixtures/<6.1|6.12> under the repo root):
#   kernel.txt       exact Debian package, version and kernel release
#   vmlinuz, System.map, config   from the package (System.map is Debian's stub)
#   initrd.gz, vmic-marker        the userspace that ran in the guest
#   modules/*.ko     the (decompressed) modules the guest loaded
#   qemu.txt         QEMU version and command line used
#   console.log      first serial port (kernel console)
#   truth.txt        second serial port, raw; truth/<section>.txt split from it
#   dump.elf, dump.raw, registers.txt
#   dwarf-offsets.txt  struct member offsets from the -dbg package's DWARF (pahole)
#   profile.json.xz    an ISF profile made from that DWARF by gdb (scripts/make-isf.py)
#   DONE             written last; holds "<package> <version> key=<hash>"
#
# The result is cached: a DIR whose DONE stamp carries the hash of this
# script, marker.c, sockets.c and the DWARF helpers is reused unless --force; any change
# to them rebuilds it. The DWARF products depend only on the kernel package
# and the helpers, so they are cached apart, in build/fixtures/dwarf/, and
# survive fixture rebuilds (the -dbg .deb is ~1 GB; it is downloaded once into
# build/fixtures/debs and only its vmlinux and System.map are unpacked).
# Environment: VMIC_FIXTURE_TIMEOUT (seconds to wait for the guest, default
# 180), VMIC_FIXTURE_KEEP_WORK=1 (keep the temporary work dir for debugging).

set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
MARKER_SRC="$REPO_ROOT/tests/fixtures/marker.c"
WORKLOAD_SRC="$REPO_ROOT/tests/fixtures/workload.c"
# issue 15: network, mounts, environment (the socket owner's source)
SOCKETS_SRC="$REPO_ROOT/tests/fixtures/sockets.c"
AUTOFS_TIMEOUT_SRC="$REPO_ROOT/tests/fixtures/autofs_timeout.c"
HMP="$SCRIPT_DIR/qemu-hmp.py"
MAKE_ISF="$SCRIPT_DIR/make-isf.py"
PAHOLE_OFFSETS="$SCRIPT_DIR/pahole-offsets.py"
# Everything the fixture's content depends on; its hash keys the cache.
KEY=$(cat "${BASH_SOURCE[0]}" "$MARKER_SRC" "$WORKLOAD_SRC" "$SOCKETS_SRC" "$AUTOFS_TIMEOUT_SRC" "$MAKE_ISF" "$PAHOLE_OFFSETS" | sha256sum | cut -c1-16)
DWARF_KEY=$(cat "$MAKE_ISF" "$PAHOLE_OFFSETS" | sha256sum | cut -c1-16)

RAM_MB=256
BOOT_TIMEOUT=${VMIC_FIXTURE_TIMEOUT:-180}
READY_LINE='=== VMIC-FIXTURE-READY ==='

# Modules to load in the guest.  Chosen because they depend on no other module
# (checked below against each module's own .modinfo, since the package ships
# no modules.dep: depmod runs at install time, which we skip), exist in every
# Debian amd64 flavour, and load without hardware.  One network driver, one
# filesystem and one NLS table give /proc/modules some variety; autofs4 gives
# /init an automount whose options come from a module's own types.
MODULES=(
	kernel/drivers/net/dummy
	kernel/fs/minix/minix
	kernel/fs/nls/nls_cp437
	kernel/fs/autofs/autofs4
)

log() { printf 'make-fixture: %s\n' "$*" >&2; }
die() { printf 'make-fixture: error: %s\n' "$*" >&2; exit 1; }

usage() {
	sed -n '4p' "$0" | sed 's/^# //' >&2
	exit 2
}

# ---------------------------------------------------------------- arguments

KERNEL=6.1
FLAVOUR=amd64
CPU=qemu64
PTI=auto
SMP=1
DWARF=1
OUT=
FORCE=0
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) [ $# -ge 2 ] || usage; KERNEL=$2; shift 2 ;;
	--kernel=*) KERNEL=${1#*=}; shift ;;
	--flavour) [ $# -ge 2 ] || usage; FLAVOUR=$2; shift 2 ;;
	--cpu) [ $# -ge 2 ] || usage; CPU=$2; shift 2 ;;
	--pti) [ $# -ge 2 ] || usage; PTI=$2; shift 2 ;;
	--ram) [ $# -ge 2 ] || usage; RAM_MB=$2; shift 2 ;;
	--smp) [ $# -ge 2 ] || usage; SMP=$2; shift 2 ;;
	--no-dwarf) DWARF=0; shift ;;
	--out) [ $# -ge 2 ] || usage; OUT=$2; shift 2 ;;
	--out=*) OUT=${1#*=}; shift ;;
	--force) FORCE=1; shift ;;
	-h | --help) usage ;;
	*) log "unknown argument: $1"; usage ;;
	esac
done
case $KERNEL in
6.1 | 6.12) ;;
*) die "--kernel must be 6.1 or 6.12, not '$KERNEL'" ;;
esac
case $FLAVOUR in
amd64 | cloud-amd64 | rt-amd64) ;;
*) die "--flavour must be amd64, cloud-amd64 or rt-amd64, not '$FLAVOUR'" ;;
esac
case $PTI in
on | off | auto) ;;
*) die "--pti must be on, off or auto, not '$PTI'" ;;
esac
case $CPU in *[!A-Za-z0-9_.,=+-]* | '') die "--cpu '$CPU' is not a QEMU CPU model" ;; esac
case $RAM_MB in *[!0-9]* | '') die "--ram wants megabytes, not '$RAM_MB'" ;; esac
case $SMP in *[!0-9]* | '' | 0) die "--smp wants a vCPU count, not '$SMP'" ;; esac
[ "$RAM_MB" -ge 128 ] || die "--ram must be at least 128 (MB)"
# What the guest looks like is part of the cache key.
SHAPE="kernel=$KERNEL flavour=$FLAVOUR cpu=$CPU pti=$PTI ram=$RAM_MB smp=$SMP dwarf=$DWARF"
KEY=$(printf '%s %s' "$KEY" "$SHAPE" | sha256sum | cut -c1-16)
OUT=${OUT:-$REPO_ROOT/build/fixtures/$KERNEL}
mkdir -p "$(dirname "$OUT")"
OUT="$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")"
# The path is handed to QEMU's monitor inside double quotes.
case $OUT in *'"'* | *'\'*) die "--out must not contain quotes or backslashes" ;; esac

cached() { [ -s "$OUT/DONE" ] && grep -q " key=$KEY\$" "$OUT/DONE"; }

# Checked before anything else so a cached run needs no tools and no network.
if [ "$FORCE" = 0 ] && cached; then
	log "cached: $OUT ($(cat "$OUT/DONE"))"
	exit 0
fi

START=$SECONDS

# Test runners may start several builds at once; serialise builds of the same
# fixture and re-check the stamp once we hold the lock.
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

need qemu-system-x86_64 qemu-system-x86
need busybox busybox-static
need cpio cpio
need gcc gcc
need gzip gzip
need python3 python3
need apt-get apt
need apt-cache apt
need dpkg-deb dpkg
need tar tar
need objcopy binutils
need readelf binutils
if [ "$DWARF" = 1 ]; then
	need pahole dwarves
	need gdb gdb
fi
need sha256sum coreutils

BUSYBOX=$(command -v busybox)
# A dynamically linked busybox (package 'busybox') would need a libc in the
# initramfs; only busybox-static's works on its own.
if readelf -l "$BUSYBOX" 2>/dev/null | grep -q 'Requesting program interpreter'; then
	die "$BUSYBOX is dynamically linked: install the Debian package 'busybox-static'"
fi

# ------------------------------------------------------------- work + cleanup

DEBS="$REPO_ROOT/build/fixtures/debs"
PARTIAL="$OUT.partial"
mkdir -p "$DEBS"
# The work dir holds the unpacked kernel files, the initramfs tree and the
# monitor socket.  It lives in TMPDIR because unix socket paths are limited to 108
# bytes and the repo may sit deep in the file system.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vmic-fixture.XXXXXX")
QEMU_PID=

cleanup() {
	local rc=$?
	if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null; then
		kill "$QEMU_PID" 2>/dev/null || true
		wait "$QEMU_PID" 2>/dev/null || true
	fi
	if [ "${VMIC_FIXTURE_KEEP_WORK:-0}" = 1 ]; then
		log "work dir kept: $WORK"
	else
		rm -rf "$WORK"
	fi
	[ $rc = 0 ] || log "failed; partial output left in $PARTIAL"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$PARTIAL"
mkdir -p "$PARTIAL/truth"

# ------------------------------------------------------------------- kernel

# Package names change with every Debian kernel ABI bump, so resolve them from
# apt's metadata instead of hard-coding one.
case $KERNEL in
6.1)
	PKG=$(apt-cache depends "linux-image-$FLAVOUR" 2>/dev/null |
		awk -v re="^linux-image-6[.]1[.][0-9]+-[0-9]+-$FLAVOUR\$" '$1 == "Depends:" && $2 ~ re { print $2; exit }')
	[ -n "$PKG" ] || die "apt-cache depends linux-image-$FLAVOUR names no 6.1 kernel (not Debian 12? run apt-get update?)"
	;;
6.12)
	[ "$FLAVOUR" = amd64 ] || die "--flavour $FLAVOUR: only 6.1 is made in the cloud and rt flavours"

	# The -unsigned package holds the same kernel as the signed one, without
	# pulling in the signed-template machinery; it is what bookworm-backports
	# and bookworm-security ship for 6.12.
	PKG=$(apt-cache search --names-only '^linux-image-6\.12\.[0-9]+\+deb12-amd64-unsigned$' |
		awk '{ print $1 }' | sort -V | tail -n 1)
	[ -n "$PKG" ] || die "no linux-image-6.12.*+deb12-amd64-unsigned in apt's lists (run apt-get update?)"
	;;
esac
VERSION=$(apt-cache policy "$PKG" | awk '$1 == "Candidate:" { print $2 }')
[ -n "$VERSION" ] && [ "$VERSION" != "(none)" ] || die "apt has no installable version of $PKG"
log "kernel package: $PKG $VERSION"

DEB=
for f in "$DEBS/${PKG}"_*.deb; do
	[ -e "$f" ] || continue
	if [ "$(dpkg-deb -f "$f" Version)" = "$VERSION" ]; then DEB=$f; fi
done
if [ -z "$DEB" ]; then
	log "downloading $PKG $VERSION into $DEBS"
	# apt drops to user _apt for downloads, which cannot write into a root-owned
	# build dir; it falls back with a warning.  Running as root, just say so.
	APT_OPTS=()
	[ "$(id -u)" = 0 ] && APT_OPTS=(-o APT::Sandbox::User=root)
	# Locked: fixtures for different --out dirs share this download cache.
	(cd "$DEBS" && flock .lock apt-get download -q "${APT_OPTS[@]}" "$PKG=$VERSION" >&2) ||
		die "apt-get download $PKG=$VERSION failed (stale package lists? try apt-get update)"
	for f in "$DEBS/${PKG}"_*.deb; do
		[ "$(dpkg-deb -f "$f" Version)" = "$VERSION" ] && DEB=$f
	done
	[ -n "$DEB" ] || die "downloaded $PKG but found no matching .deb in $DEBS"
fi

# Unpack with dpkg-deb, not dpkg -i: we want the files, not the install hooks
# (initramfs generation, bootloader updates) or root privileges.  Only /boot
# and the few modules we load are written out: the full tree is ~400 MB and
# writing it doubled the time of this step (dpkg-deb -x: 11 s, this: 5 s).
KROOT="$WORK/kernel"
mkdir -p "$KROOT"
members=('./boot/*')
for m in "${MODULES[@]}"; do members+=("./lib/modules/*/$m.ko*"); done
# A flavour may lack some of the modules (the cloud kernel has no minix):
# tar then fails on the missing names but has unpacked the rest; which of
# the modules are there is checked below.
dpkg-deb --fsys-tarfile "$DEB" | tar -x -C "$KROOT" --wildcards "${members[@]}" 2>/dev/null ||
	[ -n "$(ls "$KROOT"/boot/vmlinuz-* 2>/dev/null)" ] ||
	die "could not unpack /boot from $DEB"
VMLINUZ=$(ls "$KROOT"/boot/vmlinuz-* 2>/dev/null | head -n 1)
[ -f "$VMLINUZ" ] || die "no /boot/vmlinuz-* in $DEB"
RELEASE=${VMLINUZ##*/vmlinuz-}
MODDIR="$KROOT/lib/modules/$RELEASE"
[ -d "$MODDIR" ] || die "no lib/modules/$RELEASE in $DEB (release differs from vmlinuz name?)"

cp "$VMLINUZ" "$PARTIAL/vmlinuz"
cp "$KROOT/boot/System.map-$RELEASE" "$PARTIAL/System.map"
cp "$KROOT/boot/config-$RELEASE" "$PARTIAL/config"
{
	echo "package=$PKG"
	echo "version=$VERSION"
	echo "release=$RELEASE"
	echo "deb=$(basename "$DEB")"
	echo "sha256=$(sha256sum "$DEB" | awk '{ print $1 }')"
} >"$PARTIAL/kernel.txt"

# ---------------------------------------------------------------- initramfs

ROOT="$WORK/initramfs"
mkdir -p "$ROOT"/{bin,dev,proc,sys,tmp,lib/modules}

cp "$BUSYBOX" "$ROOT/bin/busybox"
# Applet links made here rather than with 'busybox --install' at boot: the
# archive is then complete and inspectable without booting it.
for applet in $("$BUSYBOX" --list); do
	[ -e "$ROOT/bin/$applet" ] || ln -s busybox "$ROOT/bin/$applet"
done

gcc -static -O1 -Wall -pthread -o "$PARTIAL/vmic-marker" "$MARKER_SRC" ||
	die "gcc -static failed (static glibc comes with the Debian package 'libc6-dev')"
cp "$PARTIAL/vmic-marker" "$ROOT/bin/vmic-marker"
# The sleepers are the marker binary under other names: a process's comm comes
# from the file it executed, and hard links keep the archive small.
ln "$ROOT/bin/vmic-marker" "$ROOT/bin/vmic-sleeper-a"
ln "$ROOT/bin/vmic-marker" "$ROOT/bin/vmic-sleeper-b"
# Expected marker strings, from the binary itself so they cannot drift from
# marker.c.  Host-generated (unlike the rest of truth/), but tests look there.
"$PARTIAL/vmic-marker" --print-strings >"$PARTIAL/truth/marker-strings.txt"
# The traced workload (tests of `vmic trace`); it runs only on request, see
# the end of /init.
gcc -static -O1 -Wall -pthread -o "$ROOT/bin/vmic-workload" "$WORKLOAD_SRC" ||
	die "gcc -static failed on $WORKLOAD_SRC"
# issue 15: network, mounts, environment. The owner of the sockets netstat
# lists (see its comment); started by /init once lo is up.
gcc -static -O1 -Wall -o "$ROOT/bin/vmic-sockets" "$SOCKETS_SRC" ||
	die "gcc -static failed on $SOCKETS_SRC"
# The automount's expiry timeout, set as an automounter does (an ioctl).
gcc -static -O1 -Wall -o "$ROOT/bin/vmic-autofs-timeout" "$AUTOFS_TIMEOUT_SRC" ||
	die "gcc -static failed on $AUTOFS_TIMEOUT_SRC"

LOADED=()
for m in "${MODULES[@]}"; do
	src=$(ls "$MODDIR/$m".ko* 2>/dev/null | head -n 1 || true)
	if [ -z "$src" ]; then
		log "module $m is not in $PKG: not loaded in this guest"
		continue
	fi
	LOADED+=("$m")
	dst="$ROOT/lib/modules/$(basename "$m").ko"
	# 6.1 ships plain .ko, 6.12 ships .ko.xz.  Busybox 1.35's insmod happens
	# to unpack .ko.xz itself but fails on .ko.zst ("invalid module format"),
	# so decompress everything here and keep the guest side uniform.
	case $src in
	*.ko) cp "$src" "$dst" ;;
	*.ko.xz) need xz xz-utils; xz -dc "$src" >"$dst" ;;
	*.ko.zst) need zstd zstd; zstd -qdc "$src" >"$dst" ;;
	*.ko.gz) gzip -dc "$src" >"$dst" ;;
	*) die "unknown module compression: $src" ;;
	esac
	objcopy -O binary -j .modinfo "$dst" "$WORK/modinfo"
	deps=$(tr '\0' '\n' <"$WORK/modinfo" | sed -n 's/^depends=//p')
	[ -z "$deps" ] || die "module $m now depends on '$deps'; pick another in MODULES"
	# The exact files loaded, for tests that look at module contents.
	mkdir -p "$PARTIAL/modules"
	cp "$dst" "$PARTIAL/modules/"
done
[ ${#LOADED[@]} -gt 0 ] || die "none of the modules ${MODULES[*]} is in $PKG"

# The guest's /init.  Everything it reports goes to ttyS1 so the kernel's own
# console chatter (ttyS0) cannot interleave with the ground truth.
cat >"$ROOT/init" <<'INIT'
#!/bin/sh
# /init of the vmic fixture guest; generated by scripts/make-fixture.sh.
export PATH=/bin

# No /dev/console exists in the archive (creating device nodes needs root on
# the host), so mount devtmpfs first and then attach stdio to the console.
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys

# With vmic.workload on the kernel command line (tests of `vmic trace`) the
# boot skips the slow sections (kallsyms, dmesg: ~15 s under TCG) and ends
# taking commands from ttyS2 (see the end).
WORKLOAD=0
grep -qw vmic.workload /proc/cmdline && WORKLOAD=1

# Real addresses in kallsyms/modules and an unrestricted dmesg for the truth.
echo 0 >/proc/sys/kernel/kptr_restrict
echo 0 >/proc/sys/kernel/dmesg_restrict

for m in /lib/modules/*.ko; do
	insmod "$m" || echo "vmic-init: insmod $m failed"
done

# Long-lived processes with names a test can look for.  The shell loop sleeps
# for an hour, not a second, so the process list does not churn between the
# ps below and the memory dump.  No process started after this point outlives
# the truth collection (see the final 'wait'), so the dump holds exactly these
# plus kernel threads; only the short-lived ps/cat/awk helpers seen in the
# truth are gone.
/bin/vmic-sleeper-a --sleep-only &
/bin/vmic-sleeper-b --sleep-only second-arg "third arg with spaces" &
sh -c 'while :; do sleep 3600; done' vmic-loop &
# issue 15: network, mounts, environment. The marker's environment is known
# (truth environ-marker): a short variable and one long enough (~4.9 KB) to
# cross a page. lo must be up before anything binds a loopback address;
# vmic-sockets owns one socket of each kind (tests/fixtures/sockets.c), and a
# tmpfs with per-mount flags and a read-only bind mount give mountinfo
# options to compare.
VMIC_MARK_LONG=$(seq 1 1200 | tr '\n' ,)
ip link set lo up || echo "vmic-init: ip link set lo up failed"
mkdir -p /tmp/vmic-mnt
mount -t tmpfs -o nosuid,nodev,noexec,relatime,size=1m vmic-tmpfs /tmp/vmic-mnt
mkdir -p /tmp/vmic-mnt/sub /tmp/vmic-ro
mount -o bind /tmp/vmic-mnt/sub /tmp/vmic-ro && mount -o remount,bind,ro /tmp/vmic-ro
# mountinfo's optional fields: the tmpfs shared, a bind of it made a slave.
mkdir -p /tmp/vmic-slave
mount --make-shared /tmp/vmic-mnt
mount --bind /tmp/vmic-mnt /tmp/vmic-slave && mount --make-slave /tmp/vmic-slave
# The filesystems systemd mounts on every distribution, with options that
# are not their defaults, so mountinfo's super options (rendered per
# filesystem by vmic, src/os/linux/mounts_fsopts.c) have something to show.
mkdir -p /dev/pts /sys/fs/cgroup /sys/fs/bpf /dev/hugepages /tmp/vmic-ramfs
mount -t devpts -o gid=5,mode=620,ptmxmode=000 devpts /dev/pts || echo "vmic-init: no devpts"
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup || echo "vmic-init: no cgroup2"
mount -t bpf -o mode=700 bpf /sys/fs/bpf || echo "vmic-init: no bpf"
mount -t hugetlbfs -o uid=7,mode=1770,size=4M hugetlbfs /dev/hugepages || echo "vmic-init: no hugetlbfs"
mount -t ramfs -o mode=711 vmic-ramfs /tmp/vmic-ramfs || echo "vmic-init: no ramfs"
# An indirect automount as an automounter makes one (autofs_sb_info, in the
# autofs4 module's own BTF): its pipe a FIFO, open only for mount (the
# superblock keeps the file). Nothing looks a name up under it, so no one
# waits for a daemon that is not there.
mkdir -p /tmp/vmic-autofs
mkfifo /tmp/vmic-autofs.pipe
mount -t autofs -o fd=8,uid=7,gid=7,pgrp=$$,minproto=5,maxproto=5,indirect,strictexpire \
	vmic-automount /tmp/vmic-autofs 8<>/tmp/vmic-autofs.pipe || echo "vmic-init: no autofs"
vmic-autofs-timeout /tmp/vmic-autofs 300 || echo "vmic-init: no autofs timeout"
# A process chrooted in a directory of rootfs with one mount inside: its
# mountinfo shows only that mount, named from its root (truth
# mountinfo-chroot).
mkdir -p /tmp/vmic-chroot/bin /tmp/vmic-chroot/mnt
cp /bin/busybox /tmp/vmic-chroot/bin/busybox
mount -t tmpfs -o size=64k vmic-chroot-tmpfs /tmp/vmic-chroot/mnt
chroot /tmp/vmic-chroot /bin/busybox sleep 3600000 &
CHROOT_PID=$!
/bin/vmic-sockets >/tmp/vmic-sockets.out &
# (end of issue 15 block)
VMIC_MARK_ENV=vmic-env-7c2d VMIC_MARK_LONG=$VMIC_MARK_LONG /bin/vmic-marker >/tmp/vmic-marker.out &
MARKER_PID=$!

i=0
while { [ ! -s /tmp/vmic-marker.out ] || [ ! -s /tmp/vmic-sockets.out ]; } && [ $i -lt 30 ]; do
	sleep 1
	i=$((i + 1))
done
sleep 1

# Raw mode: otherwise the tty turns every \n into \r\n.
stty -F /dev/ttyS1 raw -echo
exec 3>/dev/ttyS1

# Through awk so every section ends in a newline before its END line, and so
# that ps sees a pipe, not a tty: busybox ps cuts lines at the tty's width.
section() {
	name=$1
	shift
	# Progress on the console, to see where the guest spends its time.
	echo "vmic-init: $name at $(cut -d ' ' -f 1 /proc/uptime)s"
	echo "=== BEGIN $name ===" >&3
	"$@" 2>&1 | awk 1 >&3
	echo "=== END $name ===" >&3
}

# The same process list without ps: pid, ppid, comm and cmdline (NULs shown
# as spaces), tab-separated, straight from /proc.
procs() {
	for d in /proc/[0-9]*; do
		stat=$(cat "$d/stat" 2>/dev/null) || continue
		comm=${stat#*(}
		comm=${comm%)*}
		set -- ${stat##*) }
		cmd=$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null)
		printf '%s\t%s\t%s\t%s\n' "${d#/proc/}" "$2" "$comm" "${cmd% }"
	done | sort -n
}

# issue 15: network, mounts, environment. Every process's open files
# ("pid fd target") and network namespace ("pid net:[inode]"), and the
# marker's environment one variable a line.
fds_all() {
	for d in /proc/[0-9]*; do
		for f in "$d"/fd/*; do
			[ -L "$f" ] || continue
			echo "${d#/proc/} ${f##*/} $(readlink "$f")"
		done
	done | sort -n -k1,1 -k2,2
}
netns_all() {
	for d in /proc/[0-9]*; do
		l=$(readlink "$d/ns/net" 2>/dev/null) && echo "${d#/proc/} $l"
	done | sort -n
}
marker_environ() { tr '\0' '\n' <"/proc/$MARKER_PID/environ"; }
SOCKETS_NSPID=$(sed -n 's/.*nspid=\([0-9]*\).*/\1/p' /tmp/vmic-sockets.out)
# (end of issue 15 block)

first_cpu() { awk '/^$/ { exit } { print }' /proc/cpuinfo; }

# The marker's threads ("tid comm") and open files ("fd target").
marker_threads() {
	for t in /proc/$MARKER_PID/task/*; do echo "${t##*/} $(cat "$t/comm")"; done
}
marker_fds() {
	for f in /proc/$MARKER_PID/fd/*; do echo "${f##*/} $(readlink "$f")"; done | sort -n
}
# "FD POS FLAGS" of the marker's files, flags in octal as fdinfo prints them.
marker_fdinfo() {
	for f in /proc/$MARKER_PID/fdinfo/*; do
		awk -v fd="${f##*/}" '$1 == "pos:" { p = $2 } $1 == "flags:" { fl = $2 }
			END { print fd, p, fl }' "$f"
	done | sort -n
}

# ---- issue 15: processes, code, dumps
# Every thread of every process: "pid tid comm".
all_threads() {
	for t in /proc/[0-9]*/task/[0-9]*; do
		p=${t#/proc/}
		echo "${p%%/*} ${t##*/} $(cat "$t/comm" 2>/dev/null)"
	done
}
# ---- end issue 15

section uname uname -a
section version cat /proc/version
section cmdline cat /proc/cmdline
section marker cat /tmp/vmic-marker.out
section maps-marker cat /proc/$MARKER_PID/maps
section threads-marker marker_threads
section fds-marker marker_fds
section fdinfo-marker marker_fdinfo
# issue 15: network, mounts, environment. net-*-ns: the second network
# namespace, seen from the process inside it.
section sockets cat /tmp/vmic-sockets.out
section net-tcp cat /proc/net/tcp
section net-tcp6 cat /proc/net/tcp6
section net-udp cat /proc/net/udp
section net-udp6 cat /proc/net/udp6
section net-unix cat /proc/net/unix
section net-tcp-ns cat "/proc/$SOCKETS_NSPID/net/tcp"
section netns netns_all
section mountinfo-1 cat /proc/1/mountinfo
section mountinfo-marker cat "/proc/$MARKER_PID/mountinfo"
section chroot echo "pid=$CHROOT_PID"
section mountinfo-chroot cat "/proc/$CHROOT_PID/mountinfo"
section environ-marker marker_environ
section fds-all fds_all
# (end of issue 15 block)
# The kernel's and every module's BTF as /sys/kernel/btf serves them: name,
# size and sha256, for vmic dump --btf (vmic reads them from btf_modules).
btf_all() {
	for f in /sys/kernel/btf/*; do
		echo "${f##*/} $(wc -c <"$f") $(sha256sum "$f" | cut -d ' ' -f 1)"
	done
}
section btf btf_all
# issue 15: processes, code, dumps
section modules cat /proc/modules
section iomem cat /proc/iomem
section cpuinfo first_cpu
section meminfo cat /proc/meminfo
if [ $WORKLOAD = 0 ]; then
	section kallsyms cat /proc/kallsyms
	section dmesg dmesg
fi

# issue 15: a TIME_WAIT sock lives 60 s, so it is made last, just before
# the dump, with /proc/net/tcp as it then is (net-tcp-late).
section time-wait /bin/vmic-sockets --time-wait
section net-tcp-late cat /proc/net/tcp
# The process and thread lists last too: a kernel worker the steps above
# wake (the network's, the log's) must not start after them.
section ps ps -o pid,ppid,comm,args
section procs procs
section threads-all all_threads

# Opened before READY: bytes that reach a closed serial port are lost.
[ $WORKLOAD = 1 ] && exec 4</dev/ttyS2 && stty -echo <&4

echo "=== VMIC-FIXTURE-READY ===" >&3
echo "=== VMIC-FIXTURE-READY ==="

# The workload's commands, one a line on ttyS2 (a socket the test writes
# to): "run TAG" runs vmic-workload's script, "loop N" its timed syscall
# loop ("strace N": under strace -f, if the initramfs has it), "ps TAG"
# prints the process list as section ps-TAG. After each,
# "=== VMIC-WORKLOAD-IDLE cmd arg rc=N ===" on ttyS1 says it is finished.
workload_commands() {
	while read -r cmd arg <&4; do
		rc=0
		case $cmd in
		run) /bin/vmic-workload run "$arg" >&3 2>&1 || rc=$? ;;
		loop) /bin/vmic-workload loop "$arg" >&3 2>&1 || rc=$? ;;
		# The same loop under strace -f, for bench/plugin/bench_trace.py,
		# which adds strace and its libraries to the initramfs (rc 3: none).
		strace)
			if [ -x /bin/strace ]; then
				/bin/strace -f -qq -o /dev/null /bin/vmic-workload loop "$arg" >&3 2>&1 || rc=$?
			else
				rc=3
			fi
			;;
		ps) section "ps-$arg" ps -o pid,ppid,comm,args ;;
		*) rc=2 ;;
		esac
		echo "=== VMIC-WORKLOAD-IDLE $cmd $arg rc=$rc ===" >&3
	done
}
[ $WORKLOAD = 1 ] && workload_commands

# PID 1 must never exit (the kernel would panic).  'wait' idles on the
# background processes above, which never end, without forking a new one.
while :; do
	wait
	sleep 3600
done
INIT
chmod 755 "$ROOT/init"

# newc is the only cpio format the kernel unpacks; -R 0:0 makes the files
# root-owned in the guest even when the script runs unprivileged.
(cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort |
	cpio --quiet -o -H newc -R 0:0) | gzip -9n >"$PARTIAL/initrd.gz"
log "initramfs: $(du -k "$PARTIAL/initrd.gz" | cut -f1) KiB; build took $((SECONDS - START)) s"

# --------------------------------------------------------------------- boot

SOCK="$WORK/monitor.sock"
APPEND_PTI=
[ "$PTI" = auto ] || APPEND_PTI=" pti=$PTI"
QEMU_CMD=(
	qemu-system-x86_64
	-accel tcg
	-machine pc
	-cpu "$CPU"
	-m "$RAM_MB"
	-smp "$SMP"
	# No default NIC, VGA, floppy or CD: less to emulate, a simpler iomem.
	-nodefaults
	-display none
	-no-reboot
	-kernel "$PARTIAL/vmlinuz"
	-initrd "$PARTIAL/initrd.gz"
	-append "console=ttyS0 panic=-1$APPEND_PTI"
	-serial "file:$PARTIAL/console.log"
	-serial "file:$PARTIAL/truth.txt"
	-monitor "unix:$SOCK,server=on,wait=off"
)
{
	qemu-system-x86_64 --version | head -n 1
	echo "# run with DIR = $PARTIAL, renamed to $OUT when complete"
	printf '%q ' "${QEMU_CMD[@]}"
	echo
} >"$PARTIAL/qemu.txt"

BOOT_START=$SECONDS
log "booting $RELEASE under TCG (timeout ${BOOT_TIMEOUT}s)"
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

while ! grep -qF "$READY_LINE" "$PARTIAL/truth.txt" 2>/dev/null; do
	kill -0 "$QEMU_PID" 2>/dev/null || fail_boot "QEMU exited before the guest was ready (kernel panic?)"
	[ $((SECONDS - BOOT_START)) -lt "$BOOT_TIMEOUT" ] ||
		fail_boot "guest not ready after ${BOOT_TIMEOUT}s"
	sleep 0.5
done
log "guest ready after $((SECONDS - BOOT_START)) s"

hmp() { python3 "$HMP" "$SOCK" "$@"; }

# Each HMP call returns only at QEMU's next prompt, i.e. after the command has
# finished; dump-guest-memory without -d runs synchronously.  Plain ELF (no
# -p): physical memory only, no guest page-table walk by QEMU.
hmp stop >/dev/null
hmp dump-guest-memory "\"$PARTIAL/dump.elf\"" | tee "$WORK/dump.msg" >&2
# The pc machine puts RAM beyond 3 GiB (when there is 3.5 GiB or more) above
# the 4 GiB PCI hole: the raw image is then made range by range, pa = file
# offset, the hole left as a sparse gap. pmemsave across the hole would read
# the devices mapped there.
RAM_BYTES=$((RAM_MB << 20))
LOW=$RAM_BYTES
[ $RAM_BYTES -ge $((0xe0000000)) ] && LOW=$((0xc0000000))
hmp pmemsave 0 $LOW "\"$PARTIAL/dump.raw\"" | tee -a "$WORK/dump.msg" >&2
RAW_SIZE=$LOW
if [ $LOW -lt $RAM_BYTES ]; then
	HIGH=$((RAM_BYTES - LOW))
	hmp pmemsave $((1 << 32)) $HIGH "\"$WORK/high.raw\"" | tee -a "$WORK/dump.msg" >&2
	dd if="$WORK/high.raw" of="$PARTIAL/dump.raw" bs=1M seek=4096 conv=notrunc,sparse status=none
	rm -f "$WORK/high.raw"
	RAW_SIZE=$(((1 << 32) + HIGH))
fi
hmp info registers -a >"$PARTIAL/registers.txt"
hmp quit >/dev/null || true
wait "$QEMU_PID" 2>/dev/null || true
QEMU_PID=

# QEMU creates the ELF dump mode 0400; tests may run as another user.
chmod 644 "$PARTIAL/dump.elf" "$PARTIAL/dump.raw"
raw_size=$(stat -c %s "$PARTIAL/dump.raw" 2>/dev/null || echo 0)
elf_size=$(stat -c %s "$PARTIAL/dump.elf" 2>/dev/null || echo 0)
[ "$raw_size" = "$RAW_SIZE" ] || die "dump.raw is $raw_size bytes, expected $RAW_SIZE"
[ "$elf_size" -gt $((RAM_MB << 20)) ] || die "dump.elf is only $elf_size bytes"
# Big guests are mostly zeros: give the disk back (util-linux fallocate).
if [ $RAM_BYTES -gt $((1 << 30)) ] && command -v fallocate >/dev/null; then
	fallocate --dig-holes "$PARTIAL/dump.raw" "$PARTIAL/dump.elf" 2>/dev/null || true
fi
grep -q '^CR3=' "$PARTIAL/registers.txt" || grep -q 'CR3=' "$PARTIAL/registers.txt" ||
	die "registers.txt has no CR3: $(head -c 300 "$PARTIAL/registers.txt")"

# ------------------------------------------------------------------- truth

# One file per "=== BEGIN name ===" ... "=== END name ===" block.
awk -v dir="$PARTIAL/truth" '
	{ sub(/\r$/, "") }
	/^=== BEGIN [A-Za-z0-9_.-]+ ===$/ { file = dir "/" $3 ".txt"; printf "" > file; next }
	/^=== END [A-Za-z0-9_.-]+ ===$/ { if (file != "") close(file); file = ""; next }
	file != "" { print > file }
' "$PARTIAL/truth.txt"

for s in uname version ps procs marker maps-marker threads-marker fds-marker fdinfo-marker modules iomem kallsyms dmesg; do
	[ -s "$PARTIAL/truth/$s.txt" ] || die "guest truth lacks section '$s' (see $PARTIAL/truth.txt)"
done
grep -q '^pid=[0-9]* heap=0x' "$PARTIAL/truth/marker.txt" || die "vmic-marker printed no addresses"
# issue 15: network, mounts, environment
for s in sockets net-tcp net-tcp6 net-udp net-udp6 net-unix net-tcp-ns netns mountinfo-1 mountinfo-marker chroot mountinfo-chroot environ-marker fds-all time-wait net-tcp-late; do
	[ -s "$PARTIAL/truth/$s.txt" ] || die "guest truth lacks section '$s' (see $PARTIAL/truth.txt)"
done
grep -q '^pid=[0-9]* nspid=[0-9]*$' "$PARTIAL/truth/sockets.txt" || die "vmic-sockets printed no pids"
grep -q '^time-wait [0-9]*$' "$PARTIAL/truth/time-wait.txt" || die "vmic-sockets --time-wait failed"
for m in "${LOADED[@]}"; do
	name=$(basename "$m")
	grep -q "^$name " "$PARTIAL/truth/modules.txt" || die "module $name not loaded in the guest"
done
echo "$SHAPE" >"$PARTIAL/shape.txt"

# ---------------------------------------------------- DWARF ground truth

# The -dbg package of the same kernel: its vmlinux has full DWARF. pahole
# reads the member offsets of the structs vmic uses, gdb writes an ISF
# profile; both are independent of vmic's BTF reader.
DWARF_STRUCTS=task_struct,mm_struct,vm_area_struct,file,path,dentry,qstr,inode,super_block,vfsmount,mount,files_struct,fdtable,cred,signal_struct,module,module_memory,module_layout,list_head,maple_tree,maple_range_64,maple_arange_64,maple_metadata,printk_ringbuffer,prb_desc_ring,prb_data_ring,prb_desc,prb_data_blk_lpos,printk_info,vm_special_mapping,cpuinfo_x86
DBG_PKG="${PKG%-unsigned}-dbg"
DWARF_DIR="$REPO_ROOT/build/fixtures/dwarf/${DBG_PKG}_${VERSION}_$DWARF_KEY"
if [ "$DWARF" = 0 ]; then
	log "--no-dwarf: no DWARF cross-checks for this fixture"
elif [ ! -s "$DWARF_DIR/DONE" ]; then
	DBG_DEB=
	for f in "$DEBS/${DBG_PKG}"_*.deb; do
		[ -e "$f" ] && [ "$(dpkg-deb -f "$f" Version)" = "$VERSION" ] && DBG_DEB=$f
	done
	if [ -z "$DBG_DEB" ]; then
		APT_OPTS=()
		[ "$(id -u)" = 0 ] && APT_OPTS=(-o APT::Sandbox::User=root)
		log "downloading $DBG_PKG $VERSION (~1 GB, once) into $DEBS"
		(cd "$DEBS" && flock .lock apt-get download -q "${APT_OPTS[@]}" "$DBG_PKG=$VERSION" >&2) ||
			die "apt-get download $DBG_PKG=$VERSION failed"
		for f in "$DEBS/${DBG_PKG}"_*.deb; do
			[ "$(dpkg-deb -f "$f" Version)" = "$VERSION" ] && DBG_DEB=$f
		done
		[ -n "$DBG_DEB" ] || die "downloaded $DBG_PKG but found no matching .deb in $DEBS"
	fi
	DBG_ROOT="$WORK/dbg"
	mkdir -p "$DBG_ROOT"
	# vmlinux and System.map come first in the archive: --occurrence stops tar
	# there instead of inflating the ~5 GB of module debug info behind them.
	dpkg-deb --fsys-tarfile "$DBG_DEB" 2>/dev/null |
		tar -x -C "$DBG_ROOT" --occurrence=1 "./usr/lib/debug/boot/vmlinux-$RELEASE" \
			"./usr/lib/debug/boot/System.map-$RELEASE" || true
	DBG_VMLINUX="$DBG_ROOT/usr/lib/debug/boot/vmlinux-$RELEASE"
	DBG_MAP="$DBG_ROOT/usr/lib/debug/boot/System.map-$RELEASE"
	[ -s "$DBG_VMLINUX" ] && [ -s "$DBG_MAP" ] || die "no vmlinux/System.map for $RELEASE in $DBG_DEB"
	rm -rf "$DWARF_DIR.partial"
	mkdir -p "$DWARF_DIR.partial"
	pahole -F dwarf -C "$DWARF_STRUCTS" "$DBG_VMLINUX" | python3 "$PAHOLE_OFFSETS" \
		>"$DWARF_DIR.partial/dwarf-offsets.txt"
	[ "$(wc -l <"$DWARF_DIR.partial/dwarf-offsets.txt")" -gt 100 ] ||
		die "pahole gave fewer than 100 member offsets for $DBG_VMLINUX"
	VMIC_ISF_OUT="$DWARF_DIR.partial/profile.json" VMIC_ISF_SYSTEM_MAP="$DBG_MAP" \
		gdb -batch -nx -x "$MAKE_ISF" "$DBG_VMLINUX" >&2 ||
		die "gdb could not write an ISF profile from $DBG_VMLINUX"
	xz -T0 -6 "$DWARF_DIR.partial/profile.json"
	echo "$DBG_PKG $VERSION" >"$DWARF_DIR.partial/DONE"
	rm -rf "$DWARF_DIR" "$DBG_ROOT"
	mv "$DWARF_DIR.partial" "$DWARF_DIR"
	log "DWARF truth in $DWARF_DIR"
fi
[ "$DWARF" = 0 ] || cp "$DWARF_DIR/dwarf-offsets.txt" "$DWARF_DIR/profile.json.xz" "$PARTIAL/"

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
log "fixture ready in $OUT ($((SECONDS - START)) s; dump.elf $elf_size B, dump.raw $raw_size B)"

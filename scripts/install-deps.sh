#!/usr/bin/env bash
# Installs the Debian packages vmic needs to build, to make its real-guest
# fixtures and to run its tests. Safe to run again.
#   scripts/install-deps.sh          everything the test suite needs
#   scripts/install-deps.sh --main   only what scripts/quickstart.sh needs:
#                                    build vmic, boot a guest, dump it, trace it
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config
  # the Linux OS layer: kernel BTF (libbpf), .json.xz profiles (liblzma)
  libbpf-dev liblzma-dev
  # real-guest fixtures: a Debian kernel booted under QEMU with a busybox initramfs
  qemu-system-x86 busybox-static cpio gzip xz-utils python3 libc6-dev
)
if [ "${1:-}" != "--main" ]; then
  packages+=(
    # tests: struct offsets from the -dbg kernel's DWARF (pahole) and an ISF
    # profile made from it by an independent DWARF reader (gdb)
    dwarves gdb
    # the Python package's tests (tests/python)
    python3-pytest
    # vmic malfind's disassembly (optional at build time; the tests check it)
    libcapstone-dev
    # tests under sanitizers and the fuzzers
    clang libclang-rt-14-dev
    # the distribution fixture: Debian bookworm made with debootstrap on an ext4
    # image written by mkfs.ext4 -d (scripts/make-distro-fixture.sh)
    debootstrap e2fsprogs
    # vmic yara (optional for a build, tested in CI)
    libyara-dev
  )
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  as_root=(sudo)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"

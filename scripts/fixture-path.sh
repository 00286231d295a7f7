#!/usr/bin/env bash
# Prints the directory of a test fixture (its vmlinuz, initrd.gz, dumps and
# truth), for scripts and tests that boot it:
#
#   f=$(scripts/fixture-path.sh --build 6.1)
#   build/release/vmic boot --kernel "$f/vmlinuz" --initrd "$f/initrd.gz" ...
#
# Usage: scripts/fixture-path.sh [--build] [NAME]
#   NAME     the fixture (default 6.1), under $VMIC_FIXTURE_DIR (default
#            build/fixtures in the source tree)
#   --build  make it first if it has no kernel: scripts/make-fixture.sh
#            --kernel NAME (6.1 and 6.12; a first build downloads ~1 GB)
# Exits 1 if the fixture has no kernel (and was not built).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=0
if [ "${1:-}" = "--build" ]; then
	build=1
	shift
fi
name=${1:-6.1}
dir=${VMIC_FIXTURE_DIR:-$src/build/fixtures}/$name
if [ ! -f "$dir/vmlinuz" ] && [ "$build" = 1 ]; then
	case $name in
	6.1 | 6.12) "$src/scripts/make-fixture.sh" --kernel "$name" --out "$dir" >&2 ;;
	*)
		echo "fixture-path: $name is made with the options in tests/CMakeLists.txt" \
			"(VMIC_FIXTURES): run scripts/make-fixture.sh with them" >&2
		exit 1
		;;
	esac
fi
if [ ! -f "$dir/vmlinuz" ]; then
	case $name in
	6.1 | 6.12) how="scripts/fixture-path.sh --build $name makes it" ;;
	distro) how="scripts/make-distro-fixture.sh makes it" ;;
	*) how="scripts/make-fixture.sh makes it (options: tests/CMakeLists.txt)" ;;
	esac
	echo "fixture-path: no kernel in $dir: $how" >&2
	exit 1
fi
echo "$dir"

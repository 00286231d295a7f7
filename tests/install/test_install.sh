#!/bin/sh
# Installs vmic into a temporary prefix, moves the prefix elsewhere, and
# builds programs on the moved copy the two ways applications do: CMake's
# find_package(vmic) (shared and static targets) and pkg-config. Each must
# find the moved prefix, not the build tree or the first prefix, and run.
#   test_install.sh CMAKE BUILD_DIR CC [FLAGS]
# FLAGS: what the consumers compile and link with too (a sanitizer build's
# library needs its runtime in the program).
set -eu
cmake=$1 build=$2 cc=$3 extra=${4:-}
here=$(cd "$(dirname "$0")" && pwd)
version=$(sed -n 's/^#define VMIC_VERSION_STRING "\(.*\)"/\1/p' "$build/include/vmic/version.h")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$cmake" --install "$build" --prefix "$tmp/first" >/dev/null
mkdir "$tmp/elsewhere"
mv "$tmp/first" "$tmp/elsewhere/moved"
prefix=$tmp/elsewhere/moved

# CMake package.
"$cmake" -S "$here/consumer" -B "$tmp/cmake-build" -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_C_FLAGS="$extra" -DCMAKE_EXE_LINKER_FLAGS="$extra" -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/configure.log" 2>&1 ||
  { cat "$tmp/configure.log"; fail "find_package(vmic) in the moved prefix"; }
grep -q "^vmic_DIR:PATH=$prefix/" "$tmp/cmake-build/CMakeCache.txt" ||
  fail "find_package(vmic) did not find the moved prefix: $(grep '^vmic_DIR' "$tmp/cmake-build/CMakeCache.txt")"
"$cmake" --build "$tmp/cmake-build" >"$tmp/build.log" 2>&1 ||
  { cat "$tmp/build.log"; fail "building on vmic::vmic and vmic::vmic_static"; }
for exe in consumer_shared consumer_static; do
  out=$("$tmp/cmake-build/$exe") || fail "$exe did not run: $out"
  [ "$out" = "vmic $version" ] || fail "$exe printed '$out', not 'vmic $version'"
done
# The shared one runs the moved libvmic.so (its RPATH), not a copy elsewhere.
LD_TRACE_LOADED_OBJECTS=1 "$tmp/cmake-build/consumer_shared" | grep -q "=> $prefix/.*libvmic\.so" ||
  fail "consumer_shared does not load libvmic.so from $prefix"

# pkg-config.
flags=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs vmic) ||
  fail "pkg-config finds no vmic.pc in $prefix/lib/pkgconfig"
for word in $flags; do
  case $word in
    -I*|-L*)
      dir=$(cd "${word#-?}" 2>/dev/null && pwd) || fail "pkg-config gives $word: no such directory"
      case $dir in "$prefix"/*) ;; *) fail "pkg-config gives $word, outside $prefix" ;; esac ;;
  esac
done
# shellcheck disable=SC2086 # the flags are words
"$cc" $extra -o "$tmp/consumer_pc" "$here/consumer/main.c" $flags || fail "compiling with: $flags"
out=$(LD_LIBRARY_PATH="$prefix/lib" "$tmp/consumer_pc") || fail "consumer_pc did not run: $out"
[ "$out" = "vmic $version" ] || fail "consumer_pc printed '$out'"
echo "ok: installed, moved to $prefix, built with find_package and pkg-config ($flags)"

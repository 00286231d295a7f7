#!/bin/sh
# Fails if libvmic.so exports, or libvmic.a defines as global, any symbol
# not named vmic_*: an internal name (tlb_init, image_load, ...) there would
# collide with an application's own.
#   check_exports.sh NM LIBVMIC_SO LIBVMIC_A
set -eu
nm=$1 so=$2 ar=$3
status=0

check() {  # check WHAT SYMBOL-LIST-FILE
  bad=$(grep -v '^vmic_' "$2" || true)
  count=$(wc -l < "$2")
  if [ -n "$bad" ]; then
    echo "FAIL $1: global symbols outside vmic_*:"
    echo "$bad" | sed 's/^/  /' | head -50
    status=1
  elif [ "$count" -eq 0 ]; then
    echo "FAIL $1: no vmic_* symbol at all (is it the right file?)"
    status=1
  else
    echo "ok $1: $count global symbols, all vmic_*"
  fi
}

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
# Lines are "ADDRESS TYPE NAME"; archive member headers and blanks have no NAME.
"$nm" -D --defined-only "$so" | awk 'NF == 3 { print $3 }' > "$tmp"
check "$so (nm -D --defined-only)" "$tmp"
"$nm" --defined-only --extern-only "$ar" | awk 'NF == 3 { print $3 }' > "$tmp"
check "$ar (nm --defined-only --extern-only)" "$tmp"
exit $status

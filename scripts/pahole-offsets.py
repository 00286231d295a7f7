#!/usr/bin/env python3
"""Struct member offsets from pahole's output on a kernel's DWARF.

    pahole -F dwarf -C task_struct,mm_struct,... vmlinux | scripts/pahole-offsets.py

Prints one line per member: STRUCT.MEMBER BIT_OFFSET BIT_SIZE SIZE, where
BIT_SIZE is 0 unless the member is a bitfield. Members of anonymous structs
and unions are listed as members of the outer struct (as C reaches them);
members of named nested structs are left out. This is the ground truth for field offsets: tests compare what vmic
reads from the kernel's in-memory BTF with it.
"""
import re
import sys

# "<type> <name>[dims]:bits;   /* off[: bit]  size */"
MEMBER = re.compile(r"^\s*(?P<type>.+?)\s*\b(?P<name>\w+)(?P<dims>(\[\d*\])*)(:(?P<bits>\d+))?;"
                    r"\s*/\*\s*(?P<off>\d+)(:\s*(?P<bit>\d+))?\s+(?P<size>\d+)\s*\*/")
OPEN = re.compile(r"^\s*(struct|union)\b[^;]*\{\s*$")
CLOSE = re.compile(r"^\s*\}(?P<rest>[^;]*);")


def main():
    struct = None
    stack = []      # one entry per open nested block: list of members seen inside
    for line in sys.stdin:
        if struct is None:
            m = re.match(r"^(struct|union) (\w+) \{", line)
            if m:
                struct = m.group(2)
                stack = []
            continue
        if line.startswith("}"):
            struct = None
            continue
        if OPEN.match(line):
            stack.append([])
            continue
        c = CLOSE.match(line)
        if c and stack:
            inner = stack.pop()
            rest = re.sub(r"__attribute__\(\(.*?\)\)", "", c.group("rest")).strip()
            if rest:
                continue  # a named nested block: its members are not the struct's
            # Anonymous: its members belong to the enclosing level.
            if stack:
                stack[-1].extend(inner)
            else:
                for item in inner:
                    print_item(struct, item)
            continue
        m = MEMBER.match(line)
        if not m:
            continue
        off = int(m.group("off")) * 8 + int(m.group("bit") or 0)
        item = (m.group("name"), off, int(m.group("bits") or 0), int(m.group("size")))
        if stack:
            stack[-1].append(item)
        else:
            print_item(struct, item)


def print_item(struct, item):
    name, off, bits, size = item
    print(f"{struct}.{name} {off} {bits} {size}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Seed corpora for the fuzzers, cut from the real-guest fixtures.

    fuzz/seeds.py FIXTURE_DIR OUT_DIR

Writes OUT_DIR/<target>/<seed> for each fuzz target it knows. Seeds are small
(a fuzzer mutates them thousands of times a second) but keep the structure of
the real files: the ELF seed is QEMU's own headers and register notes with
the memory segments shrunk to a page each.
"""
import os
import struct
import sys


def write(out, target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def shrunk_elf(path, page=4096):
    """QEMU's ELF core with every PT_LOAD cut to one page of the real bytes."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
        ehdr = head[:64]
        phoff, = struct.unpack_from("<Q", ehdr, 32)
        phentsize, phnum = struct.unpack_from("<HH", ehdr, 54)
        phdrs = [list(struct.unpack_from("<IIQQQQQQ", head, phoff + i * phentsize))
                 for i in range(phnum)]
        loads = [p for p in phdrs if p[0] == 1]
        data_start = max(p[2] + p[5] for p in phdrs if p[0] == 4)  # after the notes
        body = bytearray(head[:data_start])
        for p in loads:
            f.seek(p[2])
            chunk = f.read(min(page, p[5]))
            p[2] = len(body)
            p[5] = p[6] = len(chunk)
            body += chunk
        for i, p in enumerate(phdrs):
            struct.pack_into("<IIQQQQQQ", body, phoff + i * phentsize, *p)
        return bytes(body)


def lime_from_raw(path, ranges=((0, 4096), (0x100000, 8192))):
    out = bytearray()
    with open(path, "rb") as f:
        for start, size in ranges:
            f.seek(start)
            out += struct.pack("<IIQQ8x", 0x4C694D45, 1, start, start + size - 1)
            out += f.read(size)
    return bytes(out)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    fixture, out = sys.argv[1], sys.argv[2]
    elf = os.path.join(fixture, "dump.elf")
    raw = os.path.join(fixture, "dump.raw")
    if os.path.exists(elf):
        write(out, "fuzz_dump", "elf-shrunk", shrunk_elf(elf))
        with open(elf, "rb") as f:
            write(out, "fuzz_dump", "elf-head", f.read(8192))
    if os.path.exists(raw):
        write(out, "fuzz_dump", "lime-2ranges", lime_from_raw(raw))
        with open(raw, "rb") as f:
            write(out, "fuzz_dump", "raw-page", f.read(4096))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Seed corpora for the fuzzers, cut from the real-guest fixtures.

The OS-layer seeds: kallsyms tables in both kernel layouts holding the
guest's first 600 real symbols compressed with its real token table; the
guest's BTF cut to its first types; the fixture's ISF profile cut to a few
structs; the guest's first system calls with its own syscall metadata.

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


# ---- the OS layer: kallsyms, BTF, ISF ---------------------------------------


def truth_syms(fixture):
    """(addr, type, name) of the core kernel's symbols, in /proc/kallsyms order."""
    out = []
    with open(os.path.join(fixture, "truth", "kallsyms.txt")) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3:
                out.append((int(parts[0], 16), parts[1], parts[2]))
    return out


def kernel_bytes(fixture, syms, start, end):
    """Kernel image bytes [start, end) by virtual address, from dump.raw: the
    image is physically contiguous from where /proc/iomem says code starts."""
    text = next(a for a, _, n in syms if n == "_text")
    code = None
    with open(os.path.join(fixture, "truth", "iomem.txt")) as f:
        for line in f:
            rng, _, what = line.strip().partition(" : ")
            if what == "Kernel code":
                code = int(rng.split("-")[0], 16)
    with open(os.path.join(fixture, "dump.raw"), "rb") as f:
        f.seek(code + start - text)
        return f.read(end - start)


def real_tokens(ro):
    """The kernel's own token table: the digits anchor, then the index."""
    anchor = b"".join(bytes([c, 0]) for c in b"0123456789")
    at = ro.find(anchor)
    while at >= 0:
        for p in range(at & ~1, min(at + 16384, len(ro) - 512), 2):
            idx = struct.unpack_from("<256H", ro, p)
            if idx[0] == 0 and all(0 < idx[i + 1] - idx[i] < 130 for i in range(255)):
                base = at - idx[0x30]
                toks = [ro[base + idx[i]:ro.index(b"\0", base + idx[i])] for i in range(256)]
                if toks[0x30] == b"0" and all(toks):
                    return toks
        at = ro.find(anchor, at + 1)
    return None


def kallsyms_table(syms, toks, new_order):
    """A kallsyms table in the kernel's layout (6.4+ order or the older one)
    for real symbols, compressed with the kernel's real token table."""
    by_len = sorted(range(256), key=lambda c: -len(toks[c]))
    def encode(s):
        out, i = bytearray(), 0
        while i < len(s):
            c = next(c for c in by_len if s.startswith(toks[c], i))
            out.append(c)
            i += len(toks[c])
        return bytes(out)
    names, markers = bytearray(), []
    for i, (_, t, n) in enumerate(syms):
        if i % 256 == 0:
            markers.append(len(names))
        code = encode((t + n).encode())
        names += bytes([len(code)]) + code
    base = min(a for a, _, _ in syms if a >= 0xffffffff00000000)
    offsets = [a if a < base else base - 1 - a for a, _, _ in syms]
    order = sorted(range(len(syms)), key=lambda i: (syms[i][2], i))
    seqs = b"".join(i.to_bytes(3, "big") for i in order)
    index, table = [], bytearray()
    for t in toks:
        index.append(len(table))
        table += t + b"\0"
    def align(b):
        b += bytes(-len(b) % 8)
    parts = {
        "num": struct.pack("<I", len(syms)), "names": bytes(names),
        "markers": struct.pack("<%dI" % len(markers), *markers), "table": bytes(table),
        "index": struct.pack("<256H", *index),
        "offsets": struct.pack("<%di" % len(offsets), *offsets),
        "base": struct.pack("<Q", base), "seqs": seqs,
    }
    order_new = ["num", "names", "markers", "table", "index", "offsets", "base", "seqs"]
    order_old = ["offsets", "base", "num", "names", "markers", "seqs", "table", "index"]
    out = bytearray(64)
    for k in (order_new if new_order else order_old):
        align(out)
        out += parts[k]
    align(out)
    return bytes(out)


def btf_cut(blob, ntypes=600):
    """The kernel's BTF, cut to its first types and the strings they use."""
    hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from("<IIIII", blob, 4)
    types = blob[hdr_len + type_off:hdr_len + type_off + type_len]
    extra = {1: 4, 3: 12, 4: 12, 5: 12, 6: 8, 13: 8, 14: 4, 15: 12, 17: 4, 19: 12}
    pos = 0
    for _ in range(ntypes):
        if pos + 12 > len(types):
            break
        info, = struct.unpack_from("<I", types, pos + 4)
        kind, vlen = (info >> 24) & 0x1f, info & 0xffff
        per = extra.get(kind, 0)
        pos += 12 + (per if kind in (1, 3, 14, 17) else per * vlen)
    strs = blob[hdr_len + str_off:hdr_len + str_off + str_len]
    cut = strs[:min(len(strs), 65536)]
    cut = cut[:cut.rindex(b"\0") + 1]
    hdr = bytearray(blob[:hdr_len])
    struct.pack_into("<IIII", hdr, 8, 0, pos, pos, len(cut))
    return bytes(hdr) + types[:pos] + cut


def isf_cut(path, keep=("list_head", "task_struct", "mm_struct", "maple_tree", "printk_info",
                        "qstr", "module", "vm_area_struct")):
    import lzma
    import json
    with lzma.open(path) as f:
        doc = json.load(f)
    small = {
        "metadata": doc["metadata"], "base_types": doc["base_types"],
        "user_types": {k: v for k, v in doc["user_types"].items() if k in keep},
        "enums": {k: v for k, v in list(doc["enums"].items())[:5]},
        "symbols": dict(list(doc["symbols"].items())[:64]),
    }
    return json.dumps(small, separators=(",", ":")).encode()


def os_seeds(fixture, out):
    syms = truth_syms(fixture)
    addr = {n: a for a, _, n in reversed(syms)}
    ro = kernel_bytes(fixture, syms, addr["__start_rodata"], addr["_sdata"])
    toks = real_tokens(ro)
    if toks:
        core = [s for s in syms[:600]]
        write(out, "fuzz_kallsyms", "new-order", kallsyms_table(core, toks, True))
        write(out, "fuzz_kallsyms", "old-order", kallsyms_table(core, toks, False))
    if "__start_BTF" in addr:
        blob = kernel_bytes(fixture, syms, addr["__start_BTF"], addr["__stop_BTF"])
        write(out, "fuzz_btf", "btf-cut", bytes(256) + btf_cut(blob))
    if "sys_call_table" in addr:
        write(out, "fuzz_syscalls", "table-24", syscall_seed(fixture, syms, addr))
    # fuzz_os: the sockets-and-checks flag (bit 2), alone and with a patch of
    # eight 0x41 bytes in each of the first areas (area, offset 0x10).
    write(out, "fuzz_os", "checks", b"\x04")
    for area in range(12):
        write(out, "fuzz_os", "checks-area-%d" % area,
              b"\x05" + bytes([area, 0x10, 0, 8]) + b"A" * 8)
    profile = os.path.join(fixture, "profile.json.xz")
    if os.path.exists(profile):
        write(out, "fuzz_isf", "isf-cut", isf_cut(profile))
    write(out, "fuzz_isf", "tiny", b'{"base_types":{"int":{"size":4,"signed":true,"kind":"int",'
          b'"endian":"little"}},"user_types":{"a":{"kind":"struct","size":8,"fields":{"b":'
          b'{"type":{"kind":"base","name":"int"},"offset":4}}}},"enums":{},"symbols":'
          b'{"_text":{"address":18446744071578845184}}}')


def syscall_seed(fixture, syms, addr, count=24):
    """The guest's first syscalls for fuzz_syscalls: its sys_call_table
    entries, each pointing at its kallsyms name, and its own ftrace metadata
    structs, arrays and strings, relaid in one image (see fuzz_syscalls.c)."""
    base = 0xffffffff81000000
    by_addr = {}
    for a, _, n in syms:
        if n.startswith("__x64_sys_"):
            by_addr.setdefault(a, n)
    raw = kernel_bytes(fixture, syms, addr["sys_call_table"], addr["sys_call_table"] + 8 * count)
    handlers = struct.unpack("<%dQ" % count, raw)

    def cstr(va):
        b = kernel_bytes(fixture, syms, va, va + 64)
        return b[:b.index(b"\0") + 1] if b"\0" in b else b[:63] + b"\0"

    image = bytearray(16 + 16 * count + 8)   # header, table, metadata array, the variable
    def put(data):
        image.extend(bytes(-len(image) % 8))
        at = len(image)
        image.extend(data)
        return base + at
    table, metas = [], []
    for h in handlers:
        name = by_addr.get(h, "__x64_sys_ni_syscall")
        table.append(put(name.encode() + b"\0"))
        meta = addr.get("__syscall_meta__" + name[len("__x64_sys_"):])
        if meta is None:
            metas.append(0)
            continue
        m = bytearray(kernel_bytes(fixture, syms, meta, meta + 64))
        name_p, nr, nargs, types_p, args_p = struct.unpack_from("<QIIQQ", m)
        nargs = min(nargs, 6)
        arrays = []
        for array in (types_p, args_p):
            if nargs == 0:
                arrays.append(0)
                continue
            ptrs = struct.unpack("<%dQ" % nargs, kernel_bytes(fixture, syms, array,
                                                              array + 8 * nargs))
            arrays.append(put(struct.pack("<%dQ" % nargs, *[put(cstr(p)) for p in ptrs])))
        struct.pack_into("<QIIQQ", m, 0, put(cstr(name_p)), nr, nargs, arrays[0], arrays[1])
        metas.append(put(bytes(m)))
    struct.pack_into("<4I", image, 0, 16, count, 16 + 16 * count, 0)
    struct.pack_into("<%dQ" % count, image, 16, *table)
    struct.pack_into("<%dQ" % count, image, 16 + 8 * count, *metas)
    struct.pack_into("<Q", image, 16 + 16 * count, base + 16 + 8 * count)
    return bytes(image)


def qemu_seeds(out):
    """What QEMU 7.2 sends: gdb packets (first byte 0) and QMP lines (4)."""
    def frame(payload):
        return b"$" + payload + b"#%02x" % (sum(payload) & 0xff)
    write(out, "fuzz_qemu", "gdb-stops", b"\0+" + frame(b"T05thread:p01.02;watch:ffffffff868079c0;")
          + b"+" + frame(b"T02thread:01;") + b"+" + frame(b"0*\"1122"))
    write(out, "fuzz_qemu", "qmp-replies", b"\4"
          b'{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"}\r\n'
          b'{"return": {"status": "running", "singlestep": false, "running": true}, "id": 1}\r\n'
          b'{"return": "FlatView #0\\r\\n \\u00e9\\ud83d\\ude00\\r\\n", "id": 2}\r\n'
          b'{"return": [{"id": "ram0", "size": 268435456, "share": true, "host-nodes": []}], '
          b'"id": 3}\r\n'
          b'{"id": 4, "error": {"class": "GenericError", "desc": "no"}}\r\n')


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    fixture, out = sys.argv[1], sys.argv[2]
    qemu_seeds(out)
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
    if os.path.exists(os.path.join(fixture, "truth", "kallsyms.txt")) and os.path.exists(raw):
        os_seeds(fixture, out)


if __name__ == "__main__":
    main()

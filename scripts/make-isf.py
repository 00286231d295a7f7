# make-isf.py - an ISF profile (Volatility 3 JSON) of a kernel, from its DWARF.
#
# Runs inside gdb, whose DWARF reader is independent of vmic (vmic reads the
# kernel's BTF; this reads the -dbg package's DWARF), so a test that checks
# vmic's answers through this profile against the guest's truth checks the
# ISF reader, not vmic against itself:
#
#   VMIC_ISF_OUT=profile.json VMIC_ISF_SYSTEM_MAP=System.map \
#       gdb -batch -nx -x scripts/make-isf.py vmlinux
#
# Types: the structs, unions and enums reachable from the roots below
# (through fields and pointers, up to MAX_TYPES), in dwarf2json's layout:
# typedefs and qualifiers resolved, anonymous members named
# unnamed_field_<offset> with "anonymous": true, bitfields as
# {"kind": "bitfield", "bit_position", "bit_length", "type"} relative to the
# field's offset. Symbols: every line of the real System.map (link-time
# addresses), as dwarf2json takes them from an ELF or System.map.
import hashlib
import json
import os
import sys

import gdb  # noqa: E402  (only inside gdb)

ROOTS = [
    "task_struct", "mm_struct", "vm_area_struct", "file", "path", "dentry", "qstr", "inode",
    "super_block", "vfsmount", "mount", "files_struct", "fdtable", "cred", "signal_struct",
    "module", "module_memory", "module_layout", "list_head", "maple_tree", "maple_node",
    "maple_range_64", "maple_arange_64", "maple_metadata", "printk_ringbuffer", "prb_desc_ring",
    "prb_data_ring", "prb_desc", "prb_data_blk_lpos", "printk_info", "vm_special_mapping",
    "cpuinfo_x86", "pid", "upid", "kuid_t", "kgid_t",
    # vmic trace with a profile: the current task sits in pcpu_hot from 6.2
    # on, and syscall names and argument types come from syscall_metadata.
    "pcpu_hot", "syscall_metadata",
]
ENUM_ROOTS = ["maple_type", "mod_mem_type", "module_state"]
MAX_TYPES = 20000

out_path = os.environ["VMIC_ISF_OUT"]
system_map = os.environ.get("VMIC_ISF_SYSTEM_MAP")

base_types = {"void": {"size": 0, "signed": False, "kind": "void", "endian": "little"},
              "pointer": {"size": 8, "signed": False, "kind": "int", "endian": "little"}}
user_types = {}
enums = {}
queue = []
names = {}  # id-ish key -> ISF name, for anonymous types


def strip(t):
    while True:
        t = t.unqualified()
        if t.code == gdb.TYPE_CODE_TYPEDEF:
            t = t.target()
            continue
        return t


def layout_key(t):
    fields = []
    for f in t.fields():
        fields.append((f.name or "", getattr(f, "bitpos", 0), f.bitsize, str(f.type)))
    return (t.code, t.sizeof, tuple(fields))


def type_name(t):
    if t.tag:
        return t.tag
    key = layout_key(t)
    if key not in names:
        names[key] = "unnamed_" + hashlib.sha1(repr(key).encode()).hexdigest()[:16]
    return names[key]


def enqueue(t, name):
    if name not in user_types and name not in enums and len(user_types) + len(enums) < MAX_TYPES:
        (user_types if t.code != gdb.TYPE_CODE_ENUM else enums)[name] = None
        queue.append((t, name))


def desc(t):
    t = strip(t)
    c = t.code
    if c == gdb.TYPE_CODE_PTR:
        return {"kind": "pointer", "subtype": desc(t.target())}
    if c == gdb.TYPE_CODE_ARRAY:
        # Flexible array members ("x[]") have size 0 and count 0, as in dwarf2json.
        elem = t.target().sizeof
        count = t.sizeof // elem if elem else 0
        return {"kind": "array", "count": count, "subtype": desc(t.target())}
    if c in (gdb.TYPE_CODE_STRUCT, gdb.TYPE_CODE_UNION):
        name = type_name(t)
        enqueue(t, name)
        return {"kind": "struct" if c == gdb.TYPE_CODE_STRUCT else "union", "name": name}
    if c == gdb.TYPE_CODE_ENUM:
        name = type_name(t)
        enqueue(t, name)
        return {"kind": "enum", "name": name}
    if c in (gdb.TYPE_CODE_INT, gdb.TYPE_CODE_CHAR, gdb.TYPE_CODE_BOOL, gdb.TYPE_CODE_FLT):
        name = t.name or "int"
        if name not in base_types:
            kind = {gdb.TYPE_CODE_CHAR: "char", gdb.TYPE_CODE_BOOL: "bool",
                    gdb.TYPE_CODE_FLT: "float"}.get(c, "int")
            signed = bool(getattr(t, "is_signed", not name.startswith("unsigned")))
            if c == gdb.TYPE_CODE_BOOL:
                signed = False
            base_types[name] = {"size": t.sizeof, "signed": signed, "kind": kind,
                                "endian": "little"}
        return {"kind": "base", "name": name}
    if c == gdb.TYPE_CODE_FUNC:
        return {"kind": "function"}
    return {"kind": "base", "name": "void"}


def struct_of(t):
    fields = {}
    for f in t.fields():
        bitpos = getattr(f, "bitpos", 0)
        d = desc(f.type)
        name = f.name
        entry = {}
        if f.bitsize:
            size = max(strip(f.type).sizeof, 1)
            offset = (bitpos // (8 * size)) * size
            entry["type"] = {"kind": "bitfield", "bit_position": bitpos - offset * 8,
                             "bit_length": f.bitsize, "type": d}
            entry["offset"] = offset
        else:
            entry["type"] = d
            entry["offset"] = bitpos // 8
        if not name:
            name = "unnamed_field_%x" % entry["offset"]
            entry["anonymous"] = True
        fields[name] = entry
    return {"size": t.sizeof, "fields": fields,
            "kind": "union" if t.code == gdb.TYPE_CODE_UNION else "struct"}


def enum_of(t):
    consts = {f.name: int(f.enumval) for f in t.fields()}
    signed = any(v < 0 for v in consts.values())
    base = "int" if signed or t.sizeof == 4 else "unsigned int"
    return {"size": t.sizeof, "base": base, "constants": consts}


for name in ROOTS:
    try:
        t = gdb.lookup_type("struct " + name) if not name.endswith("_t") else gdb.lookup_type(name)
    except gdb.error:
        try:
            t = gdb.lookup_type("union " + name)
        except gdb.error:
            continue  # e.g. module_layout after 6.4, module_memory before
    desc(t)
for name in ENUM_ROOTS:
    try:
        desc(gdb.lookup_type("enum " + name))
    except gdb.error:
        pass

while queue:
    t, name = queue.pop()
    if t.code == gdb.TYPE_CODE_ENUM:
        enums[name] = enum_of(t)
    else:
        user_types[name] = struct_of(t)

symbols = {}
if system_map:
    with open(system_map) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] not in symbols:
                symbols[parts[2]] = {"address": int(parts[0], 16)}

doc = {
    "metadata": {"format": "6.2.0",
                 "producer": {"name": "vmic make-isf.py (gdb " + gdb.VERSION + ")",
                              "version": "1"}},
    "base_types": base_types,
    "user_types": {k: v for k, v in user_types.items() if v is not None},
    "enums": {k: v for k, v in enums.items() if v is not None},
    "symbols": symbols,
}
with open(out_path, "w") as f:
    json.dump(doc, f, separators=(",", ":"))
sys.stderr.write("make-isf: %d user types, %d enums, %d base types, %d symbols\n"
                 % (len(doc["user_types"]), len(doc["enums"]), len(base_types), len(symbols)))

#!/usr/bin/env python3
"""vmic isf on a real dump, against the ISF made from the debug package's
DWARF by gdb (scripts/make-isf.py, the fixture's profile.json.xz), which
shares nothing with vmic's BTF and kallsyms readers:

  - the structs Volatility 3's Linux plugins use (STRUCTS), and every other
    named struct both have: same kind and size, every DWARF field at the
    same offset with an equivalent type (base types by size and sign,
    pointers by what they point to, structs by name, anonymous ones by
    their layout, arrays by count and element, bitfields by position,
    length and type). Two differences are BTF's, and allowed: pahole
    writes a multi-dimensional array as one dimension of all the elements
    (x[5][5] as x[25]), and an array of empty structs keeps its count
    where gdb says 0. Anonymous members at one offset of a union (several
    unnamed_field_0) keep distinct names in vmic's ISF; gdb's dict keeps
    the last, which must be one of vmic's. make-isf.py names an anonymous
    type by a hash of its fields' C spellings, in which an anonymous member
    is only "struct {...}": two anonymous types whose own members are
    anonymous can share one name in the DWARF ISF (fxregs_state's and
    io_uring_buf_ring's unions do), so those are compared by kind and size;
  - every symbol both have at the same (link-time) address, the global
    table's (GLOBALS) among them, and each global's type where the plugins
    expect it, no larger than the symbol's extent in the real System.map;
  - linux_banner's constant_data is the guest's /proc/version;
  - Volatility's stacker would place the kernel with it: its search for
    init_task by "swapper/0" in physical memory, done here from the ISF's
    offsets and addresses alone, gives shifts whose page-table root
    translates linux_banner to the banner;
  - the document is closed (every name it uses it defines) and vmic reads
    it back: `vmic ps --profile` on it lists what `vmic ps` does;
  - BTF is guest memory: with words of it overwritten (a copy of the raw
    dump), vmic isf either writes a closed document or fails saying why,
    never crashes, hangs or leaves a sanitizer report.
A fixture without DWARF (--no-dwarf) runs the last three only.

    test_cli_isf.py VMIC_BINARY FIXTURE_DIR
"""
import atexit
import base64
import bisect
import json
import lzma
import mmap
import os
import random
import re
import struct
import shutil
import subprocess
import sys
import tempfile

import cli_common
from cli_common import FIXTURE, RAW, VMIC, paging_levels, test, truth, vmic

PAGING = ("--paging", str(paging_levels()))
DWARF_PATH = os.path.join(FIXTURE, "profile.json.xz")
DWARF = json.load(lzma.open(DWARF_PATH)) if os.path.exists(DWARF_PATH) else None
WORK = tempfile.mkdtemp(prefix="vmic-isf-test.")
atexit.register(shutil.rmtree, WORK, ignore_errors=True)  # the copied dump too, however it ends
OUT = os.path.join(WORK, "vmic.json")
vmic("isf", *PAGING, "-o", OUT, RAW)
with open(OUT, "rb") as f:
    OUT_BYTES = f.read()
MINE = json.loads(OUT_BYTES)

# What Volatility 3's Linux plugins (and its stacker) read: at least 30 must
# be in both ISFs for the comparison to count.
STRUCTS = [
    "task_struct", "mm_struct", "vm_area_struct", "file", "path", "dentry", "qstr", "inode",
    "super_block", "vfsmount", "mount", "mnt_namespace", "files_struct", "fdtable", "fs_struct",
    "cred", "signal_struct", "module", "module_memory", "module_layout", "module_kobject",
    "kobject", "kset", "list_head", "hlist_head", "hlist_node", "maple_tree", "maple_node",
    "maple_range_64", "maple_arange_64", "printk_ringbuffer", "prb_desc_ring", "prb_data_ring",
    "prb_desc", "prb_data_blk_lpos", "printk_info", "pid", "upid", "pid_namespace", "idr",
    "xarray", "nsproxy", "net", "ns_common", "socket", "sock", "sock_common", "inet_sock",
    "unix_sock", "net_device", "sk_buff", "address_space", "page", "user_namespace",
    "uts_namespace", "new_utsname", "tty_driver", "bpf_prog", "file_operations",
    "dentry_operations", "vm_special_mapping", "cpuinfo_x86", "pt_regs", "gate_struct",
]
MIN_COMPARED = 30

# The global table (src/os/linux/isf_write_globals.c) as the plugins use it:
# symbol -> the type they take from it.
GLOBALS = {
    "init_task": {"kind": "struct", "name": "task_struct"},
    "init_files": {"kind": "struct", "name": "files_struct"},
    "init_mm": {"kind": "struct", "name": "mm_struct"},
    "init_pid_ns": {"kind": "struct", "name": "pid_namespace"},
    "init_nsproxy": {"kind": "struct", "name": "nsproxy"},
    "init_net": {"kind": "struct", "name": "net"},
    "net_namespace_list": {"kind": "struct", "name": "list_head"},
    "modules": {"kind": "struct", "name": "list_head"},
    "tty_drivers": {"kind": "struct", "name": "list_head"},
    "module_kset": {"kind": "pointer", "subtype": {"kind": "struct", "name": "kset"}},
    "prb": {"kind": "pointer", "subtype": {"kind": "struct", "name": "printk_ringbuffer"}},
    "printk_rb_static": {"kind": "struct", "name": "printk_ringbuffer"},
    "prog_idr": {"kind": "struct", "name": "idr"},
    "socket_file_ops": {"kind": "struct", "name": "file_operations"},
    "sockfs_dentry_operations": {"kind": "struct", "name": "dentry_operations"},
    "cap_last_cap": {"kind": "base", "name": "int"},
    "vmemmap_base": {"kind": "base", "name": "unsigned long"},
    "idt_table": {"kind": "array", "count": 256,
                  "subtype": {"kind": "struct", "name": "gate_struct"}},
    "sys_call_table": None,  # an array of function pointers, counted from its extent
    "linux_banner": None,    # char [strlen + 1]
    "_text": {"kind": "base", "name": "char"},
    "_etext": {"kind": "base", "name": "char"},
}
# Where the stacker finds the slides and the page tables: addresses only.
STACKER_SYMBOLS = ["init_task", "init_files", "init_top_pgt", "linux_banner", "_text"]


def base_key(doc, name):
    b = doc["base_types"].get(name)
    if b is None:
        raise AssertionError(f"base type {name!r} is used but not defined")
    return (b["size"], b["signed"])


def unnamed(name):
    return name.startswith("unnamed_")


def flatten(t):
    """An array's elements in all its dimensions and its innermost element."""
    n = 1
    while t["kind"] == "array":
        n *= t["count"]
        t = t["subtype"]
    return n, t


def empty(doc, t):
    return t["kind"] in ("struct", "union") and doc["user_types"][t["name"]]["size"] == 0


def has_unnamed_member(t):
    for f in t["fields"].values():
        d = f["type"]
        while d["kind"] in ("array", "bitfield", "pointer"):
            d = d.get("subtype") or d.get("type")
        if d["kind"] in ("struct", "union") and unnamed(d["name"]):
            return True
    return False


def same_type(a, b, why, depth=0):
    """a: a descriptor of MINE, b: of DWARF. Raises with where they differ."""
    if depth > 12:
        return
    ka, kb = a["kind"], b["kind"]
    if ka != kb:
        raise AssertionError(f"{why}: kind {ka} != DWARF's {kb}")
    if ka == "base":
        if base_key(MINE, a["name"]) != base_key(DWARF, b["name"]):
            raise AssertionError(f"{why}: base {a['name']} != DWARF's {b['name']}")
    elif ka == "pointer":
        same_type(a["subtype"], b["subtype"], why + " *", depth + 1)
    elif ka == "array":
        (na, ea), (nb, eb) = flatten(a), flatten(b)
        if na != nb and not (nb == 0 and empty(DWARF, eb)):
            raise AssertionError(f"{why}: {na} elements, DWARF {nb}")
        same_type(ea, eb, why + "[]", depth + 1)
    elif ka == "bitfield":
        for k in ("bit_position", "bit_length"):
            if a[k] != b[k]:
                raise AssertionError(f"{why}: {k} {a[k]} != DWARF's {b[k]}")
        same_type(a["type"], b["type"], why + " (bitfield)", depth + 1)
    elif ka in ("struct", "union", "enum"):
        na, nb = a["name"], b["name"]
        # vmic names an anonymous type by the typedef that names it, as
        # dwarf2json does (kuid_t); make-isf.py does not: compared by layout.
        if unnamed(na) and not unnamed(nb):
            raise AssertionError(f"{why}: {ka} {na} vs DWARF's {nb}")
        if not unnamed(nb):
            if na != nb:
                raise AssertionError(f"{why}: {ka} {na} != DWARF's {nb}")
        elif ka == "enum":
            if MINE["enums"][na]["constants"] != DWARF["enums"][nb]["constants"]:
                raise AssertionError(f"{why}: enum {na}'s constants differ from DWARF's {nb}")
        else:
            ta, tb = MINE["user_types"][na], DWARF["user_types"][nb]
            if has_unnamed_member(tb):  # its DWARF name may be another's: layout only
                if (ta["kind"], ta["size"]) != (tb["kind"], tb["size"]):
                    raise AssertionError(f"{why}: {ta['kind']} of {ta['size']} bytes, DWARF "
                                         f"{tb['kind']} of {tb['size']}")
                return
            same_struct(ta, tb, why, depth + 1)


def same_field(f, fb, why, depth):
    if f["offset"] != fb["offset"]:
        raise AssertionError(f"{why}: offset {f['offset']}, DWARF {fb['offset']}")
    if bool(f.get("anonymous")) != bool(fb.get("anonymous")):
        raise AssertionError(f"{why}: anonymous differs")
    same_type(f["type"], fb["type"], why, depth)


def same_struct(a, b, why, depth=0):
    if a["kind"] != b["kind"] or a["size"] != b["size"]:
        raise AssertionError(f"{why}: {a['kind']} of {a['size']} bytes, DWARF {b['kind']} "
                             f"of {b['size']}")
    fa = a["fields"]
    for name, fb in b["fields"].items():
        if fb.get("anonymous"):
            # One of vmic's anonymous members at that offset is it.
            errors = []
            for n, f in fa.items():
                if f.get("anonymous") and f["offset"] == fb["offset"]:
                    try:
                        same_field(f, fb, f"{why}.{n}", depth)
                        break
                    except AssertionError as e:
                        errors.append(str(e))
            else:
                raise AssertionError(f"{why}.{name}: no anonymous member like it "
                                     f"({'; '.join(errors) or 'none at that offset'})")
            continue
        f = fa.get(name)
        if f is None:
            raise AssertionError(f"{why}: no field {name} (DWARF: offset {fb['offset']})")
        same_field(f, fb, f"{why}.{name}", depth)


def compare_structs(names):
    bad, compared = [], 0
    for name in names:
        if name not in DWARF["user_types"]:
            continue
        if name not in MINE["user_types"]:
            bad.append(f"{name}: DWARF has it, vmic's ISF not")
            continue
        try:
            same_struct(MINE["user_types"][name], DWARF["user_types"][name], name)
            compared += 1
        except (AssertionError, KeyError) as e:
            bad.append(str(e))
    return compared, bad


def descriptors(t, depth=0):
    """A type descriptor and those inside it."""
    yield t
    if depth < 16:
        for k in ("subtype", "type"):
            if k in t:
                yield from descriptors(t[k], depth + 1)


def closed_names(doc):
    used = [f["type"] for t in doc["user_types"].values() for f in t["fields"].values()]
    used += [s["type"] for s in doc["symbols"].values() if "type" in s]
    sections = {"struct": "user_types", "union": "user_types", "enum": "enums",
                "base": "base_types"}
    return {d["name"] for t in used for d in descriptors(t)
            if d["kind"] in sections and d["name"] not in doc[sections[d["kind"]]]}


@test
def document_is_a_closed_isf():
    assert set(MINE) == {"metadata", "base_types", "user_types", "enums", "symbols"}, list(MINE)
    assert MINE["metadata"]["format"].startswith("6."), MINE["metadata"]
    assert "linux" in MINE["metadata"], MINE["metadata"]
    assert MINE["base_types"]["pointer"] == {"size": 8, "signed": False, "kind": "int",
                                             "endian": "little"}, MINE["base_types"]["pointer"]
    for b in MINE["base_types"].values():
        assert b["endian"] == "little" and b["kind"] in ("void", "int", "char", "bool", "float"), b
    missing = closed_names(MINE)
    assert not missing, f"names used but not defined: {sorted(missing)[:20]}"
    for name, t in MINE["user_types"].items():
        for f, v in t["fields"].items():
            assert v.get("anonymous", False) == f.startswith("unnamed_field_"), (name, f)
            if v.get("anonymous"):
                assert f.split("_")[2] == "%x" % v["offset"], (name, f)
            if v["type"]["kind"] == "bitfield":
                assert v["type"]["type"]["kind"] in ("base", "enum"), (name, f)
    assert len(MINE["user_types"]) > 500, len(MINE["user_types"])


@test
def typedefs_name_their_anonymous_structs():
    """dwarf2json's convention, which Volatility's kernel_cap_t class needs."""
    for name in ("kuid_t", "kgid_t"):
        t = MINE["user_types"][name]
        assert t["size"] == 4 and list(t["fields"]) == ["val"], (name, t)
    uid = MINE["user_types"]["cred"]["fields"]["uid"]["type"]
    assert uid == {"kind": "struct", "name": "kuid_t"}, uid


@test
def plugin_structs_agree_with_dwarf():
    if DWARF is None:
        print("     (no DWARF ISF in this fixture: skipped)")
        return
    absent = [s for s in STRUCTS if s not in MINE["user_types"] and s != "module_memory"
              and s != "module_layout"]
    assert not absent, f"vmic's ISF lacks {absent}"
    compared, bad = compare_structs(STRUCTS)
    assert not bad, "\n".join(bad[:30])
    assert compared >= MIN_COMPARED, f"only {compared} of STRUCTS are in both ISFs"
    print(f"     {compared} plugin structs agree field by field")


@test
def every_common_struct_agrees_with_dwarf():
    if DWARF is None:
        return
    names = [n for n in DWARF["user_types"] if not unnamed(n)]
    compared, bad = compare_structs(names)
    assert not bad, f"{len(bad)} of {len(names)} differ:\n" + "\n".join(bad[:30])
    # make-isf.py and vmic start from overlapping roots: nearly all of the
    # DWARF ISF's named types are in vmic's.
    assert compared >= 0.95 * len(names), f"{compared} of {len(names)} compared"
    print(f"     {compared} named structs and unions agree field by field")


@test
def enums_agree_with_dwarf():
    if DWARF is None:
        return
    compared = 0
    for name, e in DWARF["enums"].items():
        if unnamed(name) or name not in MINE["enums"]:
            continue
        m = MINE["enums"][name]
        assert m["size"] == e["size"], (name, m["size"], e["size"])
        assert m["constants"] == e["constants"], name
        compared += 1
    assert compared >= 20, compared


def dwarf_extents():
    syms = sorted(set(v["address"] for v in DWARF["symbols"].values()))

    def extent(addr):
        i = bisect.bisect_right(syms, addr)
        return syms[i] - addr if i < len(syms) else None
    return extent


def type_size(t):
    k = t["kind"]
    if k == "base":
        return MINE["base_types"][t["name"]]["size"]
    if k == "pointer":
        return 8
    if k == "array":
        return t["count"] * type_size(t["subtype"])
    if k in ("struct", "union"):
        return MINE["user_types"][t["name"]]["size"]
    raise AssertionError(f"no size for {t}")


@test
def symbols_agree_with_dwarf():
    mine = MINE["symbols"]
    for name in STACKER_SYMBOLS + list(GLOBALS):
        assert name in mine, f"vmic's ISF lacks {name}"
    text = mine["_text"]["address"]
    assert text == 0xffffffff81000000, f"_text at {text:#x}: not a link-time address"
    if DWARF is None:
        return
    theirs = DWARF["symbols"]
    diff = [(n, mine[n]["address"], theirs[n]["address"]) for n in mine
            if n in theirs and mine[n]["address"] != theirs[n]["address"]]
    common = sum(1 for n in mine if n in theirs)
    assert not diff, f"{len(diff)} of {common} differ: " + ", ".join(
        f"{n} {a:#x} (DWARF {b:#x})" for n, a, b in diff[:10])
    for name in STACKER_SYMBOLS + list(GLOBALS):
        assert name in theirs, f"the real System.map lacks {name}"
    # vmic has kallsyms' names; the System.map a few more (kallsyms' own tables).
    assert common >= 0.99 * len(theirs), f"{common} of {len(theirs)} System.map names"
    print(f"     {common} symbols at System.map's addresses")


# __NR_syscalls of x86-64 (arch/x86/include/generated/uapi/asm/unistd_64.h):
# the last call of 6.1 is set_mempolicy_home_node (450), of 6.12 mseal (462).
NR_SYSCALLS = {"6.1": 451, "6.12": 463}


def kernel_series():
    release = truth("version.txt").split()[2]
    return ".".join(release.split(".")[:2])


@test
def globals_have_the_types_plugins_take():
    mine = MINE["symbols"]
    extent = dwarf_extents() if DWARF else None
    for name, want in GLOBALS.items():
        t = mine[name].get("type")
        assert t is not None, f"{name} has no type"
        if name == "sys_call_table":
            assert t["kind"] == "array" and t["subtype"] == {
                "kind": "pointer", "subtype": {"kind": "function"}}, t
            want_n = NR_SYSCALLS.get(kernel_series())
            assert t["count"] == want_n or (want_n is None and 300 <= t["count"] <= 1024), \
                f"sys_call_table: {t['count']} entries, __NR_syscalls is {want_n}"
        elif name == "linux_banner":
            assert t["kind"] == "array" and t["subtype"]["name"] == "char", t
        else:
            assert t == want, f"{name}: {t}, want {want}"
        if DWARF is None:
            continue
        if t["kind"] == "struct" and t["name"] in DWARF["user_types"]:
            assert type_size(t) == DWARF["user_types"][t["name"]]["size"], name
        # The object must fit before the next symbol of the real System.map.
        room = extent(DWARF["symbols"][name]["address"])
        size = type_size(t)
        assert room is None or size <= room or name in ("_text", "_etext"), \
            f"{name}: {size} bytes, but the next symbol is {room} bytes on"


@test
def banner_is_the_guests():
    sym = MINE["symbols"]["linux_banner"]
    data = base64.b64decode(sym["constant_data"])
    version = truth("version.txt")
    assert version.startswith("Linux version ") and version.endswith("\n"), version
    assert data == version.encode() + b"\0", (data, version)
    assert sym["type"]["count"] == len(data), (sym["type"], len(data))


START_KERNEL_MAP = 0xffffffff80000000


def stacker_shifts():
    """Volatility's LinuxStacker.find_aslr on the raw dump (offset = physical
    address), with nothing but the ISF: the first "swapper/0" that is
    init_task's comm (pid 0, init_task.files - init_files page-aligned)."""
    task = MINE["user_types"]["task_struct"]["fields"]
    comm, pid, files = (task[f]["offset"] for f in ("comm", "pid", "files"))
    syms = MINE["symbols"]
    with open(RAW, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        for hit in re.finditer(rb"swapper(/0|\x00\x00)\x00{6}", m):
            init_task = hit.start() - comm
            if init_task < 0 or struct.unpack_from("<i", m, init_task + pid)[0] != 0:
                continue
            aslr = struct.unpack_from("<Q", m, init_task + files)[0] - syms["init_files"]["address"]
            aslr &= (1 << 64) - 1
            kaslr = init_task - (syms["init_task"]["address"] - START_KERNEL_MAP)
            if aslr & 0xfff or kaslr & 0xfff:
                continue
            return kaslr, aslr
    raise AssertionError("no init_task found the way Volatility's stacker looks")


@test
def volatility_stacker_places_the_kernel():
    kaslr, aslr = stacker_shifts()
    syms = MINE["symbols"]
    dtb = syms["init_top_pgt"]["address"] - START_KERNEL_MAP + kaslr
    banner = base64.b64decode(syms["linux_banner"]["constant_data"])
    va = (syms["linux_banner"]["address"] + aslr) & ((1 << 64) - 1)
    got = vmic("read", "--raw", *PAGING, "--root", hex(dtb), RAW, hex(va), str(len(banner)),
               binary=True).stdout
    assert got == banner, (hex(dtb), hex(va), got[:80])
    slide = json.loads(vmic("banner", "--json", *PAGING, RAW).stdout)["kaslr_slide"]
    assert aslr == int(slide, 16), (hex(aslr), slide)


@test
def vmic_reads_its_isf_back():
    for cmd in ("ps", "modules"):
        own = json.loads(vmic(cmd, "--json", *PAGING, RAW).stdout)
        via = json.loads(vmic(cmd, "--json", *PAGING, "--profile", OUT, RAW).stdout)
        assert own == via, f"vmic {cmd} differs with the ISF as profile"
        assert len(own) >= 1, own
    b = json.loads(vmic("banner", "--json", *PAGING, "--profile", OUT, RAW).stdout)
    assert b["symbols"] == "isf" and b["types"] == "isf", b


@test
def xz_holds_the_same_document():
    xz = os.path.join(WORK, "vmic.json.xz")
    p = vmic("isf", "--xz", "--json", *PAGING, "-o", xz, RAW)
    summary = json.loads(p.stdout)
    assert summary["output"] == xz and summary["symbols"] == len(MINE["symbols"]), summary
    assert summary["user_types"] == len(MINE["user_types"]), summary
    with lzma.open(xz) as f:
        assert f.read() == OUT_BYTES
    # stdout, the default, holds it too.
    assert vmic("isf", *PAGING, RAW, binary=True).stdout == OUT_BYTES


@test
def failures_say_so():
    p = vmic("isf", "--profile", OUT, RAW, rc=2)
    assert "--profile" in p.stderr, p.stderr
    p = vmic("isf", "--json", os.path.join(WORK, "no-such-dump"), rc=1)
    assert "error" in json.loads(p.stdout), p.stdout
    # A full disk: the command fails, and leaves no file that looks whole.
    with open("/dev/full", "wb") as full:
        r = subprocess.run([VMIC, "isf", *PAGING, RAW], stdout=full, stderr=subprocess.PIPE,
                           timeout=120)
    assert r.returncode == 1 and b"incomplete" in r.stderr, (r.returncode, r.stderr[-300:])


MAX_COPY = 1 << 30  # the raw dump is copied once; a 5 GiB one is left alone
MUTATIONS = 24


@test
def hostile_btf_is_survived():
    if os.path.getsize(RAW) > MAX_COPY:
        print("     (raw dump over 1 GiB: not copied, skipped)")
        return
    k = json.loads(vmic("banner", "--json", *PAGING, RAW).stdout)
    btf_pa = int(k["text_pa"], 16) + int(k["btf"], 16) - int(k["text"], 16)
    copy = os.path.join(WORK, "hostile.raw")
    shutil.copyfile(RAW, copy)
    rng = random.Random(15)
    outcomes = {0: 0, 1: 0}
    with open(copy, "r+b") as f:
        f.seek(btf_pa)
        hdr_len, type_off, type_len = struct.unpack("<III", f.read(16)[4:16])
        assert 0 < type_len < k["btf_size"], (hdr_len, type_off, type_len)
        for i in range(MUTATIONS):
            # A word of the type records: sizes, member counts, offsets, ids.
            at = btf_pa + hdr_len + type_off + rng.randrange(type_len // 4) * 4
            f.seek(at)
            old = f.read(4)
            f.seek(at)
            f.write(struct.pack("<I", rng.choice([0, 1, 0xffff, 0xffffffff,
                                                    rng.getrandbits(32)])))
            f.flush()
            out = os.path.join(WORK, f"hostile-{i}.json")
            r = subprocess.run([VMIC, "isf", *PAGING, "-o", out, copy], capture_output=True,
                               timeout=120)
            err = r.stderr.decode(errors="replace")
            assert r.returncode in (0, 1) and "Sanitizer" not in err, (i, r.returncode, err[-500:])
            if r.returncode == 0:
                with open(out) as g:
                    doc = json.load(g)
                assert not closed_names(doc), (i, sorted(closed_names(doc))[:5])
                os.unlink(out)
            else:
                assert err.strip() and not os.path.exists(out), (i, err)
            outcomes[r.returncode] += 1
            f.seek(at)
            f.write(old)
    print(f"     {MUTATIONS} BTF mutations: {outcomes[0]} written, {outcomes[1]} refused")


sys.exit(cli_common.exit_status())

#!/usr/bin/env python3
"""The vmic command on a real dump, checked against the guest's own truth.

    test_cli.py VMIC_BINARY FIXTURE_DIR
"""
import json
import os
import re
import struct
import sys

import cli_common
from cli_common import ELF, FIXTURE, RAW, kallsyms, paging_levels, test, truth, vmic


def iomem(name):
    for line in truth("iomem.txt").splitlines():
        rng, _, what = line.strip().partition(" : ")
        if what == name:
            return [int(x, 16) for x in rng.split("-")]
    raise AssertionError(f"{name} not in iomem")


SYMS = kallsyms()
PROFILE = os.path.join(FIXTURE, "profile.json.xz")
MARKER = dict(kv.split("=") for kv in truth("marker.txt").split())
STRINGS = dict(l.split("=", 1) for l in truth("marker-strings.txt").splitlines())


# QEMU's dump has the BIOS ROM just below 4 GiB as a PT_LOAD of its own (which
# the driver may merge with RAM above 4 GiB): RAM ends elsewhere.
BIOS_ROM, ROM_END = 0xfffc0000, 1 << 32
LEVELS = paging_levels()
PAGING = ("--paging", str(LEVELS))  # a raw dump has no CR4 to say it


def elf_loads():
    """(paddr, filesz) of every PT_LOAD of dump.elf, from its program headers."""
    out = []
    with open(ELF, "rb") as f:
        head = f.read(64)
        phoff, = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        f.seek(phoff)
        for _ in range(phnum):
            ph = f.read(phentsize)
            p_type, = struct.unpack_from("<I", ph, 0)
            paddr, filesz = struct.unpack_from("<QQ", ph, 24)[0], struct.unpack_from("<Q", ph, 32)[0]
            if p_type == 1:
                out.append((paddr, filesz))
    assert out, "no PT_LOAD in dump.elf"
    return out


def elf_ram_end():
    """Where guest RAM ends: the end of the highest PT_LOAD that is not the BIOS ROM."""
    return max(pa + size for pa, size in elf_loads() if (pa, pa + size) != (BIOS_ROM, ROM_END))


@test
def help_everywhere():
    top = vmic("--help").stdout
    for cmd in ("info", "read", "translate", "pagetable"):
        assert cmd in top, cmd
        out = vmic(cmd, "--help").stdout
        assert out.startswith(f"usage: vmic {cmd}"), out
        assert "--json" in out, f"{cmd} --help lacks --json"
    assert "unknown command" in vmic("frobnicate", rc=2).stderr


@test
def info_json_matches_dump():
    d = json.loads(vmic("info", "--json", ELF).stdout)
    assert d["driver"] == "elf"
    first = elf_loads()[0]
    assert d["regions"][0]["start"] == hex(first[0]) and d["regions"][0]["size"] == first[1]
    with open(os.path.join(FIXTURE, "registers.txt")) as f:
        assert len(d["vcpus"]) == f.read().count("CPU#") >= 1
    regs = {}
    for line in open(os.path.join(FIXTURE, "registers.txt")):
        for part in line.split():
            if "=" in part:
                k, _, v = part.partition("=")
                regs.setdefault(k.lower(), v)
    assert int(d["vcpus"][0]["cr3"], 16) == int(regs["cr3"], 16), (d["vcpus"][0]["cr3"], regs["cr3"])
    assert int(d["vcpus"][0]["rip"], 16) == int(regs["rip"], 16)


@test
def translate_kernel_text():
    code_start, _ = iomem("Kernel code")
    out = json.loads(vmic("translate", "--json", ELF, hex(SYMS["_text"])).stdout)
    assert int(out[0]["pa"], 16) == code_start, out
    assert out[0]["access"] == "r-x" and out[0]["user"] is False
    table = vmic("translate", ELF, hex(SYMS["_text"])).stdout
    assert f"-> pa 0x{code_start:016x}" in table, table


@test
def translate_raw_needs_root_and_agrees_with_elf():
    err = vmic("translate", RAW, hex(SYMS["_text"]), rc=1).stderr
    assert "give --root" in err, err
    cr3 = json.loads(vmic("info", "--json", ELF).stdout)["vcpus"][0]["cr3"]
    a = json.loads(vmic("translate", "--json", "--root", cr3, *PAGING, RAW,
                        hex(SYMS["linux_banner"])).stdout)
    b = json.loads(vmic("translate", "--json", ELF, hex(SYMS["linux_banner"])).stdout)
    assert a[0]["pa"] == b[0]["pa"] and a[0]["steps"] == b[0]["steps"]


@test
def translate_failure_says_where():
    p = vmic("translate", ELF, "0x0", rc=1)
    assert "not present at" in p.stdout, p.stdout
    # Just past the lower half of the guest's paging mode (47 or 56 bits).
    hole = "0x800000000000" if LEVELS == 4 else "0x100000000000000"
    j = json.loads(vmic("translate", "--json", ELF, hole, rc=1).stdout)
    assert j[0]["fault"] == "non-canonical", j


@test
def read_banner_by_va_and_pa():
    version = truth("version.txt").strip()
    raw = vmic("read", "--raw", ELF, hex(SYMS["linux_banner"]), str(len(version))).stdout
    assert raw == version, (raw, version)
    pa = json.loads(vmic("translate", "--json", ELF, hex(SYMS["linux_banner"])).stdout)[0]["pa"]
    j = json.loads(vmic("read", "--json", "--pa", RAW, pa, str(len(version))).stdout)
    assert bytes.fromhex(j["bytes"]).decode() == version
    assert j["space"] == "physical"


@test
def pagetable_covers_kernel_image_and_direct_map():
    code_start, code_end = iomem("Kernel code")
    d = json.loads(vmic("pagetable", "--json", "--kernel", ELF).stdout)
    maps = d["mappings"]
    assert all(not m["user"] for m in maps)
    text = SYMS["_text"]
    hit = [m for m in maps if int(m["va"], 16) <= text < int(m["va"], 16) + m["size"]]
    assert len(hit) == 1, hit
    m = hit[0]
    assert int(m["pa"], 16) + text - int(m["va"], 16) == code_start
    # Ranges are sorted and do not overlap.
    starts = [int(m["va"], 16) for m in maps]
    assert starts == sorted(starts)
    for a, b in zip(maps, maps[1:]):
        assert int(a["va"], 16) + a["size"] <= int(b["va"], 16)


@test
def read_in_a_process_by_pid():
    pid = MARKER["pid"]
    for where, key in (("heap", "heap_string"), ("data", "data_string"), ("stack", "stack_string")):
        want = STRINGS[key]
        for target in (RAW, ELF):
            got = vmic("read", "--raw", "--pid", pid, target, MARKER[where], str(len(want))).stdout
            assert got == want, (where, target, got)
    # The same bytes physically, where translate --pid says they are.
    t = json.loads(vmic("translate", "--json", "--pid", pid, RAW, MARKER["heap"]).stdout)[0]
    assert t["user"] is True and "w" in t["access"], t
    j = json.loads(vmic("read", "--json", "--pa", RAW, t["pa"], str(len(STRINGS["heap_string"]))).stdout)
    assert bytes.fromhex(j["bytes"]).decode() == STRINGS["heap_string"]
    # Its code is executable as user mode sees it: under KPTI only the user PGD
    # says so (the kernel PGD maps user pages NX).
    code = next(l.split()[0].split("-")[0] for l in truth("maps-marker.txt").splitlines()
                if l.split()[1] == "r-xp")
    t = json.loads(vmic("translate", "--json", "--pid", pid, ELF, "0x" + code).stdout)[0]
    assert t["user"] is True and t["access"] == "r-x", t
    table = vmic("translate", "--pid", pid, ELF, MARKER["stack"]).stdout
    assert f"pid {pid}" in table and "user" in table, table
    assert "kernel thread" in vmic("read", "--pid", "2", ELF, "0x1000", rc=1).stderr
    assert vmic("read", "--pa", "--pid", pid, ELF, "0x1000", rc=2).stderr


@test
def read_pa_across_end_of_ram():
    end = elf_ram_end()
    regions = json.loads(vmic("info", "--json", ELF).stdout)["regions"]
    ends = [int(r["start"], 16) + r["size"] for r in regions]
    assert end == max(e for e in ends if e != ROM_END), regions
    want = vmic("read", "--raw", "--pa", RAW, hex(end - 16), "16", binary=True).stdout
    for target in (RAW, ELF):
        p = vmic("read", "--pa", target, hex(end - 16), "64", rc=1)
        lines = p.stdout.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"{end - 16:016x}"), p.stdout
        assert f"stopped at {hex(end)} after 16 of 64 bytes" in p.stderr, p.stderr
        raw = vmic("read", "--raw", "--pa", target, hex(end - 16), "64", rc=1, binary=True).stdout
        assert raw == want and len(raw) == 16
        j = json.loads(vmic("read", "--json", "--pa", target, hex(end - 16), "16").stdout)
        assert bytes.fromhex(j["bytes"]) == want, (j, want)
        j = json.loads(vmic("read", "--json", "--pa", target, hex(end - 16), "64", rc=1).stdout)
        assert j["length"] == 16 and int(j["stopped_at"], 16) == end and j["error"], j


@test
def profile_accepted_by_memory_commands():
    if not os.path.exists(PROFILE):
        print(f"note: {PROFILE} absent (a fixture without the -dbg package): not checked")
        return
    version = truth("version.txt").strip()
    got = vmic("read", "--raw", "--profile", PROFILE, RAW, "linux_banner", str(len(version))).stdout
    assert got == version, got
    a = json.loads(vmic("translate", "--json", "--profile", PROFILE, RAW, "linux_banner").stdout)
    b = json.loads(vmic("translate", "--json", ELF, hex(SYMS["linux_banner"])).stdout)
    assert a[0]["va"] == b[0]["va"] and a[0]["pa"] == b[0]["pa"], (a, b)
    d = json.loads(vmic("pagetable", "--json", "--kernel", "--profile", PROFILE, RAW).stdout)
    assert any(int(m["va"], 16) <= SYMS["_text"] < int(m["va"], 16) + m["size"]
               for m in d["mappings"])
    k = json.loads(vmic("info", "--json", "--profile", PROFILE, ELF).stdout)["kernel"]
    assert k["banner"] == version and int(k["text"], 16) == SYMS["_text"] and k["symbols"] == "isf"


@test
def each_option_once_in_each_help():
    top = vmic("--help").stdout
    commands = re.findall(r"^  (\w+) +\S", top.split("Commands:")[1], re.M)
    assert len(commands) >= 15, commands
    for cmd in commands:
        out = vmic(cmd, "--help").stdout
        opts = re.findall(r"^ +(?:-\w, )?(--[\w-]+)", out, re.M)
        assert "--help" in opts, (cmd, opts)
        dup = sorted({o for o in opts if opts.count(o) > 1})
        assert not dup, f"vmic {cmd} --help lists {dup} more than once"


@test
def json_usage_errors_everywhere():
    top = vmic("--help").stdout
    commands = re.findall(r"^  (\w+) +\S", top.split("Commands:")[1], re.M)
    for cmd in commands:
        p = vmic(cmd, "--json", "--no-such-option", ELF, rc=2)
        err = json.loads(p.stdout)["error"]
        assert err["command"] == cmd and err["status"] == "usage" and err["exit"] == 2, (cmd, err)
        assert "--no-such-option" in err["message"], (cmd, err)


@test
def json_errors_on_stdout():
    for args, rc in ((("read", "--json", ELF, "0x0", "16"), 1), (("info", "--json", "/nonexistent"), 1),
                     (("translate", "--json", "--root", "xyz", ELF, "0x0"), 2),
                     (("pagetable", "--json", "--max-leaves", "0", ELF), 2)):
        p = vmic(*args, rc=rc)
        err = json.loads(p.stdout)["error"]
        assert err["command"] == args[0] and err["exit"] == rc, (args, err)
        assert err["message"] in p.stderr, (err, p.stderr)


@test
def bad_inputs_fail_cleanly():
    p = vmic("info", "/nonexistent/dump", rc=1)
    assert "/nonexistent/dump" in p.stderr
    empty = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"vmic-empty-{os.getpid()}")
    open(empty, "wb").close()
    try:
        p = vmic("info", empty, rc=1)
        assert "empty" in p.stderr, p.stderr
    finally:
        os.unlink(empty)
    assert "neither an address nor a symbol" in vmic("read", ELF, "nonsense", rc=1).stderr
    assert "not a physical address" in vmic("read", "--pa", ELF, "nonsense", rc=2).stderr
    assert vmic("info", "--format", "qcow2", ELF, rc=2).stderr


if __name__ == "__main__":
    sys.exit(cli_common.exit_status())

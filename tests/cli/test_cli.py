#!/usr/bin/env python3
"""The vmic command on a real dump, checked against the guest's own truth.

    test_cli.py VMIC_BINARY FIXTURE_DIR
"""
import json
import os
import sys

import cli_common
from cli_common import ELF, FIXTURE, RAW, kallsyms, test, truth, vmic


def iomem(name):
    for line in truth("iomem.txt").splitlines():
        rng, _, what = line.strip().partition(" : ")
        if what == name:
            return [int(x, 16) for x in rng.split("-")]
    raise AssertionError(f"{name} not in iomem")


SYMS = kallsyms()


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
    assert d["regions"][0]["start"] == "0x0" and d["regions"][0]["size"] == 256 << 20
    assert len(d["vcpus"]) == 1
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
    a = json.loads(vmic("translate", "--json", "--root", cr3, RAW, hex(SYMS["linux_banner"])).stdout)
    b = json.loads(vmic("translate", "--json", ELF, hex(SYMS["linux_banner"])).stdout)
    assert a[0]["pa"] == b[0]["pa"] and a[0]["steps"] == b[0]["steps"]


@test
def translate_failure_says_where():
    p = vmic("translate", ELF, "0x0", rc=1)
    assert "not present at" in p.stdout, p.stdout
    j = json.loads(vmic("translate", "--json", ELF, "0x800000000000", rc=1).stdout)
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
    assert vmic("read", ELF, "nonsense", rc=2).stderr
    assert vmic("info", "--format", "qcow2", ELF, rc=2).stderr


if __name__ == "__main__":
    sys.exit(cli_common.exit_status())

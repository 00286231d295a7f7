#!/usr/bin/env python3
"""vmic check on a real dump: nothing on the clean guest, and exactly the
hooks this test writes into a copy of its raw dump (getpid's entry pointed
into a loaded module, read's at init_task, which is data, not text),
found by what the test wrote, not by what vmic computed.

    test_cli_check.py VMIC_BINARY FIXTURE_DIR
"""
import json
import os
import shutil
import struct
import sys
import tempfile

import cli_common
from cli_common import ELF, RAW, kallsyms, paging_levels, test, truth, vmic

PAGING = ("--paging", str(paging_levels()))
SYMS = kallsyms()


def modules():
    out = {}
    for line in truth("modules.txt").splitlines():
        f = line.split()
        out[f[0]] = int(f[-1], 16)
    return out


def nr_of(name):
    table = json.loads(vmic("trace", "--list", "--json", ELF).stdout)
    return next(s["nr"] for s in table if s["name"] == name)


@test
def clean_guest_has_nothing():
    for dump, extra in ((ELF, ()), (RAW, PAGING)):
        p = vmic("check", "--json", *extra, dump)
        assert json.loads(p.stdout) == [], p.stdout
        p = vmic("check", *extra, dump)
        assert "0 of" in p.stderr and "entries outside the kernel's text" in p.stderr, p.stderr


@test
def written_hooks_are_found_exactly():
    mods = modules()
    name, base = sorted(mods.items())[0]
    hooks = {nr_of("getpid"): (base, "module " + name),
             nr_of("read"): (SYMS["init_task"], "outside the kernel's text and every module")}
    tr = json.loads(vmic("translate", "--json", ELF, hex(SYMS["sys_call_table"])).stdout)
    table_pa = int(tr[0]["pa"], 16)
    work = tempfile.mkdtemp(prefix="vmic-check-test.")
    try:
        copy = os.path.join(work, "hooked.raw")
        shutil.copyfile(RAW, copy)
        with open(copy, "r+b") as f:
            for nr, (addr, _) in hooks.items():
                # The table's 8-byte entries never straddle a page: pa + 8 nr
                # is in the same physical page run as the table's start.
                f.seek(table_pa + 8 * nr)
                f.write(struct.pack("<Q", addr))
        p = vmic("check", "--json", *PAGING, copy, rc=3)
        rows = json.loads(p.stdout)
        got = {r["nr"]: (int(r["handler"], 16), r["where"]) for r in rows}
        assert got == hooks, (got, hooks)
        assert {r["name"] for r in rows} == {"getpid", "read"}, rows
        p = vmic("check", *PAGING, copy, rc=3)
        assert "2 of" in p.stderr and "getpid" in p.stdout, p.stdout + p.stderr
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(cli_common.exit_status())

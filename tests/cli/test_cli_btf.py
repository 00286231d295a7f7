#!/usr/bin/env python3
"""The kernel's and the modules' BTF read from a dump, against the guest's
own /sys/kernel/btf (truth/btf.txt: name, size and sha256 of each file, as
the guest served them), and modules' types against pahole:

  blobs      vmic dump --btf writes vmlinux.btf and module-NAME.btf for every
             module the guest had BTF for, each byte for byte the guest's
  types      vmic type on a module's struct (found in the module's BTF, and
             asked as MODULE:STRUCT) gives every member's offset, size and
             name as pahole reads them from those files (pahole's own
             reader, with vmlinux.btf as the base)
  absent     a module that is not loaded, a type no module has: clear errors

    test_cli_btf.py VMIC_BINARY FIXTURE_DIR
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import cli_common
from cli_common import ELF, RAW, has_truth, paging_levels, test, truth, vmic

if not has_truth("btf.txt"):
    print("skip: this fixture has no truth/btf.txt (older than its make-fixture.sh)")
    sys.exit(77)
PAGING = ("--paging", str(paging_levels()))


def guest_btf():
    """{name: (size, sha256)} of the guest's /sys/kernel/btf."""
    out = {}
    for line in truth("btf.txt").splitlines():
        name, size, digest = line.split()
        out[name] = (int(size), digest)
    return out


def dump_btf(work, target, *extra, module=None):
    args = ["dump", "--json", *extra, target, "--btf", "-o", work]
    if module:
        args[1:1] = ["--module", module]
    rows = json.loads(vmic(*args).stdout)
    assert len(rows) == 1 and rows[0]["perms"] == "btf", rows
    with open(os.path.join(work, rows[0]["file"]), "rb") as f:
        data = f.read()
    assert rows[0]["size"] == len(data), rows
    return rows[0]["file"], data


@test
def blobs_are_the_guests():
    want = guest_btf()
    assert "vmlinux" in want and len(want) >= 2, want
    work = tempfile.mkdtemp(prefix="vmic-btf-test.")
    try:
        for target, extra in ((ELF, ()), (RAW, PAGING)):
            for name, (size, digest) in want.items():
                module = None if name == "vmlinux" else name
                file, data = dump_btf(work, target, *extra, module=module)
                assert file == (f"module-{name}.btf" if module else "vmlinux.btf"), file
                assert (len(data), hashlib.sha256(data).hexdigest()) == (size, digest), \
                    (target, name, len(data), size)
    finally:
        shutil.rmtree(work)


def pahole_members(work, module, struct):
    """[(offset, size, name)] of struct in the module's BTF, as pahole reads it."""
    p = subprocess.run(["pahole", "-F", "btf", "--btf_base", os.path.join(work, "vmlinux.btf"),
                        "-C", struct, os.path.join(work, f"module-{module}.btf")],
                       capture_output=True, text=True, timeout=60, check=True)
    out = []
    for line in p.stdout.splitlines():
        # s_es_lock __attribute__((__aligned__(64))): one level of nesting
        line = re.sub(r"\s*__attribute__\(\((?:[^()]|\([^()]*\))*\)\)", "", line)
        m = re.match(r"\s+(.*?)\s*;\s*/\*\s+(\d+)(?::\d+)?\s+(\d+)\s+\*/", line)
        if m and not line.startswith("\t\t"):  # the outer struct's own members
            name = re.split(r"[\s*]+", m.group(1).split("[")[0].split(":")[0].strip())[-1]
            out.append((int(m.group(2)), int(m.group(3)), name))
    return out


# A struct each fixture's modules define (scripts/make-fixture.sh loads minix;
# the distribution guest has ext4; the cloud kernel ships neither, and its
# dummy and nls_cp437 define no struct of their own: the blobs are checked
# there, the layout is not).
MODULE_STRUCTS = (("minix", "minix_sb_info"), ("ext4", "ext4_sb_info"))


@test
def module_types_equal_pahole():
    have = guest_btf()
    pairs = [(m, s) for m, s in MODULE_STRUCTS if m in have]
    if not pairs:
        assert "minix" not in have and "ext4" not in have, sorted(have)
        print(f"     (no module of {[m for m, _ in MODULE_STRUCTS]} here: layout not checked)")
        return
    if shutil.which("pahole") is None:
        raise AssertionError("pahole (dwarves) is not installed")
    work = tempfile.mkdtemp(prefix="vmic-btf-test.")
    try:
        dump_btf(work, ELF)
        for module, struct in pairs:
            dump_btf(work, ELF, module=module)
            want = pahole_members(work, module, struct)
            assert len(want) >= 10, (struct, want)
            for query in (struct, f"{module}:{struct}"):
                got = json.loads(vmic("type", "--json", ELF, query).stdout)[0]
                assert got["module"] == module and got["name"] == struct, got
                top = [(m["offset"], m["size"], m["name"]) for m in got["members"]
                       if m["depth"] == 0 and m["name"]]
                assert top == [w for w in want if w[2]], (query, top[:5], want[:5])
            table = vmic("type", ELF, struct).stdout.splitlines()[0]
            assert table.startswith(f"struct {struct} (") and \
                table.endswith(f"bytes, from btf of module {module})"), table
            f = json.loads(vmic("type", "--json", ELF,
                                f"{module}:{struct}.{want[1][2]}").stdout)[0]
            assert (f["offset"], f["size"]) == want[1][:2], (f, want[1])
    finally:
        shutil.rmtree(work)


@test
def absent_modules_and_types_are_clear_errors():
    p = vmic("type", "--json", ELF, "vmic_no_such_module:task_struct", "task_struct.pid", rc=1)
    bad, good = json.loads(p.stdout)
    assert bad["query"] == "vmic_no_such_module:task_struct" and bad["status"] == "not found" \
        and "module vmic_no_such_module is not loaded, or has no BTF" in bad["error"], bad
    assert good["name"] == "task_struct.pid" and "module" not in good, good
    p = vmic("type", ELF, "vmic_no_such_struct", rc=1)
    assert "no struct or union 'vmic_no_such_struct'" in p.stderr, p.stderr
    p = vmic("dump", ELF, "--btf", "--module", "vmic_no_such_module", "-o",
             tempfile.gettempdir(), rc=1)
    assert "not loaded, or has no BTF" in p.stderr, p.stderr
    # The kernel's own types still come first: no module lookup for them.
    got = json.loads(vmic("type", "--json", ELF, "task_struct").stdout)[0]
    assert "module" not in got and got["name"] == "task_struct", got


if __name__ == "__main__":
    sys.exit(cli_common.exit_status())

#!/usr/bin/env python3
"""issue 15's process commands of vmic (pstree, ps --threads, files of every
process, malfind, dump) on a real dump, checked against the guest's own
truth: /proc as the fixture's /init saw it (procs, threads-all,
fds-marker, fds-all, maps-marker), what the marker printed (marker.txt: the
addresses of its strings and of its two code regions), the bytes the marker
binary holds (marker-strings.txt, FIXTURE/vmic-marker) and the modules'
own .ko files.

    test_cli_proc.py VMIC_BINARY FIXTURE_DIR

With VMIC_TEST_TARGET set (tests/qemu/test_proc_live.py sets it to a live
qemu:DIR, and FIXTURE_DIR to the truth that guest wrote as it booted) the
same checks run on that target instead of the fixture's two dumps.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import cli_common
from cli_common import ELF, FIXTURE, RAW, has_truth, paging_levels, test, truth, vmic

# The targets to check: both dumps of the fixture, or one live guest.
TARGETS = [os.environ["VMIC_TEST_TARGET"]] if os.environ.get("VMIC_TEST_TARGET") else [RAW, ELF]
RAW, ELF = TARGETS[0], TARGETS[-1]

MARKER = dict(kv.split("=") for kv in truth("marker.txt").split())
MARKER_PID = int(MARKER["pid"])
STRINGS = dict(l.split("=", 1) for l in truth("marker-strings.txt").splitlines())
WORK = tempfile.mkdtemp(prefix="vmic-proc-test.")


def procs():
    out = {}
    for line in truth("procs.txt").splitlines():
        f = line.split("\t")
        out[int(f[0])] = {"ppid": int(f[1]), "comm": f[2]}
    return out


def same_comm(got, want):
    """task->comm against /proc's name: for a kernel thread /proc shows more
    (its full name, a workqueue worker's current queue), task->comm its
    first 15 bytes."""
    return got == want or (len(got) == 15 and want.startswith(got)) or \
        (got.startswith("kworker/") and want.startswith(got + "-"))


def ps(target):
    return {p["pid"]: p for p in json.loads(vmic("ps", "--json", target).stdout)}


# ---- pstree ---------------------------------------------------------------------

@test
def pstree_is_the_parent_tree():
    want = procs()
    for target in TARGETS:
        rows = json.loads(vmic("pstree", "--json", target).stdout)
        listed = ps(target)
        # Each process once, and the same ones ps lists.
        assert sorted(r["pid"] for r in rows) == sorted(listed), rows
        stack = []  # the chain of ancestors of the current row: pre-order
        for r in rows:
            del stack[r["depth"]:]
            assert len(stack) == r["depth"], (r, stack)
            if r["depth"]:
                assert stack[-1] == r["ppid"], (r, stack)
            else:
                assert r["pid"] == 0 or r.get("orphan"), r
            stack.append(r["pid"])
            assert r["ppid"] == listed[r["pid"]]["ppid"], r
            if r["pid"] in want:
                w = want[r["pid"]]
                assert r["ppid"] == w["ppid"] and same_comm(r["comm"], w["comm"]), (r, w)
        depth = {r["pid"]: r["depth"] for r in rows}
        assert depth[0] == 0 and depth[1] == 1 and depth[2] == 1, depth
        assert depth[MARKER_PID] == 2, depth[MARKER_PID]
        assert not any(r.get("orphan") for r in rows), [r for r in rows if r.get("orphan")]
    table = vmic("pstree", RAW).stdout.splitlines()
    assert table[0].split() == ["PID", "PPID", "THR", "TREE"], table[0]
    line = next(l for l in table if l.split()[0] == str(MARKER_PID))
    assert line.endswith("    \\_ vmic-marker") and line.split()[2] == "3", line


# ---- ps --threads -----------------------------------------------------------------

def threads_truth():
    """{pid: {(tid, comm)}} of every process, or None on an older fixture."""
    if not has_truth("threads-all.txt"):
        return None
    out = {}
    for line in truth("threads-all.txt").splitlines():
        pid, tid, comm = line.split(" ", 2)
        out.setdefault(int(pid), set()).add((int(tid), comm))
    return out


@test
def ps_threads_every_thread():
    want = threads_truth()
    marker = {(int(t), c) for t, c in (l.split(" ", 1) for l in
                                        truth("threads-marker.txt").splitlines())}
    for target in TARGETS:
        got = {}
        for t in json.loads(vmic("ps", "--threads", "--json", target).stdout):
            got.setdefault(t["tgid"], set()).add((t["tid"], t["comm"]))
        listed = ps(target)
        assert sorted(got) == sorted(listed), (sorted(got), sorted(listed))
        for pid, p in listed.items():
            assert len(got[pid]) == p["threads"], (pid, got[pid], p["threads"])
        assert got[MARKER_PID] == marker, (got[MARKER_PID], marker)
        if want is None:
            print("note: no truth/threads-all.txt in this fixture (older make-fixture.sh): "
                  "only the marker's threads checked")
            continue
        both = [pid for pid in want if pid in got]
        # Only the truth's short-lived helpers (its own cat/awk) may be gone.
        assert len(both) >= len(want) - 6, (sorted(want), sorted(got))
        for pid in both:
            g, w = sorted(got[pid]), sorted(want[pid])
            assert [t for t, _ in g] == [t for t, _ in w], (pid, g, w)
            assert all(same_comm(a[1], b[1]) for a, b in zip(g, w)), (pid, g, w)
    table = vmic("ps", "--threads", RAW).stdout.splitlines()
    assert table[0].split()[:2] == ["TID", "PID"], table[0]
    assert any(l.split()[:2] == [t, str(MARKER_PID)] and l.endswith("vmic-worker-1")
               for l in table for t in [l.split()[0]]), table


# ---- files of every process ---------------------------------------------------------

@test
def files_all_names_as_proc():
    want = [tuple(l.split(" ", 1)) for l in truth("fds-marker.txt").splitlines()]
    paths = [p for _, p in want]
    # The fixture's marker holds each kind /proc names by itself.
    assert any(p.startswith("pipe:[") for p in paths), paths
    assert "anon_inode:[eventfd]" in paths, paths
    assert any(p.endswith(" (deleted)") for p in paths), paths
    assert any(p.startswith("socket:[") for p in paths), paths
    assert "anon_inode:[pidfd]" in paths, paths
    assert any(p.startswith("net:[") for p in paths), paths
    for target in TARGETS:
        rows = json.loads(vmic("files", "--json", target).stdout)
        mine = [(str(f["fd"]), f["path"]) for f in rows if f["pid"] == MARKER_PID]
        assert mine == want, (mine, want)
        assert all(f["comm"] == "vmic-marker" for f in rows if f["pid"] == MARKER_PID)
        one = json.loads(vmic("files", "--json", target, str(MARKER_PID)).stdout)
        assert [(f["fd"], f["path"], f["inode"]) for f in one] == \
            [(f["fd"], f["path"], f["inode"]) for f in rows if f["pid"] == MARKER_PID]
        # Every process of ps is asked; kernel threads have no files.
        pids = {f["pid"] for f in rows}
        assert {1, MARKER_PID} <= pids, pids
        assert not pids - set(ps(target)), pids
    table = vmic("files", RAW).stdout.splitlines()
    assert table[0].split()[:3] == ["PID", "COMMAND", "FD"], table[0]
    efd = next(fd for fd, p in want if p == "anon_inode:[eventfd]")
    assert any(l.split()[:3] == [str(MARKER_PID), "vmic-marker", efd] and
               l.endswith("  anon_inode:[eventfd]") for l in table), table


def forged(task, field, value):
    """A copy of the raw dump with task's field (a task_struct member) set to
    the 8-byte value; None on a live target, which is not ours to write."""
    if os.environ.get("VMIC_TEST_TARGET"):
        print(f"note: a live guest is not ours to write: the forged {field} case runs on "
              "dumps only")
        return None
    if os.path.getsize(RAW) > 1 << 30:
        print(f"note: the forged {field} case runs on dumps up to 1 GiB (a copy of this one "
              f"would write {os.path.getsize(RAW) >> 30} GiB)")
        return None
    root = json.loads(vmic("banner", "--json", RAW).stdout)["root"]
    off = json.loads(vmic("type", "--json", RAW, "task_struct." + field).stdout)[0]["offset"]
    pa = int(json.loads(vmic("translate", "--json", "--root", root, "--paging",
                             str(paging_levels()), RAW, hex(task + off)).stdout)[0]["pa"], 16)
    path = os.path.join(WORK, f"forged-{field}.raw")
    shutil.copyfile(RAW, path)
    with open(path, "r+b") as f:
        f.seek(pa)
        f.write(struct.pack("<Q", value))
    return path


@test
def files_all_goes_on_past_a_broken_process():
    """The marker's files pointer forged: its files are missing, the others'
    are all there, and vmic says which process failed and exits 1."""
    listed = ps(RAW)
    broken = forged(int(listed[MARKER_PID]["task"], 16), "files", 0x4141414141414141)
    if not broken:
        return
    whole = json.loads(vmic("files", "--json", RAW).stdout)
    p = vmic("files", "--json", broken, rc=1)
    got = json.loads(p.stdout)
    # Every other process's files, those after the marker in the task list too.
    assert got == [f for f in whole if f["pid"] != MARKER_PID], (got, whole)
    assert {1, MARKER_PID} & {f["pid"] for f in got} == {1}, got
    assert f"pid {MARKER_PID}" in p.stderr and "incomplete" in p.stderr, p.stderr
    os.unlink(broken)


@test
def pstree_survives_a_loop_of_parents():
    """init's real_parent forged to be the marker, its own child: a loop no
    root reaches. Every process is still shown once, init flagged."""
    listed = ps(RAW)
    broken = forged(int(listed[1]["task"], 16), "real_parent",
                    int(listed[MARKER_PID]["task"], 16))
    if not broken:
        return
    rows = json.loads(vmic("pstree", "--json", broken).stdout)
    assert sorted(r["pid"] for r in rows) == sorted(listed), rows
    init = next(r for r in rows if r["pid"] == 1)
    assert init["ppid"] == MARKER_PID and init["orphan"] and init["depth"] == 0, init
    marker = next(r for r in rows if r["pid"] == MARKER_PID)
    assert marker["depth"] == 1 and not marker["orphan"], marker
    assert [r["pid"] for r in rows if r["orphan"]] == [1], rows
    assert "(parent not in the tree)" in vmic("pstree", broken).stdout
    os.unlink(broken)


@test
def files_all_match_every_proc_fd():
    if not has_truth("fds-all.txt"):
        print("note: no truth/fds-all.txt in this fixture: every process's files are not "
              "checked against /proc/*/fd, only the marker's")
        return
    want = {}
    for line in truth("fds-all.txt").splitlines():
        pid, fd, target = line.split(" ", 2)
        want.setdefault(int(pid), []).append((int(fd), target))
    rows = json.loads(vmic("files", "--json", ELF).stdout)
    got = {}
    for f in rows:
        got.setdefault(f["pid"], []).append((f["fd"], f["path"]))
    listed = ps(ELF)
    both = [pid for pid in want if pid in listed]
    assert len(both) >= len(want) - 6, (sorted(want), sorted(listed))
    for pid in both:
        assert sorted(got.get(pid, [])) == sorted(want[pid]), (pid, got.get(pid), want[pid])


# ---- malfind --------------------------------------------------------------------------

def have_capstone():
    """Whether this vmic disassembles. A host with capstone must have built
    it in, unless the build was told not to (VMIC_NO_CAPSTONE=1 from a
    -DVMIC_CAPSTONE=OFF build tests the fallback)."""
    built = "disassembles with capstone" in vmic("malfind", "--help").stdout
    on_host = subprocess.run(["pkg-config", "--exists", "capstone"]).returncode == 0
    if on_host and not built:
        assert os.environ.get("VMIC_NO_CAPSTONE") == "1", \
            "capstone is installed but this vmic was built without it"
    return built


# What marker.c writes into its two regions, as capstone names it.
MNEMONICS = {"rwx": ["push", "mov", "xor", "nop", "pop", "ret"],
             "rx": ["push", "mov", "mov", "pop", "ret"]}


@test
def malfind_finds_the_marker_code_only():
    rwx, rx = int(MARKER["rwx"], 16), int(MARKER["rx"], 16)
    maps = truth("maps-marker.txt")
    assert f"{rwx:x}-" in maps and f"{rx:x}-" in maps, "marker regions not in maps-marker"
    for target in TARGETS:
        hits = json.loads(vmic("malfind", "--json", target).stdout)
        # No false positive: the sleepers, init and the shell (static busybox
        # and the marker binary: file-backed code only) have none.
        assert sorted((h["pid"], int(h["start"], 16)) for h in hits) == \
            sorted([(MARKER_PID, rx), (MARKER_PID, rwx)]), hits
        for h in hits:
            key = "rwx" if int(h["start"], 16) == rwx else "rx"
            code = STRINGS[f"{key}_code"]
            assert h["perms"] == ("rwxp" if key == "rwx" else "r-xp"), h
            assert int(h["end"], 16) - int(h["start"], 16) == 4096, h
            assert h["comm"] == "vmic-marker" and h["path"] == "" and h["present"], h
            assert h["anonymous_exec"] and h["writable_exec"] == (key == "rwx"), h
            # A fresh anonymous page: the code, then zeros.
            assert h["bytes"] == code + "0" * (128 - len(code)), (h["bytes"], code)
            if have_capstone():
                got = [i["mnemonic"] for i in h["disasm"]][:len(MNEMONICS[key])]
                assert got == MNEMONICS[key], (got, key)
                assert h["disasm"][1]["operands"] == "rbp, rsp", h["disasm"][1]
                assert int(h["disasm"][0]["addr"], 16) == int(h["start"], 16)
            else:
                assert h["disasm"] is None and "libcapstone-dev" in h["disasm_note"], h
    out = vmic("malfind", RAW).stdout
    assert f"pid {MARKER_PID} vmic-marker  {rwx:016x}-" in out, out
    assert "55 48 89 e5 31 c0 90 5d c3 00" in out, out
    if have_capstone():
        assert "push rbp" in out and "mov rbp, rsp" in out and "mov eax, 0x2a" in out, out
    else:
        assert "disassembly needs libcapstone-dev" in out, out
    # --pid: one process; a sleeper has nothing.
    one = json.loads(vmic("malfind", "--json", "--pid", str(MARKER_PID), ELF).stdout)
    assert len(one) == 2, one
    sleeper = next(p for p, v in ps(RAW).items() if v["comm"] == "vmic-sleeper-a")
    assert json.loads(vmic("malfind", "--json", "--pid", str(sleeper), RAW).stdout) == []
    assert "nothing found" in vmic("malfind", "--pid", str(sleeper), RAW).stdout


# ---- dump ---------------------------------------------------------------------------------

def data_extents(path):
    """[(offset, end)] of the data (not holes) of a file."""
    out = []
    fd = os.open(path, os.O_RDONLY)
    try:
        size, at = os.fstat(fd).st_size, 0
        while at < size:
            try:
                start = os.lseek(fd, at, os.SEEK_DATA)
            except OSError:
                break
            end = os.lseek(fd, start, os.SEEK_HOLE)
            out.append((start, end))
            at = end
    finally:
        os.close(fd)
    return out


def dump(*args):
    out = os.path.join(WORK, "d%d" % len(os.listdir(WORK)))
    files = json.loads(vmic("dump", "--json", *args, "-o", out).stdout)
    return out, files


@test
def dump_regions_hold_the_marker_strings():
    for target in TARGETS:
        out, files = dump(target, "--pid", str(MARKER_PID))
        maps = [l.split()[0].split("-") for l in truth("maps-marker.txt").splitlines()]
        maps = [(int(a, 16), int(b, 16)) for a, b in maps]
        # One file per region (the gate page [vsyscall] is no VMA).
        assert [(int(f["start"], 16), int(f["end"], 16)) for f in files] == \
            [r for r in maps if r[0] < 1 << 56], files
        for key in ("heap", "data", "stack"):
            va = int(MARKER[key], 16)
            f = next(f for f in files if int(f["start"], 16) <= va < int(f["end"], 16))
            with open(os.path.join(out, f["file"]), "rb") as fh:
                fh.seek(va - int(f["start"], 16))
                s = STRINGS[f"{key}_string"].encode()
                assert fh.read(len(s)) == s, (key, f)
        # Sparse: the size is the region's, the data only the present pages.
        for f in files:
            path = os.path.join(out, f["file"])
            assert os.path.getsize(path) == f["size"] == int(f["end"], 16) - int(f["start"], 16)
            data = sum(b - a for a, b in data_extents(path))
            assert data == f["present"], (f, data_extents(path))
        stack = next(f for f in files if f["source"] == "[stack]")
        assert stack["present"] < stack["size"], stack  # a stack is never all touched
        listing = open(os.path.join(out, "listing.txt")).read().splitlines()
        assert [l.split()[0] for l in listing] == [f["file"] for f in files], listing
    # --range: the page of the heap string alone.
    heap = int(MARKER["heap"], 16)
    lo = heap & ~0xfff
    out, files = dump(RAW, "--pid", str(MARKER_PID), "--range", f"{lo:x}-{lo + 0x1000:x}")
    assert [(int(f["start"], 16), f["size"]) for f in files] == [(lo, 4096)], files
    with open(os.path.join(out, files[0]["file"]), "rb") as fh:
        fh.seek(heap - lo)
        assert fh.read(len(STRINGS["heap_string"])) == STRINGS["heap_string"].encode()


def entry_offset(elf, entry):
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    for i in range(phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from(
            "<IIQQQQ", elf, phoff + i * phentsize)
        if p_type == 1 and p_vaddr <= entry < p_vaddr + p_filesz:
            return p_offset + entry - p_vaddr
    raise AssertionError(f"entry {entry:#x} in no PT_LOAD")


def writable_loads(elf):
    """File ranges of the writable PT_LOAD segments (private copies may differ)."""
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    out = []
    for i in range(phnum):
        p_type, p_flags, p_offset, _, _, p_filesz = struct.unpack_from(
            "<IIQQQQ", elf, phoff + i * phentsize)
        if p_type == 1 and p_flags & 2:
            out.append((p_offset & ~0xfff, (p_offset + p_filesz + 0xfff) & ~0xfff))
    return out


@test
def dump_exe_is_the_marker_binary():
    host = open(os.path.join(FIXTURE, "vmic-marker"), "rb").read()
    for target in TARGETS:
        out, files = dump(target, "--pid", str(MARKER_PID), "--exe")
        assert len(files) == 1 and files[0]["source"] == "/bin/vmic-marker", files
        code = [l.split()[0].split("-") for l in truth("maps-marker.txt").splitlines()
                if l.endswith("/bin/vmic-marker")]
        assert (int(files[0]["start"], 16), int(files[0]["end"], 16)) == \
            (int(code[0][0], 16), int(code[-1][1], 16)), (files, code)
        path = os.path.join(out, files[0]["file"])
        got = open(path, "rb").read()
        # The ELF header parses: a static x86-64 executable, its entry in it.
        assert got[:4] == b"\x7fELF" and got[4] == 2 and got[5] == 1, got[:16]
        e_type, e_machine = struct.unpack_from("<HH", got, 16)
        assert (e_type, e_machine) == (2, 62), (e_type, e_machine)
        assert got[:64] == host[:64]
        rw = writable_loads(host)
        compared = 0
        for a, b in data_extents(path):
            for off in range(a, b, 4096):
                if off >= len(host) or any(lo <= off < hi for lo, hi in rw):
                    continue
                n = min(4096, len(host) - off)
                assert got[off:off + n] == host[off:off + n], f"page at file offset {off:#x}"
                compared += 1
        assert compared >= 16, compared
        # The page of the entry point is there and is the file's.
        entry, = struct.unpack_from("<Q", host, 0x18)
        off = entry_offset(host, entry) & ~0xfff
        assert any(a <= off < b for a, b in data_extents(path)), (hex(entry), data_extents(path))
        assert got[off:off + 4096] == host[off:off + 4096]
        assert files[0]["present"] <= files[0]["size"] <= len(host) + 4096, files


def ko_strings(path):
    """Strings of 6+ bytes in the .rodata.str* sections of a .ko."""
    elf = open(path, "rb").read()
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3a)
    secs = [struct.unpack_from("<IIQQQQ", elf, shoff + i * shentsize) for i in range(shnum)]
    names_off = secs[shstrndx][4]
    out = []
    for sh_name, _, _, _, off, size in secs:
        name = elf[names_off + sh_name:elf.index(b"\0", names_off + sh_name)]
        if name.startswith(b".rodata.str"):
            out += [s + b"\0" for s in elf[off:off + size].split(b"\0") if len(s) >= 6]
    return out


@test
def dump_module_is_its_memory():
    checked = 0
    for line in truth("modules.txt").splitlines():
        name, size, base = line.split()[0], int(line.split()[1]), int(line.split()[5], 16)
        out, files = dump(RAW, "--module", name)
        assert int(files[0]["start"], 16) == base, (files, base)
        assert sum(f["size"] for f in files) == size, (files, size)
        data = b"".join(open(os.path.join(out, f["file"]), "rb").read() for f in files)
        # The module's strings as its .ko holds them (not relocated).
        strings = ko_strings(os.path.join(FIXTURE, "modules", name + ".ko"))
        checked += len(strings)
        for s in strings:
            assert s in data, (name, s)
        assert (name.encode() + b"\0") in data, name  # struct module's name
    assert checked >= 1, checked  # dummy has "dummy%d", minix more


@test
def dump_bad_inputs_fail_cleanly():
    assert "-o DIR" in vmic("dump", RAW, "--pid", "1", rc=2).stderr
    assert "either --pid" in vmic("dump", RAW, "-o", WORK, rc=2).stderr
    assert "--range wants" in vmic("dump", RAW, "--pid", "1", "--range", "zz", "-o", WORK,
                                   rc=2).stderr
    assert "kernel thread" in vmic("dump", RAW, "--pid", "2", "-o", WORK, rc=1).stderr
    assert "no module named" in vmic("dump", RAW, "--module", "nosuch", "-o", WORK, rc=1).stderr
    assert "has no memory in 1000-2000" in vmic("dump", RAW, "--pid", "1", "--range", "1000-2000",
                                                "-o", WORK, rc=1).stderr
    err = json.loads(vmic("malfind", "--json", "--pid", "99999", RAW, rc=1).stdout)["error"]
    assert err["command"] == "malfind" and "99999" in err["message"], err
    for cmd in ("pstree", "malfind", "dump"):
        assert vmic(cmd, "--help").stdout.startswith(f"usage: vmic {cmd}")
        assert cmd in vmic("--help").stdout
    assert "--threads" in vmic("ps", "--help").stdout


if __name__ == "__main__":
    status = cli_common.exit_status()
    shutil.rmtree(WORK, ignore_errors=True)
    sys.exit(status)

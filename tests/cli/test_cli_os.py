#!/usr/bin/env python3
"""The guest-OS commands of vmic (ps, threads, modules, maps, files, dmesg,
banner, sym, type) on a real dump, checked against the guest's own truth.

    test_cli_os.py VMIC_BINARY FIXTURE_DIR
"""
import json
import os
import re
import sys

import cli_common
from cli_common import (ELF, FIXTURE, RAW, has_truth, kallsyms, kallsyms_lines, module_kallsyms,
                        paging_levels, test, truth, vmic)

PROFILE = os.path.join(FIXTURE, "profile.json.xz")
COMMANDS = ("ps", "threads", "modules", "maps", "files", "dmesg", "banner", "sym", "type")
SYMS = kallsyms()
MODSYMS = module_kallsyms()
MARKER = dict(kv.split("=") for kv in truth("marker.txt").split())
MARKER_PID = MARKER["pid"]


def procs():
    out = {}
    for line in truth("procs.txt").splitlines():
        f = line.split("\t")
        out[int(f[0])] = {"ppid": int(f[1]), "comm": f[2], "cmdline": f[3] if len(f) > 3 else ""}
    return out


@test
def help_everywhere():
    top = vmic("--help").stdout
    for cmd in COMMANDS:
        assert cmd in top, cmd
        out = vmic(cmd, "--help").stdout
        assert out.startswith(f"usage: vmic {cmd}"), out
        assert "--json" in out and "--profile" in out, f"{cmd} --help lacks --json/--profile"


@test
def ps_json_matches_guest():
    truth_procs = procs()
    for target in (RAW, ELF):
        got = {p["pid"]: p for p in json.loads(vmic("ps", "--json", target).stdout)}
        assert got[0]["comm"] == "swapper/0"
        for pid, t in truth_procs.items():
            if pid not in got:
                continue  # an exited helper (test_os_real checks which may go)
            assert got[pid]["ppid"] == t["ppid"], (pid, got[pid], t)
            if t["cmdline"]:
                assert got[pid]["cmdline"] == t["cmdline"], (got[pid]["cmdline"], t["cmdline"])
        for pid in ("vmic-marker", "vmic-sleeper-a", "vmic-sleeper-b"):
            assert any(p["comm"] == pid for p in got.values()), pid
        assert sum(1 for pid in truth_procs if pid in got) >= len(truth_procs) - 6


@test
def ps_table_lists_marker_with_args():
    out = vmic("ps", RAW).stdout
    line = next(l for l in out.splitlines() if l.split()[0] == MARKER_PID)
    assert line.rstrip().endswith("/bin/vmic-marker"), line
    assert "second-arg third arg with spaces" in out


@test
def threads_of_marker():
    got = json.loads(vmic("threads", "--json", ELF, MARKER_PID).stdout)
    want = sorted(tuple(l.split(" ", 1)) for l in truth("threads-marker.txt").splitlines())
    assert sorted((str(t["tid"]), t["comm"]) for t in got) == want, (got, want)


@test
def modules_match_proc_modules():
    got = json.loads(vmic("modules", "--json", RAW).stdout)
    want = [l.split() for l in truth("modules.txt").splitlines()]
    assert [(m["name"], m["size"], m["refcount"], int(m["base"], 16)) for m in got] == \
        [(w[0], int(w[1]), int(w[2]), int(w[5], 16)) for w in want]
    # autofs4 is held by /init's automount (make-fixture.sh): a count of 1.
    assert any(int(w[2]) > 0 for w in want), want


@test
def maps_match_proc_maps():
    out = vmic("maps", ELF, MARKER_PID).stdout
    squeeze = lambda s: [re.sub(r" +", " ", l).strip() for l in s.splitlines()]
    assert squeeze(out) == squeeze(truth("maps-marker.txt")), out


@test
def files_match_proc_fd():
    got = json.loads(vmic("files", "--json", ELF, MARKER_PID).stdout)
    want = [tuple(l.split(" ", 1)) for l in truth("fds-marker.txt").splitlines()]
    assert [(str(f["fd"]), f["path"]) for f in got] == want, (got, want)


@test
def files_flags_and_pos_match_fdinfo():
    got = {f["fd"]: f for f in json.loads(vmic("files", "--json", ELF, MARKER_PID).stdout)}
    table = vmic("files", RAW, MARKER_PID).stdout.splitlines()[1:]
    if not has_truth("fdinfo-marker.txt"):
        print("note: no truth/fdinfo-marker.txt in this fixture (older make-fixture.sh): "
              "fd flags and positions not checked against /proc/PID/fdinfo")
        return
    want = [l.split() for l in truth("fdinfo-marker.txt").splitlines()]
    assert len(want) == len(got) == len(table), (want, got)
    for (fd, pos, flags), line in zip(want, table):
        f = got[int(fd)]
        assert (f["pos"], f["flags"]) == (int(pos), int(flags, 8)), (fd, pos, flags, f)
        cols = line.split()
        assert (cols[0], int(cols[1], 8), cols[2]) == (fd, int(flags, 8), pos), (line, fd)
    # Not all zero: the marker's stdout has been written to (fdinfo says where).
    assert any(int(pos) for _, pos, _ in want) and any(int(fl, 8) for _, _, fl in want)


@test
def dmesg_ends_like_guest():
    # The fixture's dmesg is busybox's: the kernel's syslog(2) text, every
    # line of a record after its timestamp (util-linux indents continuation
    # lines instead: the default, checked below against the records).
    syslog = vmic("dmesg", "--syslog", RAW).stdout
    guest = truth("dmesg.txt")
    # All of the guest's dmesg, byte for byte (tabs too), in one piece: the
    # ring buffer may only have grown since.
    assert guest in syslog, [l for l in guest.splitlines() if l not in syslog.splitlines()][:3]
    assert "\t" in guest or "\t" not in syslog
    out = vmic("dmesg", RAW).stdout
    records = json.loads(vmic("dmesg", "--json", ELF).stdout)
    assert len(records) > 100 and all(0 <= r["level"] <= 7 for r in records)
    # One line per line of each record's text: the first after the record's
    # timestamp, continuation lines indented as far (as util-linux dmesg).
    lines = out.splitlines()
    assert len(lines) == sum(r["text"].count("\n") + 1 for r in records)
    at = 0
    for r in records:
        ts = f"[{r['ts_nsec'] // 10**9:5d}.{r['ts_nsec'] % 10**9 // 1000:06d}] "
        for i, part in enumerate(r["text"].split("\n")):
            want = (ts if i == 0 else " " * len(ts)) + part
            assert lines[at] == want, (lines[at], want)
            at += 1


@test
def banner_is_proc_version():
    version = truth("version.txt").strip()
    assert vmic("banner", RAW).stdout.splitlines()[0] == version
    j = json.loads(vmic("banner", "--json", ELF).stdout)
    assert j["banner"] == version and int(j["text"], 16) == SYMS["_text"]
    assert j["root_source"] == "vCPU 0 CR3" and j["symbols"] == "kallsyms" and j["types"] == "btf"
    assert int(j["btf"], 16) == SYMS["__start_BTF"]


@test
def banner_cpus_same_on_elf_and_raw():
    # The task each CPU runs, from memory alone: the raw dump, which has no
    # registers, must say what the ELF dump says.
    elf = json.loads(vmic("banner", "--json", ELF).stdout)["cpus"]
    raw = json.loads(vmic("banner", "--json", RAW).stdout)["cpus"]
    assert elf == raw and len(elf) >= 1, (elf, raw)
    assert [c["cpu"] for c in elf] == list(range(len(elf)))
    assert all(c["comm"] and "error" not in c for c in elf), elf
    line = next(l for l in vmic("banner", RAW).stdout.splitlines() if l.startswith("cpus "))
    assert line.split(None, 1)[1].startswith("0: " + elf[0]["comm"] + " (pid %d)" % elf[0]["pid"]), line


@test
def sym_both_ways():
    j = json.loads(vmic("sym", "--json", RAW, "init_task", hex(SYMS["start_kernel"] + 3)).stdout)
    assert int(j[0]["addr"], 16) == SYMS["init_task"]
    assert j[1]["name"] == "start_kernel" and j[1]["offset"] == 3
    p = vmic("sym", RAW, "no_such_symbol_anywhere", rc=1)
    assert "no_such_symbol_anywhere" in p.stderr


@test
def sym_all_is_proc_kallsyms():
    got = vmic("sym", "--all", RAW).stdout.splitlines()
    want = kallsyms_lines()
    assert MODSYMS and sum(1 for l in got if l.endswith("]")) == len(MODSYMS)
    assert got == want, (len(got), len(want), [(a, b) for a, b in zip(got, want) if a != b][:3])


@test
def sym_module_symbols_by_name():
    first = {}
    for addr, _, name, mod in MODSYMS:
        first.setdefault((mod, name), addr)
    queries = [f"{mod}:{name}" for mod, name in first]
    got = json.loads(vmic("sym", "--json", ELF, *queries).stdout)
    assert [int(g["addr"], 16) for g in got] == list(first.values()), got[:3]
    assert [g["module"] for g in got] == [mod for mod, _ in first], got[:3]
    # A plain name the kernel does not have is the (one) module's.
    count = {}
    for mod, name in first:
        count[name] = count.get(name, 0) + 1
    plain = [(mod, name) for mod, name in first if count[name] == 1 and name not in SYMS]
    assert plain
    got = json.loads(vmic("sym", "--json", RAW, *[n for _, n in plain]).stdout)
    assert [int(g["addr"], 16) for g in got] == [first[k] for k in plain]
    assert "no_such" in vmic("sym", ELF, "nls_cp437:no_such", rc=1).stderr


@test
def sym_module_symbols_by_address():
    names = {}
    for addr, _, name, mod in MODSYMS:
        names.setdefault(addr, set()).add((mod, name))
    addrs = sorted(names)
    got = json.loads(vmic("sym", "--json", ELF, *map(hex, addrs)).stdout)
    for addr, g in zip(addrs, got):
        assert g["offset"] == 0 and (g["module"], g["name"]) in names[addr], (hex(addr), g)
    # Inside a function: the offset from it, bounded by the next symbol.
    funcs = [(a, n, m) for a, t, n, m in MODSYMS if t in "tT" and a + 1 not in names]
    a, n, m = funcs[0]
    line = vmic("sym", ELF, hex(a + 1)).stdout.strip()
    assert line.endswith(f" {n}+0x1 [{m}]"), line


@test
def sym_outside_kernel_and_modules_is_no_symbol():
    ps = json.loads(vmic("ps", "--json", ELF).stdout)
    task = next(p["task"] for p in ps if p["pid"] == int(MARKER_PID))  # slab: the direct map
    queries = [task, MARKER["heap"], MARKER["stack"]]
    p = vmic("sym", "--json", ELF, *queries, rc=1)
    got = json.loads(p.stdout)
    assert [g["query"] for g in got] == queries and all("error" in g for g in got), got
    assert p.stderr.count("no symbol at") == len(queries), p.stderr
    assert "+0x" not in vmic("sym", ELF, task, rc=1).stdout


@test
def sym_percpu_not_slid_under_profile():
    # cpu_number (6.1) or pcpu_hot (6.12), and a few more of the per-CPU area.
    end = SYMS["__per_cpu_end"]
    percpu = sorted((a, n) for n, a in SYMS.items() if 0 < a < end)
    one = next(n for n in ("cpu_number", "pcpu_hot") if n in SYMS)
    names = ["fixed_percpu_data", one, "__per_cpu_end", percpu[0][1], percpu[-1][1],
             "init_task", "_text"]
    names = [n for n in names if n in SYMS]
    profiles = [("--profile", PROFILE)] if os.path.exists(PROFILE) else []
    for extra in [()] + profiles:
        got = json.loads(vmic("sym", "--json", *extra, RAW, *names).stdout)
        assert [int(g["addr"], 16) for g in got] == [SYMS[n] for n in names], (extra, got)
        back = json.loads(vmic("sym", "--json", *extra, RAW, hex(SYMS[one] + 1)).stdout)
        assert back[0]["name"] == one and back[0]["offset"] == 1, back


@test
def type_shows_layout():
    out = vmic("type", ELF, "printk_info", "task_struct.comm").stdout
    assert re.search(r"19:5 +1 +u8 level : 3", out), out
    assert "task_struct.comm: offset" in out and "char [16]" in out
    j = json.loads(vmic("type", "--json", ELF, "list_head").stdout)
    assert j[0]["size"] == 16 and [m["name"] for m in j[0]["members"]] == ["next", "prev"]
    assert "no struct or union" in vmic("type", ELF, "no_such_struct", rc=1).stderr


@test
def profile_gives_same_answers():
    if not os.path.exists(PROFILE):
        print(f"note: {PROFILE} absent (a fixture without the -dbg package): not checked")
        return
    a = json.loads(vmic("ps", "--json", "--profile", PROFILE, RAW).stdout)
    b = json.loads(vmic("ps", "--json", RAW).stdout)
    strip = lambda ps: [(p["pid"], p["ppid"], p["comm"], p["cmdline"]) for p in ps]
    assert strip(a) == strip(b)
    out = vmic("maps", "--profile", PROFILE, RAW, MARKER_PID).stdout
    assert "/bin/vmic-marker" in out and "[heap]" in out
    j = json.loads(vmic("banner", "--json", "--profile", PROFILE, ELF).stdout)
    assert j["symbols"] == "isf" and j["types"] == "isf"


@test
def ps_root_parses_back():
    table = vmic("ps", RAW).stdout.splitlines()
    cols = next(l.split() for l in table if l.split()[0] == MARKER_PID)
    root = cols[6]
    assert root.startswith("0x"), cols
    j = json.loads(vmic("ps", "--json", RAW).stdout)
    assert int(root, 16) == int(next(p["root"] for p in j if p["pid"] == int(MARKER_PID)), 16)
    # What ps prints, with or without 0x, is what --root takes.
    strings = dict(l.split("=", 1) for l in truth("marker-strings.txt").splitlines())
    for r in (root, root[2:]):
        got = vmic("read", "--raw", "--root", r, "--paging", str(paging_levels()), RAW,
                   MARKER["heap"],
                   str(len(strings["heap_string"]))).stdout
        assert got == strings["heap_string"], (r, got)


@test
def json_errors_on_stdout():
    empty = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"vmic-zero-j-{os.getpid()}")
    with open(empty, "wb") as f:
        f.truncate(1 << 20)
    try:
        cases = [(("ps", "--json", empty), 1), (("maps", "--json", ELF, "99999"), 1),
                 (("files", "--json", ELF, "nonsense"), 2), (("banner", "--json", "--root", "zz", ELF), 2),
                 (("modules", "--json", "/nonexistent.elf"), 1)]
        for args, rc in cases:
            p = vmic(*args, rc=rc)
            err = json.loads(p.stdout)["error"]
            assert err["command"] == args[0] and err["exit"] == rc and err["status"], (args, err)
            assert err["message"] and err["message"] in p.stderr, (err, p.stderr)
    finally:
        os.unlink(empty)


@test
def bad_inputs_fail_cleanly():
    assert "not a pid" in vmic("maps", ELF, "nonsense", rc=2).stderr
    assert "no process with pid 99999" in vmic("maps", ELF, "99999", rc=1).stderr
    p = vmic("ps", "--profile", "/nonexistent.json", RAW, rc=1)
    assert "/nonexistent.json" in p.stderr
    empty = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"vmic-zero-{os.getpid()}")
    with open(empty, "wb") as f:
        f.truncate(1 << 20)
    try:
        p = vmic("ps", empty, rc=1)
        assert "no Linux kernel" in p.stderr, p.stderr
    finally:
        os.unlink(empty)


if __name__ == "__main__":
    sys.exit(cli_common.exit_status())

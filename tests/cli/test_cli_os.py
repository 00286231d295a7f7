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
from cli_common import ELF, FIXTURE, RAW, kallsyms, test, truth, vmic

PROFILE = os.path.join(FIXTURE, "profile.json.xz")
COMMANDS = ("ps", "threads", "modules", "maps", "files", "dmesg", "banner", "sym", "type")
SYMS = kallsyms()
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
    assert [(m["name"], m["size"], int(m["base"], 16)) for m in got] == \
        [(w[0], int(w[1]), int(w[5], 16)) for w in want]


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
def dmesg_ends_like_guest():
    out = vmic("dmesg", RAW).stdout.splitlines()
    tail = truth("dmesg.txt").splitlines()[-30:]
    joined = "\n".join(out)
    assert "\n".join(tail) in joined, tail[-3:]
    records = json.loads(vmic("dmesg", "--json", ELF).stdout)
    assert len(records) > 100 and all(0 <= r["level"] <= 7 for r in records)


@test
def banner_is_proc_version():
    version = truth("version.txt").strip()
    assert vmic("banner", RAW).stdout.splitlines()[0] == version
    j = json.loads(vmic("banner", "--json", ELF).stdout)
    assert j["banner"] == version and int(j["text"], 16) == SYMS["_text"]
    assert j["root_source"] == "vCPU 0 CR3" and j["symbols"] == "kallsyms" and j["types"] == "btf"
    assert int(j["btf"], 16) == SYMS["__start_BTF"]


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
    want = [l for l in truth("kallsyms.txt").splitlines() if "[" not in l]
    assert got == want, (len(got), len(want))


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
    assert os.path.exists(PROFILE), PROFILE
    a = json.loads(vmic("ps", "--json", "--profile", PROFILE, RAW).stdout)
    b = json.loads(vmic("ps", "--json", RAW).stdout)
    strip = lambda ps: [(p["pid"], p["ppid"], p["comm"], p["cmdline"]) for p in ps]
    assert strip(a) == strip(b)
    out = vmic("maps", "--profile", PROFILE, RAW, MARKER_PID).stdout
    assert "/bin/vmic-marker" in out and "[heap]" in out
    j = json.loads(vmic("banner", "--json", "--profile", PROFILE, ELF).stdout)
    assert j["symbols"] == "isf" and j["types"] == "isf"


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

"""The Python package on a fixture's dumps (ELF and raw), against the
guest's own truth: /proc as the fixture's /init printed it (truth/*.txt),
the -dbg kernel's DWARF (dwarf-offsets.txt), and `vmic ps --json`."""
import ctypes
import json
import os
import re
import subprocess
import sys

import pytest

import vmic
from vmic import _structs as S
from vmic._lib import lib

# /proc/kallsyms lines of things that are not modules (BPF programs, ftrace
# trampolines), which vmic does not list (as tests/cli/cli_common.py).
NOT_MODULES = ("bpf", "__builtin__ftrace")


@pytest.fixture(scope="module", params=["dump.elf", "dump.raw"])
def vm(request, fixture_dir):
    with vmic.open(os.path.join(fixture_dir, request.param)) as v:
        yield v


@pytest.fixture(scope="module")
def marker(vm, truth):
    pid = int(truth.kv("marker.txt")["pid"])
    return vm.process(pid)


def test_banner_is_proc_version(vm, truth):
    assert vm.banner == truth.text("version.txt").strip()
    assert vm.kernel.release in truth.text("uname.txt").split()


def test_processes_equal_vmic_ps_json(vm, vmic_bin):
    ps = json.loads(subprocess.run([vmic_bin, "ps", "--json", vm.target], capture_output=True,
                                   text=True, check=True, timeout=120).stdout)
    mine = []
    for p in vm.processes():
        cmd = p.cmdline if not p.kernel_thread and p.cmdline else "[%s]" % p.comm
        mine.append({"pid": p.pid, "ppid": p.ppid, "comm": p.comm, "uid": p.uid, "gid": p.gid,
                     "euid": p.euid, "egid": p.egid, "state": p.state, "start_ns": p.start_ns,
                     "threads": p.nthreads, "kernel_thread": p.kernel_thread, "task": p.task,
                     "mm": p.mm, "root": p.root, "user_root": p.user_root, "cmdline": cmd,
                     "partial": p.partial})
    theirs = [dict(p, **{k: int(p[k], 16) for k in ("task", "mm", "root", "user_root")})
              for p in ps]
    assert len(mine) > 40
    assert mine == theirs


def test_processes_match_guest_procs(vm, truth):
    got = {p.pid: p for p in vm.processes()}
    want = truth.procs()
    assert got[0].comm == "swapper/0"
    seen = [pid for pid in want if pid in got]
    assert len(seen) >= len(want) - 6  # helpers of /init may be gone (as test_cli_os)
    for pid in seen:
        assert got[pid].ppid == want[pid]["ppid"], pid
        if want[pid]["cmdline"]:
            assert got[pid].cmdline == want[pid]["cmdline"], pid


def test_threads_of_marker(marker, truth):
    want = sorted(tuple(l.split(" ", 1)) for l in truth.text("threads-marker.txt").splitlines())
    got = sorted((str(t.tid), t.comm) for t in marker.threads())
    assert got == want
    assert all(t.pid == marker.pid for t in marker.threads())


def test_maps_of_marker(marker, truth):
    squeeze = lambda s: re.sub(r" +", " ", s).strip()
    want = [squeeze(l) for l in truth.text("maps-marker.txt").splitlines()]
    assert [squeeze(r.maps_line()) for r in marker.maps()] == want


def test_files_of_marker(marker, truth):
    want = [tuple(l.split(" ", 1)) for l in truth.text("fds-marker.txt").splitlines()]
    assert [(str(f.fd), f.path) for f in marker.files()] == want
    if truth.has("fdinfo-marker.txt"):
        fdinfo = {int(fd): (int(pos), int(flags, 8)) for fd, pos, flags in
                  (l.split() for l in truth.text("fdinfo-marker.txt").splitlines())}
        assert {f.fd: (f.pos, f.flags) for f in marker.files()} == fdinfo


def test_modules_match_proc_modules(vm, truth):
    want = [l.split() for l in truth.text("modules.txt").splitlines()]
    assert [(m.name, m.size, m.refcount, m.base) for m in vm.modules()] == \
        [(w[0], int(w[1]), int(w[2]), int(w[5], 16)) for w in want]


def kallsyms_lines(truth):
    return [l for l in truth.text("kallsyms.txt").splitlines()
            if not any(l.endswith("\t[%s]" % m) for m in NOT_MODULES)]


def test_symbols_are_proc_kallsyms(vm, truth):
    want = kallsyms_lines(truth)
    got = ["%016x %s %s%s" % (s.addr, s.type, s.name, "\t[%s]" % s.module if s.module else "")
           for s in vm.symbols()]
    assert len(got) == len(want)
    assert got == want


def test_symbol_both_ways(vm, truth):
    first = {}
    for line in truth.text("kallsyms.txt").splitlines():
        parts = line.split()
        if len(parts) == 3:
            first.setdefault(parts[2], int(parts[0], 16))
    assert vm.symbol("init_task") == first["init_task"]
    s = vm.symbol_at(first["start_kernel"] + 3)
    assert (s.name, s.offset, s.module, s.addr) == ("start_kernel", 3, None,
                                                    first["start_kernel"])
    with pytest.raises(vmic.NotFound, match="no_such_symbol_anywhere"):
        vm.symbol("no_such_symbol_anywhere")


def test_marker_strings_by_va(vm, marker, truth):
    where = truth.kv("marker.txt")
    strings = truth.kv("marker-strings.txt")
    for part in ("heap", "data", "stack"):
        va, want = int(where[part], 16), strings[part + "_string"].encode()
        got = marker.read(va, len(want))
        assert type(got) is bytes and got == want, part
        buf = bytearray(len(want))
        assert marker.read_into(va, buf) == len(want) and bytes(buf) == want
        # The same bytes through the VM: by va in the process's address
        # space, and by the pa it translates to.
        root = marker.root
        assert vm.read_va(va, len(want), root=root) == want
        pa = vm.translate(va, root=root)
        if (pa & 0xfff) + len(want) <= 0x1000:
            assert vm.read_pa(pa, len(want)) == want
            mv = memoryview(bytearray(len(want) + 4))[2:-2]
            assert vm.read_pa_into(pa, mv) == len(want) and mv.tobytes() == want
    with pytest.raises(vmic.TranslationError):
        marker.read(0x10, 8)  # nothing is mapped at page 0


def test_read_va_kernel(vm, truth):
    banner = truth.text("version.txt").strip().encode()
    assert vm.read_va(vm.symbol("linux_banner"), len(banner)) == banner
    with pytest.raises(TypeError):
        vm.read_into(vm.symbol("linux_banner"), b"read-only")


def test_type_and_fields_equal_dwarf(vm, fixture_dir):
    path = os.path.join(fixture_dir, "dwarf-offsets.txt")
    if not os.path.exists(path):
        pytest.skip("no dwarf-offsets.txt (a --no-dwarf fixture)")
    n, task = 0, {}
    for line in open(path):
        p = line.split()
        if len(p) != 4:
            continue
        f = vm.field(p[0])
        assert (f.bit_offset, f.bit_size) == (int(p[1]), int(p[2])), p[0]
        if not f.bit_size:
            assert f.size == int(p[3]), p[0]
        n += 1
        struct, _, member = p[0].partition(".")
        if struct == "task_struct" and "." not in member:
            task[member] = int(p[1])
    assert n >= 300 and len(task) > 20
    # vm.type() lists the same members at the same places.
    members = {m.name: m.bit_offset for m in vm.type("task_struct").members}
    assert {k: members.get(k) for k in task} == task
    t = vm.type("list_head")
    assert (t.kind, t.size, [m.name for m in t.members]) == ("struct", 16, ["next", "prev"])
    assert t.offsetof("prev") == 8 and t["prev"].type_name == "struct list_head *"
    assert vm.sizeof("list_head") == 16
    with pytest.raises(vmic.NotFound):
        vm.type("no_such_struct")


def test_dmesg_holds_guest_dmesg(vm, truth):
    records = vm.dmesg()
    assert len(records) > 100 and all(0 <= r.level <= 7 for r in records)
    # busybox dmesg: each line of a record after its [seconds] stamp.
    lines = []
    for r in records:
        for part in r.text.split("\n"):
            lines.append("[%5d.%06d] %s" % (r.ts_nsec // 10**9, r.ts_nsec % 10**9 // 1000, part))
    assert truth.text("dmesg.txt") in "\n".join(lines) + "\n"


def test_exception_in_a_walk_callback_stops_it(vm):
    calls = []

    def convert(item):
        calls.append(item.contents.pid)
        if len(calls) == 3:
            raise KeyError("third")
        return item.contents.pid

    with pytest.raises(KeyError, match="third"):
        vm._walk(lib.vmic_os_processes, S.PROCESS_FN, convert, what="processes")
    assert len(calls) == 3  # the callback returned non-zero: the walk stopped there


def test_errors_carry_vmic_message(fixture_dir):
    with pytest.raises(vmic.VmicError) as e:
        vmic.open(os.path.join(fixture_dir, "no-such-dump"))
    assert "no-such-dump" in str(e.value) and isinstance(e.value, vmic.IOFailure)
    assert e.value.status == 3 and e.value.status_name == "I/O error"
    with vmic.open(os.path.join(fixture_dir, "dump.raw")) as vm:
        with pytest.raises(vmic.Unsupported, match="live guest"):
            next(iter(vm.trace()))
        with pytest.raises(vmic.Unsupported, match="raw driver"):
            vm.breakpoints()
    with pytest.raises(ValueError, match="closed"):
        vm.processes()


def test_read_is_one_copy_into_new_bytes(vm):
    # A read of n bytes makes one bytes object of n bytes: nothing cached
    # or shared between calls (each is its own object).
    a = vm.read_va(vm.symbol("linux_banner"), 64)
    b = vm.read_va(vm.symbol("linux_banner"), 64)
    assert a == b and a is not b and len(a) == 64
    assert vm.read_va(vm.symbol("linux_banner"), 0) == b""
    assert ctypes.sizeof(S.Process) == len(bytes(S.Process()))


def test_example_ps_files(vm, truth):
    """python/examples/ps_files.py: the marker's row counts its fds and maps
    as the guest's /proc listed them."""
    example = os.path.join(os.path.dirname(__file__), "..", "..", "python", "examples",
                           "ps_files.py")
    out = subprocess.run([sys.executable, example, vm.target], capture_output=True, text=True,
                         check=True, timeout=120).stdout.splitlines()
    pid = truth.kv("marker.txt")["pid"]
    row = next(l.split() for l in out if l.split()[0] == pid)
    assert row[2:5] == ["vmic-marker", str(len(truth.text("fds-marker.txt").splitlines())),
                        str(len(truth.text("maps-marker.txt").splitlines()))], row
    assert out[0].split()[:5] == ["PID", "PPID", "COMM", "FILES", "MAPS"]


# ---- the forensics walks: sockets, mounts, environment ------------------------------------


def _need(truth, name):
    if not truth.has(name):
        pytest.skip("this fixture has no truth/%s (older than its make-fixture.sh)" % name)


def test_sockets_equal_proc_net_tcp(vm, truth):
    _need(truth, "net-tcp.txt")
    want = {}
    for line in truth.text("net-tcp.txt").splitlines()[1:]:
        f = line.split()
        local, remote, st, inode = f[1], f[2], int(f[3], 16), int(f[9])
        if inode == 0:  # TIME_WAIT, orphans: no inode to key them by
            continue
        lip, lport = local.split(":")
        want[inode] = (".".join(str(b) for b in reversed(bytes.fromhex(lip))), int(lport, 16),
                       st, int(remote.split(":")[1], 16))
    got = {k.inode: k for k in vm.sockets() if k.family == "inet" and k.type == "stream"}
    assert want and set(want) <= set(got), (want, sorted(got))
    states = {1: "ESTABLISHED", 10: "LISTEN"}
    for inode, (addr, port, st, rport) in want.items():
        k = got[inode]
        assert (k.local_addr, k.local_port, k.remote_port) == (addr, port, rport), (inode, k)
        assert k.state == states.get(st, k.state), (inode, st, k)


def test_environ_of_marker(marker, truth):
    _need(truth, "environ-marker.txt")
    assert marker.environ() == truth.text("environ-marker.txt").splitlines()


def test_mounts_of_init(vm, truth):
    _need(truth, "mountinfo-1.txt")
    want = [(int(f[0]), int(f[1]), f[4]) for f in
            (line.split() for line in truth.text("mountinfo-1.txt").splitlines())]
    got = [(m.id, m.parent_id, m.point) for m in vm.process(1).mounts()]
    assert got == want


# ---- vm.check(): rootkit checks ------------------------------------------------------------

# x86-64 system-call numbers: the kernel's ABI, not something vmic computes.
NR_READ, NR_GETPID = 0, 39


def test_check_clean_guest_has_nothing(vm):
    assert vm.check() == []


def test_check_finds_the_hooks_written_into_a_copy(fixture_dir, truth, tmp_path):
    """A sparse copy of the raw dump with a rootkit's changes written in by
    this test: getpid's entry at a module's base and read's at init_task
    (addresses from the guest's /proc/modules and /proc/kallsyms), and
    vmic-sleeper-a unlinked from the task list. vm.check() reports exactly
    those, with the module that holds the address."""
    mods = [(f[0], int(f[-1], 16)) for f in
            (line.split() for line in truth.text("modules.txt").splitlines())]
    kallsyms = {f[2]: int(f[0], 16) for f in
                (line.split() for line in truth.text("kallsyms.txt").splitlines())
                if len(f) == 3}
    sleeper = next(int(f[0]) for f in (line.split() for line in
                                       truth.text("ps.txt").splitlines()[1:])
                   if f[2] == "vmic-sleeper-a")
    mod_name, mod_base = mods[-1]
    init_task = kallsyms["init_task"]
    with vmic.open(os.path.join(fixture_dir, "dump.raw")) as clean:
        table = clean.symbol("sys_call_table")
        assert table == kallsyms["sys_call_table"]
        task = clean.process(sleeper).task
        link = task + clean.field("task_struct.tasks").offset
        pa = clean.translate  # the raw dump's file offset is the guest-physical address
        copy = tmp_path / "hooked.raw"
        subprocess.run(["cp", "--sparse=always", os.path.join(fixture_dir, "dump.raw"),
                        str(copy)], check=True, timeout=300)
        with open(copy, "r+b") as f:
            def put(va, value):
                f.seek(pa(va))
                f.write(value.to_bytes(8, "little"))

            def get(va):
                f.seek(pa(va))
                return int.from_bytes(f.read(8), "little")

            put(table + 8 * NR_GETPID, mod_base)
            put(table + 8 * NR_READ, init_task)
            nxt, prv = get(link), get(link + 8)  # list_del, as a rootkit does it
            put(prv, nxt)
            put(nxt + 8, prv)
    try:
        with vmic.open(str(copy)) as hooked:
            got = {(f.check, f.nr, f.name, f.addr, f.module) for f in hooked.check()}
    finally:
        copy.unlink()  # up to 6 GiB (sparse): pytest would keep it around
    assert got == {("syscall-table", NR_GETPID, "getpid", mod_base, mod_name),
                   ("syscall-table", NR_READ, "read", init_task, ""),
                   ("hidden-task", sleeper, "vmic-sleeper-a", task, "")}, got


# ---- modules' BTF ------------------------------------------------------------------------


def test_btf_blobs_are_sys_kernel_btf(vm, truth):
    """vm.btf() and vm.btf(module) against the guest's own /sys/kernel/btf."""
    import hashlib
    _need(truth, "btf.txt")
    want = {f[0]: (int(f[1]), f[2]) for f in
            (line.split() for line in truth.text("btf.txt").splitlines())}
    for name, (size, digest) in want.items():
        blob = vm.btf(None if name == "vmlinux" else name)
        assert (len(blob), hashlib.sha256(blob).hexdigest()) == (size, digest), name
    with pytest.raises(vmic.NotFound):
        vm.btf("vmic_no_such_module")


def test_module_type_by_prefix(vm, truth):
    _need(truth, "btf.txt")
    if "minix" not in truth.text("btf.txt"):
        pytest.skip("minix is not loaded in this guest")
    assert vm.type_module("minix_sb_info") == "minix"
    t = vm.type("minix:minix_sb_info")
    assert t.name == "minix:minix_sb_info" and t.size > 0
    f = vm.field("minix:minix_sb_info.s_nzones")
    assert f.offset == next(m.offset for m in t.members if m.name == "s_nzones")
    with pytest.raises(vmic.NotFound):
        vm.type("minix_sb_info")  # not the kernel's own

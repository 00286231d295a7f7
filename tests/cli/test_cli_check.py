#!/usr/bin/env python3
"""vmic check on a real dump: nothing on the clean guest, the walks cover
what the guest's own truth lists, and exactly the hooks this test writes
into a copy of the raw dump are found, by what the test wrote (the pids,
names and addresses of the guest's truth: ps, threads, /proc/modules,
/proc/kallsyms), not by what vmic computed. One copy carries every hook:

  syscall-table  getpid at a module's base, read at init_task (data)
  hidden-task    vmic-sleeper-a unlinked from the task list; the thread
                 vmic-worker-1 unlinked from its group's thread list
  hidden-module  one module unlinked from `modules`, another's kobject
                 unlinked from module_kset (sysfs)
  shared-cred    busybox given vmic-sockets' cred; sleep given init_cred
  idt            int3's gate at init_task, #UD's a byte into its handler
  syscall-entry  entry_SYSCALL_64 starting with a jmp to init_task
  ops            tcp4_seq_ops.show, tty_fops.read and the first tty driver's
                 ops->write at init_task
And a broken walk (module_kset's list made a cycle) is a row of its own,
the other checks still run.

    test_cli_check.py VMIC_BINARY FIXTURE_DIR
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import cli_common
from cli_common import ELF, RAW, has_truth, kallsyms, paging_levels, test, truth, vmic

PAGING = ("--paging", str(paging_levels()))
SYMS = kallsyms()
OUTSIDE = "outside the kernel's text and every module"


def modules():
    """{name: base} of the guest's /proc/modules, in its order."""
    out = {}
    for line in truth("modules.txt").splitlines():
        f = line.split()
        out[f[0]] = int(f[-1], 16)
    return out


def ps_pid(comm):
    """The pid of the first process named comm in the guest's ps."""
    for line in truth("ps.txt").splitlines()[1:]:
        f = line.split()
        if f[2] == comm:
            return int(f[0])
    raise AssertionError(f"no {comm} in truth/ps.txt")


def thread_tid(comm):
    """(tgid, tid) of the thread named comm in the guest's thread list."""
    for line in truth("threads-all.txt").splitlines():
        tgid, tid, name = line.split(" ", 2)
        if name == comm:
            return int(tgid), int(tid)
    raise AssertionError(f"no {comm} in truth/threads-all.txt")


def nr_of(name):
    table = json.loads(vmic("trace", "--list", "--json", ELF).stdout)
    return next(s["nr"] for s in table if s["name"] == name)


def fields(*paths):
    got = json.loads(vmic("type", "--json", ELF, *paths).stdout)
    return {f["name"]: f["offset"] for f in got}


class Copy:
    """A copy of the raw dump, addressed by the guest's kernel virtual
    addresses (translated through the clean ELF dump, same memory)."""

    def __init__(self, path):
        self.f = open(path, "r+b")
        self.pages = {}

    def pa(self, va):
        page = va & ~0xfff
        if page not in self.pages:
            tr = json.loads(vmic("translate", "--json", ELF, hex(page)).stdout)
            self.pages[page] = int(tr[0]["pa"], 16)
        return self.pages[page] + (va & 0xfff)

    def read(self, va, n):
        assert (va & 0xfff) + n <= 0x1000, hex(va)
        self.f.seek(self.pa(va))
        return self.f.read(n)

    def write(self, va, data):
        assert (va & 0xfff) + len(data) <= 0x1000, hex(va)
        self.f.seek(self.pa(va))
        self.f.write(data)

    def u64(self, va):
        return struct.unpack("<Q", self.read(va, 8))[0]

    def put(self, va, value):
        self.write(va, struct.pack("<Q", value))

    def unlink(self, node):
        """list_del without the poison: what a rootkit does."""
        nxt, prv = self.u64(node), self.u64(node + 8)
        self.put(prv, nxt)
        self.put(nxt + 8, prv)


def copy_dump(src, dst):
    """A copy whose runs of zeros are holes: the 5 GiB fixture's RAM is mostly
    never touched, and a sparse copy takes a second, not a minute."""
    subprocess.run(["cp", "--sparse=always", src, dst], check=True, timeout=300)


def run_check(*args, rc):
    p = vmic("check", "--json", *args, rc=rc)
    return json.loads(p.stdout)


@test
def clean_guest_has_nothing():
    for dump, extra in ((ELF, ()), (RAW, PAGING)):
        assert run_check(*extra, dump, rc=0) == []
        p = vmic("check", *extra, dump)
        assert "0 of" in p.stderr and "entries outside the kernel's text" in p.stderr, p.stderr
        for what in ("tasks", "modules", "credentials", "IDT", "syscall entry", "ops tables"):
            assert f"vmic check: {what}: 0 found, " in p.stderr, p.stderr


@test
def walks_cover_the_truth():
    """No rows on the clean dump means both walks agree; here, that what
    they agree on is the guest's: every module of /proc/modules, and its
    threads less the truth's own short-lived helpers."""
    err = vmic("check", ELF).stderr
    counts = {}
    for line in err.splitlines():
        if line.startswith("vmic check: ") and " found, " in line:
            what, rest = line[len("vmic check: "):].split(": ", 1)
            counts[what] = int(rest.split(" found, ")[1].split()[0])
    assert counts["modules"] == len(modules()), (counts, modules())
    if has_truth("threads-all.txt"):
        want = {int(l.split()[1]) for l in truth("threads-all.txt").splitlines()}
        got = {t["tid"] for t in json.loads(vmic("ps", "--threads", "--json", ELF).stdout)}
        assert len(want - got) <= 6, sorted(want - got)
        assert counts["tasks"] == len(got - {0}), (counts, len(got))
    assert counts["IDT"] == 256, counts
    assert counts["ops tables"] > 40, counts  # 11 seq_ops of 4, tty ops and fops


@test
def written_hooks_are_found_exactly():
    mods = list(modules().items())  # (name, base) in /proc/modules order
    hidden_mod, target_mod = mods[0][0], mods[-1]
    off = fields("task_struct.tasks", "task_struct.thread_node", "task_struct.cred",
                 "task_struct.real_cred", "module.list", "module.mkobj.kobj.entry",
                 "file_operations.read", "seq_operations.show", "tty_driver.tty_drivers",
                 "tty_driver.ops", "tty_driver.driver_name", "tty_operations.write")
    tasks = {t["tid"]: int(t["task"], 16)
             for t in json.loads(vmic("ps", "--threads", "--json", ELF).stdout)}
    structs = {m["name"]: int(m["module"], 16)
               for m in json.loads(vmic("modules", "--json", ELF).stdout)}
    sleeper, sockets, busybox, sleep = (ps_pid(c) for c in ("vmic-sleeper-a", "vmic-sockets",
                                                            "busybox", "sleep"))
    worker_tgid, worker = thread_tid("vmic-worker-1")
    init_task, init_cred = SYMS["init_task"], SYMS["init_cred"]

    work = tempfile.mkdtemp(prefix="vmic-check-test.")
    try:
        path = os.path.join(work, "hooked.raw")
        copy_dump(RAW, path)
        mem = Copy(path)
        want = set()

        table = SYMS["sys_call_table"]
        mem.put(table + 8 * nr_of("getpid"), target_mod[1])
        mem.put(table + 8 * nr_of("read"), init_task)
        want |= {("syscall-table", nr_of("getpid"), "getpid", target_mod[1],
                  "module " + target_mod[0]),
                 ("syscall-table", nr_of("read"), "read", init_task, OUTSIDE)}

        mem.unlink(tasks[sleeper] + off["task_struct.tasks"])
        mem.unlink(tasks[worker] + off["task_struct.thread_node"])
        want |= {("hidden-task", sleeper, "vmic-sleeper-a", tasks[sleeper],
                  "in the pid IDR, not on the task list (init_task.tasks)"),
                 ("hidden-task", worker, "vmic-worker-1", tasks[worker],
                  f"in the pid IDR, not on the thread list of its group (tgid {worker_tgid}): "
                  "its leader's list misses it, or the leader is hidden")}

        mem.unlink(structs[hidden_mod] + off["module.list"])
        mem.unlink(structs[target_mod[0]] + off["module.mkobj.kobj.entry"])
        want |= {("hidden-module", -1, hidden_mod, structs[hidden_mod],
                  "in sysfs (module_kset), not on the module list"),
                 ("hidden-module", -1, target_mod[0], structs[target_mod[0]],
                  "on the module list, not in sysfs (module_kset)")}

        shared = mem.u64(tasks[sockets] + off["task_struct.cred"])
        for field in ("task_struct.cred", "task_struct.real_cred"):
            mem.put(tasks[busybox] + off[field], shared)
            mem.put(tasks[sleep] + off[field], init_cred)
        lo, hi = sorted((busybox, sockets))
        comm = {busybox: "busybox", sockets: "vmic-sockets"}
        want |= {("shared-cred", hi, comm[hi], shared,
                  f"struct cred held by 2 thread groups: pid {hi} ({comm[hi]}) shares it with "
                  f"pid {lo} ({comm[lo]})"),
                 ("shared-cred", sleep, "sleep", init_cred,
                  "holds init_cred, the idle tasks' own (the kernel gives every other task a "
                  "copy)")}

        def gate(handler):
            return struct.pack("<HHHHII", handler & 0xffff, 0x10, 0x8e00,
                               (handler >> 16) & 0xffff, handler >> 32, 0)
        idt = SYMS["idt_table"]
        mem.write(idt + 16 * 3, gate(init_task))
        mem.write(idt + 16 * 6, gate(SYMS["asm_exc_invalid_op"] + 1))
        want |= {("idt", 3, "vector 3", init_task, "outside the kernel's text"),
                 ("idt", 6, "vector 6", SYMS["asm_exc_invalid_op"] + 1,
                  "in the kernel's text, not at an entry point (a symbol's start or an "
                  "interrupt stub)")}

        entry = SYMS["entry_SYSCALL_64"]
        if mem.read(entry, 4) == b"\xf3\x0f\x1e\xfa":
            entry += 4  # after endbr64
        mem.write(entry, b"\xe9" + struct.pack("<i", init_task - (entry + 5)))
        want.add(("syscall-entry", -1, "entry_SYSCALL_64", init_task,
                  "its first instruction jumps outside the kernel's text"))

        for table, member, name in ((SYMS["tcp4_seq_ops"], "seq_operations.show",
                                     "tcp4_seq_ops.show"),
                                    (SYMS["tty_fops"], "file_operations.read", "tty_fops.read")):
            at = table + off[member]
            mem.put(at, init_task + 0x40)
            struct_name = member.split(".")[0]
            want.add(("ops", -1, name, init_task + 0x40,
                      f"struct {struct_name} at {hex(table)}: {OUTSIDE}"))
        # The first tty driver's ops: every driver that shares the table shows it.
        head = SYMS["tty_drivers"]
        first = mem.u64(head) - off["tty_driver.tty_drivers"]
        ops = mem.u64(first + off["tty_driver.ops"])
        mem.put(ops + off["tty_operations.write"], init_task + 0x40)
        node = mem.u64(head)
        for _ in range(1000):
            if node == head:
                break
            drv = node - off["tty_driver.tty_drivers"]
            if mem.u64(drv + off["tty_driver.ops"]) == ops:
                name = mem.read(mem.u64(drv + off["tty_driver.driver_name"]), 24)
                name = name.split(b"\0")[0].decode()
                want.add(("ops", -1, f"tty_driver {name} ops.write", init_task + 0x40,
                          f"struct tty_operations at {hex(ops)}: {OUTSIDE}"))
            node = mem.u64(node)
        mem.f.close()

        rows = run_check(*PAGING, path, rc=3)
        print(f"  {len(rows)} rows, {len(want)} hooks written")
        got = {(r["check"], r["nr"], r["name"], int(r["address"], 16), r["where"]) for r in rows}
        assert len(rows) == len(got), rows
        assert got == want, ("missing", want - got, "extra", got - want)
        p = vmic("check", *PAGING, path, rc=3)
        assert "2 of" in p.stderr and "getpid" in p.stdout, p.stdout + p.stderr
        assert "vmic check: tasks: 2 found, " in p.stderr, p.stderr
    finally:
        if os.environ.get("VMIC_KEEP"):
            print("kept", path)
        else:
            shutil.rmtree(work, ignore_errors=True)


@test
def idtr_elsewhere_is_found():
    """IDTR in the ELF dump's register notes (QEMU's, before the memory)
    pointed at init_task: each vCPU's is a row."""
    regs = json.loads(vmic("info", "--json", ELF).stdout)["vcpus"]
    idtrs = {int(v["idtr"]["base"], 16) for v in regs}
    assert len(idtrs) == 1, idtrs
    old = struct.pack("<Q", idtrs.pop())
    work = tempfile.mkdtemp(prefix="vmic-check-test.")
    try:
        path = os.path.join(work, "idtr.elf")
        copy_dump(ELF, path)
        with open(path, "r+b") as f:
            head = f.read(1 << 16)
            at = [i for i in range(len(head) - 7) if head[i:i + 8] == old]
            assert len(at) == len(regs), (len(at), len(regs))  # one per vCPU's notes
            for i in at:
                f.seek(i)
                f.write(struct.pack("<Q", SYMS["init_task"]))
        rows = run_check(path, rc=3)
        got = {(r["check"], r["nr"], r["name"], int(r["address"], 16), r["where"]) for r in rows}
        want = {("idt", -1, "IDTR", SYMS["init_task"],
                 f"vCPU {n}'s IDTR is not idt_table (nor its cpu_entry_area alias): the CPU "
                 "uses another table") for n in range(len(regs))}
        assert got == want, (got, want)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@test
def broken_walk_is_a_row():
    off = fields("kset.list")
    work = tempfile.mkdtemp(prefix="vmic-check-test.")
    try:
        path = os.path.join(work, "broken.raw")
        copy_dump(RAW, path)
        mem = Copy(path)
        kset = mem.u64(SYMS["module_kset"])
        first = mem.u64(kset + off["kset.list"])
        mem.put(first, first)  # the first kobject's next: itself
        mem.f.close()
        rows = run_check(*PAGING, path, rc=1)
        assert [(r["check"], r["nr"], r["name"]) for r in rows] == [("error", -1, "modules")], rows
        assert "module_kset's list: cycle" in rows[0]["where"], rows
        p = vmic("check", *PAGING, path, rc=1)
        assert "vmic check: modules: module_kset's list: cycle" in p.stderr, p.stderr
        for what in ("tasks", "credentials", "IDT", "syscall entry", "ops tables"):
            assert f"vmic check: {what}: 0 found, " in p.stderr, p.stderr
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(cli_common.exit_status())

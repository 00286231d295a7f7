#!/usr/bin/env python3
"""The mutation harness of issue 12: a small, deterministic set of mutations of
the real fixture dumps, each one run through every OS command with a time and
a memory limit, counting what happened:

  clean    the command ended with exit code 1 and said why on stderr
  partial  exit code 0 with the result flagged partial or cut
  ok       exit code 0, nothing flagged (the mutation missed what it read)
  crash    a signal, a sanitizer report, or an exit code vmic never uses
  hang     over the time limit
  memory   over the memory limit

Crashes, hangs and memory blow-ups fail the run. Where to mutate comes from
vmic's own answers on the pristine dump (ps --json for task and mm addresses,
type --json for field offsets, banner --json for kallsyms, BTF and the root,
translate --json for the page-table entries on the way to a kernel address),
so the mutations follow KASLR and each rebuild of the fixtures.

    mutate.py VMIC FIXTURE_DIR [FIXTURE_DIR ...] [--seed N] [--per-fixture N]

Run it with an ASan build of vmic when there is one: a sanitizer report is a crash.
"""
import argparse
import json
import os
import random
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time

TOP = 0xfffffffffffff000
TIME_LIMIT = 20.0          # seconds per command, under ASan too
MEMORY_LIMIT = 1 << 30     # bytes of peak RSS per command
SANITIZER_MARKS = ("AddressSanitizer", "UndefinedBehaviorSanitizer", "runtime error:",
                   "LeakSanitizer")


# ---- running vmic --------------------------------------------------------------------

class Runner:
    def __init__(self, vmic):
        self.vmic = vmic
        with open(vmic, "rb") as f:
            self.asan = b"__asan_init" in f.read()
        self.counts = {k: 0 for k in ("clean", "partial", "ok", "crash", "hang", "memory")}
        self.failures = []

    def _limits(self):
        # ASan reserves terabytes of shadow: an address-space limit would
        # only break it, so its peak RSS is checked after the fact instead.
        if not self.asan:
            resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT * 2, MEMORY_LIMIT * 2))

    def run(self, args):
        """Runs vmic; returns (exit code or None on timeout, stdout, stderr, peak RSS)."""
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0:abort_on_error=0"
        out = tempfile.TemporaryFile()
        err = tempfile.TemporaryFile()
        p = subprocess.Popen([self.vmic, *args], stdout=out, stderr=err, env=env,
                             preexec_fn=self._limits)
        deadline = time.monotonic() + TIME_LIMIT
        status = rusage = None
        while True:
            pid, status, rusage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                p.kill()
                os.wait4(p.pid, 0)
                status = None
                break
            time.sleep(0.005)
        p.returncode = 0  # reaped by wait4: keep Popen from trying again
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
        out.close()
        err.close()
        if status is None:
            return None, stdout, stderr, 0
        rc = os.waitstatus_to_exitcode(status)
        return rc, stdout, stderr, rusage.ru_maxrss * 1024

    def judge(self, what, args):
        """One run of vmic on a mutated dump, counted by what it did."""
        rc, out, err, rss = self.run(args)
        if rc is None:
            kind = "hang"
        elif rc < 0 or rc not in ok_codes(args) or any(m in err for m in SANITIZER_MARKS):
            kind = "crash"
        elif rss > MEMORY_LIMIT:
            kind = "memory"
        elif rc == 1:
            kind = "clean" if err.strip() else "crash"   # an error must say why
        elif rc == 3:
            kind = "ok"   # vmic check found something: a mutation is an anomaly
        elif '"partial":true' in out or '"cut":true' in out or '"truncated":true' in out:
            kind = "partial"
        else:
            kind = "ok"
        self.counts[kind] += 1
        if kind in ("crash", "hang", "memory"):
            self.failures.append(f"{kind}: {what}: vmic {' '.join(args)} (exit {rc}, "
                                 f"{rss >> 20} MiB)\n{err[-3000:]}")
        return kind

    def json(self, *args):
        rc, out, err, _ = self.run(list(args))
        if rc != 0:
            raise RuntimeError(f"vmic {' '.join(args)} on the pristine dump: {err[-500:]}")
        return json.loads(out)


# ---- what to mutate, from vmic's answers on the pristine dump ----------------------------

class Guest:
    """Addresses in one fixture dump, found by vmic itself."""

    def __init__(self, runner, dump):
        self.r, self.dump = runner, dump
        banner = runner.json("banner", "--json", dump)
        self.root = banner["root"]
        self.kallsyms = int(banner["kallsyms"], 16)
        self.btf, self.btf_size = int(banner["btf"], 16), banner["btf_size"]
        self.procs = runner.json("ps", "--json", dump)
        user = [p for p in self.procs if not p["kernel_thread"]]
        self.marker = next((p for p in user if p["comm"] == "vmic-marker"), user[-1])
        names = ["task_struct.tasks", "task_struct.mm", "task_struct.files",
                 "task_struct.comm", "task_struct.real_parent", "task_struct.thread_node",
                 "mm_struct.mm_mt.ma_root", "files_struct.fdt", "fdtable.fd",
                 "fdtable.max_fds"]
        self.off = {t["name"]: t["offset"] for t in runner.json("type", "--json", dump, *names)}
        prb = runner.json("sym", "--json", dump, "prb")
        self.prb = int(prb[0]["addr"], 16)

    def walk(self, va):
        """The page walk to va: (pa, [entry pa of each level])."""
        t = self.r.json("translate", "--json", "--root", self.root, self.dump, "0x%x" % va)[0]
        return int(t["pa"], 16), [int(s["entry_pa"], 16) for s in t["steps"]]

    def pa(self, va):
        return self.walk(va)[0]

    def _read8(self, *where):
        p = subprocess.run([self.r.vmic, "read", "--raw", *where, "8"], capture_output=True)
        return struct.unpack("<Q", p.stdout[:8])[0] if p.returncode == 0 else 0

    def read_ptr(self, va):
        """The 8 bytes at kernel va (0 if unreadable)."""
        return self._read8("--root", self.root, self.dump, "0x%x" % va)

    def read_pa(self, pa):
        return self._read8("--pa", self.dump, "0x%x" % pa)


def u64(v):
    return struct.pack("<Q", v & 0xffffffffffffffff)


def mutations(g, rng):
    """(name, [(pa, bytes)]) for one fixture, in a fixed order."""
    m = []
    task = int(g.marker["task"], 16)
    tasks = task + g.off["task_struct.tasks"]
    init_next = g.pa(int(g.procs[0]["task"], 16) + g.off["task_struct.tasks"])
    m.append(("task list: marker's tasks.next points to itself", [(g.pa(tasks), u64(tasks))]))
    m.append(("task list: marker's tasks.next is NULL", [(g.pa(tasks), u64(0))]))
    m.append(("task list: init's tasks.next is garbage",
              [(init_next, u64(rng.getrandbits(64)))]))
    m.append(("task list: marker's tasks.next into user space", [(g.pa(tasks), u64(0x400000))]))
    m.append(("task: marker's comm without NUL",
              [(g.pa(task + g.off["task_struct.comm"]), b"\xff" * 16)]))
    m.append(("task: marker's real_parent is itself",
              [(g.pa(task + g.off["task_struct.real_parent"]), u64(task))]))
    init_task = int(next(p for p in g.procs if p["pid"] == 1)["task"], 16)
    m.append(("task: init's real_parent is the marker, its child (a parent loop)",
              [(g.pa(init_task + g.off["task_struct.real_parent"]), u64(task))]))
    m.append(("threads: marker's thread_node.next is garbage",
              [(g.pa(task + g.off["task_struct.thread_node"]), u64(rng.getrandbits(64)))]))
    m.append(("task: marker's mm is garbage",
              [(g.pa(task + g.off["task_struct.mm"]), u64(0xffff888000000000 |
                                                         rng.getrandbits(36)))]))
    mm = int(g.marker["mm"], 16)
    if mm:
        root = mm + g.off["mm_struct.mm_mt.ma_root"]
        node = g.read_ptr(root)
        m.append(("maple tree: root is garbage", [(g.pa(root), u64(rng.getrandbits(64)))]))
        m.append(("maple tree: root points to the mm", [(g.pa(root), u64(mm | 2))]))
        if node & ~0xff:
            node_va = node & ~0xff
            m.append(("maple tree: root node's slots random",
                      [(g.pa(node_va) + 8 * i, u64(rng.getrandbits(64))) for i in range(1, 16)]))
            m.append(("maple tree: root node's pivots all 1",
                      [(g.pa(node_va) + 8 + 8 * i, u64(1)) for i in range(15)]))
    files = g.read_ptr(task + g.off["task_struct.files"])
    if files:
        fdt_field = files + g.off["files_struct.fdt"]
        fdt = g.read_ptr(fdt_field)
        m.append(("fd table: fdt is garbage", [(g.pa(fdt_field), u64(rng.getrandbits(64)))]))
        if fdt:
            m.append(("fd table: max_fds is 2^31",
                      [(g.pa(fdt + g.off["fdtable.max_fds"]), struct.pack("<I", 1 << 31))]))
            fd_array = g.read_ptr(fdt + g.off["fdtable.fd"])
            if fd_array:
                m.append(("fd table: file pointers random",
                          [(g.pa(fd_array) + 8 * i, u64(rng.getrandbits(64))) for i in range(5)]))
    ks = g.pa(g.kallsyms)
    m.append(("kallsyms: 64 random bytes flipped",
              [(ks + rng.randrange(0x40000), bytes([rng.getrandbits(8)])) for _ in range(64)]))
    m.append(("kallsyms: first 4 KiB zeroed", [(ks, b"\0" * 4096)]))
    btf = g.pa(g.btf)
    m.append(("BTF: one header byte", [(btf + rng.randrange(24), bytes([rng.getrandbits(8)]))]))
    m.append(("BTF: str_len huge", [(btf + 20, struct.pack("<I", 0xfffffff0))]))
    m.append(("BTF: 64 random bytes in the types",
              [(btf + 24 + rng.randrange(g.btf_size // 2), bytes([rng.getrandbits(8)]))
               for _ in range(64)]))
    prb = g.pa(g.prb)
    m.append(("printk: prb pointer to itself", [(prb, u64(g.prb))]))
    ring = g.read_ptr(g.prb)
    if ring:
        m.append(("printk: ring header random",
                  [(g.pa(ring), bytes(rng.getrandbits(8) for _ in range(128)))]))
    _, steps = g.walk(g.btf)
    pml4e, pdpte = steps[0], steps[1]
    pml4 = pml4e & ~0xfff
    m.append(("page table: kernel PML4 entry maps the PML4 itself",
              [(pml4e, u64(pml4 | 0x63))]))
    m.append(("page table: kernel PDPT entry not present", [(pdpte, u64(0))]))
    m.append(("page table: kernel PDPT entry with reserved bits",
              [(pdpte, u64(g.read_pa(pdpte) | 0x000ff00000000000))]))
    m.append(("page table: every kernel PML4 entry points to the PML4",
              [(pml4 + 8 * i, u64(pml4 | 0x63)) for i in range(256, 512)]))
    m.append(("whole page: marker's task_struct zeroed", [(g.pa(task) & ~0xfff, b"\0" * 4096)]))
    m.append(("whole page: random bytes over the BTF header",
              [(btf & ~0xfff, bytes(rng.getrandbits(8) for _ in range(4096)))]))
    m.append(("whole page: 0xff over the kernel PML4", [(pml4, b"\xff" * 4096)]))
    return m


def ok_codes(args):
    """The exit codes vmic gives on purpose: 0, 1 (an error, said on
    stderr), and 3 for `vmic check` (it found an anomaly)."""
    return (0, 1, 3) if "check" in args[:1] else (0, 1)


# issue 15: network, mounts, environment. Where the sockets, mounts and the
# marker's environment are, from netstat, mounts and type on the pristine dump;
# a fixture older than those commands' truth (no vmic-sockets) gets none.
def net_mount_env_mutations(g, rng):
    def offset(name):
        try:
            return g.r.json("type", "--json", g.dump, name)[0]["offset"]
        except RuntimeError:
            return None

    m = []
    mm = int(g.marker["mm"], 16)
    if mm:
        start = g.read_ptr(mm + offset("mm_struct.env_start"))
        end = mm + offset("mm_struct.env_end")
        m.append(("environment: marker's env_end 2^40 past env_start",
                  [(g.pa(end), u64(start + (1 << 40)))]))
    socks = [s for s in g.r.json("netstat", "--json", g.dump) if s["proto"] == "tcp"]
    if socks:
        file, sock = int(socks[0]["file"], 16), int(socks[0]["sock"], 16)
        m.append(("sockets: a socket file's private_data random",
                  [(g.pa(file + offset("file.private_data")), u64(rng.getrandbits(64)))]))
        m.append(("sockets: a sock's first 64 bytes random",
                  [(g.pa(sock), bytes(rng.getrandbits(8) for _ in range(64)))]))
    loose = [s for s in g.r.json("netstat", "--json", g.dump) if s["fd"] == -1]
    if loose:
        link = int(loose[0]["sock"], 16) + offset("sock.__sk_common.skc_node")
        m.append(("sockets: a hashed sock's chain link to itself", [(g.pa(link), u64(link))]))
        m.append(("sockets: a hashed sock's chain link random",
                  [(g.pa(link), u64(rng.getrandbits(64)))]))
    mounts = [int(x["mount"], 16) for x in g.r.json("mounts", "--json", g.dump)]
    if len(mounts) > 2:
        ml, node = offset("mount.mnt_list"), offset("mount.mnt_node")
        if offset("mnt_namespace.list") is not None and ml is not None:
            link = mounts[2] + ml
            m.append(("mounts: third mount's list.next to itself", [(g.pa(link), u64(link))]))
        elif node is not None:
            link = mounts[2] + node
            right = link + offset("rb_node.rb_right")
            m.append(("mounts: third mount's rb_right to itself", [(g.pa(right), u64(link))]))
        m.append(("mounts: second mount's devname random",
                  [(g.pa(mounts[1] + offset("mount.mnt_devname")), u64(rng.getrandbits(64)))]))
    return m


def net_mount_env_commands(g, dump):
    return [["netstat", "--json", dump], ["mounts", "--json", dump],
            ["env", "--json", dump, str(g.marker["pid"])]]


# ---- running the mutations ---------------------------------------------------------------

def commands(g, dump):
    pid = str(g.marker["pid"])
    return [["info", "--json", dump], ["ps", "--json", dump], ["banner", "--json", dump],
            ["modules", "--json", dump], ["dmesg", "--json", dump], ["sym", "--all", dump],
            ["threads", "--json", dump, pid], ["maps", "--json", dump, pid],
            ["files", "--json", dump, pid], ["type", "--json", dump, "task_struct"],
            ["pagetable", "--json", "--root", g.root, dump]] + yara_commands(dump, pid) + \
        process_commands(g, dump)


def yara_commands(dump, pid):
    """vmic yara over the marker's memory (its regions and page tables), and
    vmic check (the syscall table): each of the ~60 mutations runs every
    command."""
    rules = os.path.join(os.path.dirname(dump), "hostile.yar")
    with open(rules, "w") as f:
        f.write('rule marker { strings: $m = "VMIC-MARKER-" condition: $m }\n')
    return [["yara", "--json", rules, dump, "--pid", pid], ["check", "--json", dump]]


def process_commands(g, dump):
    """issue 15's commands over every process (and the marker's memory to
    files): a mutation met in any process must not crash or hang them."""
    pid = str(g.marker["pid"])
    out = os.path.join(os.path.dirname(dump), "dump-out")
    return [["files", "--json", dump], ["ps", "--threads", "--json", dump],
            ["pstree", "--json", dump], ["malfind", "--json", dump],
            ["dump", "--json", dump, "--pid", pid, "-o", out],
            ["dump", "--json", dump, "--pid", pid, "--exe", "-o", out]]


def apply(f, changes):
    """Writes the changes; returns what to write back to undo them."""
    undo = []
    for pa, data in changes:
        f.seek(pa)
        undo.append((pa, f.read(len(data))))
        f.seek(pa)
        f.write(data)
    f.flush()
    return list(reversed(undo))


def run_fixture(runner, fixture, work, rng, limit):
    pristine = os.path.join(fixture, "dump.raw")
    dump = os.path.join(work, os.path.basename(fixture.rstrip("/")) + ".raw")
    shutil.copyfile(pristine, dump)
    g = Guest(runner, dump)
    muts = (mutations(g, rng) + net_mount_env_mutations(g, rng))[:limit]
    cmds = commands(g, dump) + net_mount_env_commands(g, dump)
    with open(dump, "r+b") as f:
        for name, changes in muts:
            undo = apply(f, changes)
            kinds = [runner.judge(f"{fixture}: {name}", c) for c in cmds]
            print(f"  {name}: " + " ".join(k[0] for k in kinds), flush=True)
            apply(f, undo)
    os.unlink(dump)
    return dump_top_ranges(runner, pristine, work)


def dump_top_ranges(runner, raw, work):
    """The fixture's memory as a LiME whose last range ends at 0xfffffffffffff000, and as
    one whose last range ends at 2^64 (to be refused)."""
    results = []
    for name, last in (("top", TOP - 1), ("wrap", 0xffffffffffffffff)):
        path = os.path.join(work, name + ".lime")
        size = os.path.getsize(raw)
        with open(path, "wb") as out, open(raw, "rb") as src:
            out.write(struct.pack("<IIQQ8x", 0x4C694D45, 1, 0, size - 1))
            shutil.copyfileobj(src, out, 1 << 20)
            out.write(struct.pack("<IIQQ8x", 0x4C694D45, 1, last - 0xfff, last))
            out.write(b"\0" * 4096)
        for c in (["info", "--json", path], ["ps", "--json", path], ["banner", "--json", path],
                  ["dmesg", "--json", path], ["sym", "--all", path],
                  ["modules", "--json", path]):
            results.append(runner.judge(f"top of space ({name}.lime)", c))
        print(f"  range at the top ({name}): " + " ".join(k[0] for k in results[-6:]),
              flush=True)
        if name == "wrap":
            info = results[-6]
            if info != "clean":
                runner.failures.append("a LiME range ending at 2^64 was not refused")
        os.unlink(path)
    return results


def elf_top_ranges(runner, elf, work):
    """The fixture's ELF core with its last PT_LOAD (the BIOS ROM) moved to end at
    0xfffffffffffff000, and to end at 2^64 (to be refused)."""
    path = os.path.join(work, "top.elf")
    shutil.copyfile(elf, path)
    with open(path, "r+b") as f:
        head = f.read(4096)
        phoff, = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        loads = [phoff + i * phentsize for i in range(phnum)
                 if struct.unpack_from("<I", head, phoff + i * phentsize)[0] == 1]
        last = loads[-1]
        memsz, = struct.unpack_from("<Q", head, last + 40)
        for name, end in (("top", TOP), ("wrap", 1 << 64)):
            f.seek(last + 24)
            f.write(struct.pack("<Q", (end - memsz) & 0xffffffffffffffff))
            f.flush()
            kinds = [runner.judge(f"top of space ({name}.elf)", c)
                     for c in (["info", "--json", path], ["ps", "--json", path],
                               ["banner", "--json", path], ["modules", "--json", path])]
            print(f"  ELF range at the top ({name}): " + " ".join(k[0] for k in kinds),
                  flush=True)
            if name == "wrap" and kinds[0] != "clean":
                runner.failures.append("an ELF range ending at 2^64 was not refused")
    os.unlink(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vmic")
    ap.add_argument("fixtures", nargs="+")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--per-fixture", type=int, default=1000,
                    help="at most this many mutations of each fixture")
    a = ap.parse_args()
    runner = Runner(a.vmic)
    work = tempfile.mkdtemp(prefix="vmic-mutate.")
    start = time.monotonic()
    try:
        for fixture in a.fixtures:
            # DONE: make-fixture.sh has finished writing it (it may be rebuilding).
            if not os.path.exists(os.path.join(fixture, "DONE")):
                print(f"*** {fixture} is not built (no DONE): skipped ***")
                continue
            print(f"{fixture} ({'ASan' if runner.asan else 'no sanitizer'}):", flush=True)
            run_fixture(runner, fixture, work, random.Random(a.seed), a.per_fixture)
            if os.path.exists(os.path.join(fixture, "dump.elf")):
                elf_top_ranges(runner, os.path.join(fixture, "dump.elf"), work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    c = runner.counts
    print(f"mutation runs: {sum(c.values())} in {time.monotonic() - start:.0f} s: "
          + ", ".join(f"{v} {k}" for k, v in c.items()))
    for f in runner.failures:
        print("FAIL " + f)
    if sum(c.values()) == 0:
        print("FAIL nothing ran")
        return 1
    return 1 if runner.failures else 0


if __name__ == "__main__":
    sys.exit(main())

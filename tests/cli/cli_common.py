"""What the tests of the vmic command share: the binary and the fixture from
the command line, running vmic, counting failed tests, and the guest's own
truth files (written by scripts/make-fixture.sh)."""
import os
import subprocess
import sys

VMIC, FIXTURE = sys.argv[1], sys.argv[2]
ELF = os.path.join(FIXTURE, "dump.elf")
RAW = os.path.join(FIXTURE, "dump.raw")
failures = 0


def vmic(*args, rc=0, binary=False):
    """Runs vmic; binary: stdout as bytes (--raw output), stderr still text."""
    p = subprocess.run([VMIC, *args], capture_output=True, timeout=120)
    p.stderr = p.stderr.decode(errors="replace")
    if not binary:
        p.stdout = p.stdout.decode(errors="replace")
    if p.returncode != rc:
        raise AssertionError(f"vmic {' '.join(args)}: exit {p.returncode}, expected {rc}\n"
                             f"stdout: {p.stdout[-2000:]}\nstderr: {p.stderr[-2000:]}")
    return p


def test(fn):
    global failures
    try:
        fn()
        print(f"ok   {fn.__name__}")
    except Exception as e:  # a crash of the test (bad JSON, missing key) fails it too
        failures += 1
        print(f"FAIL {fn.__name__}: {type(e).__name__}: {e}")
    return fn


def truth(name):
    with open(os.path.join(FIXTURE, "truth", name)) as f:
        return f.read()


def kallsyms():
    syms = {}
    for line in truth("kallsyms.txt").splitlines():
        parts = line.split()
        if len(parts) == 3:
            syms.setdefault(parts[2], int(parts[0], 16))
    return syms


# /proc/kallsyms lines of things that are not modules (BPF programs, ftrace
# trampolines), which vmic does not list.
NOT_MODULES = ("bpf", "__builtin__ftrace")


def kallsyms_lines():
    """/proc/kallsyms as the guest printed it, less the NOT_MODULES lines."""
    return [l for l in truth("kallsyms.txt").splitlines()
            if not any(l.endswith(f"\t[{m}]") for m in NOT_MODULES)]


def module_kallsyms():
    """The module lines of /proc/kallsyms: (addr, type, name, module), in order."""
    out = []
    for line in truth("kallsyms.txt").splitlines():
        head, tab, mod = line.partition("\t")
        parts = head.split()
        if (tab and len(parts) == 3 and mod.startswith("[") and mod.endswith("]")
                and mod[1:-1] not in NOT_MODULES):
            out.append((int(parts[0], 16), parts[1], parts[2], mod[1:-1]))
    return out


def shape():
    """The fixture's shape (shape.txt: kernel= cpu= pti= ram= smp= ...); {} for older ones."""
    try:
        with open(os.path.join(FIXTURE, "shape.txt")) as f:
            return dict(kv.split("=", 1) for kv in f.read().split())
    except FileNotFoundError:
        return {}


def paging_levels():
    """The guest's paging levels, from its CR4.LA57 in registers.txt (QEMU's own dump)."""
    with open(os.path.join(FIXTURE, "registers.txt")) as f:
        for part in f.read().split():
            if part.startswith("CR4="):
                return 5 if int(part[4:], 16) & (1 << 12) else 4
    raise AssertionError("no CR4 in registers.txt")


def has_truth(name):
    return os.path.exists(os.path.join(FIXTURE, "truth", name))


def exit_status():
    return 1 if failures else 0

#!/usr/bin/env python3
"""Python (the vmic package) against C for the same walks on a fixture's
raw dump: the process list (objects only, and with each command line, as
`vmic ps`), and every kallsyms symbol (kernel and modules, as
/proc/kallsyms). Prints the best of RUNS for each side and what Python adds
per object over the C walk (the target: under 5 us per object).

    bench_python.py FIXTURE_DIR [BENCH_PYTHON_WALK] [--runs N]

BENCH_PYTHON_WALK is bench/python/bench_python_walk.c built
(build/release/bench/bench_python_walk by default); the package is the
in-tree one (python/), over the libvmic it finds (vmic.library_path).
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))
import vmic  # noqa: E402

TARGET_US = 5.0


def best(fn, runs):
    fn()  # warm: the same caches the C side warms
    t = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        fn()
        t = min(t, time.perf_counter_ns() - t0)
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fixture")
    ap.add_argument("walker", nargs="?",
                    default=os.path.join(ROOT, "build", "release", "bench", "bench_python_walk"))
    ap.add_argument("--runs", type=int, default=20)
    a = ap.parse_args()
    dump = os.path.join(a.fixture, "dump.raw")
    c = json.loads(subprocess.run([a.walker, dump, str(a.runs)], capture_output=True, text=True,
                                  check=True).stdout)
    with vmic.open(dump) as vm:
        nproc = len(vm.processes())
        walk = best(vm.processes, a.runs)
        walk_cmd = best(lambda: [p.cmdline for p in vm.processes()], a.runs)
        nsym = sum(1 for _ in vm.symbols())
        syms = best(lambda: sum(1 for _ in vm.symbols()), max(3, a.runs // 4))
    assert (nproc, nsym) == (c["processes"], c["symbols"]), (nproc, nsym, c)
    print("vmic Python bench on %s (libvmic %s, Python %s)" % (
        dump, vmic.library_path, sys.version.split()[0]))
    print("%-34s %12s %12s %10s %12s" % ("", "C", "Python", "objects", "+us/object"))
    worst = 0.0
    for what, cns, pns, n in (("processes (walk)", c["walk_ns"], walk, nproc),
                              ("processes + cmdline (ps)", c["walk_cmdline_ns"], walk_cmd, nproc),
                              ("kallsyms, every symbol", c["symbols_ns"], syms, nsym)):
        per = (pns - cns) / n / 1000
        worst = max(worst, per)
        print("%-34s %9.1f us %9.1f us %10d %12.2f" % (what, cns / 1000, pns / 1000, n, per))
    print("per-object cost over the C walk: at most %.2f us (target < %.0f us): %s" % (
        worst, TARGET_US, "met" if worst < TARGET_US else "NOT met"))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""bench_trace_paths: what `vmic trace` costs a live guest, plugin vs gdbstub vs strace (not a test).

Boots the fixture twice under TCG (vmic boot: once with vmic's plugin, its
default, once --no-plugin), each with strace and its libraries added to the
initramfs (a second cpio archive after the fixture's: the kernel unpacks
both), and times the guest's own loop ("vmic-workload loop N": N x getpid +
openat("/dev/null") + close, timed inside the guest) in one run:

  untraced          no tracer (the plugin loaded, idle: it registers nothing)
  strace -f         Debian's strace inside the guest, output to /dev/null
  vmic, plugin      vmic trace --summary-only: every syscall decoded (the
                    path string read), only the summary printed
  vmic, views       the same with --tap memory: the breakpoints' pages
                    without X in a view of the plugin's, so every
                    instruction on them is a held event (--views-loop N)
  vmic, gdbstub     the same through QEMU's gdbstub (booted --no-plugin)

Each figure is the median of --runs loops (a first loop warms the
translation cache); ratios are to the untraced loop of the same boot.
Also: events per second through the plugin (the tracer's breakpoint hits
during the loop / the loop's time).

usage: bench_trace_paths.py VMIC FIXTURE_DIR [--loop N] [--gdb-loop N] [--runs N] [--smp N]
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tests", "qemu"))
import test_trace as tt  # noqa: E402


def strace_initrd(fixture, work):
    """The fixture's initramfs with strace added: a second cpio archive."""
    root = os.path.join(work, "root")
    os.makedirs(os.path.join(root, "bin"))
    strace = shutil.which("strace")
    if not strace:
        return None
    shutil.copy(strace, os.path.join(root, "bin", "strace"))
    libs = subprocess.run(["ldd", strace], capture_output=True, text=True).stdout
    for path in re.findall(r"(/\S+\.so[.\d]*) \(", libs):
        dst = os.path.join(root, path.lstrip("/"))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy(os.path.realpath(path), dst)
    files = subprocess.run(["find", ".", "-mindepth", "1"], cwd=root, capture_output=True,
                           text=True).stdout
    cpio = subprocess.run(["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"], cwd=root,
                          input=files.encode(), capture_output=True, check=True).stdout
    out = os.path.join(work, "initrd.gz")
    with open(os.path.join(fixture, "initrd.gz"), "rb") as a, open(out, "wb") as f:
        f.write(a.read())
        f.write(subprocess.run(["gzip", "-9n"], input=cpio, capture_output=True,
                               check=True).stdout)
    return out


def boot(vmic, fixture, initrd, smp, plugin):
    tt.PATH = "plugin" if plugin else "gdbstub"
    # test_trace.boot takes the fixture directory: point it at a copy whose
    # initrd.gz is the one with strace.
    d = tempfile.mkdtemp(prefix="vmic-bench-fx.")
    for name in os.listdir(fixture):
        src = os.path.abspath(os.path.join(fixture, name))
        if name == "initrd.gz":
            os.symlink(initrd or src, os.path.join(d, name))
        elif os.path.isfile(src) and name in ("vmlinuz", "shape.txt"):
            os.symlink(src, os.path.join(d, name))
    try:
        return tt.boot(vmic, d, smp)
    finally:
        shutil.rmtree(d)


def loop_secs(g, cmd, n):
    text, rc = g.command("%s %d" % (cmd, n), 1800)
    m = re.search(r"W loop n=%d ns=(\d+)" % n, text or "")
    if rc != 0 or not m:
        raise RuntimeError("%s %d: rc %s: %s" % (cmd, n, rc, (text or "")[-400:]))
    return int(m.group(1)) / 1e9


def median(g, cmd, n, runs):
    loop_secs(g, cmd, n)  # warm: the first run translates
    return statistics.median(loop_secs(g, cmd, n) for _ in range(runs))


def traced(g, n, runs, extra=()):
    """Median loop time under vmic trace, and the tracer's hits per loop."""
    p = subprocess.Popen([g.vmic, "trace", "--json", "--summary-only"] + list(extra) +
                         [g.target], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while "tracing" not in (p.stderr.readline() or "tracing"):
        pass
    secs = median(g, "loop", n, runs)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=600)
    objs = {o["type"]: o for o in (json.loads(line) for line in out.splitlines() if line)}
    summary = objs.get("summary", {})
    if p.returncode != 0 or not summary:
        raise RuntimeError("vmic trace: %s" % err)
    # Hits during one loop: every loop of the session made the same.
    return secs, summary.get("hits", 0) / (runs + 1), objs.get("plugin")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vmic")
    ap.add_argument("fixture")
    ap.add_argument("--loop", type=int, default=2000)
    ap.add_argument("--gdb-loop", type=int, default=200,
                    help="rounds through the gdbstub (its ratio does not depend on N)")
    ap.add_argument("--views-loop", type=int, default=200,
                    help="rounds through the plugin's views (--tap memory)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--smp", type=int, default=1)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="vmic-bench-trace.")
    rows, notes = [], []
    try:
        initrd = strace_initrd(a.fixture, work)
        g = boot(a.vmic, a.fixture, initrd, a.smp, True)
        try:
            base = median(g, "loop", a.loop, a.runs)
            rows.append(("untraced (plugin loaded, idle)", a.loop, base, base))
            try:
                s = median(g, "strace", a.loop, a.runs)
                rows.append(("strace -f inside the guest", a.loop, s, base))
            except RuntimeError as e:
                notes.append("strace: %s (the fixture's /init predates its strace command?)" % e)
            secs, hits, plugin = traced(g, a.loop, a.runs)
            rows.append(("vmic trace, plugin", a.loop, secs, base))
            notes.append("plugin: %.0f breakpoint events/s during the loop (%.0f a loop), %s" %
                         (hits / secs, hits, plugin))
            base_v = median(g, "loop", a.views_loop, a.runs)
            secs, hits, plugin = traced(g, a.views_loop, a.runs, ["--tap", "memory"])
            rows.append(("untraced (plugin loaded, idle)", a.views_loop, base_v, base_v))
            rows.append(("vmic trace --tap memory (views)", a.views_loop, secs, base_v))
            notes.append("views: %.0f breakpoint hits/s during the loop; %s" %
                         (hits / secs, plugin))
        finally:
            g.stop()
        g = boot(a.vmic, a.fixture, initrd, a.smp, False)
        try:
            base_g = median(g, "loop", a.gdb_loop, a.runs)
            secs, hits, _ = traced(g, a.gdb_loop, 1)
            rows.append(("untraced (no plugin)", a.gdb_loop, base_g, base_g))
            rows.append(("vmic trace, gdbstub", a.gdb_loop, secs, base_g))
            notes.append("gdbstub: %.0f breakpoint events/s during the loop" % (hits / secs))
        finally:
            g.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\nguest loop: N x (getpid + openat + close), %d vCPU(s), TCG, median of %d" %
          (a.smp, a.runs))
    print("%-34s %7s %10s %9s" % ("", "N", "loop s", "x"))
    for label, n, secs, b in rows:
        print("%-34s %7d %10.3f %9.2f" % (label, n, secs, secs / b))
    for n in notes:
        print(n)
    print(json.dumps({"rows": rows, "notes": notes}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""bench_plugin: live events through libvmic-qemu.so (not a test).

Boots the 6.1 fixture twice (nokaslr, TCG, 1 vCPU by default): once without
the plugin, once with it, and times the guest's own syscall loop
("vmic-workload loop N": N x getpid + open + close, timed in the guest):

  untraced       no plugin
  loaded, idle   plugin loaded, no client (no callback registered)
  sync / ring    a client watching do_syscall_64 (1 watch), then 15
                 functions of the syscall path (~10 events a round), in
                 sync mode (every event answered) and ring mode

and reports events per second through the plugin: events received by the
client during the loop / the loop's time (the guest makes them as fast as
TCG runs it, so this is a floor of what the plugin carries).

usage: bench_plugin.py VMIC PLUGIN PROBE FIXTURE_DIR [--loop N] [--smp N] [--runs N]
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tests", "plugin"))
import test_plugin as tp  # noqa: E402

HOT = ["entry_SYSCALL_64", "do_syscall_64", "syscall_enter_from_user_mode",
       "syscall_exit_to_user_mode", "exit_to_user_mode_prepare", "__x64_sys_getpid",
       "__task_pid_nr_ns", "__x64_sys_openat", "do_sys_openat2", "getname_flags",
       "do_filp_open", "path_openat", "kmem_cache_alloc", "__x64_sys_close", "close_fd"]


def loop_times(guest, n, runs):
    out = []
    for _ in range(runs):
        start = guest.send("loop %d" % n)
        rc, ns = guest.wait_idle("loop %d" % n, start, 600)
        if rc != 0 or ns is None:
            raise RuntimeError("the guest loop failed")
        out.append(ns / 1e9)
    return out


def traced(args, guest, mode, pas, va):
    probe = tp.Probe(args, guest, mode, va, pas)
    applied = probe.line(30)
    if applied is None:
        raise RuntimeError("probe: " + probe.p.stderr.read())
    secs = loop_times(guest, args.loop, 1)[0]
    out = probe.finish()
    return secs, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vmic")
    ap.add_argument("plugin")
    ap.add_argument("probe")
    ap.add_argument("fixture")
    ap.add_argument("--loop", type=int, default=20000)
    ap.add_argument("--smp", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    va, pa, _ = tp.kernel_addresses(args.fixture)
    hot = [tp.kernel_addresses(args.fixture, name)[1] for name in HOT]
    rows = []

    boots = {}
    t0 = time.time()
    guest = tp.Guest(args, args.smp, plugin=False)
    boots["untraced"] = time.time() - t0
    try:
        loop_times(guest, args.loop, 1)  # warm: the first run translates
        t = loop_times(guest, args.loop, args.runs)
        rows.append(("untraced", statistics.median(t), None, None))
    finally:
        guest.stop()

    t0 = time.time()
    guest = tp.Guest(args, args.smp, plugin=True)
    boots["plugin loaded, idle"] = time.time() - t0
    try:
        loop_times(guest, args.loop, 1)
        t = loop_times(guest, args.loop, args.runs)
        rows.append(("plugin loaded, idle", statistics.median(t), None, None))
        for mode in ("sync", "ring"):
            for label, pas in (("1 watch", [pa]), ("%d watches" % len(hot), hot)):
                secs, out = traced(args, guest, mode, pas, va)
                lost = out["plugin_events"] - out["received"]
                rows.append(("%s, %s" % (mode, label), secs, out["received"], lost))
    finally:
        guest.stop()

    base = rows[0][1]
    print("\nguest loop of %d rounds (3 syscalls each), %d vCPU(s), TCG" % (args.loop, args.smp))
    print("%-24s %9s %7s %10s %10s %5s" % ("", "loop s", "x", "events", "events/s", "lost"))
    for label, secs, events, lost in rows:
        ev = "-" if events is None else str(events)
        rate = "-" if events is None else "%.0f" % (events / secs)
        print("%-24s %9.3f %7.2f %10s %10s %5s" % (label, secs, secs / base, ev, rate,
                                                   "-" if lost is None else lost))
    print("boot to READY: %s" % ", ".join("%s %.1f s" % kv for kv in boots.items()))
    print(json.dumps({"rows": rows, "boots": boots}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""vmic watch on a live guest: the 6.1 fixture booted with `vmic boot
--plugin` (the plugin found by the lookup: next to the build tree's vmic).
Checked against the guest:

  info     vmic info says the plugin is there (and --json)
  loop     a watch on do_syscall_64 (--symbol) while the guest runs its loop
           of N syscalls: at least N events, every one at do_syscall_64's
           va and pa, none with registers, none lost (plugin == received)
  count    --pa and --count 5: vmic ends by itself after 5 events
  kill     vmic SIGKILLed mid-watch: the guest finishes its loop, QMP says
           running, the plugin let the dead watcher go
  none     a QEMU booted with --no-plugin: info says none, watch refuses
           with the reason (and as JSON)

usage: test_watch.py VMIC FIXTURE_DIR [--smp N] [--loop N]
       (exit 77 = skipped: no QEMU or no fixture kernel)
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_plugin as tp  # noqa: E402  (Guest, the guest's commands, the block's fields)

check, log = tp.check, tp.log


def start_watch(args, guest, *opts):
    # stdout to a file: a pipe nobody reads would fill, vmic would block on
    # it, and the plugin's back-pressure would then hold the guest's vCPU.
    out = tempfile.TemporaryFile("w+")
    p = subprocess.Popen([args.vmic, "watch", "--json"] + list(opts) + ["qemu:" + guest.dir],
                         stdout=out, stderr=subprocess.PIPE, text=True)
    p.out = out
    line = p.stderr.readline()   # "watching ...": the watch is in force
    check(line.startswith("watching"), "watch %s: applied (%s)" % (" ".join(opts), line.strip()))
    return p


def finish(p, sig=None, timeout=60):
    if sig:
        p.send_signal(sig)
    _, err = p.communicate(timeout=timeout)
    p.out.seek(0)
    out = p.out.read()
    return p.returncode, json.loads(out) if out.strip() else None, err


def without_plugin(args):
    """A firmware-only QEMU without the plugin: no plugin, said clearly."""
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else "/tmp"
    d = tempfile.mkdtemp(prefix="vmic-watch.", dir=base)
    try:
        r = subprocess.run([args.vmic, "boot", "--quiet", "--no-kernel", "--no-plugin", "--dir", d],
                           capture_output=True, text=True, timeout=120)
        if not check(r.returncode == 0, "none: a QEMU without the plugin booted"):
            log(r.stderr)
            return
        r = subprocess.run([args.vmic, "info", "--json", "qemu:" + d], capture_output=True,
                           text=True, timeout=60)
        plug = json.loads(r.stdout).get("plugin", {}) if r.returncode == 0 else {}
        check(plug.get("present") is False and "no plugin" in plug.get("note", ""),
              "none: info says so (%s)" % plug)
        r = subprocess.run([args.vmic, "watch", "--json", "--pa", "0x1000", "qemu:" + d],
                           capture_output=True, text=True, timeout=60)
        err = json.loads(r.stdout).get("error", {}) if r.stdout.strip() else {}
        check(r.returncode == 1 and "no plugin" in err.get("message", "") and
              err.get("status") == "not supported", "none: watch refuses (%s)" % err)
    finally:
        subprocess.run([args.vmic, "boot", "--stop", "qemu:" + d], capture_output=True,
                       timeout=60)
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vmic")
    ap.add_argument("fixture")
    ap.add_argument("--smp", type=int, default=1)
    ap.add_argument("--loop", type=int, default=3000)
    args = ap.parse_args()
    args.plugin = ""   # Guest boots with --plugin=: the lookup
    if shutil.which("qemu-system-x86_64") is None:
        log("*** SKIP: qemu-system-x86_64 is not installed ***")
        return 77
    for f in ("vmlinuz", "initrd.gz", "shape.txt", "truth/kallsyms.txt", "truth/iomem.txt"):
        if not os.path.exists(os.path.join(args.fixture, f)):
            log("*** SKIP: no %s in %s (scripts/make-fixture.sh) ***" % (f, args.fixture))
            return 77
    va, pa, _ = tp.kernel_addresses(args.fixture)
    log("do_syscall_64: va 0x%x, pa 0x%x (nokaslr)" % (va, pa))
    guest = tp.Guest(args, args.smp)
    try:
        r = subprocess.run([args.vmic, "info", "--json", "qemu:" + guest.dir],
                           capture_output=True, text=True, timeout=60)
        plug = json.loads(r.stdout).get("plugin", {}) if r.returncode == 0 else {}
        check(plug.get("present") is True and plug.get("ctl") == guest.ctl,
              "info: the plugin is there (%s)" % plug)

        # loop: every syscall of the guest's loop seen.
        p = start_watch(args, guest, "--symbol", "do_syscall_64")
        start = guest.send("loop %d" % args.loop)
        rc, _ = guest.wait_idle("loop %d" % args.loop, start, 300)
        rc_w, ev, err = finish(p, signal.SIGINT)
        ev = ev or []
        check(rc == 0 and rc_w == 0, "loop: the guest's loop (rc %s) and vmic (rc %s) ended"
              % (rc, rc_w))
        check(len(ev) >= args.loop, "loop: %d events at do_syscall_64 >= the loop's %d syscalls"
              % (len(ev), args.loop))
        check(all(int(e["pc"], 16) == va and int(e["pa"], 16) == pa and e["watch"] ==
                  "do_syscall_64" and e["registers"] is False for e in ev),
              "loop: every event at va 0x%x / pa 0x%x, without registers" % (va, pa))
        last = err.strip().splitlines()[-1] if err.strip() else ""
        parts = last.split()
        check(len(parts) > 5 and parts[0] == parts[3] == parts[5] == str(len(ev)),
              "loop: none lost (%s)" % last)

        # kill: SIGKILL mid-watch leaves the guest running.
        busy = 100 * args.loop
        p = start_watch(args, guest, "--symbol", "do_syscall_64")
        start = guest.send("loop %d" % busy)
        time.sleep(1.5)
        p.kill()
        p.wait()
        rc, _ = guest.wait_idle("loop %d" % busy, start, 300)
        check(rc == 0, "kill: the guest finished its loop after vmic's SIGKILL")
        check(guest.running(), "kill: QMP says the guest runs")
        check(tp.ctl_field(guest.ctl, tp.ATTACHED_PID) == 0,
              "kill: the plugin let the dead watcher go")

        # count: --pa, and vmic ends by itself.
        p = start_watch(args, guest, "--pa", hex(pa), "--count", "5")
        start = guest.send("loop %d" % args.loop)
        rc_w, ev, _ = finish(p, timeout=120)
        guest.wait_idle("loop %d" % args.loop, start, 300)
        check(rc_w == 0 and ev is not None and len(ev) == 5,
              "count: --count 5 ended vmic with 5 events (rc %s)" % rc_w)
        check(guest.running(), "the guest runs at the end")
    except Exception:
        guest.show_logs()
        guest.stop()
        raise
    if tp.failures:
        guest.show_logs()
    guest.stop()
    without_plugin(args)
    log("%d failure(s)" % tp.failures)
    return 1 if tp.failures else 0


if __name__ == "__main__":
    sys.exit(main())

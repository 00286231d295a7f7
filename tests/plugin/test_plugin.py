#!/usr/bin/env python3
"""libvmic-qemu.so on a live guest: the 6.1 fixture booted (nokaslr, 2 vCPUs,
MTTCG) as vmic boot starts it, with --plugin. Checked against the guest:

  address  do_syscall_64's pa (kallsyms truth, text pa = va - __START_KERNEL_map
           + phys_base, phys_base 0 under nokaslr) holds the kernel's bytes
           (the fixture's dump at its own load address), and the plugin's pa
           of the events (from qemu_plugin_insn_haddr) is that same pa
  sync     a guest loop of N rounds (3 syscalls each): >= 3N events at
           do_syscall_64, each answered, none dropped
  ring     the same loop: every event the plugin made reached the client
           (plugin counter == client counter, no sequence gap, none dropped)
  many     13 watches on hot kernel functions during the workload's script
           (forks, threads, exec) and the loop, sync and ring: none lost
  latency  a watch added while the guest runs a busy loop is in force, and
           its first event seen, within one second (2 vCPUs: applied when
           the other idles; then a 1-vCPU boot: applied through the
           client's QMP stop + cont)
  one      a second client is refused while one is attached
  kill     the client SIGKILLed while it holds a vCPU: the guest goes on and
           finishes its loop (the plugin saw the pidfd close)
  split    4.5 GiB guests (firmware only) on pc and q35: the plugin found
           QEMU's mapping of the RAM file and splits it where QEMU does
           ([0, 3 GiB) resp. [0, 2 GiB) below 4 GiB, as test_qemu_layout
           checks against QEMU's own reads)

usage: test_plugin.py VMIC PLUGIN PROBE FIXTURE_DIR [--smp N] [--loop N]
       (exit 77 = skipped: no QEMU or no fixture kernel)
"""
import argparse
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "qemu"))
from qmp_once import qmp_once  # noqa: E402

READY = "=== VMIC-FIXTURE-READY ==="
START_KERNEL_MAP = 0xffffffff80000000
NOKASLR_TEXT = 0xffffffff81000000
failures = 0


def check(cond, what):
    global failures
    print("  %s: %s" % ("ok" if cond else "FAIL", what), flush=True)
    if not cond:
        failures += 1
    return cond


def log(msg):
    print(msg, flush=True)


def kernel_addresses(fixture, name="do_syscall_64"):
    """do_syscall_64 under nokaslr: its offset from _text in the truth's
    kallsyms (taken on a KASLR boot), and the fixture boot's pa of _text
    (its /proc/iomem "Kernel code") to find the same bytes in its dump."""
    syms = {}
    with open(os.path.join(fixture, "truth", "kallsyms.txt")) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2] in ("_text", name):
                syms[parts[2]] = int(parts[0], 16)
    off = syms[name] - syms["_text"]
    with open(os.path.join(fixture, "truth", "iomem.txt")) as f:
        code = re.search(r"([0-9a-f]+)-[0-9a-f]+ : Kernel code", f.read())
    va = NOKASLR_TEXT + off
    return va, va - START_KERNEL_MAP, int(code.group(1), 16) + off


# Offsets in struct vmic_plugin_ctl (plugin/vmic_plugin_abi.h): 48 bytes of
# identification, 16 of RAM layout, 256 of ram_path, then attach (4 words:
# attached_pid the last), watches (6 words), doorbell + client_sleeping, dropped.
# tests/plugin/test_plugin_ctl.c asserts these at build time.
ATTACHED_PID = 48 + 16 + 256 + 12
WATCHES_ACTIVE = 48 + 16 + 256 + 16 + 16
DROPPED = 48 + 16 + 256 + 16 + 24 + 8


def ctl_field(path, offset, size=4):
    with open(path, "rb") as f:
        f.seek(offset)
        return int.from_bytes(f.read(size), "little")


class Guest:
    def __init__(self, args, smp, plugin=True):
        self.vmic = args.vmic
        base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else "/tmp"
        self.dir = tempfile.mkdtemp(prefix="vmic-plugin.", dir=base)
        self.ctl = os.path.join(self.dir, "plugin.ctl")
        self.qmp = os.path.join(self.dir, "qmp.sock")
        self.serial = os.path.join(self.dir, "serial1.log")
        shape = dict(kv.split("=", 1) for kv in
                     open(os.path.join(args.fixture, "shape.txt")).read().split())
        append = "console=ttyS0 panic=-1 vmic.workload=1 nokaslr"
        if shape.get("pti", "auto") != "auto":
            append += " pti=" + shape["pti"]
        # vmic boot --plugin=PATH adds -plugin PATH,ram=DIR/ram,ctl=DIR/plugin.ctl.
        extra = ["--plugin=" + args.plugin] if plugin else []
        t0 = time.time()
        r = subprocess.run([self.vmic, "boot", "--quiet", "--dir", self.dir,
                            "--kernel", os.path.join(args.fixture, "vmlinuz"),
                            "--initrd", os.path.join(args.fixture, "initrd.gz"),
                            "--smp", str(smp), "--cpu", shape.get("cpu", "qemu64"),
                            "-m", shape.get("ram", "256"), "--append", append,
                            "--wait-serial", READY, "--timeout", "200"] + extra +
                           ["--", "-serial", "unix:%s/ttyS2.sock,server=on,wait=off" % self.dir],
                           capture_output=True, text=True, timeout=240)
        log("  vmic boot: exit %d after %.1f s (%d vCPUs, plugin %s)"
            % (r.returncode, time.time() - t0, smp, "loaded" if plugin else "not loaded"))
        if r.returncode != 0:
            log(r.stderr)
            self.show_logs()
            self.stop()
            sys.exit(1)
        self.port = socket.socket(socket.AF_UNIX)
        self.port.connect(os.path.join(self.dir, "ttyS2.sock"))

    def text(self):
        with open(self.serial, errors="replace") as f:
            return f.read()

    def send(self, cmd):
        start = len(self.text())
        self.port.sendall((cmd + "\n").encode())
        return start

    def wait_idle(self, cmd, start, timeout):
        marker = re.escape("=== VMIC-WORKLOAD-IDLE %s " % cmd) + r"rc=(\d+) ==="
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = self.text()[start:]
            m = re.search(marker, text)
            if m:
                ns = re.search(r"W loop n=\d+ ns=(\d+)", text)
                return int(m.group(1)), int(ns.group(1)) if ns else None
            time.sleep(0.05)
        return None, None

    def show_logs(self):
        for name in ("console.log", "serial1.log", "qemu.log"):
            try:
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    log("---- last lines of %s ----\n%s" % (name, "\n".join(f.read().splitlines()[-15:])))
            except OSError:
                pass

    def running(self):
        """QEMU's own word on whether the guest runs (never left paused)."""
        reply = qmp_once(self.qmp, "query-status", timeout=10)
        return reply.get("return", {}).get("running") is True

    def stop(self):
        try:
            self.port.close()
        except AttributeError:
            pass
        for name in ("ttyS2.sock",):
            try:
                os.unlink(os.path.join(self.dir, name))
            except OSError:
                pass
        subprocess.run([self.vmic, "boot", "--stop", "qemu:" + self.dir], capture_output=True,
                       timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)


class Probe:
    """The client (vmic_plugin_probe) in the background, one JSON line a step."""

    def __init__(self, args, guest, mode, va, pa, hold=False):
        pas = pa if isinstance(pa, list) else [pa]
        cmd = [args.probe, guest.ctl, "--qmp", guest.qmp, "--mode", mode, "--pc", hex(va)]
        for a in pas:
            cmd += ["--watch", hex(a)]
        cmd += ["--hold"] if hold else []
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def line(self, timeout):
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not r:
            return None
        text = self.p.stdout.readline()
        return json.loads(text) if text.strip() else None

    def finish(self):
        self.p.send_signal(signal.SIGINT)
        out = self.line(30)
        try:
            self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        if out is None:
            log("  probe said: " + self.p.stderr.read())
        return out


def loop_under(args, guest, mode, va, pa, n):
    probe = Probe(args, guest, mode, va, pa)
    applied = probe.line(20)
    if not check(applied is not None, "%s: the probe attached and its watch was applied" % mode):
        log(probe.p.stderr.read() if probe.p.poll() is not None else "")
        probe.p.kill()
        return None
    log("    watch applied in %.1f ms (%d QMP kicks)" % (applied["applied_ms"], applied["kicks"]))
    start = guest.send("loop %d" % n)
    rc, ns = guest.wait_idle("loop %d" % n, start, 300)
    out = probe.finish()
    check(rc == 0, "%s: the guest loop of %d rounds finished" % (mode, n))
    if not check(out is not None, "%s: the probe reported" % mode):
        return None
    log("    %s: %s; loop %.3f s" % (mode, json.dumps(out), (ns or 0) / 1e9))
    check(out["pc_events"] >= 3 * n, "%s: %d events at do_syscall_64 >= 3 x %d syscall rounds"
          % (mode, out["pc_events"], n))
    check(out["pa"] == pa, "%s: the plugin's pa of do_syscall_64 (from haddr) is 0x%x"
          % (mode, out["pa"]))
    check(out["plugin_dropped"] == 0, "%s: nothing dropped" % mode)
    check(out["plugin_events"] == out["received"] and out["gaps"] == 0,
          "%s: every event made reached the client (plugin %d, client %d, gaps %d)"
          % (mode, out["plugin_events"], out["received"], out["gaps"]))
    return out


HOT = ["entry_SYSCALL_64", "do_syscall_64", "syscall_exit_to_user_mode", "__x64_sys_getpid",
       "__x64_sys_openat", "__x64_sys_close", "kmem_cache_alloc", "kfree", "schedule",
       "__x64_sys_clone", "__x64_sys_wait4", "__x64_sys_exit_group", "do_exit"]


def many_watches(args, guest, va):
    """Watches on hot kernel functions while the workload's script (forks,
    threads, exec) runs on both vCPUs: in each mode every event the plugin
    made reached the client, both vCPUs holding events at once in sync."""
    pas = [kernel_addresses(args.fixture, name)[1] for name in HOT]
    for mode in ("sync", "ring"):
        probe = Probe(args, guest, mode, va, pas)
        if not check(probe.line(20) is not None, "%s, %d watches: applied" % (mode, len(pas))):
            probe.p.kill()
            continue
        start = guest.send("run plugin-" + mode)
        rc, _ = guest.wait_idle("run plugin-" + mode, start, 300)
        start = guest.send("loop %d" % args.loop)
        rc2, _ = guest.wait_idle("loop %d" % args.loop, start, 300)
        out = probe.finish()
        check(rc is not None and rc2 == 0, "%s, %d watches: the workload ran" % (mode, len(pas)))
        if check(out is not None, "%s, %d watches: the probe reported" % (mode, len(pas))):
            log("    %s" % json.dumps(out))
            check(out["plugin_dropped"] == 0 and out["gaps"] == 0 and
                  out["plugin_events"] == out["received"] and out["received"] > 3 * args.loop,
                  "%s, %d watches: %d events made, %d received, none lost (per vCPU %s)"
                  % (mode, len(pas), out["plugin_events"], out["received"], out["vcpus"]))


def busy_watch(args, guest, va, pa, second_client=False):
    """A watch added while the guest's loop runs: in force, and its first
    event seen, within a second."""
    probe = Probe(args, guest, "ring", va, pa)
    applied = probe.line(20)
    time.sleep(1.5)
    if second_client:
        # One client at a time: a second one is refused, the first goes on.
        second = subprocess.run([args.probe, guest.ctl, "--watch", hex(pa)],
                                capture_output=True, text=True, timeout=30)
        check(second.returncode != 0 and "another vmic" in second.stderr,
              "a second client is refused while one is attached: %s" % second.stderr.strip())
    out = probe.finish()
    if check(applied is not None and out is not None, "busy guest: the probe reported"):
        log("    watch applied in %.1f ms (%d QMP kicks), first event after %.1f ms"
            % (applied["applied_ms"], applied["kicks"], out["first_event_ms"]))
        check(0 <= out["first_event_ms"] < 1000,
              "busy guest: the new watch's first event came within 1 s (%.1f ms)"
              % out["first_event_ms"])
    return applied


def busy_one_vcpu(args, va, pa):
    """With one vCPU in a loop nothing idles: the client's QMP stop + cont
    is what lets the plugin apply the watch."""
    guest = Guest(args, 1)
    try:
        start = guest.send("loop %d" % (100 * args.loop))
        time.sleep(1.0)
        applied = busy_watch(args, guest, va, pa)
        check(applied is not None and applied["kicks"] >= 1,
              "busy guest, 1 vCPU: the watch needed QMP stop + cont")
        check(guest.running(), "busy guest, 1 vCPU: the guest runs after the kicks")
        guest.wait_idle("loop %d" % (100 * args.loop), start, 300)
    finally:
        guest.stop()


def check_split(args):
    """The RAM split the plugin uses on big pc and q35 guests (vmic boot
    --plugin passes machine=q35 on q35)."""
    for machine, low in (("pc", 3 << 30), ("q35", 2 << 30)):
        base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else "/tmp"
        d = tempfile.mkdtemp(prefix="vmic-plugin.", dir=base)
        ctl = os.path.join(d, "plugin.ctl")
        r = subprocess.run([args.vmic, "boot", "--quiet", "--no-kernel", "--machine", machine,
                            "-m", "4608", "--dir", d, "--plugin=" + args.plugin],
                           capture_output=True, text=True, timeout=120)
        if check(r.returncode == 0, "split: %s booted with 4.5 GiB" % machine):
            p = subprocess.Popen([args.probe, ctl, "--qmp", os.path.join(d, "qmp.sock")],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            line = p.stdout.readline()
            p.send_signal(signal.SIGINT)
            p.communicate(timeout=30)
            got = json.loads(line) if line.strip() else {}
            check(got.get("ram_size") == 4608 << 20 and got.get("below_4g") == low,
                  "split: %s: RAM file of %s bytes mapped, %s of it below 4 GiB (want 0x%x)"
                  % (machine, got.get("ram_size"), hex(got.get("below_4g") or 0), low))
        else:
            log(r.stderr)
        subprocess.run([args.vmic, "boot", "--stop", "qemu:" + d], capture_output=True,
                       timeout=60)
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vmic")
    ap.add_argument("plugin")
    ap.add_argument("probe")
    ap.add_argument("fixture")
    ap.add_argument("--smp", type=int, default=2)
    ap.add_argument("--loop", type=int, default=3000)
    args = ap.parse_args()
    if shutil.which("qemu-system-x86_64") is None:
        log("*** SKIP: qemu-system-x86_64 is not installed ***")
        return 77
    for f in ("vmlinuz", "initrd.gz", "shape.txt", "dump.raw", "truth/kallsyms.txt"):
        if not os.path.exists(os.path.join(args.fixture, f)):
            log("*** SKIP: no %s in %s (scripts/make-fixture.sh) ***" % (f, args.fixture))
            return 77
    check_split(args)
    va, pa, fixture_pa = kernel_addresses(args.fixture)
    log("do_syscall_64: va 0x%x, pa 0x%x (nokaslr)" % (va, pa))
    guest = Guest(args, args.smp)
    try:
        with open(os.path.join(guest.dir, "ram"), "rb") as f:
            f.seek(pa)
            live = f.read(32)
        with open(os.path.join(args.fixture, "dump.raw"), "rb") as f:
            f.seek(fixture_pa)
            image = f.read(32)
        check(live == image and live != bytes(32),
              "the RAM file at pa 0x%x holds do_syscall_64's bytes (%s)" % (pa, live[:8].hex()))

        loop_under(args, guest, "sync", va, pa, args.loop)
        loop_under(args, guest, "ring", va, pa, args.loop)
        many_watches(args, guest, va)

        # A watch added on a busy guest (its loop runs; no plugin callback
        # at all is registered before the watch).
        busy = 200 * args.loop
        start = guest.send("loop %d" % busy)
        time.sleep(1.0)
        busy_watch(args, guest, va, pa, second_client=True)

        rc, _ = guest.wait_idle("loop %d" % busy, start, 300)
        check(rc == 0, "busy guest: its loop finished")

        # The client killed while it holds a vCPU in sync mode. The loop
        # starts after the watch is in force, so a syscall is certain to come
        # (a loop started earlier may already be over).
        probe = Probe(args, guest, "sync", va, pa, hold=True)
        applied = probe.line(20)
        start = guest.send("loop %d" % (20 * args.loop))
        held = probe.line(20)
        check(held is not None and "held" in held, "kill: the probe holds vCPU %s"
              % (held or {}).get("held"))
        time.sleep(0.5)
        before = len(guest.text())
        probe.p.kill()
        probe.p.wait()
        rc, _ = guest.wait_idle("loop %d" % (20 * args.loop), start, 300)
        check(rc == 0, "kill: the guest finished its loop after the client's SIGKILL")
        after = guest.send("loop 10")
        rc, _ = guest.wait_idle("loop 10", after, 60)
        check(rc == 0 and len(guest.text()) > before, "kill: the guest still takes commands")
        check(ctl_field(guest.ctl, ATTACHED_PID) == 0 and ctl_field(guest.ctl, DROPPED, 8) > 0,
              "kill: the plugin let the dead client go (no attached pid) and counted %d drop(s)"
              % ctl_field(guest.ctl, DROPPED, 8))
        # A client after the dead one attaches, and the plugin counted drops
        # only for the dead one.
        out = loop_under(args, guest, "ring", va, pa, 100)
        check(guest.running(), "the guest runs at the end (no kick left it paused)")
    except Exception:
        guest.show_logs()
        guest.stop()
        raise
    if failures:
        guest.show_logs()
    guest.stop()
    busy_one_vcpu(args, va, pa)
    log("%d failure(s)" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

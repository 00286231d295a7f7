#!/usr/bin/env python3
"""A live guest is never left frozen by vmic (issue 11), checked from both sides.

One boot of the 6.1 fixture with vmic.workload (the guest takes commands on a
third serial port, see test_trace.py). After every case the guest is checked
from QMP (query-status says running, or paused where it was paused before)
and from its own side: it runs "loop N" (N rounds of getpid + open/close,
timed by the guest) and says so on ttyS1, which a frozen guest cannot do.

  sigpipe     vmic sym --all | head -1, vmic ps | head -1
  wrong peer  the gdb socket given as QMP, and the QMP socket as gdb (vmic attach)
  signals     SIGINT to vmic trace's process group (a Ctrl-C), SIGTERM, SIGHUP
  parallel    vmic ps while vmic trace holds the gdbstub equals the guest's ps
  paused      a guest paused before vmic attached stays paused (ps, a killed trace)
  kills       SIGKILL of vmic trace at random moments of every stage (attaching,
              armed, at an event, detaching): no guest left paused, no
              breakpoint left behind (the guest's loop keeps its speed)
  resume      vmic resume after a gdb client stopped at its breakpoint was
              killed (status "debug", QMP cont re-stops at once), and after
              one that is stuck but alive
  qemu dies   QEMU killed while vmic sym is blocked on its output: vmic says
              the result may be torn and fails

usage: test_nofreeze.py VMIC FIXTURE_DIR [--kills N] [--kill-budget SEC]
       (exit 77 = skipped: no QEMU or no fixture kernel)
"""
import argparse
import fcntl
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_trace as tt  # noqa: E402  (the guest and vmic trace, shared)

check, log = tt.check, tt.log


# ---- the two sides --------------------------------------------------------------------------


def status(g):
    return g.qmp("query-status")["return"]["status"]


def wait_status(g, want, timeout=15):
    """QMP's status once it is `want` (the guard may still be at work), else the last one."""
    deadline = time.time() + timeout
    st = status(g)
    while st != want and time.time() < deadline:
        time.sleep(0.05)
        st = status(g)
    return st


def lock_free(g, timeout=15):
    """Whether DIR/vmic.lock is free (no vmic, no guard holds it) within timeout."""
    path = os.path.join(g.dir, "vmic.lock")
    deadline = time.time() + timeout
    while True:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.time() > deadline:
                return False
        finally:
            os.close(fd)
        time.sleep(0.02)


def guest_loop(g, n, timeout=60):
    """The guest's own timed loop: its ns, or None if the guest did not finish it."""
    text, rc = g.command("loop %d" % n, timeout=timeout)
    m = re.search(r"W loop n=%d ns=(\d+)" % n, text or "")
    return int(m.group(1)) if m and rc == 0 else None


def alive(g, what, want="running"):
    """Checks both sides: QMP's status, and the guest running a loop of its own."""
    st = wait_status(g, want)
    ok = check(st == want, "%s: QMP says %s, not %s" % (what, st, want))
    if want == "running":
        ok = check(guest_loop(g, 50) is not None, "%s: the guest did not run its loop" % what) \
            and ok
    return ok


def vmic(g, *args, timeout=60):
    return subprocess.run([g.vmic] + list(args), capture_output=True, text=True,
                          timeout=timeout)


# ---- the cases ------------------------------------------------------------------------------


def test_sigpipe(g):
    log("sigpipe: vmic ... | head -1")
    for cmd in ("sym --all", "ps"):
        r = subprocess.run("'%s' %s '%s' | head -1" % (g.vmic, cmd, g.target), shell=True,
                           capture_output=True, text=True, timeout=60)
        check(len(r.stdout.splitlines()) == 1, "%s | head -1 printed %r" % (cmd, r.stdout))
        alive(g, "vmic %s | head -1" % cmd)


def test_wrong_peer(g):
    log("wrong peer: the gdb socket given as QMP")
    gdb = os.path.join(g.dir, "gdb.sock")
    r = vmic(g, "attach", "--gdb", gdb, "--qmp", gdb, "--mem", os.path.join(g.dir, "ram"))
    check(r.returncode == 1, "vmic attach with the gdb socket as QMP: exit %d" % r.returncode)
    check("not QMP" in r.stderr and "the VM runs on" in r.stderr,
          "vmic attach's message: " + r.stderr)
    alive(g, "gdb socket as QMP")
    qmp = os.path.join(g.dir, "qmp.sock")
    t0 = time.time()
    r = vmic(g, "attach", "--gdb", qmp, "--qmp", qmp, "--mem", os.path.join(g.dir, "ram"))
    secs = time.time() - t0
    check(r.returncode == 1 and "not a gdbstub" in r.stderr,
          "vmic attach with the QMP socket as gdb: exit %d: %s" % (r.returncode, r.stderr))
    check(secs < 3, "vmic attach with the QMP socket as gdb took %.1f s" % secs)
    alive(g, "QMP socket as gdb")


class GroupTrace(tt.Trace):
    """vmic trace as the leader of a process group of its own, as a shell runs it."""

    def __init__(self, vmic, target, args):
        popen = subprocess.Popen
        subprocess.Popen = lambda *a, **k: popen(*a, start_new_session=True, **k)
        try:
            super().__init__(vmic, target, args)
        finally:
            subprocess.Popen = popen


def test_signals(g):
    log("signals: SIGINT to vmic trace's process group, SIGTERM, SIGHUP")
    for sig, group in ((signal.SIGINT, True), (signal.SIGTERM, False), (signal.SIGHUP, False)):
        t = (GroupTrace if group else tt.Trace)(g.vmic, g.target, ["--no-summary"])
        if not check(t.wait_armed(), "vmic trace did not arm: " + t.err):
            t.finish(signal.SIGKILL)
            continue
        if group:
            os.killpg(t.p.pid, sig)   # what a Ctrl-C does: the guard is not in it
            _, _, rc, _ = t.finish(None)
        else:
            _, _, rc, _ = t.finish(sig)
        check(rc == 0, "vmic trace on %s: exit %d: %s" % (sig.name, rc, t.err))
        check("QEMU says the VM is running" in t.err,
              "vmic trace on %s does not state QEMU's run state: %s" % (sig.name, t.err))
        check(lock_free(g), "the session lock still held after %s" % sig.name)
        alive(g, "vmic trace ended by %s" % sig.name)


def guest_ps(text, tag):
    body = text.split("=== BEGIN ps-%s ===\n" % tag, 1)[-1].split("=== END ps-%s ===" % tag)[0]
    out = {}
    for line in body.splitlines()[1:]:
        f = line.split(None, 3)
        if len(f) >= 3 and f[0].isdigit():
            out[int(f[0])] = (int(f[1]), f[2])
    return out


def test_parallel(g):
    log("parallel: vmic ps while vmic trace holds the gdbstub")
    # Processes only: few stops, so the guest's own ps runs at its speed.
    t = tt.Trace(g.vmic, g.target, ["--no-syscalls", "--no-summary"])
    if not check(t.wait_armed(), "vmic trace did not arm: " + t.err):
        t.finish(signal.SIGKILL)
        return
    text, rc = g.command("ps par", timeout=120)
    check(rc == 0, "the guest's ps failed")
    theirs = guest_ps(text or "", "par")
    t0 = time.time()
    r = vmic(g, "ps", "--json", g.target)
    secs = time.time() - t0
    info = vmic(g, "info", "--json", g.target)   # registers from HMP, not the gdbstub
    busy = vmic(g, "trace", "--duration", "1", g.target)
    events, _, trc, _ = t.finish(signal.SIGINT)
    if not check(r.returncode == 0, "vmic ps beside the trace: " + r.stderr):
        return
    log("  vmic ps beside the trace: %.2f s, %d processes; the trace saw %d events" %
        (secs, len(tt.json.loads(r.stdout)), len(events)))
    check("held by vmic pid %d" % t.p.pid in r.stderr,
          "vmic ps does not say who holds the gdbstub: " + r.stderr)
    mine = {p["pid"]: p for p in tt.json.loads(r.stdout)}
    # The guest's ps and the awk and subshell of its section are gone since.
    gone = {pid for pid, (_, comm) in theirs.items() if comm in ("ps", "awk", "sh", "init")
            and pid > 1 and pid not in mine}
    check(len(theirs) > 40, "the guest's ps listed only %d processes" % len(theirs))
    for pid, (ppid, comm) in theirs.items():
        if pid in gone:
            continue
        p = mine.get(pid)
        if check(p is not None, "pid %d (%s) in the guest's ps, not in vmic's" % (pid, comm)):
            check(p["ppid"] == ppid and tt.same_comm(comm, p["comm"]),
                  "pid %d: vmic says %d %s, the guest %d %s" % (pid, p["ppid"], p["comm"], ppid,
                                                               comm))
    for pid, p in mine.items():
        check(pid in theirs or pid == 0, "pid %d (%s) in vmic's ps, not the guest's" %
              (pid, p["comm"]))
    check(info.returncode == 0 and '"rip"' in info.stdout and "held by vmic pid" in info.stderr,
          "vmic info beside the trace: %d %s" % (info.returncode, info.stderr))
    check(busy.returncode == 1 and "held by vmic pid" in busy.stderr,
          "a second vmic trace: exit %d: %s" % (busy.returncode, busy.stderr))
    check(trc == 0, "vmic trace: exit %d: %s" % (trc, t.err))
    alive(g, "vmic ps beside a trace")


def test_paused(g):
    log("paused: a guest paused before vmic stays paused")
    g.qmp("stop")
    r = vmic(g, "ps", g.target)
    check(r.returncode == 0 and "(as found)" in r.stderr, "vmic ps on a paused guest: %d %s" %
          (r.returncode, r.stderr))
    check(status(g) == "paused", "vmic ps resumed a paused guest")
    t = tt.Trace(g.vmic, g.target, ["--no-summary"])
    check(t.wait_armed(), "vmic trace did not arm on a paused guest: " + t.err)
    t.finish(signal.SIGKILL)
    check(lock_free(g), "the guard of a killed trace did not let go")
    check(status(g) == "paused", "the guard resumed a guest that was paused: %s" % status(g))
    g.qmp("cont")
    alive(g, "paused guest, continued")


class Syscalls:
    """Short loops of syscalls in the guest, for traces to stop on (an idle
    guest makes none): a new one whenever the guest finished the last."""

    def __init__(self, g):
        self.g, self.sent = g, 0
        self.idle0 = self.idle()

    def idle(self):
        return self.g.text().count("=== VMIC-WORKLOAD-IDLE loop ")

    def poke(self):
        if self.idle() - self.idle0 >= self.sent:
            self.g.send("loop 300")
            self.sent += 1

    def wait_all(self, timeout=60):
        deadline = time.time() + timeout
        while self.idle() - self.idle0 < self.sent and time.time() < deadline:
            time.sleep(0.1)
        return self.idle() - self.idle0 == self.sent


def kill_trace(g, stage, work):
    """One vmic trace killed at `stage`; returns the stage it was seen to be in."""
    args = ["--no-summary"] + (["--duration", "1"] if stage == "detaching" else [])
    t = tt.Trace(g.vmic, g.target, args)
    seen = "attaching"
    if stage == "attaching":
        time.sleep(random.uniform(0, 0.15))
    elif stage == "armed":
        t.wait_armed(20)
        time.sleep(random.uniform(0, 0.05))
    elif stage == "event":
        t.wait_armed(20)
        work.poke()
        t.read_until(lambda e: e["type"] != "start", 10)  # an event, not the first line
        time.sleep(random.uniform(0, 0.02))
    else:
        t.wait_armed(20)
        work.poke()
        t._wait(lambda: "every breakpoint removed" in t.err, 10)
        time.sleep(random.uniform(0, 0.01))
    # The {"type":"start"} line says only that the trace began.
    err, out = t.err, len([line for line in t.out if '"type":"start"' not in line])
    if "every breakpoint removed" in err:
        seen = "detaching"
    elif out:
        seen = "event"
    elif "tracing" in err:
        seen = "armed"
    t.p.kill()
    t.p.wait()
    for r in t.readers:
        r.join()
    # A trace that could not start (the gdbstub still busy, ...) proves nothing.
    # (At "detaching" it may have finished by itself just before the kill.)
    errors = [line for line in t.out if line.startswith('{"error"')]
    check(not errors and t.p.returncode in (0, -signal.SIGKILL),
          "vmic trace ended by itself before the kill (exit %s): %s%s" %
          (t.p.returncode, "".join(errors)[-300:], t.err))
    return seen


def test_kills(g, kills, budget):
    log("kills: SIGKILL of vmic trace at random moments, %d times (at most %d s)" %
        (kills, budget))
    base = guest_loop(g, 2000)
    if not check(base is not None, "the guest's baseline loop did not finish"):
        return
    stages = ("attaching", "armed", "event", "detaching")
    counts = {s: 0 for s in stages}
    stuck = []
    work = Syscalls(g)
    t0, done = time.time(), 0
    while done < kills and time.time() - t0 < budget:
        seen = kill_trace(g, stages[done % 4], work)
        counts[seen] += 1
        done += 1
        if not lock_free(g) or wait_status(g, "running") != "running":
            stuck.append((done, seen, status(g)))
            g.qmp("cont")
    log("  %d kills in %.0f s, by the stage vmic was in when killed: %s" %
        (done, time.time() - t0, ", ".join("%s %d" % kv for kv in counts.items())))
    check(not stuck, "guests left paused (kill, stage, status): %s" % stuck)
    check(done == kills, "only %d of %d kills within %d s" % (done, kills, budget))
    check(all(counts.values()), "a stage never hit: %s" % counts)
    # No breakpoint left behind: the guest finishes its loops, and its own
    # loop over the traced syscalls keeps its speed (one left in would stop
    # the guest for good, with no gdb client to answer it).
    check(work.wait_all(), "the guest did not finish its loops after the kills")
    after = guest_loop(g, 2000)
    log("  the guest's loop of 2000: %.1f ms before the kills, %s after" %
        (base / 1e6, "%.1f ms" % (after / 1e6) if after else "not finished"))
    check(after is not None and after < max(3 * base, base + 200e6),
          "the guest's loop slowed down after the kills: %s vs %d ns" % (after, base))
    # Nor a vCPU left halfway through what vmic did for it (a PUSH carried
    # out past a breakpoint is two register writes): the guest's kernel
    # says nothing bad.
    with open(os.path.join(g.dir, "console.log"), errors="replace") as f:
        bad = re.findall(r".*(?:Oops|BUG:|general protection|Kernel panic|segfault).*",
                         f.read())
    check(not bad, "the guest's kernel after the kills: %s" % bad[:5])
    r = vmic(g, "resume", g.target)   # on a clean guest it only reports what it finds
    check("found: VM status running; gdbstub free" in r.stdout,
          "after the kills vmic resume found: " + r.stdout)


def raw_gdb_client(g, addr):
    """A gdb client that stops the guest at a breakpoint on addr and then hangs."""
    code = r'''
import socket, sys, time
def pkt(s):
    return b"$" + s.encode() + b"#" + b"%02x" % (sum(s.encode()) & 0xff)
c = socket.socket(socket.AF_UNIX); c.connect(sys.argv[1])
c.sendall(pkt("Z1,%s,1" % sys.argv[2])); time.sleep(0.3); c.sendall(b"+" + pkt("c"))
buf = b""
while b"T05" not in buf:
    buf += c.recv(100)
print("hit", flush=True)
time.sleep(600)
'''
    p = subprocess.Popen([sys.executable, "-c", code, os.path.join(g.dir, "gdb.sock"), addr],
                         stdout=subprocess.PIPE, text=True)
    return p, p.stdout.readline().strip() == "hit"


def test_resume(g):
    log("resume: after a killed gdb client, and a stuck one")
    r = vmic(g, "sym", g.target, "ktime_get")
    addr = r.stdout.split()[0] if r.returncode == 0 and r.stdout.split() else None
    if not check(addr, "vmic sym ktime_get: " + r.stderr):
        return
    for stuck in (False, True):
        what = "a stuck gdb client" if stuck else "a killed gdb client"
        p, hit = raw_gdb_client(g, addr)
        check(hit, "%s: its breakpoint on ktime_get never hit" % what)
        if not stuck:
            p.kill()
            p.wait()
            g.qmp("cont")
            # The breakpoint is still in: the guest stops on it again at once.
            check(wait_status(g, "debug", 5) == "debug",
                  "%s: QMP cont did not re-stop on its breakpoint (%s)" % (what, status(g)))
        r = vmic(g, "resume", g.target)
        check(r.returncode == 0, "vmic resume after %s: %s" % (what, r.stderr))
        check("found: VM status debug" in r.stdout and "now: VM status running" in r.stdout,
              "vmic resume after %s says:\n%s" % (what, r.stdout))
        if stuck:
            check("gdbserver none" in r.stdout, "vmic resume did not restart the stub")
            p.kill()
            p.wait()
        time.sleep(1)
        alive(g, "vmic resume after %s" % what)
        check(status(g) == "running", "%s: the guest stopped again after vmic resume" % what)


def test_qemu_dies(g):
    log("qemu dies: QEMU killed while vmic sym waits on its output")
    p = subprocess.Popen([g.vmic, "sym", "--all", g.target], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    p.stdout.read(1)           # it runs, attached; now blocked on the full pipe
    time.sleep(0.3)
    os.kill(g.qemu_pid(), signal.SIGKILL)
    out, err = p.communicate(timeout=60)
    check(p.returncode == 1, "vmic sym with QEMU killed under it: exit %d" % p.returncode)
    check("QEMU is gone" in err and "may be torn" in err, "vmic sym's message: " + err)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vmic")
    ap.add_argument("fixture")
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--kill-budget", type=int, default=240)
    ap.add_argument("--only", help="comma-separated cases")
    a = ap.parse_args()
    g = tt.boot(a.vmic, a.fixture, 1)
    cases = [("sigpipe", test_sigpipe), ("wrong-peer", test_wrong_peer),
             ("signals", test_signals), ("parallel", test_parallel), ("paused", test_paused),
             ("kills", lambda g: test_kills(g, a.kills, a.kill_budget)),
             ("resume", test_resume), ("qemu-dies", test_qemu_dies)]
    try:
        alive(g, "the guest as booted")
        for name, fn in cases:
            if a.only and name not in a.only.split(","):
                continue
            fn(g)
    finally:
        if tt.failures:
            g.show_logs()
        g.stop()
    log("%s: %d failures" % ("FAIL" if tt.failures else "PASS", tt.failures))
    return 1 if tt.failures else 0


if __name__ == "__main__":
    sys.exit(main())

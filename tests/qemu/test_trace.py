#!/usr/bin/env python3
"""vmic trace on a live guest, checked against what the guest says it did.

One boot of the fixture kernel with vmic.workload on its command line: its
/init then takes commands on a third serial port (a socket here) and runs
tests/fixtures/workload.c, which logs every open, write, fork, exec and exit
it makes, with pids and results, to ttyS1. The test starts vmic trace first,
then the workload, and compares:

  ps       vmic ps with the guest's own ps, the guest paused right after it
  run 1    every open, write, exec, exit, fork and thread of the workload's
           log appears exactly once, with the right pid, name, path and
           result; the summary counts what was printed
  run 1    and the arguments of the workload's calls as Debian 12's strace
           6.1 printed them for the same calls (flags, modes, addresses)
  run 2    --comm cat --syscall openat,read,write,exit_group: only those,
           and cat's exec (a process event) all the same
  run 3    SIGINT mid-run (--pid 1): vmic detaches cleanly and the guest
           finishes its script (its own "done" line)
  run 5    --pid 1 --follow: the workload (init's child) and its children are
           traced, their opens, execs and exits as the log says; nothing else
  run 6    --no-syscalls: every fork, exec and exit of the log, no syscall
  examples ps, breakpoint and strace (when built) on the same guest
  run 4    QEMU killed mid-trace: vmic ends with a clear error, no hang

usage: test_trace.py VMIC FIXTURE_DIR [--smp N] [--examples DIR] [--target qemu:DIR]
       (exit 77 = skipped: no QEMU or no fixture kernel)
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qmp_once import qmp_once  # noqa: E402
import fixture_boot  # noqa: E402

READY = "=== VMIC-FIXTURE-READY ==="
failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("  FAIL:", what, flush=True)
    return cond


def log(msg):
    print(msg, flush=True)


# ---- the guest -----------------------------------------------------------------------


def show_logs(directory):
    """What the guest and QEMU said last, to tell a failure's cause."""
    for name in ("console.log", "serial1.log", "qemu.err"):
        try:
            with open(os.path.join(directory, name), errors="replace") as f:
                lines = f.read().splitlines()[-25:]
        except OSError:
            continue
        log("---- last lines of %s ----\n%s" % (name, "\n".join(lines)))
    try:
        with open(os.path.join(directory, "qemu.pid")) as f:
            os.kill(int(f.read().split()[0]), 0)
        log("---- QEMU is running ----")
    except (OSError, ValueError, IndexError):
        log("---- QEMU is gone ----")


class Guest:
    """A booted fixture guest: its directory, serial log and command port."""

    def __init__(self, vmic, directory, own):
        self.vmic = vmic
        self.dir = directory
        self.target = "qemu:" + directory
        self.own = own
        self.serial = os.path.join(directory, "serial1.log")
        self.port = socket.socket(socket.AF_UNIX)
        # One connection for the whole test: QEMU drops bytes it has not
        # passed to the guest yet when the peer hangs up.
        self.port.connect(os.path.join(directory, "ttyS2.sock"))

    def text(self):
        with open(self.serial, errors="replace") as f:
            return f.read()

    def command(self, cmd, timeout=90):
        """Sends a workload command; returns (its log, rc) once it is done."""
        start = len(self.text())
        self.port.sendall((cmd + "\n").encode())
        marker = "=== VMIC-WORKLOAD-IDLE %s " % cmd
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = self.text()[start:]
            m = re.search(re.escape(marker) + r"rc=(\d+) ===", text)
            if m:
                return text[:m.start()], int(m.group(1))
            time.sleep(0.1)
        return None, None

    def send(self, cmd):
        self.port.sendall((cmd + "\n").encode())

    def wait_idle(self, cmd, start, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = self.text()[start:]
            m = re.search(re.escape("=== VMIC-WORKLOAD-IDLE %s " % cmd) + r"rc=(\d+) ===", text)
            if m:
                return text[:m.start()], int(m.group(1))
            time.sleep(0.1)
        return None, None

    def show_logs(self):
        show_logs(self.dir)

    def qemu_pid(self):
        with open(os.path.join(self.dir, "qemu.pid")) as f:
            return int(f.read().split()[0])

    def qmp(self, command):
        """One QMP command (QEMU takes one QMP client at a time: closed after)."""
        return qmp_once(os.path.join(self.dir, "qmp.sock"), command)

    def stop(self):
        self.port.close()
        if self.own:
            # The command port is the test's: vmic boot --stop removes only
            # its own files, and would leave the directory behind.
            try:
                os.unlink(os.path.join(self.dir, "ttyS2.sock"))
            except OSError:
                pass
            subprocess.run([self.vmic, "boot", "--stop", self.target], capture_output=True,
                           timeout=60)


# How vmic trace must say it gets its events (--path): "plugin" boots QEMU
# with vmic's plugin (vmic boot's default), "gdbstub" without it;
# "plugin-views" boots with the plugin and traces with --tap memory (the
# breakpoints' pages without X in a view: the memory controller).
PATH = "plugin"


def boot(vmic, fixture, smp):
    if shutil.which("qemu-system-x86_64") is None:
        log("\n*** SKIP: qemu-system-x86_64 is not installed (scripts/install-deps.sh) ***\n")
        sys.exit(77)
    kernel, initrd = os.path.join(fixture, "vmlinuz"), os.path.join(fixture, "initrd.gz")
    if not (os.path.exists(kernel) and os.path.exists(initrd)):
        log("\n*** SKIP: no fixture kernel in %s (scripts/make-fixture.sh) ***\n" % fixture)
        sys.exit(77)
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else "/tmp"
    # New, empty, ours and 0700: vmic boot --dir takes it as it is (removing
    # it first would let anyone plant a directory under the same name).
    directory = tempfile.mkdtemp(prefix="vmic-trace.", dir=base)
    # The guest as the fixture was made (scripts/make-fixture.sh writes
    # shape.txt): the same CPU model (5-level paging with max), PTI and RAM;
    # its command line as fixture_boot.append says (tsc=unstable with 2 vCPUs).
    shape = fixture_boot.shape(fixture)
    append = fixture_boot.append(shape, smp, "vmic.workload=1")
    t0 = time.time()
    r = subprocess.run([vmic, "boot", "--quiet", "--dir", directory, "--kernel", kernel,
                        "--initrd", initrd, "--smp", str(smp),
                        "--cpu", shape.get("cpu", "qemu64"), "-m", shape.get("ram", "256"),
                        "--append", append, "--wait-serial", READY,
                        "--timeout", "150"] + (["--no-plugin"] if PATH == "gdbstub" else []) +
                       ["--", "-serial",
                        "unix:%s/ttyS2.sock,server=on,wait=off" % directory],
                       capture_output=True, text=True, timeout=180)
    log("  vmic boot: exit %d after %.1f s (%d vCPUs)" % (r.returncode, time.time() - t0, smp))
    if r.returncode != 0:
        log(r.stderr)
        show_logs(directory)
        sys.exit(1)
    guest = Guest(vmic, directory, True)
    if "=== BEGIN kallsyms ===" in guest.text():
        log("the fixture's /init ignored vmic.workload: rebuild it (scripts/make-fixture.sh)")
        guest.stop()
        sys.exit(1)
    return guest


# ---- vmic trace as a process ---------------------------------------------------------------


class Trace:
    """vmic trace --json in the background. Its output is read as it comes:
    a tracer blocked on a full pipe would hold the guest at a breakpoint."""

    def __init__(self, vmic, target, args):
        tap = ["--tap", "memory"] if PATH == "plugin-views" else []
        self.p = subprocess.Popen([vmic, "trace", "--json"] + tap + args + [target],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.out, self.errs = [], []
        self.plugin = None  # what the plugin counted ({"type":"plugin"}), if used
        self.lock = threading.Lock()
        self.readers = [threading.Thread(target=self._drain, args=(self.p.stdout, self.out)),
                        threading.Thread(target=self._drain, args=(self.p.stderr, self.errs))]
        for r in self.readers:
            r.start()

    def _drain(self, stream, lines):
        for line in stream:
            with self.lock:
                lines.append(line)

    @property
    def err(self):
        with self.lock:
            return "".join(self.errs)

    def _wait(self, pred, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if pred():
                return True
            if self.p.poll() is not None:
                time.sleep(0.2)
                return pred()
            time.sleep(0.05)
        return False

    def wait_armed(self, timeout=30):
        """Until vmic says it traces (its breakpoints are in)."""
        return self._wait(lambda: "tracing" in self.err, timeout)

    def read_until(self, pred, timeout):
        """Until an event satisfies pred."""
        def seen():
            with self.lock:
                lines = list(self.out)
            return any(pred(json.loads(l)) for l in lines if l.strip())
        return self._wait(seen, timeout)

    def finish(self, sig=signal.SIGINT, timeout=30):
        """Signals vmic, waits for its end; returns (events, summary, rc, seconds)."""
        t0 = time.time()
        if sig:
            self.p.send_signal(sig)
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            check(False, "vmic trace did not end within %d s of signal %s" % (timeout, sig))
        secs = time.time() - t0
        for r in self.readers:
            r.join()
        events, summary, starts = [], None, []
        for line in self.out:
            if not line.strip():
                continue
            e = json.loads(line)
            if e["type"] == "summary":
                summary = e
            elif e["type"] == "start":
                starts.append(e)
            elif e["type"] == "plugin":
                self.plugin = e
            else:
                events.append(e)
        # The first line says where the events come from.
        if self.p.returncode == 0:
            words = {"plugin": "through vmic's QEMU plugin", "gdbstub": "through QEMU's gdbstub",
                     "plugin-views": "through vmic's QEMU plugin, in a view"}
            check(len(starts) == 1 and starts[0]["path"] == PATH and words[PATH] in self.err,
                  "vmic trace should trace through the %s: %r, %r" % (PATH, starts, self.err))
            # Through the plugin, with capture programs (the tracer falls
            # back to live reads without saying more than this).
            check(not starts or starts[0].get("capture") == (PATH == "plugin"),
                  "vmic trace's capture: %r" % starts)
        return events, summary, self.p.returncode, secs


# ---- reading events --------------------------------------------------------------------------


def unquote(text):
    """The C literal vmic shows ("..." with escapes, maybe cut: ...) as a string."""
    if not text.startswith('"'):
        return None
    body = text[1:]
    body = body[:-4] if body.endswith('"...') else body[:-1]
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            n = body[i + 1]
            if n == "x":
                out.append(chr(int(body[i + 2:i + 4], 16)))
                i += 4
                continue
            out.append({"n": "\n", "t": "\t", "r": "\r"}.get(n, n))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def arg(e, name):
    for a in e["args"]:
        if a["name"] == name:
            return a
    return None


def syscalls(events, name=None, pid=None):
    return [e for e in events if e["type"] == "syscall" and (name is None or e["name"] == name)
            and (pid is None or e["pid"] == pid)]


def of_type(events, kind, pid=None):
    return [e for e in events if e["type"] == kind and (pid is None or e["pid"] == pid)]


def truth_lines(text, kind):
    """The workload's "W kind k=v ..." lines as dicts (the last key takes the rest)."""
    out = []
    for line in text.splitlines():
        if not line.startswith("W %s " % kind):
            continue
        fields, rest = {}, line[len("W %s " % kind):]
        for m in re.finditer(r"(\w+)=(.*?)(?= \w+=|$)", rest):
            fields[m.group(1)] = m.group(2)
        if "argv" in fields:  # argv= runs to the end of the line
            fields["argv"] = rest[rest.index("argv=") + 5:]
        if "text" in fields:
            fields["text"] = rest[rest.index("text=") + 5:]
        out.append(fields)
    return out


# ---- the checks -----------------------------------------------------------------------------


def same_comm(guest, vmic):
    """/proc's name may say more than comm (a kworker's workqueue, a cut name)."""
    return guest == vmic or guest.startswith(vmic + "-") or (len(vmic) == 15 and
                                                             guest.startswith(vmic))


def test_ps(g):
    log("ps: vmic ps against the guest's ps, the guest paused")
    text, rc = g.command("ps 1")
    check(rc == 0, "the guest's ps failed")
    g.qmp("stop")
    r = subprocess.run([g.vmic, "ps", "--json", g.target], capture_output=True, text=True,
                       timeout=60)
    g.qmp("cont")
    if not check(r.returncode == 0, "vmic ps: " + r.stderr):
        return
    mine = {p["pid"]: p for p in json.loads(r.stdout)}
    body = text.split("=== BEGIN ps-1 ===\n", 1)[-1].split("=== END ps-1 ===")[0]
    theirs = {}
    for line in body.splitlines()[1:]:
        f = line.split(None, 3)
        if len(f) == 4 and f[0].isdigit():
            theirs[int(f[0])] = (int(f[1]), f[2], re.sub(r"^\{[^}]*\} ", "", f[3]))
    # The guest's own pipeline (ps | awk, and the subshell of /init that
    # runs it, comm "init") may be gone by the time vmic looks.
    gone = {p for p, (_, comm, _) in theirs.items()
            if comm in ("ps", "awk") or (comm == "init" and p != 1)}
    check(len(theirs) > 40, "the guest's ps listed only %d processes" % len(theirs))
    for pid, (ppid, comm, args) in theirs.items():
        if pid in gone:
            continue
        p = mine.get(pid)
        if not check(p is not None, "pid %d (%s) in the guest's ps, not in vmic's" % (pid, comm)):
            continue
        check(p["ppid"] == ppid, "pid %d: ppid %d, guest says %d" % (pid, p["ppid"], ppid))
        check(same_comm(comm, p["comm"]), "pid %d: comm %s, guest says %s" % (pid, p["comm"], comm))
        if args.startswith("[") and p["cmdline"].startswith("["):
            same = same_comm(args.strip("[]"), p["cmdline"].strip("[]"))
        else:
            same = p["cmdline"] == args
        check(same, "pid %d: cmdline %r, guest says %r" % (pid, p["cmdline"], args))
    for pid, p in mine.items():
        check(pid in theirs or pid == 0, "pid %d (%s) in vmic's ps, not in the guest's" %
              (pid, p["comm"]))


def traced_run(g, tag, args):
    t = Trace(g.vmic, g.target, args)
    if not check(t.wait_armed(), "vmic trace did not start: " + t.err):
        t.finish()
        return None
    start = len(g.text())
    g.send("run %s" % tag)
    text, rc = g.wait_idle("run %s" % tag, start, 120)
    check(rc == 5, "run %s: the workload's exit code is %s, not 5" % (tag, rc))
    events, summary, vrc, _ = t.finish()
    check(vrc == 0, "vmic trace exit status %s: %s" % (vrc, t.err))
    check("detached" in t.err, "vmic trace did not say it detached: " + t.err)
    return text or "", events, summary


def check_opens(truth, events):
    """Each (pid, path) opened as often as the log says, with its results in order."""
    wanted = {}
    for o in truth_lines(truth, "open"):
        wanted.setdefault((int(o["pid"]), o["path"]), []).append(int(o["ret"]))
    for (pid, path), rets in wanted.items():
        calls = [e for e in syscalls(events, pid=pid) if e["name"] in ("open", "openat", "creat")
                 and unquote(arg(e, "filename")["text"]) == path]
        got = [e["ret"] for e in calls]
        check(got == rets, "opens of %s by %d returned %s, the guest says %s" %
              (path, pid, got, rets))


def check_writes(truth, events):
    for w in truth_lines(truth, "write"):
        pid, fd, ret = int(w["pid"]), int(w["fd"]), int(w["ret"])
        calls = [e for e in syscalls(events, "write", pid) if int(arg(e, "fd")["text"]) == fd and
                 unquote(arg(e, "buf")["text"]) == w["text"]]
        if check(len(calls) == 1, "write of %r by %d seen %d times" % (w["text"], pid, len(calls))):
            check(calls[0]["ret"] == ret, "write by %d returned %d, guest says %d" %
                  (pid, calls[0]["ret"], ret))


def check_execs(truth, events):
    for x in truth_lines(truth, "exec"):
        pid, path = int(x["pid"]), x["path"]
        execs = of_type(events, "exec", pid)
        failed = [f for f in truth_lines(truth, "execfail") if int(f["pid"]) == pid]
        calls = [e for e in syscalls(events, "execve", pid)
                 if unquote(arg(e, "filename")["text"]) == path]
        if not check(len(calls) == 1, "execve of %s by %d seen %d times" % (path, pid, len(calls))):
            continue
        if failed:
            ret = int(failed[0]["ret"])
            check(calls[0]["ret"] == ret, "execve of %s returned %d, guest says %d" %
                  (path, calls[0]["ret"], ret))
            check(not execs, "pid %d: an exec event for a failed execve" % pid)
            continue
        check(calls[0]["ret"] == 0, "execve of %s returned %d" % (path, calls[0]["ret"]))
        check_exec_event(x, execs)


def check_exec_event(x, execs):
    """The one exec event of the log's exec line x: file, command line, names."""
    pid, path = int(x["pid"]), x["path"]
    if check(len(execs) == 1, "exec of %s by %d seen %d times" % (path, pid, len(execs))):
        e = execs[0]
        check(e["filename"] == path, "exec by %d: file %r" % (pid, e["filename"]))
        check(e["cmdline"] == x["argv"], "exec by %d: cmdline %r, guest says %r" %
              (pid, e["cmdline"], x["argv"]))
        check(e["comm"] == os.path.basename(path)[:15], "exec by %d: comm %s" %
              (pid, e["comm"]))
        # The workload forked the child, which execs under the workload's name.
        check(e["old_comm"] == "vmic-workload", "exec by %d: was %r, not vmic-workload" %
              (pid, e["old_comm"]))


def check_exec_events(truth, events):
    """Exactly one exec event per successful exec of the log, none for a failed one."""
    failed = {int(f["pid"]) for f in truth_lines(truth, "execfail")}
    for x in truth_lines(truth, "exec"):
        execs = of_type(events, "exec", int(x["pid"]))
        if int(x["pid"]) in failed:
            check(not execs, "pid %s: an exec event for a failed execve" % x["pid"])
        else:
            check_exec_event(x, execs)


def check_exits(truth, events, workload_pid):
    expected = [(int(x["pid"]), int(x["code"])) for x in truth_lines(truth, "exit")]
    expected.append((workload_pid, 5))
    for pid, code in expected:
        exits = [e for e in of_type(events, "exit", pid) if not e["thread"]]
        if check(len(exits) == 1, "exit of %d seen %d times" % (pid, len(exits))):
            check(exits[0]["status"] == code and exits[0]["signal"] == 0,
                  "exit of %d: status %d signal %d, guest says %d" %
                  (pid, exits[0]["status"], exits[0]["signal"], code))
        groups = [e for e in syscalls(events, "exit_group", pid)
                  if int(arg(e, "error_code")["text"]) == code]
        check(len(groups) == 1, "exit_group(%d) of %d seen %d times" % (code, pid, len(groups)))


def check_forks(truth, events):
    for f in truth_lines(truth, "fork"):
        parent, child = int(f["parent"]), int(f["child"])
        forks = [e for e in of_type(events, "fork", parent) if e["child"]["pid"] == child]
        if check(len(forks) == 1, "fork %d -> %d seen %d times" % (parent, child, len(forks))):
            check(not forks[0]["thread"] and not forks[0]["kernel"],
                  "fork %d -> %d not a process" % (parent, child))
    for t in truth_lines(truth, "thread"):
        pid, tid = int(t["pid"]), int(t["tid"])
        news = [e for e in of_type(events, "fork", pid) if e["child"]["pid"] == tid]
        check(len(news) == 1 and news[0]["thread"] and news[0]["child"]["tgid"] == pid,
              "thread %d of %d: %r" % (tid, pid, news))
        ends = [e for e in of_type(events, "exit", tid) if e["thread"]]
        check(len(ends) == 1 and ends[0]["tgid"] == pid and ends[0]["status"] == 0,
              "thread %d's exit: %r" % (tid, ends))


def check_summary(events, summary):
    if not check(summary is not None, "no summary"):
        return
    counted = {s["name"]: s["calls"] for s in summary["syscalls"]}
    seen = {}
    for e in syscalls(events):
        seen[e["name"]] = seen.get(e["name"], 0) + 1
    check(counted == seen, "the summary's counts differ from the events printed")
    check(summary["events"] == len(events), "summary: %d events, %d printed" %
          (summary["events"], len(events)))
    # Through the plugin the calls are decoded from what it copied at each
    # one: reads made later than the call are counted, and shown here.
    print("  summary: %d events, %d read errors, %d late reads" %
          (summary["events"], summary["read_errors"], summary.get("late_reads", 0)))


def shown_args(e):
    """The arguments as the strace-like line shows them."""
    return ", ".join(a["text"] for a in e["args"] if not a.get("hidden"))


# What Debian 12's strace 6.1 printed for the same calls of the workload
# (tests/fixtures/workload.c built with gcc -static, run on the host under
# strace -f): the calls whose arguments are the source's constants...
STRACE_EXACT = [
    ("mkdir", '"/tmp/vmic-w", 0755'),
    ("openat", 'AT_FDCWD, "/tmp/vmic-w/alpha.txt", O_WRONLY|O_CREAT|O_TRUNC, 0644'),
    ("openat", 'AT_FDCWD, "/tmp/vmic-w/alpha.txt", O_RDONLY'),
    ("openat", 'AT_FDCWD, "/nonexistent/vmic-w.txt", O_RDONLY'),
    ("openat", 'AT_FDCWD, "/tmp/vmic-w", O_RDONLY|O_DIRECTORY'),
    ("openat", 'AT_FDCWD, "/tmp/vmic-w/thread.txt", O_WRONLY|O_CREAT|O_TRUNC, 0600'),
    ("openat", 'AT_FDCWD, "/dev/null", O_WRONLY'),
    ("fcntl", "1, F_DUPFD_CLOEXEC, 10"),
    ("exit_group", "5"),
    ("prctl", 'PR_GET_NAME, "cat"'),        # busybox's, as cat
    ("rt_sigprocmask", "SIG_UNBLOCK, [RTMIN RT_1], NULL, 8"),
]
# ... and those whose addresses and sizes change from run to run: strace's
# line with the numbers as patterns.
STRACE_PATTERN = [
    ("clone3", r"\{flags=CLONE_VM\|CLONE_FS\|CLONE_FILES\|CLONE_SIGHAND\|CLONE_THREAD\|"
     r"CLONE_SYSVSEM\|CLONE_SETTLS\|CLONE_PARENT_SETTID\|CLONE_CHILD_CLEARTID, "
     r"child_tid=0x[0-9a-f]+, parent_tid=0x[0-9a-f]+, exit_signal=0, stack=0x[0-9a-f]+, "
     r"stack_size=0x[0-9a-f]+, tls=0x[0-9a-f]+\}, 88"),
    # strace names clone's arguments (child_stack=NULL, flags=...): the values are these
    ("clone", r"CLONE_CHILD_CLEARTID\|CLONE_CHILD_SETTID\|SIGCHLD, NULL, NULL, 0x[0-9a-f]+, NULL"),
    ("mmap", r"NULL, \d+, PROT_NONE, MAP_PRIVATE\|MAP_ANONYMOUS\|MAP_STACK, -1, 0"),
    ("mprotect", r"0x[0-9a-f]+, \d+, PROT_READ\|PROT_WRITE"),
    ("mprotect", r"0x[0-9a-f]+, \d+, PROT_READ"),
    ("madvise", r"0x[0-9a-f]+, \d+, MADV_DONTNEED"),
    ("brk", r"NULL"),
    ("brk", r"0x[0-9a-f]+"),
    ("arch_prctl", r"ARCH_SET_FS, 0x[0-9a-f]+"),
    ("set_tid_address", r"0x[0-9a-f]+"),
    ("set_robust_list", r"0x[0-9a-f]+, 24"),
    ("rseq", r"0x[0-9a-f]+, 0x20, 0, 0x53053053"),
    ("rt_sigprocmask", r"SIG_BLOCK, ~\[\], \[[A-Z0-9_ ]*\], 8"),
    ("rt_sigaction", r"SIGRT_1, \{sa_handler=0x[0-9a-f]+, sa_mask=\[\], sa_flags=SA_RESTORER\|"
     r"SA_ONSTACK\|SA_RESTART\|SA_SIGINFO, sa_restorer=0x[0-9a-f]+\}, NULL, 8"),
]


def check_arguments(truth, events, wpid):
    """The workload's calls as strace shows them; then every call of every
    process (the whole guest was traced) against the forms strace uses."""
    # The fds (3 on the host, others in the guest) from the workload's log
    # (alpha.txt: its last open, the one read).
    fds = {o["path"]: int(o["ret"]) for o in truth_lines(truth, "open")
           if int(o["pid"]) == wpid}
    exact = STRACE_EXACT + [
        ("openat", '%d, "beta.txt", O_WRONLY|O_CREAT|O_APPEND, 0600' % fds.get("/tmp/vmic-w", -1)),
        ("write", '%s, "hello from vmic-workload", 24' %
         [w["fd"] for w in truth_lines(truth, "write") if w["text"] == "hello from vmic-workload"]
         [0]),
        ("read", '%d, "hello from vmic-workload", 64' % fds.get("/tmp/vmic-w/alpha.txt", -1))]
    mine = [e for e in syscalls(events) if e["tgid"] == wpid or
            e["tgid"] in {int(f["child"]) for f in truth_lines(truth, "fork")}]
    lines = {}
    for e in mine:
        lines.setdefault(e["name"], set()).add(shown_args(e))
    # waitpid's status as strace shows it, with the code the log says
    exact += [("wait4", "%s, [{WIFEXITED(s) && WEXITSTATUS(s) == %s}], 0, NULL" %
               (x["pid"], x["code"])) for x in truth_lines(truth, "exit")]
    for name, text in exact:
        check(text in lines.get(name, ()), "no %s(%s) of the workload; its %s calls: %s" %
              (name, text, name, sorted(lines.get(name, ()))[:6]))
    for name, pattern in STRACE_PATTERN:
        check(any(re.fullmatch(pattern, t) for t in lines.get(name, ())),
              "no %s call of the workload like strace's %s: %s" %
              (name, pattern, sorted(lines.get(name, ()))[:6]))
    fd_names = {"fd", "oldfd", "newfd", "in_fd", "out_fd", "dfd"}
    addr = re.compile(r"NULL|0x[0-9a-f]+")
    for e in syscalls(events):
        a, what = e["args"], "%s(%s) of %s" % (e["name"], shown_args(e), e["comm"])
        for v in a:
            if v["name"] in fd_names and re.fullmatch(r"-?\d+", v["text"]):
                check(-100 <= int(v["text"]) < 1 << 20, "an fd shown unsigned: " + what)
        if e["name"] in ("mmap", "mprotect"):
            check(addr.fullmatch(a[0]["text"]) is not None, "an address not in hex: " + what)
            check(a[2]["text"].startswith("PROT_"), "prot not by name: " + what)
        if e["name"] == "mmap":
            check(re.match(r"MAP_(SHARED|PRIVATE)", a[3]["text"]) is not None,
                  "mmap flags not by name: " + what)
        if e["name"] in ("clone", "ioctl"):
            text = a[0 if e["name"] == "clone" else 1]["text"]
            check(not re.fullmatch(r"[1-9]\d*", text), "flags or request in decimal: " + what)


def test_run_1(g):
    log("run 1: everything the workload did, exactly once")
    got = traced_run(g, "1", [])
    if not got:
        return
    truth, events, summary = got
    start = truth_lines(truth, "start")
    if not check(len(start) == 1, "no start line in the workload's log:\n" + truth):
        return
    wpid = int(start[0]["pid"])
    vcpus = {}
    for e in events:
        vcpus[e["vcpu"]] = vcpus.get(e["vcpu"], 0) + 1
    log("  %d events (per vCPU: %s); workload pid %d; %d opens, %d execs, %d exits in its log" %
        (len(events), vcpus, wpid, len(truth_lines(truth, "open")),
         len(truth_lines(truth, "exec")), len(truth_lines(truth, "exit"))))
    check_opens(truth, events)
    check_writes(truth, events)
    check_execs(truth, events)
    check_exits(truth, events, wpid)
    check_forks(truth, events)
    check_summary(events, summary)
    check_arguments(truth, events, wpid)
    execs = of_type(events, "exec", wpid)
    if check(len(execs) == 1, "the workload's own exec seen %d times" % len(execs)):
        after = [e for e in syscalls(events, pid=wpid) if e["seq"] > execs[0]["seq"]]
        check(after and all(e["comm"] == "vmic-workload" for e in after),
              "a syscall of the workload under another name")
    cats = [e["pid"] for e in of_type(events, "exec") if e["comm"] == "cat"]
    if check(len(cats) == 1, "cat exec'd %d times" % len(cats)):
        opens = [e for e in syscalls(events, "openat", cats[0])
                 if unquote(arg(e, "filename")["text"]) == "/tmp/vmic-w/alpha.txt"]
        check(len(opens) == 1 and opens[0]["ret"] >= 0, "cat's open of alpha.txt: %r" % opens)
    check(not [e for e in syscalls(events) if not e["entry_seen"] and e["pid"] == wpid],
          "a syscall of the workload without its entry")


def test_run_2_filters(g):
    log("run 2: --comm cat --syscall openat,read,write,exit_group")
    wanted = {"openat", "read", "write", "exit_group"}
    got = traced_run(g, "2", ["--comm", "cat", "--syscall", ",".join(sorted(wanted))])
    if not got:
        return
    truth, events, summary = got
    cat = [int(x["pid"]) for x in truth_lines(truth, "exec") if x["path"] == "/bin/cat"]
    if not check(len(cat) == 1, "no cat in the workload's log"):
        return
    for e in events:
        names = {e["comm"], e.get("old_comm"), e.get("child", {}).get("comm")}
        check("cat" in names, "event of %s (%d) got through --comm cat" % (e["comm"], e["pid"]))
        check(e["type"] != "syscall" or e["name"] in wanted, "syscall %s got through" %
              e.get("name"))
    # execve is filtered out, its exec event (a process event) is not
    check_exec_event([x for x in truth_lines(truth, "exec") if x["path"] == "/bin/cat"][0],
                     of_type(events, "exec", cat[0]))
    opens = [e for e in syscalls(events, "openat", cat[0])
             if unquote(arg(e, "filename")["text"]) == "/tmp/vmic-w/alpha.txt"]
    check(len(opens) == 1, "cat's openat of alpha.txt seen %d times" % len(opens))
    check(len(of_type(events, "exit", cat[0])) == 1, "cat's exit not seen once")
    check(summary is not None and summary["filtered"] > 0, "the summary counts nothing filtered")


def test_run_3_sigint(g):
    log("run 3: SIGINT mid-run; the guest must finish untraced")
    t = Trace(g.vmic, g.target, ["--pid", "1"])
    if not check(t.wait_armed(), "vmic trace did not start: " + t.err):
        t.finish()
        return
    start = len(g.text())
    g.send("run 3")
    forked = t.read_until(lambda e: e["type"] == "fork" and e["pid"] == 1, 60)
    check(forked, "init's fork of the workload not seen")
    time.sleep(1.0)  # the workload is under way
    events, _, rc, secs = t.finish(signal.SIGINT, timeout=30)
    check(rc == 0, "vmic trace after SIGINT: exit status %s: %s" % (rc, t.err))
    check("detached" in t.err, "no detach message: " + t.err)
    log("  vmic detached %.2f s after SIGINT, %d events" % (secs, len(events)))
    for e in events:
        ids = {e["pid"], e["tgid"], e.get("child", {}).get("pid")}
        check(1 in ids, "event of pid %d got through --pid 1" % e["pid"])
    # With a breakpoint left in QEMU the guest would stop at its next hit
    # for good: its finishing proves they are gone.
    text, rc = g.wait_idle("run 3", start, 60)
    check(rc == 5 and text and "W done " in text, "the guest did not finish run 3 after the "
          "detach")
    check(g.qmp("query-status")["return"]["status"] == "running", "the guest is not running")


def test_run_5_follow(g):
    log("run 5: --pid 1 --follow --syscall openat,execve,exit_group")
    got = traced_run(g, "5", ["--pid", "1", "--follow", "--syscall", "openat,execve,exit_group"])
    if not got:
        return
    truth, events, _ = got
    start = truth_lines(truth, "start")
    if not check(len(start) == 1, "no start line in the workload's log"):
        return
    traced = {1}
    for e in events:
        if e["type"] == "fork" and e["tgid"] in traced and not e["thread"]:
            traced.add(e["child"]["tgid"])
        check(e["tgid"] in traced, "event of %s (%d) got through --pid 1 --follow" %
              (e["comm"], e["tgid"]))
    log("  %d events, %d processes traced" % (len(events), len(traced)))
    check(int(start[0]["pid"]) in traced, "the workload was not followed")
    check_opens(truth, events)
    check_execs(truth, events)
    check_exits(truth, events, int(start[0]["pid"]))


def test_run_6_no_syscalls(g):
    log("run 6: --no-syscalls: forks, execs, exits and nothing else")
    got = traced_run(g, "6", ["--no-syscalls"])
    if not got:
        return
    truth, events, _ = got
    start = truth_lines(truth, "start")
    if not check(len(start) == 1, "no start line in the workload's log"):
        return
    wpid = int(start[0]["pid"])
    log("  %d events, %d execs" % (len(events), len(of_type(events, "exec"))))
    check(not syscalls(events), "%d syscall events under --no-syscalls" % len(syscalls(events)))
    check_exec_events(truth, events)
    check_forks(truth, events)
    own = of_type(events, "exec", wpid)
    check(len(own) == 1 and own[0]["filename"] == "/bin/vmic-workload" and
          own[0]["cmdline"] == "/bin/vmic-workload run 6" and own[0]["old_comm"] not in ("", "?"),
          "the workload's own exec: %r" % own)
    for pid, code in [(int(x["pid"]), int(x["code"])) for x in truth_lines(truth, "exit")] + \
            [(wpid, 5)]:
        exits = [e for e in of_type(events, "exit", pid) if not e["thread"]]
        check(len(exits) == 1 and exits[0]["status"] == code,
              "exit of %d (code %d): %r" % (pid, code, exits))


def test_examples(g, examples):
    log("examples: ps, breakpoint, strace")
    r = subprocess.run([os.path.join(examples, "ps"), g.target], capture_output=True, text=True,
                       timeout=60)
    lines = r.stdout.splitlines()
    check(r.returncode == 0 and any("vmic-marker" in l for l in lines) and len(lines) > 40,
          "examples/ps: %s%s" % (r.stdout[-500:], r.stderr))

    bp = subprocess.Popen([os.path.join(examples, "breakpoint"), g.target, "do_sys_openat2", "8"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2)
    _, rc = g.command("loop 40")
    out, err = bp.communicate(timeout=60)
    m = re.search(r"(\d+) hits", out)
    check(bp.returncode == 0 and m and int(m.group(1)) >= 40,
          "examples/breakpoint: %s %s (the loop opens /dev/null 40 times)" % (out, err))

    st = subprocess.Popen([os.path.join(examples, "strace"), g.target, "vmic-workload"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2)
    _, rc = g.command("loop 20")
    time.sleep(1)
    st.send_signal(signal.SIGINT)
    out, err = st.communicate(timeout=60)
    opens = [l for l in out.splitlines() if 'openat(AT_FDCWD, "/dev/null", O_RDONLY' in l]
    check(st.returncode == 0 and len(opens) == 20, "examples/strace: %d opens of /dev/null, "
          "exit %s: %s" % (len(opens), st.returncode, err[-500:]))


def test_run_4_qemu_killed(g):
    log("run 4: QEMU killed mid-trace")
    t = Trace(g.vmic, g.target, [])
    if not check(t.wait_armed(), "vmic trace did not start: " + t.err):
        t.finish()
        return
    g.send("run 4")
    check(t.read_until(lambda e: e["type"] == "exec" and e["comm"] == "vmic-workload", 60),
          "the workload's exec not seen")
    os.kill(g.qemu_pid(), signal.SIGKILL)
    events, _, rc, secs = t.finish(sig=None, timeout=30)
    log("  vmic ended %.2f s after the kill, status %s: %s" %
        (secs, rc, t.err.strip().splitlines()[-1] if t.err.strip() else ""))
    check(rc == 1, "vmic trace exit status %s after QEMU died" % rc)
    check(re.search(r"QEMU|closed|gone", t.err) is not None, "no clear error: " + t.err)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vmic")
    ap.add_argument("fixture")
    ap.add_argument("--smp", type=int, default=1)
    ap.add_argument("--examples")
    ap.add_argument("--target", help="a guest booted already (not killed at the end)")
    ap.add_argument("--path", choices=["plugin", "gdbstub", "plugin-views"], default="plugin",
                    help="boot with vmic's plugin (the default) or without; plugin-views: "
                    "with it, tracing with --tap memory")
    a = ap.parse_args()
    global PATH
    PATH = a.path
    if a.target:
        g = Guest(a.vmic, a.target[len("qemu:"):], False)
    else:
        g = boot(a.vmic, a.fixture, a.smp)
    done = False
    try:
        test_ps(g)
        test_run_1(g)
        test_run_2_filters(g)
        test_run_3_sigint(g)
        test_run_5_follow(g)
        test_run_6_no_syscalls(g)
        if a.examples:
            test_examples(g, a.examples)
        done = True
        if failures:
            g.show_logs()
        if g.own:
            test_run_4_qemu_killed(g)
    finally:
        if not done:
            g.show_logs()
        g.stop()
    log("%s: %d failures" % ("FAIL" if failures else "OK", failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
